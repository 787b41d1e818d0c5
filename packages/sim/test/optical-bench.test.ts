// The pieces of the simulated optical bench, one simulator at a time: the light path (Malus's
// law, leak, seeded Gaussian noise), the MaiTai's beam (emission, shutter, tuning curve, the
// wavelength lagging while it tunes), an Elliptec mount's angle (also mid-move), and a Newport
// meter fed by a function instead of a fixed power. test/optical-bench.test.ts runs the whole
// bench from examples/polarization-scan.toml.

import t from 'tap';
import {
  ElliptecBusSimulator,
  MaiTaiSimulator,
  Newport1830CSimulator,
  StatusBits,
  TUNING_PEAK_NM,
  gaussian,
  malus,
  opticalPath,
  tuningFraction,
} from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test("Malus's law: cos² of the angle to the axis, repeating every 180°", async (t) => {
  t.equal(malus(30, 30), 1);
  t.ok(Math.abs(malus(120, 30)) < 1e-30, 'crossed');
  t.ok(Math.abs(malus(75, 30) - 0.5) < 1e-12, '45° off: half');
  t.ok(Math.abs(malus(210, 30) - 1) < 1e-12, 'and again half a turn later');
});

t.test('the light path: source × transmission × cos² + leak, with seeded relative Gaussian noise', async (t) => {
  let angle = 0;
  const exact = opticalPath({ source: () => 2, angleDeg: () => angle, axisDeg: 10, transmission: 0.25, leakW: 1e-3 });
  t.equal(exact(0), 2 * 0.25 * Math.cos((10 * Math.PI) / 180) ** 2 + 1e-3);
  angle = 100;
  t.ok(Math.abs(exact(0) - 1e-3) < 1e-15, 'crossed: the leak alone');
  t.equal(opticalPath({ source: (at) => at })(0.125), 0.125, 'no polarizer, transmission 1, no leak: the source at `at`');

  const noisy = (seed: number) => opticalPath({ source: () => 1, noise: 0.1, seed });
  const a = noisy(3);
  const b = noisy(3);
  const samples = Array.from({ length: 4000 }, () => a(0));
  t.same(
    Array.from({ length: 5 }, () => b(0)),
    samples.slice(0, 5),
    'the same seed, the same readings',
  );
  t.not(noisy(4)(0), samples[0], 'another seed, other readings');
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  const sd = Math.sqrt(samples.reduce((s, x) => s + (x - mean) ** 2, 0) / (samples.length - 1));
  t.ok(Math.abs(mean - 1) < 0.01, `mean ${mean.toFixed(4)}`);
  t.ok(Math.abs(sd - 0.1) < 0.01, `relative standard deviation ${sd.toFixed(4)}`);
  const z = gaussian(() => 0.5);
  t.ok(Math.abs(z() + Math.sqrt(2 * Math.log(2))) < 1e-12, 'Box-Muller: u1 = u2 = 0.5 gives -√(2 ln 2)');
});

t.test('the MaiTai beam: zero until it emits with the shutter open; the tuning curve when asked', async (t) => {
  const off = new MaiTaiSimulator();
  t.equal(off.beamPowerW(), 0, 'powers up with the pump off and the shutter closed');
  const closed = new MaiTaiSimulator({ emission: true, watchdogS: 0 });
  t.equal(closed.beamPowerW(), 0, 'emitting behind a closed shutter');
  const flat = new MaiTaiSimulator({ emission: true, shutterOpen: true, watchdogS: 0, wavelengthNm: 950 });
  t.equal(flat.beamPowerW(), flat.powerW, 'without the tuning curve: powerW at any wavelength');
  t.equal(tuningFraction(TUNING_PEAK_NM), 1);
  t.ok(tuningFraction(700) < tuningFraction(760) && tuningFraction(1000) < tuningFraction(900), 'less toward the ends');
  const peak = new MaiTaiSimulator({ emission: true, shutterOpen: true, watchdogS: 0, tuningCurve: true, wavelengthNm: 800 });
  t.equal(peak.beamPowerW(), peak.powerW, 'the curve peaks at 800 nm with powerW');
  const watchdog = new MaiTaiSimulator({ emission: true, shutterOpen: true, watchdogS: 0.001 });
  await sleep(10);
  t.equal(watchdog.beamPowerW(), 0, 'the watchdog stopped the pump');
  for (const s of [off, closed, flat, peak, watchdog]) await s.close();
});

