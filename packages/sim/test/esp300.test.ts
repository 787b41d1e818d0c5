// The ESP300 simulator through the real serialport package at 19200: motor power, trapezoidal
// moves that take time, MD?, stop and home, limits, every error path read through TE? and TB?,
// joined commands and the CR / CR LF terminators.

import t from 'tap';
import { AxisError, Esp300Simulator, Trajectory, type Esp300Options } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CRLF = '\r\n';

async function controller(t: { teardown(fn: () => unknown): void }, options: Esp300Options = {}) {
  const sim = new Esp300Simulator(options);
  const c = await SerialClient.open(await sim.start(), 19200);
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const ask = (command: string, timeoutMs = 1000) => c.query(`${command}\r`, CRLF, timeoutMs);
  const send = (command: string) => c.write(`${command}\r`);
  const waitDone = async (axis: number) => {
    while ((await ask(`${axis}MD?`)) === '0') await sleep(10);
  };
  return { sim, c, ask, send, waitDone };
}

t.test('identity and the empty error buffer', async (t) => {
  const { ask } = await controller(t);
  t.equal(await ask('VE?'), 'ESP300 Version 3.04 07/27/01');
  t.equal(await ask('VE'), 'ESP300 Version 3.04 07/27/01', 'read-only queries need no "?"');
  t.equal(await ask('*IDN?'), 'ESP300 Version 3.04 07/27/01');
  t.equal(await ask('TE?'), '0', 'no error');
  t.match(await ask('TB?'), /^0, \d+, NO ERROR DETECTED$/);
  t.equal(await ask('1ID?'), 'UTM50PP.1, B0000001');
});

t.test('a move needs the motor on; it takes the time of its trapezoid and MD? is 0 until done', async (t) => {
  const { sim, ask, send, waitDone } = await controller(t);
  await send('1PA5');
  t.equal(await ask('TE?'), '113', 'axis 1, error 13: motor not enabled');
  await send('1MO;1VA10;1AC100');
  t.same([await ask('1MO?'), await ask('1VA?'), await ask('1AC?')], ['1', '10.00000', '100.00000'], 'joined set commands');
  const begun = performance.now();
  await send('1PA5');
  t.equal(await ask('1MD?'), '0', 'moving: 0 (per the manual)');
  t.ok(Number(await ask('1TV')) > 0, 'with a velocity');
  await waitDone(1);
  // 5 units at 10 units/s with 100 units/s² up and down: 0.1 + 0.4 + 0.1 s.
  t.ok(performance.now() - begun >= 600, `took ${(performance.now() - begun).toFixed(0)} ms, at least 600`);
  t.equal(await ask('1MD'), '1', 'done: 1');
  t.equal(await ask('1TP'), '5.00000');
  t.equal(await ask('1TP?'), '5.00000');
  t.equal(await ask('01TP'), '5.00000', 'a two-digit axis number');
  t.equal(await ask('1DP?'), '5.00000');
  t.equal(await ask('1PA?'), '5.00000');
  await send('1PR-2');
  await waitDone(1);
  t.equal(await ask('1TP'), '3.00000', 'relative move');
  t.equal(sim.axis(1).position, 3);
  t.equal(await ask('2TP'), '0.00000', 'other axes untouched');
});

t.test('software limits: set and read, moves beyond them are refused with x06 / x07', async (t) => {
  const { sim, ask, send } = await controller(t, { axes: [{ motorOn: true }, { motorOn: true, leftLimit: -5, rightLimit: 5 }] });
  t.same([await ask('2SL?'), await ask('2SR?')], ['-5.00000', '5.00000']);
  await send('1SL-2;1SR2.5');
  t.same([await ask('1SL?'), await ask('1SR?')], ['-2.00000', '2.50000']);
  await send('1PA-3');
  t.match(await ask('TB?'), /^107, \d+, NEGATIVE SOFTWARE LIMIT DETECTED$/, 'axis 1 negative limit');
  await send('2PR6');
  t.match(await ask('TB'), /^206, \d+, POSITIVE SOFTWARE LIMIT DETECTED$/, 'axis 2 positive limit');
  t.equal(await ask('1TP'), '0.00000', 'the refused move did not happen');
  t.equal(sim.axis(1).target, 0);
});

