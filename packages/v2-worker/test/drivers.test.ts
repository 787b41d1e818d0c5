// The V2 drivers as one class each, against scripted devices on the in-memory broker
// (@daq/core/testing): what they send, what they make of the replies, what they refuse before
// sending, and that every lease is given back. The end-to-end proof, over real ptys and the
// simulators, is test/v2-drivers.test.ts.

import t from 'tap';
import { Clock, invokeCommand, parseConfig, type InstrumentConfig } from '@daq/core';
import { InMemoryBroker, type ScriptedDevice } from '@daq/core/testing';
import { createV2Instrument } from '../src/index.js';

/** The instrument `id` of a one-instrument V2 file, with its defaults applied. */
function v2(toml: string): InstrumentConfig {
  return parseConfig(`[v2]\n[[v2.instruments]]\n${toml}`, 'unit.toml').config.v2.instruments[0]!;
}

function driver(broker: InMemoryBroker, config: InstrumentConfig) {
  return createV2Instrument(config, { broker, clock: new Clock(), leaseTimeoutMs: 1000 });
}

/** A 1830-C from its manual: echo off, set commands answer nothing, queries one line ending LF. */
function meter(state: { units: number; nm: number; reading: string }): ScriptedDevice {
  return (written) => {
    const c = written.trim();
    if (c === 'U?') return `${state.units}\n`;
    if (c === 'D?') return `${state.reading}\n`;
    if (c === 'W?') return `${String(state.nm).padStart(4, '0')}\n`;
    if (/^U[1-4]$/.test(c)) state.units = Number(c[1]);
    else if (/^W\d{1,4}$/.test(c) && Number(c.slice(1)) >= 400 && Number(c.slice(1)) <= 1100) state.nm = Number(c.slice(1));
    return undefined;
  };
}

t.test('Newport1830CV2: start-up in W, a reading, the wavelength, front-panel units set back', async (t) => {
  const broker = new InMemoryBroker('v2');
  const state = { units: 3, nm: 633, reading: '1.234E-03' };
  const line = broker.serialLine('/dev/ttyPM', meter(state));
  const pm = driver(broker, v2('id = "pm"\ntype = "Newport1830C"\nserial_port = "/dev/ttyPM"\nwavelength_nm = 780'));
  t.match(await pm.initialize(), /^Newport 1830-C at \/dev\/ttyPM, wavelength 780 nm, units W \(found .*dBm/);
  t.equal(state.units, 1, 'the meter was put in W');
  t.ok(line.written.includes('W0780\n'), 'the configured wavelength was sent, four digits');
  t.same(await pm.read(), [{ channel: 'power', value: 1.234e-3, unit: 'W' }]);
  state.units = 2; // dB, from the front panel
  t.same(await pm.read(), [{ channel: 'power', value: 1.234e-3, unit: 'W' }], 'read in W after setting it back');
  t.same(pm.corrections?.(), { 'units-restored': 1 });
  t.equal(await invokeCommand('pm', pm.commands, 'getWavelength', []), 780);
  const before = line.written.length;
  await t.rejects(invokeCommand('pm', pm.commands, 'setWavelength', [1200]), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /at most 1100/,
  });
  t.equal(line.written.length, before, 'a refused argument sends nothing');
  await t.rejects(invokeCommand('pm', pm.commands, 'setWavelength', [350]), {
    code: 'DAQ_INSTRUMENT',
    message: /refused 350 nm and stays at 780 nm/,
  });
  await invokeCommand('pm', pm.commands, 'setWavelength', [1064]);
  t.equal(state.nm, 1064);
  t.equal(broker.openLeases, 0, 'every lease given back');
});

t.test('Newport1830CV2: a reading that is not a number is an error naming the reply', async (t) => {
  const broker = new InMemoryBroker('v2');
  broker.serialLine('/dev/ttyPM', meter({ units: 1, nm: 633, reading: 'garbage' }));
  const pm = driver(broker, v2('id = "pm"\ntype = "Newport1830C"\nserial_port = "/dev/ttyPM"'));
  await pm.initialize();
  await t.rejects(pm.read(), { code: 'DAQ_INSTRUMENT', message: /pm: unexpected reply "garbage" to "D\?"/ });
  t.equal(broker.openLeases, 0, 'the lease is given back on the error path too');
});

/** A Mai Tai HP: queries answer with their unit, set commands answer nothing. */
function laser(state: { nm: number; shutter: number }): ScriptedDevice {
  return (written) => {
    const c = written.trim().toLowerCase();
    const answers: Record<string, string> = {
      '*idn?': 'Spectra Physics,MaiTai,3227/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057',
      'wav:min?': '690nm',
      'wav:max?': '1040nm',
      'wav?': `${state.nm}nm`,
      'read:wav?': `${state.nm}nm`,
      'read:pow?': '2.95W',
      'shut?': String(state.shutter),
      'syst:err?': '0',
      '*stb?': '1',
    };
    if (c in answers) return `${answers[c]}\n`;
    if (c.startsWith('wav ')) state.nm = Number(c.slice(4));
    if (c.startsWith('shut ')) state.shutter = Number(c.slice(5));
    return undefined;
  };
}

