// A lease cut off around a write must not hand its reply to the next holder. Two ways the stress
// test (test/stress.test.ts) saw "0gp" get "1PO00000000" on a loaded machine:
// - the lease ended (revoked, its worker died) while its write was still in flight (a slow
//   tcdrain): the write had not yet marked the command unanswered, so the next grant did not
//   wait for the reply;
// - the revoke timer fired late (a busy event loop) and a write made after maxHoldMs went out.

import t from 'tap';
import { DaqError } from '@daq/core';
import { ElliptecBusSimulator } from '@daq/sim';
import { SerialPortPool } from '../src/serial/serial-port-pool.js';
import { nodeSerialLineFactory, type SerialLine, type SerialLineFactory } from '../src/serial/serial-line.js';
import { MemoryLineFactory } from './helpers/memory-line.js';

const PORT = '/dev/ttyUSB0';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks the event loop, as a loaded machine does: timers due meanwhile fire late. */
const stall = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

/** Lines whose write resolves `drainMs` after the bytes went out (a slow tcdrain). */
function slowDrain(inner: SerialLineFactory, drainMs: number): SerialLineFactory {
  return {
    async open(path, settings, events): Promise<SerialLine> {
      const line = await inner.open(path, settings, events);
      return {
        path: line.path,
        write: async (data) => {
          await line.write(data);
          await sleep(drainMs);
        },
        flushInput: () => line.flushInput(),
        close: () => line.close(),
      };
    },
  };
}

t.test('a lease revoked while its write is in flight: the next holder does not get its reply', async (t) => {
  // The device answers 40 ms after the write; the write takes 30 ms to drain; revoked at 10 ms.
  const mem = new MemoryLineFactory((_, w) => (w === '1gp' ? { reply: '1PO00000000\r\n', delayMs: 40 } : undefined));
  const p = new SerialPortPool({ factory: slowDrain(mem, 30), defaultLeaseTimeoutMs: 2000 });
  p.configure(PORT);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v4:rot_b', maxHoldMs: 10 });
  const written = a.write('1gp').then(
    () => 'written',
    (e: DaqError) => e.code,
  );
  const b = await p.lease(PORT, { owner: 'v2:rot_a' });
  t.equal(a.state, 'revoked');
  const got = await b.readLine('\r\n', { timeoutMs: 100 }).catch((e: DaqError) => e);
  if (typeof got === 'string') t.fail(`the next holder read its predecessor's reply ${JSON.stringify(got)}`);
  else t.match(got, { code: 'DAQ_READ_TIMEOUT' });
  await written;
  await b.release();
  const s = p.stats(PORT);
  t.equal(s.settles, 1, 'the grant waited for the reply to the cut-off command');
  t.equal(s.revocations, 1);
  t.ok(s.bytesDiscarded >= 13, `the late reply was discarded (${s.bytesDiscarded} bytes)`);
});

t.test('a worker gone while its write is in flight: the next holder does not get its reply', async (t) => {
  const mem = new MemoryLineFactory((_, w) => (w === '1gp' ? { reply: '1PO00000000\r\n', delayMs: 40 } : undefined));
  const p = new SerialPortPool({ factory: slowDrain(mem, 30), defaultLeaseTimeoutMs: 2000 });
  p.configure(PORT);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v4:rot_b' });
  const written = a.write('1gp').catch(() => undefined);
  const next = p.lease(PORT, { owner: 'v2:rot_a' });
  await sleep(5);
  t.equal(p.releaseOwner('v4'), 1);
  const b = await next;
  const got = await b.readLine('\r\n', { timeoutMs: 100 }).catch((e: DaqError) => e);
  if (typeof got === 'string') t.fail(`the next holder read its predecessor's reply ${JSON.stringify(got)}`);
  else t.match(got, { code: 'DAQ_READ_TIMEOUT' });
  await written;
  await b.release();
  t.equal(p.stats(PORT).settles, 1);
});

