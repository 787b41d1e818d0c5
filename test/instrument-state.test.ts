// Devices as a lab finds them, and as they really answer: every driver against a simulator
// started in a state the driver cannot assume (echo on, other units, motors off, errors left
// in a buffer, a shutter open, another model), and the replies that broke earlier drivers
// (short PO, longer IN, a meter's refusal, a travel limit and the silence after it). Each
// test names the device behaviour it pins.

import t, { type Test } from 'tap';
import { Clock, type DriverContext, type InstrumentConfig } from '@daq/core';
import { Esp300Simulator, Newport1830CSimulator, type SerialSimulator } from '@daq/sim';
import { createV2Instrument } from '@daq/v2-worker';
import { createV4Instrument, type Esp300Motion, type Newport1830CMeter } from '@daq/v4-worker';
import { mainThreadBroker, type MainThreadBroker } from './helpers/main-thread-broker.js';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

/** A broker on `sim`'s port with one instrument of `type`; extra TOML lines are added to it. */
async function withDevice(t: Test, sim: SerialSimulator, type: string, extra = '', subsystem: 'v2' | 'v4' = 'v4') {
  const path = await sim.start();
  const broker: MainThreadBroker = await mainThreadBroker(`
[${subsystem}]
[[${subsystem}.instruments]]
id = "dev"
type = "${type}"
serial_port = "${path}"
${extra}
`);
  t.teardown(async () => {
    await broker.close();
    await sim.close();
  });
  const context: DriverContext = { broker: broker.api(subsystem), clock: new Clock(), leaseTimeoutMs: 5000 };
  const config = broker.config[subsystem].instruments[0] as InstrumentConfig;
  return subsystem === 'v2' ? createV2Instrument(config, context) : createV4Instrument(config, context);
}

// ---- ESP300 ----------------------------------------------------------------------------

t.test('ESP300: units are read per axis (SN?), not assumed to be mm', async (t) => {
  const sim = new Esp300Simulator({ axes: [{ units: 2 }, { units: 7 }] });
  const stage = (await withDevice(t, sim, 'ESP300', 'axes = [1, 2]')) as Esp300Motion;
  t.match(await stage.initialize(), /axes 1 \(mm\), 2 \(deg\)/);
  t.same(stage.channels(), [
    { channel: 'axis1', unit: 'mm' },
    { channel: 'axis2', unit: 'deg' },
  ]);
  const readings = await stage.read();
  t.same(
    readings.map((r) => r.unit),
    ['mm', 'deg'],
  );
});

t.test('ESP300: errors left in the buffer and motors off are found, reported and cleared at start', async (t) => {
  const sim = new Esp300Simulator({ errors: [6, 107] });
  const stage = (await withDevice(t, sim, 'ESP300', 'axes = [1]')) as Esp300Motion;
  const identity = await stage.initialize();
  t.match(identity, /found: cleared 6 COMMAND DOES NOT EXIST; 107 .*; motor switched on for axis 1/);
  t.same(sim.pendingErrors, [], 'the buffer is empty: our first command is not blamed for old errors');
  t.equal(sim.axis(1).motorOn, true);
});

t.test(
  'ESP300: a move into a travel limit is reported with the axis, the limit and where it stopped, through the silence after it',
  async (t) => {
    // The controller is silent for 2-5 s after a limit (EPICS drvESP300): here 3 s, within the default 6 s reply timeout.
    const sim = new Esp300Simulator({ axes: [{ travel: { min: -5, max: 5 }, velocity: 20 }], limitSilenceMs: 3000 });
    const stage = (await withDevice(t, sim, 'ESP300', 'axes = [1]')) as Esp300Motion;
    await stage.initialize();
    await stage.moveAbs(20, 1); // inside the software limits (±100), beyond the +5 switch
    const started = performance.now();
    await t.rejects(stage.waitSettled(1), {
      code: 'DAQ_INSTRUMENT',
      message: /axis 1 stopped at the positive hardware limit \(travel end switch\): ESP300 error 104 .*now at 5/,
    });
    t.ok(performance.now() - started > 1000, 'the silence was waited out, not taken for a dead controller');
    t.ok(Math.abs((await stage.position(1)) - 5) < 1e-6, 'the axis sits at the switch');
    await stage.moveAbs(0, 1);
    t.equal(Math.round(await stage.waitSettled(1)), 0, 'and moves back inside the travel');
  },
);

// ---- Newport 1830-C ----------------------------------------------------------------------

t.test('1830-C: a meter left echoing (E1) in dBm is found, reported, and read in W', async (t) => {
  for (const subsystem of ['v2', 'v4'] as const) {
    const pm = await withDevice(
      t,
      new Newport1830CSimulator({ echo: true, units: 3, powerW: 2.5e-3 }),
      'Newport1830C',
      '',
      subsystem,
    );
    t.match(await pm.initialize(), /found with echo on in dBm/, `${subsystem} reports what it found`);
    const [r] = await pm.read();
    t.match(r, { channel: 'power', unit: 'W' });
    t.ok(Math.abs(r!.value - 2.5e-3) < 1e-6, `${subsystem}: ${r!.value} W, not ${10 * Math.log10(2.5)} dBm`);
  }
});

