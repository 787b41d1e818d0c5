// The serial simulator base through the real serialport package: framing, byte time and
// instrument time, one reply at a time in order, every fault kind, the client's line speed,
// disconnect and reconnect through a stable link, and a clean close.

import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialSimulator, byteTimeMs, type Reply, type SerialSimulatorOptions } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A tiny instrument for the base's behaviour: `PING` → `PONG`, `WAIT n` answers after n ms
 * of instrument time, `BG n` answers after n ms while accepting more commands, `TWO` answers
 * twice, `SET` answers nothing but keeps the instrument busy 100 ms.
 */
class TestInstrument extends SerialSimulator {
  seen: { command: string; at: number }[] = [];
  constructor(options: SerialSimulatorOptions = {}) {
    super(options, 9600);
  }
  protected get replyTerminator(): string {
    return '\r\n';
  }
  protected override commandTimeMs(command: string): number {
    return command === 'SET' ? 100 : 0;
  }
  protected handle(command: string, at: number): Reply[] {
    this.seen.push({ command, at });
    const [word, arg] = command.split(' ');
    const ms = Number(arg ?? 0);
    if (word === 'PING') return [{ text: 'PONG\r\n' }];
    if (word === 'WAIT') return [{ text: `WAITED ${ms}\r\n`, afterMs: ms }];
    if (word === 'BG') return [{ text: `BG DONE ${ms}\r\n`, afterMs: ms, background: true }];
    if (word === 'TWO') return [{ text: 'ONE\r\n' }, { text: 'TWO\r\n' }];
    if (word === 'SET') return [];
    return [{ text: 'ERR\r\n' }];
  }
}

async function started(options: SerialSimulatorOptions = {}, clientBaud?: number) {
  const sim = new TestInstrument(options);
  const c = await SerialClient.open(await sim.start(), clientBaud ?? sim.baudRate);
  return { sim, c, done: async () => (await c.close(), await sim.close()) };
}

t.test('a reply takes the byte time of the command and of the reply at the instrument speed', async (t) => {
  const { sim, c, done } = await started({ baudRate: 1200 });
  t.teardown(done);
  t.equal(byteTimeMs(16, 9600), 16 * (10 / 9.6), '8N1: 10 bits a byte');
  const begun = performance.now();
  t.equal(await c.query('PING\r\n', '\r\n'), 'PONG');
  // The command is complete at its CR (the LF that follows is a separate, empty line).
  const least = byteTimeMs('PING\r'.length + 'PONG\r\n'.length, 1200);
  t.ok(performance.now() - begun >= least, `${(performance.now() - begun).toFixed(1)} ms >= ${least.toFixed(1)} ms`);
  t.equal(sim.counters.commands, 1);
  t.equal(sim.counters.replies, 1);
});

t.test('instrument time comes on top, and the instrument does one command after the other', async (t) => {
  const { sim, c, done } = await started();
  t.teardown(done);
  const begun = performance.now();
  await c.write('WAIT 200\nPING\n');
  t.equal(await c.line('\r\n', 2000), 'WAITED 200', 'replies come in command order');
  t.equal(await c.line('\r\n', 2000), 'PONG');
  t.ok(performance.now() - begun >= 200, 'PING waited for the 200 ms command before it');
  t.ok(sim.seen[1]!.at - sim.seen[0]!.at >= 200, 'and was processed after it, in instrument time');
  await c.write('SET\nPING\n');
  const afterSet = performance.now();
  t.equal(await c.line('\r\n', 2000), 'PONG');
  t.ok(performance.now() - afterSet >= 100, 'a silent command can keep the instrument busy');
});

t.test('a background reply lets later commands answer first; replies never interleave', async (t) => {
  const { c, done } = await started();
  t.teardown(done);
  await c.write('BG 300\nPING\nTWO\n');
  t.same(
    [await c.line('\r\n'), await c.line('\r\n'), await c.line('\r\n'), await c.line('\r\n', 2000)],
    ['PONG', 'ONE', 'TWO', 'BG DONE 300'],
    'every line whole, earliest ready first',
  );
  await c.write('PING\rPING\n\nPING\r\n');
  t.same(
    [await c.line('\r\n'), await c.line('\r\n'), await c.line('\r\n')],
    ['PONG', 'PONG', 'PONG'],
    'CR, LF or both end a command',
  );
});

