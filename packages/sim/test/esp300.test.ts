// The ESP300 simulator through the real serialport package at 19200: motor power, trapezoidal
// moves that take time, MD?, stop and home, limits, every error path read through TE? and TB?,
// joined commands and the CR / CR LF terminators; units (SN), WS holding later commands, the
// seven home search modes, hardware limit switches and the silence after hitting one, PH / TS /
// TX status, the stored configuration parameters, start states and the hardware profile.

import t from 'tap';
import { SerialPort } from 'serialport';
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
  t.equal(await ask('TE?'), '120', 'no home search with the motor off: x20 HOMING ABORTED (manual OR page)');
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

t.test('SN: units codes 0-11 per axis, a label only; a rotation stage starts in degrees', async (t) => {
  const { sim, ask, send } = await controller(t, { axes: [{}, {}, { units: 7 }] });
  t.same([await ask('1SN?'), await ask('2SN?'), await ask('3SN?')], ['2', '2', '7'], 'mm by default, degrees by option');
  t.equal(await ask('3ID?'), 'URS100BPP, B0000001', 'an angular axis is a rotation stage');
  await send('1DH4.5;1SN3');
  t.equal(await ask('1SN?'), '3');
  t.equal(await ask('1TP?'), '4.50000', 'the position is not converted');
  await send('1SN12');
  await send('1SN');
  await send('SN?');
  await send('4SN?');
  await ask('1MO?');
  t.same(sim.pendingErrors, [101, 38, 37, 9], 'out of range x01, missing 38, no axis 37, axis 4 is 9');
  t.equal(await ask('1SN?'), '3', 'the refused value was not taken');
  await send('2SN7');
  t.equal(await ask('2SN?'), '7', 'set per axis');
});

t.test('WS holds every later command, queries included, until the motion ends (+ the delay)', async (t) => {
  const { ask, send, c } = await controller(t, {
    axes: [{ motorOn: true, velocity: 10, acceleration: 100 }, { motorOn: true }, {}],
  });
  // 2 units at 10 units/s, 100 units/s²: 0.1 + 0.1 + 0.1 s.
  let begun = performance.now();
  await send('1PA2');
  await send('1WS');
  t.equal(await ask('1TP?'), '2.00000', 'answered only once the move is done');
  const took = performance.now() - begun;
  t.ok(took >= 290, `the TP? reply took ${took.toFixed(0)} ms, the whole move (300 ms)`);
  begun = performance.now();
  t.equal(await ask('1PR-1;1WS250;1MD?'), '1');
  t.ok(performance.now() - begun >= 450, 'the move (~200 ms) and the 250 ms delay');
  begun = performance.now();
  await c.write('1PA0;1TP?;1WS;1TP?\r');
  const first = await c.line(CRLF);
  const firstAt = performance.now() - begun;
  t.equal(await c.line(CRLF), '0.00000', 'after WS: at the target');
  t.ok(Number(first) > 0.5 && firstAt < 100, `before WS: answered at once (${first}, ${firstAt.toFixed(0)} ms)`);
  begun = performance.now();
  await send('1PA1;2PA0.5');
  t.equal(await ask('WS;TX'), '@', 'WS with no axis waits for all axes; then nothing runs');
  t.ok(performance.now() - begun >= 290, 'the slower axis 2 (0.5 at 5 units/s, 20 units/s²) took ~360 ms');
});

t.test('home search modes 0-6 end where the manual says, and the counter takes SH', async (t) => {
  const { ask, send, waitDone } = await controller(t, {
    axes: [
      {
        motorOn: true,
        velocity: 60,
        maxVelocity: 100,
        acceleration: 1000,
        maxAcceleration: 1000,
        travel: { min: -4, max: 6 },
        homeSwitch: 1,
        position: 3,
      },
    ],
  });
  t.equal(await ask('1OM?'), '1', 'OR without a mode uses OM (1, home and index)');
  t.equal(await ask('PH'), '0H, 1H', 'at 3: above the home switch, no limit');
  await send('1OR');
  await waitDone(1);
  t.equal(await ask('1TP?'), '0.00000', 'the counter reads SH (0) at the home switch');
  await send('1PA1');
  await waitDone(1);
  t.equal(await ask('PH'), '0H, 1H', 'physically at 2');
  await send('1OR3');
  t.equal(await ask('1MD?'), '0', 'searching');
  await waitDone(1);
  t.equal(await ask('1TP?'), '0.00000');
  t.equal(await ask('PH'), '1H, 1H', 'on the + limit switch (word 1 bit 0)');
  t.equal(await ask('TE?'), '0', 'a limit search raises no limit error');
  await send('1SH-2;1OM4;1OR');
  await waitDone(1);
  t.equal(await ask('1TP?'), '-2.00000', 'OM 4: the - limit, counter = SH');
  t.equal(await ask('PH'), '100H, 0H', 'on the - limit switch (word 1 bit 8), below home');
  await send('1OR6');
  await waitDone(1);
  t.equal(await ask('PH'), '100H, 0H', 'mode 6: - limit and index');
  await send('1SH0;1PA1;1WS;1OR0');
  await waitDone(1);
  t.equal(await ask('1TP?'), '0.00000', 'mode 0: back to counter 0');
  t.equal(await ask('PH'), '0H, 0H', 'where counter 0 was (physically -2): no switch, below home');
  await send('1OR5');
  await waitDone(1);
  t.equal(await ask('PH'), '1H, 1H', 'mode 5: + limit and index');
  await send('1OR2');
  await waitDone(1);
  t.equal(await ask('PH'), '0H, 1H', 'mode 2: home signal');
  await send('1DH5');
  t.equal(await ask('1DH?'), '5.00000', 'DH? reads the defined value');
  await send('1OR;1PA3');
  t.equal(await ask('TE?'), '130', 'no move during a home search (x30)');
  await waitDone(1);
  t.equal(await ask('TE?'), '0');
});

