// The Newport 1830-C simulator through the real serialport package: echo off at power-up (and
// on as an option), readings in W/dB/dBm/REL, detector heads and their wavelengths, ranges,
// over range and saturation in the status byte, C, zero, hold, auto-calibration, start states,
// and the filter's reading time with profile 'hardware'.

import t, { type Test } from 'tap';
import {
  COMMAND_MS,
  DETECTORS,
  FILTER_MS,
  Newport1830CSimulator,
  StatusBits,
  formatWatts,
  type Newport1830COptions,
} from '../src/newport-1830c.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { PARAM_ERROR, COMMAND_ERROR, SATURATED, OVER_RANGE, BUSY, READ_DONE } = StatusBits;

async function meter(t: Test, options: Newport1830COptions = {}) {
  const sim = new Newport1830CSimulator(options);
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const ask = (command: string, timeoutMs = 1000) => c.query(`${command}\n`, '\n', timeoutMs);
  /** A set command: nothing comes back within `quietMs`. */
  const set = async (command: string, quietMs = 30) => {
    t.equal(await c.query(`${command}\n`, '\n', quietMs), undefined, `${command} sends nothing back`);
  };
  const status = async () => Number(await ask('Q?'));
  return { sim, c, ask, set, status };
}

t.test('echo is off at power-up: queries answer directly, set commands send nothing', async (t) => {
  const { sim, ask, set } = await meter(t, { powerW: 7.5e-10 });
  t.equal(sim.echo, false);
  t.equal(await ask('D?'), '+.7500E-9', 'the reading, with no echo before it');
  t.equal(await ask('U?'), '1');
  t.equal(await ask('W?'), '0633');
  t.equal(await ask('R?'), '1');
  t.equal(await ask('E?'), '0');
  await set('W0800');
  await set('A0');
  t.equal(await ask('W?'), '0800');
  t.equal(await ask('q?'), String(READ_DONE), 'lower case is understood, and nothing went wrong');
});

t.test('echo: true (a meter left in E1): each line comes back, then the reply; E0 stops it', async (t) => {
  const { c, ask, set } = await meter(t, { echo: true, powerW: 7.5e-10 });
  t.equal(await ask('D?'), 'D?', 'the echo comes first');
  t.equal(await c.line(), '+.7500E-9', 'then the reading');
  t.equal(await ask('A0'), 'A0', 'a set command gives its echo');
  t.equal(await c.line('\n', 50), undefined, 'and nothing else');
  t.equal(await ask('E0'), 'E0', 'E0 itself is still echoed: the "one line after a set command"');
  await set('W0800');
  t.equal(await ask('E?'), '0');
  await set('E1');
  t.equal(await ask('E?'), 'E?', 'E1 takes effect from the next command');
  t.equal(await c.line(), '1');
});

t.test('units: U1 W, U2 dB against the reference, U3 dBm, U4 REL; S stores the reference', async (t) => {
  const { sim, ask, set } = await meter(t, { powerW: 1.234e-3 });
  t.equal(await ask('D?'), '+.1234E-2');
  await set('U3');
  t.equal(await ask('U?'), '3');
  t.equal(await ask('D?'), (10 * Math.log10(1.234)).toFixed(2), 'dBm: 0.91');
  await set('U2');
  sim.setPower(2.468e-3);
  t.equal(await ask('D?'), (10 * Math.log10(2.468)).toFixed(2), 'dB against the power-up reference of 1 mW');
  sim.setPower(1.234e-3);
  await set('S');
  sim.setPower(2.468e-3);
  t.equal(await ask('D?'), (10 * Math.log10(2)).toFixed(2), 'dB against the stored reference: 3.01');
  t.equal(await ask('U?'), '2');
  await set('U3');
  t.equal(await ask('D?'), (10 * Math.log10(2.468)).toFixed(2), 'dBm is unaffected by the reference');
  await set('U4');
  t.equal(await ask('D?'), '2.0000', 'REL');
  await set('U1');
  sim.setPower(1e-3, { gain: 1.1, offsetW: 2e-6 });
  t.equal(await ask('D?'), formatWatts(1e-3 * 1.1 + 2e-6), 'gain and offset known to the test');
  t.equal(formatWatts(7.5e-10), '+.7500E-9');
  t.equal(formatWatts(-5e-9), '-.5000E-8');
  t.equal(formatWatts(0.99999), '+.1000E+1', 'rounding carries into the exponent');
  t.equal(formatWatts(0), '+.0000E+0');
});