t.test('the MaiTai beam follows the actual wavelength while it tunes, and READ:POW? agrees', async (t) => {
  const sim = new MaiTaiSimulator({
    emission: true,
    shutterOpen: true,
    watchdogS: 0,
    tuningCurve: true,
    replyMs: 5,
    shutterMs: 50,
    tuningNmPerS: 1000,
    wavelengthNm: 700,
  });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const expected = (nm: number) => sim.powerW * tuningFraction(nm);
  t.equal(await c.query('READ:POW?\n'), `${expected(700).toFixed(2)}W`);
  await c.write('WAV 1000\n');
  await sleep(100);
  const now = performance.now();
  const mid = sim.beamPowerW(now);
  t.ok(mid > expected(1000), 'mid-tuning the power is not yet that of the target wavelength');
  t.ok(Math.abs(mid - expected(sim.actualWavelengthNm)) < 0.05 * sim.powerW, 'it is that of the actual wavelength');
  await sleep(300);
  t.equal(sim.beamPowerW(), expected(1000), 'tuned');
  t.equal(await c.query('READ:POW?\n'), `${expected(1000).toFixed(2)}W`);
  await c.write('SHUT 0\n');
  await sleep(100);
  t.equal(sim.beamPowerW(), 0, 'the shutter closed');
  t.equal(await c.query('READ:POW?\n'), `${expected(1000).toFixed(2)}W`, 'READ:POW? measures before the shutter');
});

t.test("an Elliptec mount's angle: its reported position in degrees, also mid-move", async (t) => {
  const bus = new ElliptecBusSimulator({ devices: [{ address: '0' }, { address: '1', model: 'ELL17' }] });
  t.teardown(() => bus.close());
  const mount = bus.device('0');
  const perDeg = 143360 / 360;
  t.equal(bus.angleDeg('0'), 0);
  const t0 = performance.now() + 1000; // a move planned ahead: nothing runs in between
  const ms = mount.moveTo(Math.round(90 * perDeg), t0)!;
  t.equal(mount.angleDegAt(t0), 0, 'not yet moving');
  t.ok(Math.abs(mount.angleDegAt(t0 + ms / 2) - 45) < 0.01, 'half-way: 45°');
  t.equal(mount.angleDegAt(t0 + ms), Math.round(90 * perDeg) / perDeg, 'arrived');
  t.equal(bus.angleDeg('0', t0 + ms), mount.angleDegAt(t0 + ms));
  mount.moveTo(-Math.round(30 * perDeg), t0 + ms);
  t.ok(Math.abs(mount.angleDegAt(t0 + 10 * ms) - 330) < 0.01, 'within one turn: -30° reads 330°');
  t.throws(() => bus.angleDeg('1'), { code: 'DAQ_INVALID_ARGUMENT', message: /ELL17 at address 1 is a linear/ });
});

t.test('a Newport meter fed by opticalPower: sampled once per command, in its units and ranges', async (t) => {
  let w = 1e-3;
  const calls: number[] = [];
  const sim = new Newport1830CSimulator({
    opticalPower: (at) => {
      calls.push(at);
      return w;
    },
  });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  t.equal(await c.query('D?\n'), '+.1000E-2');
  t.equal(calls.length, 1, 'one sample for the reading');
  w = 5e-3;
  t.equal(await c.query('D?\n'), '+.5000E-2', 'the next reading sees the new power');
  await c.write('U3\n');
  t.equal(await c.query('D?\n'), (10 * Math.log10(5e-3 / 1e-3)).toFixed(2), 'in dBm');
  await c.write('U1\nR3\n');
  t.equal(Number(await c.query('Q?\n')) & StatusBits.OVER_RANGE, StatusBits.OVER_RANGE, 'over range on a low range');
  w = 1;
  t.equal(Number(await c.query('Q?\n')) & StatusBits.SATURATED, StatusBits.SATURATED, 'a watt saturates the head');
  t.equal(sim.powerW, 1, 'powerW follows the function');
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
