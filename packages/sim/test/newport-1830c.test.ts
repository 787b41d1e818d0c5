// The Newport 1830-C simulator through the real serialport package: echo (the line after a set
// command), readings in every unit, ranges, saturation, zero, hold, the status byte, and the
// filter's measurement time.

import t from 'tap';
import { FILTER_MS, Newport1830CSimulator, StatusBits, formatWatts, type Newport1830COptions } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function meter(t: { teardown(fn: () => unknown): void }, options: Newport1830COptions = {}) {
  const sim = new Newport1830CSimulator({ filter: 3, ...options });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const ask = (command: string, timeoutMs = 1000) => c.query(`${command}\n`, '\n', timeoutMs);
  return { sim, c, ask };
}

t.test('echo is on at power-up: a set command returns one line (its echo); after E0 sets are silent', async (t) => {
  const { sim, c, ask } = await meter(t, { powerW: 7.5e-10 });
  t.equal(await ask('D?'), 'D?', 'the echo comes first');
  t.equal(await c.line(), '+.7500E-9', 'then the reading');
  t.equal(await ask('E0'), 'E0', 'E0 itself is still echoed: the one line after a set command');
  t.equal(await ask('W0800', 200), undefined, 'after E0 a set command sends nothing');
  t.equal(await ask('W?'), '0800');
  t.equal(await ask('E?'), '0');
  t.equal(await ask('E1', 200), undefined, 'E1 takes effect from the next command');
  t.equal(await ask('A0'), 'A0');
  t.equal(await c.line('\n', 200), undefined, 'a set command gives just its echo');
  t.equal(sim.echo, true);
  const quiet = new Newport1830CSimulator({ echo: false });
  const q = await SerialClient.open(await quiet.start());
  t.equal(await q.query('W?\n'), '0633', 'a meter set to power up without echo');
  await q.close();
  await quiet.close();
});

t.test('readings: W in the meter format, dBm, dB and REL against the stored reference', async (t) => {
  const { sim, ask } = await meter(t, { powerW: 1.234e-3, echo: false });
  t.equal(await ask('D?'), '+.1234E-2');
  t.equal(await ask('U?'), '1', 'Watts at power-up');
  await ask('U2', 100);
  t.equal(await ask('D?'), (10 * Math.log10(1.234)).toFixed(2), 'dBm: 0.91');
  await ask('U3', 100);
  t.equal(await ask('D?'), (10 * Math.log10(1.234)).toFixed(2), 'dB against the power-up reference of 1 mW');
  await ask('S', 100);
  sim.setPower(2.468e-3);
  t.equal(await ask('D?'), (10 * Math.log10(2)).toFixed(2), 'dB against the stored reference: 3.01');
  await ask('U4', 100);
  t.equal(await ask('D?'), '2.0000', 'REL');
  await ask('U1', 100);
  sim.setPower(1e-3, { gain: 1.1, offsetW: 2e-6 });
  t.equal(await ask('D?'), formatWatts(1e-3 * 1.1 + 2e-6), 'gain and offset known to the test');
  t.equal(formatWatts(7.5e-10), '+.7500E-9');
  t.equal(formatWatts(-5e-9), '-.5000E-8');
  t.equal(formatWatts(0.99999), '+.1000E+1', 'rounding carries into the exponent');
  t.equal(formatWatts(0), '+.0000E+0');
});

