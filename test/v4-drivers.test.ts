// Every V4 driver command against its simulator, through a real broker endpoint, including
// the error and status replies: an Elliptec move beyond its travel (GS0C), an ESP300 move past
// a software limit (read back with TB?), SCPI errors from the queue, MaiTai and Newport.

import t from 'tap';
import { Clock, type DriverContext, type HostedInstrument, type ScpiInstrumentConfig } from '@daq/core';
import { ElliptecBusSimulator, Esp300Simulator } from '@daq/sim';
import { ElliptecMotion, Esp300Motion, MaiTaiLaser, Newport1830CMeter, ScpiDevice, createV4Instrument } from '@daq/v4-worker';
import { mainThreadBroker } from './helpers/main-thread-broker.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

// A linear ELL17 (28 mm travel) at address 3, and an ESP300 whose axis 2 stops at ±10.
const bus = new ElliptecBusSimulator({ devices: [{ address: '3', model: 'ELL17' }] });
const esp = new Esp300Simulator({ axes: [{}, { leftLimit: -10, rightLimit: 10 }, {}] });
const busPath = await bus.start();
const espPath = await esp.start();

const broker = await mainThreadBroker(`
[application]
simulate = true
[v4]
[[v4.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
wavelength_nm = 800
[[v4.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyLASER"
wavelength_nm = 820
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.0.0.5::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
`);
const direct = await mainThreadBroker(`
[v4]
[[v4.instruments]]
id = "slide"
type = "Elliptec"
serial_port = "${busPath}"
address = "3"
[[v4.instruments]]
id = "stage"
type = "ESP300"
serial_port = "${espPath}"
axes = [1, 2]
`);
t.teardown(async () => {
  await broker.close();
  await direct.close();
  await bus.close();
  await esp.close();
});

const make = (b: typeof broker, id: string): HostedInstrument => {
  const context: DriverContext = { broker: b.api('v4'), clock: new Clock(), leaseTimeoutMs: 2000 };
  return createV4Instrument(
    b.config.v4.instruments.find((i) => i.id === id)!,
    context,
  );
};

t.test('Elliptec as a MotionController: limits from the device, GS0C beyond travel', async (t) => {
  const slide = make(direct, 'slide') as ElliptecMotion;
  t.match(await slide.initialize(), /^ELL17 serial .* at address 3 \(1024\.000 pulses\/mm\)$/);
  t.equal(slide.unit, 'mm');
  t.same(await slide.limits(), { min: 0, max: 28 });
  t.equal(await slide.moveAbs(10), 10);
  t.equal(await slide.position(), 10);
  t.equal(await slide.waitSettled(), 10);
  t.same(await slide.read(), [{ channel: 'position', value: 10, unit: 'mm' }]);
  await t.rejects(slide.moveAbs(30), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /30 mm is outside the travel 0-28 mm; nothing was sent/,
  });
  await t.rejects(slide.moveRel(25), {
    code: 'DAQ_INSTRUMENT',
    message: /slide: Elliptec answered "3mr00006400" with GS0C \(out of range\)/,
  });
  t.equal(await slide.position(), 10, 'the refused move left the stage where it was');
  t.equal(await slide.moveRel(-4), 6);
  await t.rejects(slide.moveAbs(1, 2), { code: 'DAQ_INVALID_ARGUMENT', message: /no axis 2/ });
  t.equal(await slide.home(), 0);
  await slide.stop();
});

t.test('ESP300: motors on, moves, limits, and the controller error read with TB?', async (t) => {
  const stage = make(direct, 'stage') as Esp300Motion;
  t.match(
    await stage.initialize(),
    /^ESP300 Version 3\.04 .*, axes 1 \(mm\), 2 \(mm\); found: motor switched on for axis 1, 2$/,
    'motors found off at power-up are reported and switched on',
  );
  t.same(await stage.limits(2), { min: -10, max: 10 });
  t.equal(await stage.moveAbs(5, 2), 5);
  t.equal(await stage.waitSettled(2), 5);
  const from = await stage.position(1);
  t.equal(await stage.moveRel(-1, 1), from - 1, 'moveRel returns its target');
  t.ok(Math.abs((await stage.waitSettled(1)) - (from - 1)) < 1e-6);
  const err = await stage.moveAbs(12, 2).then(
    () => undefined,
    (e: Error & { code: string; facts: Record<string, unknown> }) => e,
  );
  t.match(err, { code: 'DAQ_INSTRUMENT', message: /stage: ESP300 refused "2PA12": error 20\d .*\(axis 2\)/ });
  t.equal(await stage.waitSettled(2), 5, 'the refused move left axis 2 at 5');
  t.match(await stage.commands.lastError!.run(), { code: 0, message: 'NO ERROR DETECTED' }, 'TB? popped the error');
  const readings = await stage.read();
  t.same(
    readings.map((r) => r.channel),
    ['axis1', 'axis2'],
  );
  t.equal(readings[1]!.value, 5);
  t.equal(await stage.home(1), 0, 'home returns once the axis settles at 0');
  await t.rejects(stage.position(3), { code: 'DAQ_INVALID_ARGUMENT', message: /no axis 3; configured axes: 1, 2/ });
  await stage.stop(2);
});