t.test('a lease past maxHoldMs cannot write, even before its late revoke timer fires', async (t) => {
  const mem = new MemoryLineFactory((_, w) => (w === '1gp' ? { reply: '1PO00000000\r\n', delayMs: 5 } : undefined));
  const p = new SerialPortPool({ factory: mem, defaultLeaseTimeoutMs: 2000 });
  p.configure(PORT);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v4:rot_b', maxHoldMs: 20 });
  stall(60); // the revoke timer is due but cannot run
  const err = await a.write('1gp').catch((e: DaqError) => e);
  t.match(err, { code: 'DAQ_LEASE_REVOKED', message: /was revoked after 20 ms/ });
  t.equal(a.state, 'revoked');
  t.same(mem.line(PORT).writes, [], 'nothing was sent');
  await sleep(30); // the timer (if it still fires) changes nothing
  t.equal(p.stats(PORT).revocations, 1, 'one revocation');
  const b = await p.lease(PORT, { owner: 'v2:rot_a' });
  t.equal(p.stats(PORT).settles, 0, 'nothing was left unanswered');
  await b.release();
});

t.test('reads and drains past maxHoldMs are refused too', async (t) => {
  const p = new SerialPortPool({ factory: new MemoryLineFactory(), defaultLeaseTimeoutMs: 2000 });
  p.configure(PORT);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v4:rot_b', maxHoldMs: 20 });
  stall(30);
  await t.rejects(
    Promise.resolve().then(() => a.readUntil('\n', { timeoutMs: 100 })),
    { code: 'DAQ_LEASE_REVOKED' },
  );
  await t.rejects(a.drain(), { code: 'DAQ_LEASE_REVOKED' });
  t.equal(p.stats(PORT).revocations, 1);
  t.equal(p.leasesHeld, 0);
});

t.test('a worker gone while its wait is being granted (the line settling) gets no lease', async (t) => {
  const mem = new MemoryLineFactory(); // "D?" is never answered: the next grant settles
  const p = new SerialPortPool({ factory: mem, defaultLeaseTimeoutMs: 2000 });
  p.configure(PORT);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v2:power' });
  await a.write('D?\n');
  const queued = p.lease(PORT, { owner: 'v4:power' }).catch((e: DaqError) => e);
  await a.release(); // the grant to v4 starts, and waits for the line to settle
  await sleep(5);
  t.equal(p.status()[0]!.owner, null, 'being handed over');
  t.equal(p.releaseOwner('v4'), 0, 'no lease was held');
  t.match(await queued, { code: 'DAQ_WORKER', message: /lease of \/dev\/ttyUSB0 for v4:power cancelled: v4 is gone/ });
  await sleep(100); // the settle ends
  t.equal(p.leasesHeld, 0, 'nothing was granted to the worker that went');
  t.same(p.stats(PORT).byOwner, { 'v2:power': 1 });
  const b = await p.lease(PORT, { owner: 'v2:power' });
  t.equal(b.state, 'active', 'the port moves on');
  await b.release();
});

t.test('on a real Elliptec bus (pty): a revoke during a slow write does not give "0gp" the reply of "1gp"', async (t) => {
  const sim = new ElliptecBusSimulator({ devices: [{ address: '0' }, { address: '1' }] });
  const path = await sim.start();
  const p = new SerialPortPool({ factory: slowDrain(nodeSerialLineFactory, 30), defaultLeaseTimeoutMs: 5000 });
  p.configure(path);
  t.teardown(async () => {
    await p.close();
    await sim.close();
  });
  // The stress test's sequence: V4 asks address 1 and is cut off mid-write; V2 asks address 0.
  for (let i = 0; i < 3; i++) {
    const a = await p.lease(path, { owner: 'v4:rot_b', maxHoldMs: 10 });
    const written = a.write('1gp').catch(() => undefined);
    const b = await p.lease(path, { owner: 'v2:rot_a' });
    await b.write('0gp');
    const reply = await b.readLine('\r\n', { timeoutMs: 1000 });
    t.match(reply, /^0PO[0-9A-F]{8}$/, `"0gp" got ${JSON.stringify(reply)}`);
    await written;
    await b.release();
  }
  const s = p.stats(path);
  t.equal(s.revocations, 3);
  t.equal(s.settles, 3);
  t.equal(sim.counters.commands, 6, 'every command written reached the bus');
});
