// Every V2 driver command against its simulator, through a real broker endpoint: identity,
// readings, commands, and the error and status replies a user can meet.

import t from 'tap';
import { DaqError, type DriverContext, Clock, describeCommands, type Reading } from '@daq/core';
import { ElliptecV2, MaiTaiV2, MockPowerV2, Newport1830CV2, createV2Instrument } from '@daq/v2-worker';
import { mainThreadBroker } from './helpers/main-thread-broker.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

const TOML = `
[application]
simulate = true
[v2]
[[v2.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "2"
[[v2.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
wavelength_nm = 780
[[v2.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyLASER"
[[v2.instruments]]
id = "mock"
type = "MockPower"
power_w = 0.002
noise = 0.01
`;

const broker = await mainThreadBroker(TOML);
t.teardown(() => broker.close());
const context: DriverContext = { broker: broker.api('v2'), clock: new Clock(), leaseTimeoutMs: 2000 };
const inst = (id: string) =>
  createV2Instrument(
    broker.config.v2.instruments.find((i) => i.id === id)!,
    context,
  );

t.test('Elliptec: identity, position, moves, home and status through the lease', async (t) => {
  const rot = inst('rot') as ElliptecV2;
  t.ok(rot instanceof ElliptecV2);
  t.match(await rot.initialize(), /^ELL14 serial \w+ firmware \w+ at address 2 \(398\.222 pulses\/deg\)$/);
  const [r] = await rot.read();
  t.match(r, { channel: 'position', unit: 'deg' });
  t.equal(await rot.commands.moveAbs!.run(45 as never), 45, 'moveAbs returns the position reached');
  t.ok(Math.abs(((await rot.commands.getPosition!.run()) as number) - 45) < 0.01);
  const rel = (await rot.commands.moveRel!.run(-10 as never)) as number;
  t.ok(Math.abs(rel - 35) < 0.01, `moveRel from 45 by -10 reached ${rel}`);
  t.same(await rot.commands.getStatus!.run(), { code: 0, text: 'ok' });
  t.equal(await rot.commands.home!.run(), 0, 'home reaches 0');
  await rot.shutdown();
  t.equal(broker.resources.serial.leasesHeld, 0, 'no lease left');
});

t.test('Newport 1830-C: set-up, wavelength, readings in W', async (t) => {
  const pm = inst('pm') as Newport1830CV2;
  t.match(await pm.initialize(), /wavelength 780 nm/);
  const readings: Reading[] = await pm.read();
  t.equal(readings.length, 1);
  t.match(readings[0], { channel: 'power', unit: 'W' });
  t.ok(readings[0]!.value > 0 && readings[0]!.value < 1, `a plausible power ${readings[0]!.value}`);
  await pm.commands.setWavelength!.run(1064 as never);
  t.equal(await pm.commands.getWavelength!.run(), 1064);
});

t.test('MaiTai: identity, wavelength, power, shutter', async (t) => {
  const laser = inst('laser') as MaiTaiV2;
  t.match(await laser.initialize(), /MaiTai/);
  const readings = await laser.read();
  t.same(
    readings.map((r) => [r.channel, r.unit]),
    [
      ['wavelength', 'nm'],
      ['power', 'W'],
      ['shutter', ''],
    ],
  );
  t.equal(await laser.commands.setShutter!.run(true as never), true);
  t.equal((await laser.read())[2]!.value, 1, 'the shutter reads open');
  t.equal(await laser.commands.setShutter!.run(false as never), false);
  await laser.commands.setWavelength!.run(900 as never);
});

t.test('MockPower needs no hardware and is repeatable', async (t) => {
  const a = inst('mock') as MockPowerV2;
  const b = inst('mock') as MockPowerV2;
  t.match(await a.initialize(), /MockPower/);
  const ra = await a.read();
  t.same(ra, await b.read(), 'same id, same noise');
  t.ok(Math.abs(ra[0]!.value - 0.002) < 0.002 * 0.1);
});

t.test('garbled and missing replies become errors that name the instrument, the command and the port', async (t) => {
  await using faulty = await mainThreadBroker(`
[application]
simulate = true
[v2]
[[v2.instruments]]
id = "garbled"
type = "Newport1830C"
serial_port = "/dev/ttyG"
sim = { corrupt_probability = 1.0, seed = 3 }
[[v2.instruments]]
id = "silent"
type = "Newport1830C"
serial_port = "/dev/ttyS"
sim = { drop_probability = 1.0 }
`);
  const ctx: DriverContext = { broker: faulty.api('v2'), clock: new Clock(), leaseTimeoutMs: 2000 };
  const garbled = createV2Instrument(faulty.config.v2.instruments[0]!, ctx);
  const silent = createV2Instrument(faulty.config.v2.instruments[1]!, ctx);
  await t.rejects(garbled.initialize(), { code: 'DAQ_INSTRUMENT', message: /^garbled: unexpected reply .* to "[UW]\?"/ });
  await t.rejects(garbled.read(), { code: 'DAQ_INSTRUMENT', message: /^garbled: (unexpected reply|reading)/ });
  const port = (faulty.config.v2.instruments[1] as { serial_port: string }).serial_port;
  const err = await silent.read().then(
    () => undefined,
    (e: DaqError) => e,
  );
  t.match(err, { code: 'DAQ_READ_TIMEOUT', facts: { port } });
  t.match(err?.message, new RegExp(port.replace(/[/.]/g, '\\$&')), 'the message names the port');
  t.equal(faulty.resources.serial.leasesHeld, 0, 'every failed exchange released its lease');
  await t.rejects(garbled.commands.setWavelength!.run(10000 as never), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('the V2 API is pinned: its commands and parameters do not change under V4 work', async (t) => {
  const api = Object.fromEntries(
    broker.config.v2.instruments.map((c) => [
      c.type,
      describeCommands(inst(c.id).commands).map((d) => `${d.name}(${d.params.map((p) => `${p.name}:${p.type}`).join(', ')})`),
    ]),
  );
  t.same(api, {
    Elliptec: ['moveAbs(position:number)', 'moveRel(distance:number)', 'home()', 'getPosition()', 'getStatus()'],
    Newport1830C: ['readPower()', 'setWavelength(nm:integer)', 'getWavelength()'],
    MaiTai: ['setWavelength(nm:integer)', 'setShutter(open:boolean)', 'readWavelength()', 'readPower()'],
    MockPower: ['readPower()', 'setPower(watts:number)'],
  });
});

t.test('no handles left', async (t) => {
  await broker.close();
  await assertNoNewHandles(t, before);
});