t.test('wavelength 300-1100 nm, units, range, attenuator, filter: queries and refused settings', async (t) => {
  const { sim, ask } = await meter(t, { echo: false, powerW: 1e-3 });
  t.equal(await ask('W?'), '0633');
  await ask('W1100', 100);
  t.equal(await ask('W?'), '1100');
  await ask('W1500', 100);
  t.equal(await ask('W?'), '1100', '1500 nm is out of range and ignored');
  t.equal(await ask('Q?'), String(StatusBits.PARAM_ERROR | StatusBits.READY_READING), 'status byte: parameter error');
  t.equal(await ask('Q?'), String(StatusBits.READY_READING), 'read once, cleared');
  await ask('U5', 100);
  await ask('R9', 100);
  await ask('F4', 100);
  t.same(
    [await ask('U?'), await ask('R?'), await ask('F?'), await ask('A?')],
    ['1', '7', '3', '0'],
    'R? gives the range in use in auto',
  );
  await ask('A1', 100);
  await ask('F1', 100);
  t.same([await ask('A?'), await ask('F?')], ['1', '1']);
  await ask('FOO', 100);
  t.equal(sim.unknownCommands, 1, 'an unknown command is ignored');
  t.equal(Number(await ask('Q?')) & StatusBits.COMMAND_ERROR, StatusBits.COMMAND_ERROR, 'and flagged in the status byte');
  await ask('B0', 100);
  await ask('L1', 100);
  t.same([await ask('B?'), await ask('L?')], ['0', '1'], 'beeper and lockout');
});

t.test('ranges: auto picks one, a fixed range reads OVER or UNDER, the detector saturates', async (t) => {
  const { sim, ask } = await meter(t, { echo: false, powerW: 1e-3 });
  t.equal(await ask('R?'), '7', 'auto: 1 mW fits range 7 (2 mW full scale)');
  await ask('R3', 100);
  t.equal(await ask('R?'), '3');
  t.equal(await ask('D?'), 'OVER', 'range 3 (20 nW) cannot show 1 mW');
  t.equal(Number(await ask('Q?')) & StatusBits.OVER_RANGE, StatusBits.OVER_RANGE);
  await ask('R8', 100);
  sim.setPower(1e-9);
  t.equal(await ask('D?'), 'UNDER', '1 nW is below one count of range 8');
  await ask('R0', 100);
  t.equal(await ask('D?'), '+.1000E-8', 'auto range reads it');
  sim.setPower(0.5);
  t.equal(await ask('D?'), 'SAT', 'above 0.2 W the bare detector saturates');
  t.equal(Number(await ask('Q?')) & StatusBits.SATURATED, StatusBits.SATURATED);
  await ask('A1', 100);
  t.equal(await ask('D?'), '+.5000E+0', 'with the attenuator it reads');
  await ask('U2', 100);
  sim.setPower(0);
  t.equal(await ask('D?'), 'ERR', 'no dBm for zero power');
});

t.test('zero subtracts the next reading; hold freezes the display', async (t) => {
  const { sim, ask } = await meter(t, { echo: false, powerW: 1e-6 });
  await ask('Z1', 100);
  t.equal(await ask('Z?'), '1');
  t.equal(await ask('D?'), '+.0000E+0', 'the background is gone');
  sim.setPower(3e-6);
  t.equal(await ask('D?'), '+.2000E-5', 'later readings have it subtracted');
  await ask('Z0', 100);
  t.equal(await ask('D?'), '+.3000E-5');
  await ask('G0', 100);
  sim.setPower(9e-6);
  t.equal(await ask('D?'), '+.3000E-5', 'held');
  t.equal(await ask('G?'), '0');
  await ask('G1', 100);
  t.equal(await ask('D?'), '+.9000E-5', 'running again');
  t.equal(sim.measuredW, 9e-6);
});

t.test('a reading takes the filter time: about 0.5 s with the slow filter', async (t) => {
  const { ask } = await meter(t, { echo: false, filter: 1, powerW: 2e-3 });
  const begun = performance.now();
  t.equal(await ask('D?', 2000), '+.2000E-2');
  t.ok(performance.now() - begun >= FILTER_MS[1], `slow filter: at least ${FILTER_MS[1]} ms`);
  t.ok(FILTER_MS[1] > FILTER_MS[2] && FILTER_MS[2] > FILTER_MS[3]);
  await ask('F3', 100);
  t.equal(await ask('D?'), '+.2000E-2');
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