t.test('start state: a meter left in dBm, on a fixed range, attenuator in, slow filter, 1064 nm', async (t) => {
  const { ask } = await meter(t, { units: 3, range: 7, attenuator: true, filter: 1, wavelengthNm: 1064, powerW: 1e-3 });
  t.same([await ask('U?'), await ask('R?'), await ask('A?'), await ask('F?'), await ask('W?')], ['3', '7', '1', '1', '1064']);
  t.equal(await ask('D?'), '0.00', 'D? answers in dBm without a U command');
  t.throws(
    () => new Newport1830CSimulator({ wavelengthNm: 1550 }),
    { code: 'DAQ_INVALID_ARGUMENT' },
    '1550 nm is no 818-SL state',
  );
  t.throws(() => new Newport1830CSimulator({ detector: '818-IR', range: 2 }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => new Newport1830CSimulator({ units: 5 as 1 }), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('wavelength follows the detector head; W outside it is ignored with a parameter error', async (t) => {
  t.same(DETECTORS['818-SL'], { minNm: 400, maxNm: 1100, lowestRange: 1, powerUpNm: 633 });
  {
    const { ask, set, status } = await meter(t);
    await set('W1100');
    t.equal(await ask('W?'), '1100');
    await set('W1500');
    t.equal(await ask('W?'), '1100', '1500 nm is beyond the 818-SL and ignored');
    t.equal(await status(), PARAM_ERROR | READ_DONE, 'parameter error');
    t.equal(await status(), PARAM_ERROR | READ_DONE, 'Q? does not clear it');
    await set('C');
    t.equal(await status(), READ_DONE, 'C does');
    await set('W350');
    t.equal(await ask('W?'), '1100', '350 nm is below the 818-SL');
    await set('C');
    await set('W 0532');
    t.equal(await ask('W?'), '0532', 'space before the parameter and leading zero accepted; four digits back');
    await set('w633');
    t.equal(await ask('W?'), '0633', 'lower case; unpadded');
    t.equal(await status(), READ_DONE);
  }
  {
    const { ask, set, status } = await meter(t, { detector: '818-IR', wavelengthNm: 1310 });
    await set('W1550');
    t.equal(await ask('W?'), '1550', 'the 818-IR reads 1550 nm');
    await set('W0700');
    t.equal(await ask('W?'), '1550', 'but not 700 nm');
    t.equal((await status()) & PARAM_ERROR, PARAM_ERROR);
  }
  {
    const { ask, set } = await meter(t, { detector: '818-UV' });
    await set('W250');
    t.equal(await ask('W?'), '0250', 'the 818-UV reads 250 nm');
  }
});

t.test('refused settings and unknown commands: ignored, flagged in the status byte until C', async (t) => {
  const { sim, ask, set, status } = await meter(t, { filter: 3 });
  for (const bad of ['U5', 'U0', 'R9', 'F4', 'A2', 'K3', 'M256', 'U']) await set(bad);
  t.same(
    [await ask('U?'), await ask('R?'), await ask('F?'), await ask('A?'), await ask('K?'), await ask('M?')],
    ['1', '7', '3', '0', '1', '0'],
    'all unchanged; R? gives the range in use in auto',
  );
  t.equal(await status(), PARAM_ERROR | READ_DONE);
  await set('FOO');
  await set('T?');
  await set('S1');
  t.equal(sim.unknownCommands, 3, 'unknown commands are ignored');
  t.equal(await status(), PARAM_ERROR | COMMAND_ERROR | READ_DONE, 'and flagged');
  await set('C');
  t.equal(await status(), READ_DONE);
  await set('A1');
  await set('F1');
  await set('B0');
  await set('L1');
  await set('K2');
  await set('M128');
  t.same(
    [await ask('A?'), await ask('F?'), await ask('B?'), await ask('L?'), await ask('K?'), await ask('M?')],
    ['1', '1', '0', '1', '2', '128'],
    'attenuator, filter, beeper, lockout, backlight, service request enable',
  );
});

t.test('ranges, over range and saturation: D? answers a number, the status byte says why', async (t) => {
  const { sim, ask, set, status } = await meter(t, { powerW: 1e-3, filter: 3 });
  t.equal(await ask('R?'), '7', 'auto: 1 mW fits range 7 (2 mW full scale)');
  await set('R3');
  t.equal(await ask('R?'), '3');
  t.equal(await ask('D?'), '+.2000E-6', 'range 3 (200 nW) cannot show 1 mW: it reads its full scale');
  t.equal(await status(), OVER_RANGE, 'over range, and no READ DONE');
  await set('R8');
  sim.setPower(1e-9);
  t.equal(await ask('D?'), '+.0000E+0', '1 nW is below one step of range 8');
  t.equal(await status(), READ_DONE);
  await set('R0');
  t.equal(await ask('D?'), '+.1000E-8', 'auto range reads it');
  sim.setPower(0.05);
  t.equal(await ask('D?'), '+.2000E-1', 'beyond range 8 even in auto: its full scale');
  t.equal(await status(), OVER_RANGE);
  sim.setPower(0.5);
  t.equal(await ask('D?'), '+.2000E-1', 'saturated');
  t.equal(await status(), SATURATED | OVER_RANGE, 'above 0.2 W the bare detector saturates');
  await set('A1');
  t.equal(await ask('D?'), '+.5000E+0', 'with the OD3 attenuator it reads');
  t.equal(await ask('R?'), '7', 'on the range that 0.5 mW at the photodiode needs');
  t.equal(await status(), READ_DONE);
  await set('A0');
  await set('R8');
  sim.setPower(0);
  await set('U3');
  t.equal(await ask('D?'), (10 * Math.log10(2e-2 / 20000 / 1e-3)).toFixed(2), 'dBm of nothing: one step of the range');
  await set('Z1');
  t.match(await ask('D?'), /^-?\d+\.\d\d$/, 'still a number with zero on');
});

t.test('the 818-IR head starts at range 3', async (t) => {
  const { sim, ask, set, status } = await meter(t, { detector: '818-IR', wavelengthNm: 1550, powerW: 1e-10, filter: 3 });
  t.equal(await ask('R?'), '3', 'auto never goes below R3');
  await set('R2');
  t.equal((await status()) & PARAM_ERROR, PARAM_ERROR, 'R1/R2 refused');
  await set('R3');
  t.equal(sim.range, 3);
  t.equal(await ask('D?'), '+.1000E-9');
});

t.test('zero subtracts the next reading; hold freezes it and stops READ DONE', async (t) => {
  const { sim, ask, set, status } = await meter(t, { powerW: 1e-6, filter: 3 });
  await set('Z1');
  t.equal(await ask('Z?'), '1');
  t.equal(await ask('D?'), '+.0000E+0', 'the background is gone');
  sim.setPower(3e-6);
  t.equal(await ask('D?'), '+.2000E-5', 'later readings have it subtracted');
  await set('Z0');
  t.equal(await ask('D?'), '+.3000E-5');
  await set('G0');
  sim.setPower(9e-6);
  t.equal(await status(), READ_DONE, 'the reading taken before the hold is still unread');
  t.equal(await ask('D?'), '+.3000E-5', 'held');
  t.equal(await status(), 0, 'D? cleared READ DONE and no new reading comes while held');
  t.equal(await ask('G?'), '0');
  await set('G1');
  t.equal(await status(), READ_DONE, 'running again');
  t.equal(await ask('D?'), '+.9000E-5');
  t.equal(sim.measuredW, 9e-6);
});

t.test('O auto-calibrates: busy in the status byte, D? waits for the end', async (t) => {
  const { ask, set, status } = await meter(t, { powerW: 2e-3, filter: 3, autoCalMs: 200 });
  await set('O', 0);
  t.equal(await status(), BUSY, 'busy, no READ DONE');
  const begun = performance.now();
  t.equal(await ask('D?'), '+.2000E-2');
  t.ok(performance.now() - begun >= 150, 'the reading comes after the calibration');
  t.equal(await status(), READ_DONE);
});

t.test('V4 is served readingOffset more, in W', async (t) => {
  const { sim, ask } = await meter(t, { powerW: 1e-3, v4Offset: 2e-5, filter: 3 });
  sim.client = 'v2:pm';
  t.equal(await ask('D?'), '+.1000E-2');
  sim.client = 'v4:pm';
  t.equal(await ask('D?'), '+.1020E-2');
});

t.test("profile 'hardware': a reading takes the filter's time, other commands a few ms", async (t) => {
  const { ask, set, status } = await meter(t, { profile: 'hardware', filter: 1, powerW: 2e-3 });
  let begun = performance.now();
  t.equal(await ask('D?', 2000), '+.2000E-2');
  const slow = performance.now() - begun;
  t.ok(slow >= FILTER_MS[1] && slow < FILTER_MS[1] + 300, `slow filter: ${slow.toFixed(0)} ms, about ${FILTER_MS[1]}`);
  t.equal((await status()) & READ_DONE, 0, 'right after D? no new reading yet');
  await set('F3', 0);
  begun = performance.now();
  t.equal(await ask('W?'), '0633');
  const query = performance.now() - begun;
  t.ok(query >= COMMAND_MS && query < 100, `a query: ${query.toFixed(1)} ms (the set command before it included)`);
  begun = performance.now();
  t.equal(await ask('D?'), '+.2000E-2');
  const fast = performance.now() - begun;
  t.ok(fast >= FILTER_MS[3] && fast < 150, `fast filter: ${fast.toFixed(0)} ms`);
  await sleep(FILTER_MS[3] + 5);
  t.equal(await status(), READ_DONE, 'a new reading after one reading time');
  t.ok(FILTER_MS[1] > FILTER_MS[2] && FILTER_MS[2] > FILTER_MS[3]);
});

t.test("profile 'fast' answers a reading at once, whatever the filter", async (t) => {
  const { ask } = await meter(t, { filter: 1, powerW: 2e-3 });
  const begun = performance.now();
  t.equal(await ask('D?'), '+.2000E-2');
  t.ok(performance.now() - begun < 100);
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
