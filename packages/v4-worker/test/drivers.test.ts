// V4 drivers as one class each, against scripted devices on the in-memory broker
// (@daq/core/testing). The end-to-end proof over real ptys, sockets and simulators is
// test/v4-drivers.test.ts; these pin one driver's decisions each.

import t from 'tap';
import { Clock, invokeCommand, parseConfig, type InstrumentConfig } from '@daq/core';
import { InMemoryBroker } from '@daq/core/testing';
import { createV4Instrument, type ScpiDevice } from '../src/index.js';

function v4(toml: string): InstrumentConfig {
  return parseConfig(`[v4]\n[[v4.instruments]]\n${toml}`, 'unit.toml').config.v4.instruments[0]!;
}

function driver(broker: InMemoryBroker, config: InstrumentConfig) {
  return createV4Instrument(config, { broker, clock: new Clock(), leaseTimeoutMs: 1000 });
}

const DMM = 'TCPIP0::10.0.0.9::5025::SOCKET';

t.test('ScpiDevice: a number, an overload and not-a-number sentinel, a reply that is neither', async (t) => {
  const broker = new InMemoryBroker('v4');
  const replies = ['+1.23456789E+00', '+9.90000000E+37', '+9.91000000E+37', 'OVLD'];
  const errors = ['-222,"Data out of range"', '+0,"No error"'];
  broker.visaResource(DMM, (c) =>
    c === '*IDN?'
      ? 'Keysight Technologies,34461A,MY1234,A.02.14'
      : c === 'SYST:ERR?'
        ? errors.shift()
        : c.endsWith('?')
          ? replies.shift()
          : undefined,
  );
  const dmm = driver(
    broker,
    v4(`id = "dmm"\ntype = "ScpiInstrument"\nresource = "${DMM}"\npoll_query = "MEAS:VOLT:DC?"\nunit = "V"`),
  ) as ScpiDevice;
  t.match(await dmm.initialize(), /34461A/);
  t.same(await dmm.read(), [{ channel: 'MEAS:VOLT:DC?', value: 1.23456789, unit: 'V' }]);
  const [over] = await dmm.read();
  t.equal(over!.flag, 'overload');
  t.ok(Number.isNaN(over!.value), 'no number stands in for an overload');
  t.equal((await dmm.read())[0]!.flag, 'not-a-number');
  await t.rejects(dmm.read(), { code: 'DAQ_INSTRUMENT', message: /dmm: unexpected reply "OVLD" to "MEAS:VOLT:DC\?"/ });
  t.same(dmm.flagged, { overload: 1, 'not-a-number': 1 });
  t.same(await invokeCommand('dmm', dmm.commands, 'errors', []), ['-222,"Data out of range"'], 'the error queue read until +0');
  t.same(
    broker.visaLog.map((l) => l.split(' ').slice(2).join(' ')),
    ['*IDN?', 'MEAS:VOLT:DC?', 'MEAS:VOLT:DC?', 'MEAS:VOLT:DC?', 'MEAS:VOLT:DC?', 'SYST:ERR?', 'SYST:ERR?'],
  );
  t.ok(
    broker.visaLog.every((l) => l.startsWith('v4:dmm ')),
    'every command carries its owner',
  );
});

t.test('ElliptecMotion on an ELL9 slider: slots, not millimetres; a missing slot sends nothing', async (t) => {
  const broker = new InMemoryBroker('v4');
  let mm = 0;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  const line = broker.serialLine('/dev/ttyBUS', (w) => {
    if (w === '2in') return '2IN091140051220210801000000000000\r\n';
    if (w === '2gp') return `2PO${hex(mm)}\r\n`;
    if (w.startsWith('2ma')) {
      // The device snaps to the slot nearest the target (31 mm apart on an ELL9).
      mm = Math.round(Number.parseInt(w.slice(3), 16) / 31) * 31;
      return `2PO${hex(mm)}\r\n`;
    }
    return '2GS03\r\n';
  });
  const slider = driver(broker, v4('id = "filters"\ntype = "Elliptec"\nserial_port = "/dev/ttyBUS"\naddress = "2"'));
  t.match(await slider.initialize(), /^ELL9\b.*4 slots every 31 mm/);
  t.same(slider.channels(), [{ channel: 'position', unit: 'slot' }]);
  t.equal(await invokeCommand('filters', slider.commands, 'moveAbs', [2]), 2);
  t.equal(mm, 62);
  t.same(await slider.read(), [{ channel: 'position', value: 2, unit: 'slot' }]);
  const sent = line.written.length;
  await t.rejects(invokeCommand('filters', slider.commands, 'moveAbs', [4]), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /filters: slot 4 does not exist: ELL9 has slots 0-3; nothing was sent/,
  });
  t.equal(line.written.length, sent, 'nothing was sent');
  t.equal(broker.openLeases, 0);
});