t.test('Newport 1830-C as a PowerMeter', async (t) => {
  const pm = make(broker, 'pm') as Newport1830CMeter;
  t.match(await pm.initialize(), /800 nm/);
  const p = await pm.power();
  t.ok(p > 0 && p < 1, `power ${p} W`);
  await pm.setWavelength(633);
  t.equal(await pm.wavelength(), 633);
  await pm.commands.setAttenuator!.run(true as never);
  t.match(await pm.read(), [{ channel: 'power', unit: 'W' }]);
});

t.test('MaiTai as a Laser', async (t) => {
  const laser = make(broker, 'laser') as MaiTaiLaser;
  t.match(await laser.initialize(), /Spectra Physics,MaiTai/);
  await laser.setWavelength(900);
  const wl = await laser.wavelength();
  t.ok(wl >= 690 && wl <= 1040, `actual wavelength ${wl} nm`);
  t.ok((await laser.power()) >= 0);
  t.equal(await laser.setShutter(true), true);
  t.equal(await laser.shutter(), true);
  t.equal(await laser.setShutter(false), false);
  t.type(await laser.commands.emission!.run(), 'boolean');
  t.same(
    (await laser.read()).map((r) => r.channel),
    ['wavelength', 'power', 'shutter'],
  );
});

t.test('ScpiInstrument: identity from the cache, queries, writes, the error queue', async (t) => {
  const meter = make(broker, 'meter') as ScpiDevice;
  const again = make(broker, 'meter') as ScpiDevice;
  const reads = broker.resources.devices.reads;
  t.match(await meter.initialize(), /^[^,]+,[^,]+,[^,]+,/);
  t.equal(await again.identify(), await meter.identify(), 'one identity for every user');
  t.equal(broker.resources.devices.reads, reads + 1, '*IDN? was read once');
  const [r] = await meter.read();
  t.match(r, { channel: 'MEAS:VOLT:DC?', unit: 'V' });
  t.ok(Number.isFinite(r!.value));
  await meter.write('BOGUS:COMMAND');
  await meter.write('VOLT:RANGE 1e9');
  const errors = await meter.errors();
  t.match(errors[0], /^-113,"Undefined header"/);
  t.ok(errors.length >= 1);
  t.same(await meter.errors(), [], 'the queue is empty after reading it');
  t.equal(meter.pollHz, 1);
});

t.test('ScpiInstrument: an overload reply (9.9E37) is a flagged reading with no value, counted, never a number', async (t) => {
  const base = broker.config.v4.instruments.find((i) => i.id === 'meter') as ScpiInstrumentConfig;
  const context: DriverContext = { broker: broker.api('v4'), clock: new Clock(), leaseTimeoutMs: 2000 };
  // The 100 mV range cannot hold the simulated 1.23 V: the meter answers +9.90000000E+37.
  const meter = createV4Instrument({ ...base, poll_query: 'MEAS:VOLT:DC? 0.1' }, context) as ScpiDevice;
  await meter.initialize();
  const [r] = await meter.read();
  t.equal(r!.flag, 'overload');
  t.ok(Number.isNaN(r!.value), 'no number stands in for the overload');
  t.same(meter.flagged, { overload: 1, 'not-a-number': 0 });
  const ok = createV4Instrument({ ...base, poll_query: 'MEAS:VOLT:DC? 10' }, context) as ScpiDevice;
  const [good] = await ok.read();
  t.equal(good!.flag, undefined);
  t.ok(Math.abs(good!.value - 1.23456789) < 1e-6);
});

t.test('no handles left', async (t) => {
  await broker.close();
  await direct.close();
  await bus.close();
  await esp.close();
  await assertNoNewHandles(t, before);
});