t.test('errors queue up in order and TE? reads them one by one', async (t) => {
  const { sim, ask, send } = await controller(t, { axes: [{ maxVelocity: 20, maxAcceleration: 50 }] });
  await send('XX');
  await send('PA5');
  await send('4PA1');
  await send('1PA');
  await send('1VA30');
  await send('1AC60');
  await send('1VA-1');
  t.equal(await ask('1VA?'), '5.00000', 'the refused velocity was not taken');
  t.same(sim.pendingErrors, [6, 37, 9, 38, 110, 111, 101]);
  const codes: string[] = [];
  for (let code = await ask('TE?'); code !== '0'; code = await ask('TE?')) codes.push(code!);
  t.same(
    codes,
    ['6', '37', '9', '38', '110', '111', '101'],
    'does not exist, axis missing, axis out of range, parameter missing, max velocity, max acceleration, out of range',
  );
  for (let i = 0; i < 12; i++) await send('YY');
  await ask('TE?');
  t.equal(sim.pendingErrors.length, 9, 'the buffer keeps the last ten errors');
});

t.test('stop decelerates a move early; home goes to 0; DH redefines the position; MF stops', async (t) => {
  const { sim, ask, send, waitDone } = await controller(t, { axes: [{ motorOn: true, velocity: 10, acceleration: 50 }] });
  await send('1PA50');
  await sleep(300);
  await send('1ST');
  await waitDone(1);
  const stoppedAt = Number(await ask('1TP'));
  t.ok(stoppedAt > 0 && stoppedAt < 50, `stopped at ${stoppedAt}, short of 50`);
  const begun = performance.now();
  await send('1OR');
  t.equal(await ask('1MD?'), '0', 'homing');
  await waitDone(1);
  t.ok(performance.now() - begun >= (stoppedAt / 10) * 1000, 'the home search travelled back');
  t.equal(await ask('1TP'), '0.00000', 'home reads 0');
  await send('1DH12.5');
  t.equal(await ask('1TP'), '12.50000', 'DH: the current position becomes 12.5');
  await send('1PA20');
  await sleep(100);
  await send('1MF');
  t.equal(await ask('1MD?'), '1', 'motor off: stopped at once');
  t.equal(await ask('1MO?'), '0');
  t.ok(sim.axis(1).position < 20);
  await send('1OR');
  t.equal(await ask('TE?'), '113', 'no home search with the motor off');
  await send('1OR9');
  t.equal(await ask('TE?'), '7', 'home search modes are 0-6');
  await send('ST;AB');
  t.equal(await ask('TE?'), '0', 'ST and AB without an axis act on all axes');
});

t.test('terminators: CR ends a line, CR LF is accepted, LF alone does not end a command', async (t) => {
  const { c, ask } = await controller(t);
  t.equal(await c.query('VE?\r\n', CRLF), 'ESP300 Version 3.04 07/27/01');
  t.equal(await c.query('1TP\n', CRLF, 200), undefined, 'LF alone: still waiting for CR');
  t.equal(await c.query('\r', CRLF), '0.00000', 'the CR completes it');
  await c.write('1SL?;1SR?;1MO?\r');
  t.same(
    [await c.line(CRLF), await c.line(CRLF), await c.line(CRLF)],
    ['-100.00000', '100.00000', '0'],
    'each joined query answers in order',
  );
  t.equal(await ask(' 1 TP '), '0.00000', 'spaces are ignored');
});

t.test('the trajectory model: rest to rest, triangle when short, stop with deceleration', async (t) => {
  const long = Trajectory.move(0, 10, 0, 2, 4, 4);
  t.equal(long.endTime, 0.5 + 4.5 + 0.5);
  t.equal(long.positionAt(0.5), 0.5);
  t.equal(long.positionAt(100), 10);
  const short = Trajectory.move(0, -1, 0, 10, 1, 1);
  t.equal(short.endTime, 2, 'never reaches 10: accelerate 1 s, decelerate 1 s');
  t.equal(short.positionAt(1), -0.5);
  const stopped = long.stopAt(3, 4);
  t.equal(stopped.endTime, 3.5);
  t.equal(stopped.positionAt(10), long.positionAt(3) + 0.5);
  t.equal(Trajectory.at(1).stopAt(0, 1).positionAt(5), 1);
  t.equal(AxisError.MOTOR_NOT_ENABLED, 13);
  t.throws(() => new Esp300Simulator({ axes: [] }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => new Esp300Simulator().axis(4), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