t.test('MaiTaiV2: identity, three channels, wavelength and shutter commands', async (t) => {
  const broker = new InMemoryBroker('v2');
  const state = { nm: 820, shutter: 0 };
  const line = broker.serialLine('/dev/ttyLASER', laser(state));
  const l = driver(broker, v2('id = "laser"\ntype = "MaiTai"\nserial_port = "/dev/ttyLASER"'));
  t.match(await l.initialize(), /MaiTai/);
  t.same(
    (await l.read()).map((r) => [r.channel, r.value, r.unit]),
    [
      ['wavelength', 820, 'nm'],
      ['power', 2.95, 'W'],
      ['shutter', 0, ''],
    ],
  );
  await invokeCommand('laser', l.commands, 'setWavelength', [900]);
  t.equal(state.nm, 900);
  t.equal(await invokeCommand('laser', l.commands, 'setShutter', [true]), true);
  t.ok(line.written.includes('shut 1\n'));
  await t.rejects(invokeCommand('laser', l.commands, 'setWavelength', [1200]), { code: 'DAQ_INVALID_ARGUMENT' });
  t.equal(broker.openLeases, 0);
});

t.test('MaiTaiV2: a device that is not a MaiTai fails the start with what it said', async (t) => {
  const broker = new InMemoryBroker('v2');
  broker.serialLine('/dev/ttyLASER', (w) => (w.trim() === '*idn?' ? 'KEITHLEY INSTRUMENTS,MODEL 2000\n' : undefined));
  const l = driver(broker, v2('id = "laser"\ntype = "MaiTai"\nserial_port = "/dev/ttyLASER"'));
  await t.rejects(l.initialize(), { code: 'DAQ_INSTRUMENT', message: /KEITHLEY/ });
});

/** An ELL14 at address 0: replies end CR LF; a move reports its position when it ends. */
function ell14(state: { pulses: number }): ScriptedDevice {
  const hex = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return (written) => {
    if (written === '0in') return '0IN0E1140051720231701016800023000\r\n';
    if (written === '0gp') return `0PO${hex(state.pulses)}\r\n`;
    if (written === '0gs') return '0GS00\r\n';
    if (written.startsWith('0ma')) {
      state.pulses = Number.parseInt(written.slice(3), 16) | 0;
      return `0PO${hex(state.pulses)}\r\n`;
    }
    if (written.startsWith('0ho')) {
      state.pulses = 0;
      return '0PO00000000\r\n';
    }
    return '0GS03\r\n';
  };
}

t.test('ElliptecV2: identity and scale from the IN reply, moves in degrees, status', async (t) => {
  const broker = new InMemoryBroker('v2');
  const state = { pulses: 0 };
  const line = broker.serialLine('/dev/ttyBUS', ell14(state));
  const rot = driver(broker, v2('id = "rot"\ntype = "Elliptec"\nserial_port = "/dev/ttyBUS"'));
  t.match(await rot.initialize(), /^ELL14 serial 11400517 .*398\.222 pulses\/deg/);
  const at = (await invokeCommand('rot', rot.commands, 'moveAbs', [90])) as number;
  t.ok(Math.abs(at - 90) < 0.01, `moved to ${at}°`);
  t.equal(state.pulses, Math.round(90 * (143360 / 360)), 'ma sent 90° in the device pulses');
  t.same(await invokeCommand('rot', rot.commands, 'getStatus', []), { code: 0, text: 'ok' });
  t.match(await rot.read(), [{ channel: 'position', unit: 'deg' }]);
  t.equal(await invokeCommand('rot', rot.commands, 'home', []), 0);
  t.ok(
    line.written.every((w) => /^0[a-z]{2}/.test(w)),
    'every command addressed to 0, lower-case mnemonic',
  );
  t.equal(broker.openLeases, 0);
});

t.test('MockPowerV2: readings around power_w without any line', async (t) => {
  const broker = new InMemoryBroker('v2');
  const mock = driver(broker, v2('id = "mock"\ntype = "MockPower"\npower_w = 0.002'));
  await mock.initialize();
  const [r] = await mock.read();
  t.equal(r!.channel, 'power');
  t.equal(r!.unit, 'W');
  t.ok(Math.abs(r!.value - 0.002) < 0.002 * 0.5, `${r!.value} W near 2 mW`);
  t.equal(broker.counts.granted, 0, 'no serial lease');
});
