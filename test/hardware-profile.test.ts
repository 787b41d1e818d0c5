// Every driver, V2 and V4, against its simulator with `sim = { profile = "hardware" }`: the
// response, move, tuning and measurement times reported for the real devices. The drivers run
// with HALF their default timeouts, so passing here means the defaults hold with a margin of
// two on hardware-like timing (a pass/fail check, not a timing measurement).

import t, { type Test } from 'tap';
import { Clock, INSTRUMENT_TYPES, type DriverContext, type HostedInstrument, type InstrumentConfig } from '@daq/core';
import { createV2Instrument } from '@daq/v2-worker';
import {
  createV4Instrument,
  type ElliptecMotion,
  type Esp300Motion,
  type MaiTaiLaser,
  type Newport1830CMeter,
} from '@daq/v4-worker';
import { mainThreadBroker } from './helpers/main-thread-broker.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

/** `timeout_ms = …` at half the type's default, as a TOML line (empty for types without one). */
function halfTimeouts(type: string): string {
  const fields = INSTRUMENT_TYPES.find((s) => s.type === type)!.fields;
  const lines: string[] = [];
  for (const key of ['timeout_ms', 'move_timeout_ms']) {
    const def = fields[key]?.default;
    if (typeof def === 'number') lines.push(`${key} = ${Math.round(def / 2)}`);
  }
  return lines.join('\n');
}

/** One serial instrument table on its own simulated port, at half its timeouts, hardware profile. */
function serialInstrument(subsystem: 'v2' | 'v4', id: string, type: string, extra = ''): string {
  const port = `/dev/tty${id.toUpperCase().replace(/_/g, '')}`;
  return [
    `[[${subsystem}.instruments]]`,
    `id = "${id}"`,
    `type = "${type}"`,
    `serial_port = "${port}"`,
    extra,
    halfTimeouts(type),
    'sim = { profile = "hardware" }',
  ].join('\n');
}

const broker = await mainThreadBroker(`
[application]
simulate = true
[broker]
visa_timeout_ms = 1000
[v2]
${serialInstrument('v2', 'rot_v2', 'Elliptec')}
${serialInstrument('v2', 'pm_v2', 'Newport1830C', 'filter = "slow"')}
${serialInstrument('v2', 'laser_v2', 'MaiTai')}
[v4]
${serialInstrument('v4', 'rot', 'Elliptec')}
${serialInstrument('v4', 'pm', 'Newport1830C', 'filter = "slow"')}
${serialInstrument('v4', 'laser', 'MaiTai')}
${serialInstrument('v4', 'stage', 'ESP300', 'axes = [1, 2]')}
[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "TCPIP0::10.0.0.9::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
sim = { profile = "hardware" }
`);
t.teardown(() => broker.close());

const make = (subsystem: 'v2' | 'v4', id: string): HostedInstrument => {
  const context: DriverContext = { broker: broker.api(subsystem), clock: new Clock(), leaseTimeoutMs: 5000 };
  const config = broker.config[subsystem].instruments.find((i) => i.id === id) as InstrumentConfig;
  return subsystem === 'v2' ? createV2Instrument(config, context) : createV4Instrument(config, context);
};

/** Starts the instrument and takes two readings: every channel has a finite value. */
async function startAndRead(t: Test, inst: HostedInstrument): Promise<void> {
  t.ok(await inst.initialize(), `${inst.id} identified`);
  for (let i = 0; i < 2; i++) {
    const readings = await inst.read();
    t.same(
      readings.map((r) => r.channel),
      inst.channels().map((c) => c.channel),
      `${inst.id}: every channel read`,
    );
    for (const r of readings) t.ok(Number.isFinite(r.value), `${inst.id}.${r.channel} = ${r.value} ${r.unit}`);
  }
}

t.test('every serial simulator runs the hardware profile', async (t) => {
  for (const [, sim] of broker.sims.serial) t.equal(sim.profile, 'hardware');
  t.equal(broker.sims.serial.size, 7);
});

t.test('V2 drivers at half their default timeouts', async (t) => {
  for (const id of ['rot_v2', 'pm_v2', 'laser_v2']) await startAndRead(t, make('v2', id));
  const rot = make('v2', 'rot_v2');
  await rot.initialize();
  t.equal(Math.round((await rot.commands.moveAbs!.run(90 as never)) as number), 90, 'a quarter turn');
  t.equal(Math.round((await rot.commands.home!.run()) as number), 0, 'home');
});

t.test('V4 Elliptec: moves and homes within half the default move timeout', async (t) => {
  const rot = make('v4', 'rot') as ElliptecMotion;
  await startAndRead(t, rot);
  t.equal(Math.round(await rot.moveAbs(270)), 270);
  t.equal(Math.round(await rot.moveRel(-45)), 225);
  t.equal(Math.round(await rot.home()), 0);
});

t.test('V4 Newport 1830-C with the slow filter', async (t) => {
  const pm = make('v4', 'pm') as Newport1830CMeter;
  await startAndRead(t, pm);
  await pm.setWavelength(800);
  t.equal(await pm.wavelength(), 800);
  t.ok((await pm.power()) > 0);
});

t.test('V4 MaiTai: replies as slow as the laser, a wavelength change, the shutter', async (t) => {
  const laser = make('v4', 'laser') as MaiTaiLaser;
  await startAndRead(t, laser);
  await laser.setWavelength(800);
  t.equal(await laser.setShutter(true), true);
  t.equal(await laser.setShutter(false), false);
});

t.test('V4 ESP300: moves, a home search, settling within half the default timeouts', async (t) => {
  const stage = make('v4', 'stage') as Esp300Motion;
  await startAndRead(t, stage);
  await stage.moveAbs(2, 1);
  t.ok(Math.abs((await stage.waitSettled(1)) - 2) < 1e-3, 'axis 1 at 2');
  await stage.moveRel(-1, 2);
  t.ok(Math.abs((await stage.waitSettled(2)) + 1) < 1e-3, 'axis 2 at -1');
  t.ok(Math.abs(await stage.home(1)) < 1e-3, 'axis 1 homed');
});

t.test('V4 SCPI meter at a DMM measurement time, half the default VISA timeout', async (t) => {
  await startAndRead(t, make('v4', 'dmm'));
});

t.test('no handles left', async (t) => {
  await broker.close();
  await assertNoNewHandles(t, before);
});