t.test('faults: latency, drop, corrupt (terminator kept) and late, each counted', async (t) => {
  const { sim, c, done } = await started();
  t.teardown(done);
  sim.faults.set({ latencyMs: 150 });
  let begun = performance.now();
  t.equal(await c.query('PING\n', '\r\n'), 'PONG');
  t.ok(performance.now() - begun >= 150, 'latency added to the reply');
  sim.faults.set({ latencyMs: 0 });

  sim.injectOnce({ kind: 'drop' });
  t.equal(await c.query('PING\n', '\r\n', 200), undefined, 'a dropped reply never comes');
  t.equal(await c.query('PING\n', '\r\n'), 'PONG', 'the next one does');

  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await c.query('PING\n', '\r\n');
  t.not(garbled, 'PONG');
  t.equal(garbled?.length, 4, 'same length, and the CR LF terminator is kept');

  sim.injectOnce({ kind: 'late', lateMs: 400 });
  begun = performance.now();
  t.equal(await c.query('WAIT 0\n', '\r\n', 150), undefined, 'not within the caller timeout');
  await c.write('PING\n');
  t.equal(await c.line('\r\n', 2000), 'WAITED 0', 'the late reply arrives');
  t.ok(performance.now() - begun >= 400);
  t.equal(await c.line('\r\n', 2000), 'PONG', 'and what was asked after it comes after it');
  t.match(sim.counters, { dropped: 1, corrupted: 1, late: 1, commands: 6, replies: 5, decided: 6 });
});

t.test('probabilistic faults are repeatable with a seed', async (t) => {
  const run = async () => {
    const { sim, c, done } = await started();
    sim.faults.set({ dropProbability: 0.5, seed: 42 });
    // The simulator's own decisions, one per reply: a client's timeout would also count a reply
    // that a loaded machine delivered late as dropped.
    const got: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const dropped = sim.counters.dropped;
      await c.write('PING\n');
      for (let waited = 0; sim.counters.replies + sim.counters.dropped < i + 1; waited += 5) {
        if (waited > 10_000)
          throw new Error(`the simulator sent or dropped ${sim.counters.replies + sim.counters.dropped} of ${i + 1} replies`);
        await new Promise((r) => setTimeout(r, 5));
      }
      got.push(sim.counters.dropped === dropped);
    }
    t.equal(sim.counters.replies, got.filter(Boolean).length, 'every reply not dropped was sent');
    await done();
    return got;
  };
  const a = await run();
  t.same(await run(), a);
  t.ok(a.includes(true) && a.includes(false), `a mix of answers and drops: ${a}`);
});

t.test('a client at the wrong speed is not understood', async (t) => {
  const { sim, c, done } = await started({}, 19200);
  t.teardown(done);
  t.equal(await c.query('PING\n', '\r\n', 200), undefined, 'nothing answers');
  t.ok(sim.counters.framingErrors >= 5, `${sim.counters.framingErrors} bytes seen as framing errors`);
  t.equal(sim.counters.commands, 0);
  const lenient = new TestInstrument({ strictBaud: false });
  const l = await SerialClient.open(await lenient.start(), 19200);
  t.equal(await l.query('PING\n', '\r\n'), 'PONG', 'unless the simulator is told not to care');
  await l.close();
  await lenient.close();
});

t.test('disconnect removes the device and its link; reconnect brings both back with the state kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sim-'));
  const link = join(dir, 'ttyTEST');
  const sim = new TestInstrument({ linkPath: link });
  t.equal(await sim.start(), link, 'start() gives the stable path');
  let c = await SerialClient.open(link);
  t.teardown(async () => {
    await c.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });
  t.equal(await c.query('PING\n', '\r\n'), 'PONG');
  const firstPty = sim.ptyPath;
  await c.write('WAIT 300\n');
  await sleep(50); // let the instrument receive it
  sim.disconnect();
  t.equal(sim.connected, false);
  t.notOk(existsSync(link), 'the link is gone while unplugged');
  t.throws(() => sim.ptyPath!.length);
  await t.rejects(c.write('PING\n'), /EIO|closed/i, 'the client learns at its next write');
  for (let i = 0; i < 50 && !c.closed; i++) await sleep(20);
  t.ok(c.closed, 'and its port closes');
  await c.close();
  await t.rejects(SerialClient.open(link), /ENOENT|No such file/, 'nothing to open while unplugged');
  t.equal(sim.reconnect(), link);
  c = await SerialClient.open(link);
  t.equal(await c.query('PING\n', '\r\n'), 'PONG', 'the same path works again');
  t.equal(await c.line('\r\n', 500), undefined, 'the reply pending at the disconnect was lost with it');
  t.equal(sim.counters.connects, 2);
  t.ok(sim.ptyPath && firstPty, `${firstPty} then ${sim.ptyPath}`);
  t.equal(sim.seen.length, 3, 'the instrument kept its state (it saw all three commands)');
});

t.test('close releases everything even with replies pending, and a closed simulator stays closed', async (t) => {
  const sim = new TestInstrument();
  const c = await SerialClient.open(await sim.start());
  await c.write('WAIT 5000\nBG 5000\n');
  await sleep(50);
  await c.close();
  await sim.close();
  await sim.close();
  await t.rejects(sim.start(), { code: 'DAQ_CLOSED' });
  t.throws(() => sim.reconnect(), { code: 'DAQ_CLOSED' });
  t.throws(() => sim.path, { code: 'DAQ_CLOSED' });
  await using disposable = new TestInstrument();
  await disposable.start();
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