t.test('1830-C: a driver that never sends E0 is not confused by a meter that powers up quiet', async (t) => {
  const sim = new Newport1830CSimulator({ powerW: 1e-3 });
  const pm = (await withDevice(t, sim, 'Newport1830C', 'wavelength_nm = 800')) as Newport1830CMeter;
  t.match(await pm.initialize(), /800 nm, units W \(found with echo off in W\)/);
  t.equal(sim.echo, false);
  t.equal(await pm.wavelength(), 800);
});

t.test('1830-C: units changed on the front panel mid-run are never stored as W: the driver sets W back', async (t) => {
  const sim = new Newport1830CSimulator({ powerW: 5e-3 });
  const pm = (await withDevice(t, sim, 'Newport1830C')) as Newport1830CMeter;
  await pm.initialize();
  sim.units = 3; // dBm, as from the front panel: D? would now answer 6.99
  const [r] = await pm.read();
  t.ok(Math.abs(r!.value - 5e-3) < 1e-6, `read ${r!.value} W`);
  t.equal(sim.units, 1, 'the meter is back in W');
  t.same(pm.corrections(), { 'units-restored': 1 }, 'the correction is counted');
});

t.test('1830-C: a units correction in a running worker shows in its status, V2 and V4 alike', async (t) => {
  await using rt = await testRuntime(`
[application]
simulate = true
[v2]
[[v2.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 10
[v4]
[[v4.instruments]]
id = "pm_v4"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 10
`);
  await rt.runtime.start();
  const sim = rt.sims.serial.get('/dev/ttyPM') as Newport1830CSimulator;
  const corrections = async () =>
    Object.fromEntries((await rt.runtime.status()).subsystems.flatMap((s) => s.instruments).map((i) => [i.id, i.corrections]));
  t.same(await corrections(), { pm: undefined, pm_v4: undefined }, 'nothing to report while the meter is in W');
  sim.units = 2; // dB, from the front panel
  await until(async () => Object.values(await corrections()).some((c) => c !== undefined), 10_000, 'a correction in status');
  const seen = await corrections();
  const fixed = Object.values(seen).filter((c) => c !== undefined);
  t.same(fixed, [{ 'units-restored': 1 }], `one of the two drivers found dB and set W back: ${JSON.stringify(seen)}`);
  t.equal(sim.units, 1);
});

t.test('1830-C: the detector head decides the wavelength range; a refusal is reported, an IR head takes 1550 nm', async (t) => {
  const sl = await withDevice(t, new Newport1830CSimulator({ detector: '818-SL' }), 'Newport1830C', 'wavelength_nm = 1550');
  await t.rejects(sl.initialize(), {
    code: 'DAQ_INSTRUMENT',
    message: /refused 1550 nm and stays at \d+ nm: the detector head's calibration does not cover it/,
  });
  const ir = (await withDevice(
    t,
    new Newport1830CSimulator({ detector: '818-IR', wavelengthNm: 1064 }),
    'Newport1830C',
    'wavelength_nm = 1550',
  )) as Newport1830CMeter;
  t.match(await ir.initialize(), /1550 nm/);
  await t.rejects(ir.setWavelength(500), { message: /refused 500 nm and stays at 1550 nm/ });
});

// ---- simulate = true: sim.model picks the device a lab has -----------------------------

t.test('simulate = true: sim.model gives each Elliptec address, the meter head and the laser their model', async (t) => {
  const broker = await mainThreadBroker(`
[application]
simulate = true
[v4]
[[v4.instruments]]
id = "slider"
type = "Elliptec"
serial_port = "/dev/sim-bus"
address = "1"
sim = { model = "ELL9" }
[[v4.instruments]]
id = "mount"
type = "Elliptec"
serial_port = "/dev/sim-bus"
address = "2"
[[v4.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/sim-pm"
wavelength_nm = 1550
sim = { model = "818-IR" }
[[v4.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/sim-laser"
wavelength_nm = 900
sim = { model = "early-750-850" }
`);
  t.teardown(() => broker.close());
  const context: DriverContext = { broker: broker.api('v4'), clock: new Clock(), leaseTimeoutMs: 5000 };
  const make = (id: string) =>
    createV4Instrument(
      broker.config.v4.instruments.find((i) => i.id === id)!,
      context,
    );
  t.match(await make('slider').initialize(), /^ELL9\b.*4 slots/, 'an ELL9 four-position slider at address 1');
  t.match(await make('mount').initialize(), /^ELL14\b/, 'the default model at address 2');
  t.match(await make('pm').initialize(), /1550 nm/, 'the IR head takes 1550 nm');
  await t.rejects(make('laser').initialize(), { message: /900 nm.*750.*850/ }, "outside the early model's tuning range");
});

t.test('sim.model is checked: an unknown model is a config error naming the choices', async (t) => {
  await t.rejects(
    mainThreadBroker(`
[application]
simulate = true
[v4]
[[v4.instruments]]
id = "m"
type = "Elliptec"
serial_port = "/dev/sim-bus"
sim = { model = "ELL99" }
`),
    { message: /sim\.model.*ELL6.*ELL22/s },
  );
});

t.test('no handles left', async (t) => {
  await assertNoNewHandles(t, before);
});