t.test('a rotation stage without limit switches cannot search a limit: x20', async (t) => {
  const { ask, send } = await controller(t, { axes: [{ units: 7, motorOn: true }] });
  await send('1OR3');
  t.equal(await ask('TE?'), '120');
  await send('1PR50');
  t.equal(await ask('1MD?'), '0', 'no travel limit: it turns on');
  await send('1ST');
});

t.test('hardware limit switches: motion stops there, x04 / x05, and the controller is silent after', async (t) => {
  const { sim, ask, send, waitDone } = await controller(t, {
    axes: [{ motorOn: true, velocity: 20, acceleration: 400, travel: { min: -3, max: 3 } }, { motorOn: true }],
    limitSilenceMs: 250,
  });
  // 0 -> 3 at 20 units/s with 400 units/s²: 0.05 s to full speed, then 0.125 s more.
  const begun = performance.now();
  await send('1PA10');
  await sleep(250);
  t.equal(await ask('2TP?', 2000), '0.00000', 'a query sent during the silence...');
  const answered = performance.now() - begun;
  t.ok(answered >= 170 + 250 - 20, `...is answered when it ends (${answered.toFixed(0)} ms after the move began)`);
  t.equal(await ask('1TP?'), '3.00000', 'the stage stopped on the switch');
  t.equal(await ask('1MD?'), '1');
  t.equal(await ask('1MO?'), '1', 'the motor stays on (assumption)');
  t.equal(await ask('PH'), '1H, 3H', '+ limit of axis 1 (two axes: home bits 0 and 1)');
  t.match(await ask('TB?'), /^104, \d+, POSITIVE HARDWARE LIMIT DETECTED$/);
  await send('1PR1');
  t.equal(await ask('TE?', 2000), '104', 'further into the switch: at once');
  await send('1PA-5;1WS');
  const sent = performance.now();
  t.equal(await ask('1TP?', 2000), '-3.00000', 'after WS the reply still waits for the silence');
  t.ok(performance.now() - sent >= 250 + 300, 'the move (~0.35 s) and the silence');
  t.same(sim.pendingErrors, [105], 'negative hardware limit');
  await ask('TE?');
  await send('1MV+');
  await sleep(50);
  await send('1ST');
  await waitDone(1);
  t.ok(Number(await ask('1TP?')) < 3, 'MV+ stopped by ST before the switch');
  await send('1MV+');
  await waitDone(1);
  t.equal(await ask('TE?', 2000), '104', 'MV+ into the switch is a limit error');
  await send('1MT-');
  await waitDone(1);
  t.equal(await ask('1TP?', 2000), '-3.00000', 'MT- goes to the - switch');
  t.equal(await ask('TE?'), '0', 'and looks for it: no error (assumption)');
});

t.test('status and configuration: PH, TS, TX, ZB, FR, QS, SU, QM, ZH, stored parameters', async (t) => {
  const { sim, ask, send } = await controller(t);
  t.equal(await ask('PH'), '0H, 7H', 'no limit active; home signal high at the home switch');
  t.equal(await ask('PH?'), '0H, 7H');
  t.equal(await ask('TS'), '@', 'power-up: motors off, nothing moving');
  await send('2MO');
  t.equal(await ask('TS'), 'P', "bit 4: a motor is on (the manual's P)");
  await send('2PR1');
  t.equal(await ask('TS'), 'R', 'bit 1: axis 2 moving');
  t.equal(await ask('TX'), 'P', 'TX bit 4: a trajectory executing');
  t.same(
    [await ask('1ZB?'), await ask('1FR?'), await ask('1QS?'), await ask('1SU?'), await ask('1QM?'), await ask('1FE?')],
    ['0H', '0.00100', '10', '0.00010', '3', '0.10000'],
    'EPICS resolution queries and Instrumental parameters',
  );
  t.same([await ask('1ZH?'), await ask('1ZS?'), await ask('1ZA?')], ['5H', '5H', '4C1H']);
  await send('1ZH0F25H;2ZS123;3QS20;1KP0.5;1UF');
  t.same(
    [await ask('1ZH?'), await ask('2ZS?'), await ask('3QS?'), await ask('1KP?')],
    ['F25H', '123H', '20', '0.50000'],
    'set and read back',
  );
  await send('1ZHF25H');
  await send('1QS0');
  await send('1QM2.5');
  await send('1KP');
  await send('1XY');
  await ask('1MO?');
  t.same(sim.pendingErrors, [7, 101, 101, 38, 6], 'hex without its leading 0, out of range, not an integer, missing, unknown');
  t.same(
    [
      await ask('1VA?'),
      await ask('1AC?'),
      await ask('1AG?'),
      await ask('1VU?'),
      await ask('1AU?'),
      await ask('1OH?'),
      await ask('1OL?'),
    ],
    ['5.00000', '20.00000', '20.00000', '25.00000', '100.00000', '2.50000', '0.50000'],
  );
  while ((await ask('TE?')) !== '0');
  await send('1OH30');
  t.equal(await ask('TE?'), '110', 'OH above VU');
});

t.test('start state: errors already in the buffer, motors off at power-up, position', async (t) => {
  const { ask } = await controller(t, { errors: [104, 7], axes: [{ position: 2.5 }] });
  t.same([await ask('1MO?'), await ask('1TP?')], ['0', '2.50000']);
  t.match(await ask('TB?'), /^104, \d+, POSITIVE HARDWARE LIMIT DETECTED$/);
  t.equal(await ask('TE?'), '7');
  t.equal(await ask('TE?'), '0');
  t.throws(() => new Esp300Simulator({ axes: [{ position: 30 }] }), { code: 'DAQ_INVALID_ARGUMENT' }, 'outside the travel');
  t.throws(() => new Esp300Simulator({ axes: [{ units: 12 }] }), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('TB? stamps errors in 400 µs servo ticks since power-up', async (t) => {
  const { ask, send } = await controller(t);
  await sleep(200);
  await send('1PA1');
  const ticks = Number((await ask('TB?'))!.split(',')[1]);
  t.ok(ticks >= 200 / 0.4 && ticks < 2000 / 0.4, `${ticks} ticks`);
});

t.test('flow control: a client with or without RTS/CTS is served, and counted', async (t) => {
  const sim = new Esp300Simulator();
  const path = await sim.start();
  const port = new SerialPort({ path, baudRate: 19200, rtscts: true, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  t.teardown(async () => {
    await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
    await sim.close();
  });
  const reply = new Promise<string>((resolve) => {
    let text = '';
    port.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.endsWith(CRLF)) resolve(text);
    });
  });
  port.write('VE?\r');
  t.equal(await reply, 'ESP300 Version 3.04 07/27/01\r\n');
  t.same(sim.flowControl, { rtscts: 1, none: 0 });
  const { sim: plain, ask } = await controller(t);
  await ask('VE?');
  t.same(plain.flowControl, { rtscts: 0, none: 1 }, 'without RTS/CTS: answered all the same');
});

t.test('profile hardware: replies take a few ms, the limit silence is 4 s, homing searches at OH', async (t) => {
  t.equal(new Esp300Simulator({ profile: 'hardware' }).limitSilenceMs, 4000);
  t.equal(new Esp300Simulator().limitSilenceMs, 0, 'fast: no silence unless asked');
  const { ask, send, waitDone } = await controller(t, {
    profile: 'hardware',
    axes: [{ motorOn: true, position: 1, velocity: 10, acceleration: 100, homeVelocity: 2, homeLowVelocity: 0.5 }],
  });
  let begun = performance.now();
  for (let i = 0; i < 10; i++) await ask('1TP?');
  t.ok(performance.now() - begun >= 50, 'ten replies of at least 5 ms each');
  begun = performance.now();
  await send('1OR2');
  await waitDone(1);
  const took = performance.now() - begun;
  // 1 unit at OH = 2 (0.5 s + 0.02 s) then 0.25 away and back at OL = 0.5 (0.5 s + 0.005 s each).
  t.ok(took >= 1450, `the search at OH then OL took ${took.toFixed(0)} ms`);
  t.equal(await ask('1TP?'), '0.00000');
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
