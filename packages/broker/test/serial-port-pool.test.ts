// Unit tests of SerialPortPool alone, on an in-memory line. The same behaviours are proven
// on real pseudo-terminals with the real serialport package in test/serial-pool.test.ts.

import t from 'tap';
import { DaqError } from '@daq/core';
import { SerialPortPool } from '../src/serial/serial-port-pool.js';
import { MemoryLineFactory } from './helpers/memory-line.js';

const PORT = '/dev/ttyUSB0';
const echo = new MemoryLineFactory((_, w) => (w.startsWith('D?') ? { reply: '+.75E-9\n' } : undefined));

function pool(factory = echo) {
  const p = new SerialPortPool({ factory, defaultLeaseTimeoutMs: 200 });
  p.configure(PORT);
  return p;
}

t.test('V2 holds a port, V4 is refused, after release V4 gets it and the owner reads v4', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  const v2 = await p.lease(PORT, { owner: 'v2:power' });
  t.equal(p.status()[0]!.owner, 'v2:power');
  const refused = await p.tryLease(PORT, { owner: 'v4:power' }).catch((e: DaqError) => e);
  t.match(refused, {
    code: 'DAQ_PORT_BUSY',
    facts: { port: PORT, owner: 'v2:power' },
    message: /port \/dev\/ttyUSB0 is held by v2:power for \d+\.\d s; v4:power did not wait/,
  });
  await v2.release();
  const v4 = await p.tryLease(PORT, { owner: 'v4:power' });
  t.equal(p.status()[0]!.worker, 'v4');
  t.equal(p.status()[0]!.owner, 'v4:power');
  t.equal(await v4.query('D?\n', { terminator: '\n', timeoutMs: 500 }), '+.75E-9');
  await v4.release();
  t.equal(p.leasesHeld, 0);
});

t.test('waiters are served first come, first served', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  const first = await p.lease(PORT, { owner: 'v2:a' });
  const order: string[] = [];
  const waits = ['v4:b', 'v2:c', 'v4:d', 'v2:e'].map((owner) =>
    p.lease(PORT, { owner, timeoutMs: 2000 }).then(async (l) => {
      order.push(owner);
      await new Promise((r) => setTimeout(r, 2));
      await l.release();
    }),
  );
  t.same(p.status()[0]!.waiters, ['v4:b', 'v2:c', 'v4:d', 'v2:e']);
  await first.release();
  await Promise.all(waits);
  t.same(order, ['v4:b', 'v2:c', 'v4:d', 'v2:e']);
  const s = p.stats(PORT);
  t.equal(s.acquisitions, 5);
  t.equal(s.contended, 4);
  t.equal(s.waitMs.count, 5);
  t.equal(s.holdMs.count, 5);
});

t.test('a lease timeout names the port, the holder and how long it has held it', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  const holder = await p.lease(PORT, { owner: 'v2:elliptec1' });
  const err = await p.lease(PORT, { owner: 'v4:elliptec2', timeoutMs: 30 }).catch((e: DaqError) => e);
  t.ok(err instanceof DaqError);
  t.match(err, {
    code: 'DAQ_LEASE_TIMEOUT',
    facts: { port: PORT, owner: 'v2:elliptec1', waitedMs: 30 },
    message:
      /^port \/dev\/ttyUSB0 is held by v2:elliptec1 for \d+\.\d s; v4:elliptec2 waited 30 ms \(raise serial_lease_timeout_ms or check v2:elliptec1\)$/,
  });
  t.equal(p.stats(PORT).leaseTimeouts, 1);
  t.same(p.status()[0]!.waiters, [], 'the timed-out waiter left the queue');
  await holder.release();
});

t.test('a lease held past maxHoldMs is revoked with a clear error and the port moves on', async (t) => {
  const slow = new MemoryLineFactory(() => undefined);
  const p = pool(slow);
  t.teardown(() => p.close());
  const stuck = await p.lease(PORT, { owner: 'v2:stuck', maxHoldMs: 40 });
  const pendingRead = stuck.readLine('\n', { timeoutMs: 5000 }).catch((e: DaqError) => e);
  const next = await p.lease(PORT, { owner: 'v4:next', timeoutMs: 2000 });
  t.match(await pendingRead, {
    code: 'DAQ_LEASE_REVOKED',
    message: /lease on \/dev\/ttyUSB0 held by v2:stuck was revoked after 40 ms/,
  });
  t.equal(stuck.state, 'revoked');
  await t.rejects(stuck.write('x'), { code: 'DAQ_LEASE_REVOKED' }, 'a revoked lease cannot write');
  await stuck.release(); // idempotent, and does not release the new holder
  t.equal(p.status()[0]!.owner, 'v4:next');
  t.equal(p.stats(PORT).revocations, 1);
  await next.release();
});

t.test('releasing a worker releases its leases and cancels its waits, and nothing else', async (t) => {
  const p = new SerialPortPool({ factory: echo, defaultLeaseTimeoutMs: 2000 });
  p.configure('/dev/a');
  p.configure('/dev/b');
  t.teardown(() => p.close());
  const a = await p.lease('/dev/a', { owner: 'v2:x' });
  const b = await p.lease('/dev/b', { owner: 'v4:y' });
  const v2Wait = p.lease('/dev/b', { owner: 'v2:z' }).catch((e: DaqError) => e);
  const v4Wait = p.lease('/dev/a', { owner: 'v4:w' });
  t.equal(p.releaseOwner('v2'), 1);
  t.equal(a.state, 'released');
  t.match(await v2Wait, { code: 'DAQ_WORKER', message: /lease of \/dev\/b for v2:z cancelled: v2 is gone/ });
  const w = await v4Wait;
  t.equal(w.owner, 'v4:w', 'the v4 waiter got the port v2 held');
  t.equal(b.state, 'active');
  t.equal(p.releaseOwner('v2x'), 0, 'a prefix matches whole worker names only');
  await w.release();
  await b.release();
});

t.test("no holder reads its predecessor's bytes", async (t) => {
  const late = new MemoryLineFactory((_, w) => (w === 'D?\n' ? { reply: 'LATE\n', delayMs: 30 } : undefined));
  const p = pool(late);
  t.teardown(() => p.close());
  const a = await p.lease(PORT, { owner: 'v2:a' });
  await a.write('D?\n');
  await a.release(); // gives up before the reply, which comes 30 ms later
  const b = await p.lease(PORT, { owner: 'v4:b' });
  const got = await b.readLine('\n', { timeoutMs: 100 }).catch((e: DaqError) => e);
  if (typeof got === 'string') t.fail(`b read its predecessor's reply ${got}`);
  else t.match(got, { code: 'DAQ_READ_TIMEOUT' });
  await b.release();
  t.equal(p.stats(PORT).settles, 1, 'the grant waited for the line to go quiet');
  t.equal(p.stats(PORT).bytesDiscarded, 5, 'the late "LATE\\n" was discarded');
  t.ok(late.line(PORT).flushes >= 2, 'the OS input was flushed at each grant');
});

t.test('input arriving between leases is discarded and counted', async (t) => {
  const f = new MemoryLineFactory();
  const p = pool(f);
  t.teardown(() => p.close());
  (await p.lease(PORT, { owner: 'v2:a' })).release();
  await new Promise((r) => setImmediate(r));
  f.line(PORT).inject('noise\n');
  const b = await p.lease(PORT, { owner: 'v4:b' });
  await t.rejects(b.readLine('\n', { timeoutMs: 20 }), { code: 'DAQ_READ_TIMEOUT' });
  t.equal(p.stats(PORT).bytesDiscarded, 6);
  await b.release();
});

t.test('a read timeout says what arrived', async (t) => {
  const f = new MemoryLineFactory((_, w) => (w === '2gs' ? { reply: '2GS' } : undefined));
  const p = pool(f);
  t.teardown(() => p.close());
  await using lease = await p.lease(PORT, { owner: 'v2:ell' });
  const err = await lease.query('2gs', { terminator: '\r\n', timeoutMs: 30 }).catch((e: DaqError) => e);
  t.match(err, {
    code: 'DAQ_READ_TIMEOUT',
    facts: { port: PORT, owner: 'v2:ell', received: 3 },
    message: /no reply on \/dev\/ttyUSB0 within 30 ms for v2:ell \(received 3 bytes without the terminator "\\r\\n": "2GS"\)/,
  });
  t.equal(p.stats(PORT).readTimeouts, 1);
});

t.test('a lost port reaches its holder, and the next lease reopens it', async (t) => {
  const f = new MemoryLineFactory((_, w) => (w === 'D?\n' ? { reply: '1E-9\n' } : undefined));
  const p = pool(f);
  t.teardown(() => p.close());
  await p.openAll();
  const a = await p.lease(PORT, { owner: 'v2:a' });
  const reading = a.readLine('\n', { timeoutMs: 1000 }).catch((e: DaqError) => e);
  f.line(PORT).lose();
  t.match(await reading, {
    code: 'DAQ_PORT_ERROR',
    message:
      /the port was lost on \/dev\/ttyUSB0 \(held by v2:a\): device unplugged; release this lease: the port is reopened on the next lease/,
  });
  await t.rejects(a.write('D?\n'), { code: 'DAQ_PORT_ERROR' });
  t.equal(p.status()[0]!.open, false);
  await a.release();
  const b = await p.lease(PORT, { owner: 'v2:b' });
  t.equal(await b.query('D?\n', { terminator: '\n', timeoutMs: 500 }), '1E-9');
  t.equal(f.opens, 2);
  t.equal(p.stats(PORT).reopens, 1);
  await b.release();
});

t.test('a port that cannot be opened fails the lease with the reason', async (t) => {
  const f = new MemoryLineFactory();
  f.failNextOpen = new DaqError('DAQ_PORT_ERROR', 'cannot open serial port /dev/ttyUSB0: ENOENT', { port: PORT });
  const p = pool(f);
  t.teardown(() => p.close());
  await t.rejects(p.lease(PORT, { owner: 'v2:a' }), { code: 'DAQ_PORT_ERROR', message: /ENOENT/ });
  const ok = await p.lease(PORT, { owner: 'v2:a' });
  t.equal(ok.state, 'active', 'the next lease tries again');
  await ok.release();
});

t.test('bad arguments get a clear error and change nothing', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  const cases: [() => Promise<unknown>, string, RegExp][] = [
    [
      () => p.lease('/dev/nope', { owner: 'v2:a' }),
      'DAQ_PORT_UNKNOWN',
      /serial port "\/dev\/nope" is not configured \(configured: \/dev\/ttyUSB0\)/,
    ],
    [() => p.lease(PORT, { owner: '' }), 'DAQ_INVALID_ARGUMENT', /owner must be a non-empty string/],
    [() => p.lease(PORT, { owner: 'v2:a', timeoutMs: -1 }), 'DAQ_INVALID_ARGUMENT', /timeoutMs must be a non-negative number/],
    [() => p.lease(PORT, { owner: 'v2:a', timeoutMs: Number.NaN }), 'DAQ_INVALID_ARGUMENT', /timeoutMs/],
    [() => p.lease(PORT, { owner: 'v2:a', maxHoldMs: 0 }), 'DAQ_INVALID_ARGUMENT', /maxHoldMs must be a positive number/],
    [() => p.lease(PORT, null as never), 'DAQ_INVALID_ARGUMENT', /owner/],
  ];
  for (const [call, code, message] of cases) await t.rejects(call(), { code, message });
  t.same(p.status()[0], {
    path: PORT,
    open: false,
    owner: null,
    worker: null,
    heldMs: null,
    waiters: [],
    settings: p.status()[0]!.settings,
  });
  t.equal(p.stats(PORT).acquisitions, 0);
  const l = await p.lease(PORT, { owner: 'v2:a' });
  t.throws(() => l.readUntil('', { timeoutMs: 1 }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => l.readUntil('\n', { timeoutMs: -1 }), { code: 'DAQ_INVALID_ARGUMENT' });
  const pending = l.readUntil('\n', { timeoutMs: 50 }).catch(() => undefined);
  t.throws(() => l.readUntil('\n', { timeoutMs: 50 }), { code: 'DAQ_INVALID_ARGUMENT', message: /already pending/ });
  await pending;
  await l.release();
  t.throws(() => p.configure(PORT, { baud_rate: 19200, data_bits: 8, parity: 'none', stop_bits: 1, flow_control: 'none' }), {
    code: 'DAQ_INVALID_ARGUMENT',
  });
});

t.test('waits and reads can be aborted', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  const holder = await p.lease(PORT, { owner: 'v2:a' });
  const ac = new AbortController();
  const waiting = p.lease(PORT, { owner: 'v4:b', timeoutMs: 5000, signal: ac.signal }).catch((e: DaqError) => e);
  ac.abort();
  t.match(await waiting, { code: 'DAQ_ABORTED' });
  t.same(p.status()[0]!.waiters, []);
  await t.rejects(p.lease(PORT, { owner: 'v4:b', signal: AbortSignal.abort() }), { code: 'DAQ_ABORTED' });
  const rc = new AbortController();
  const read = holder.readLine('\n', { timeoutMs: 5000, signal: rc.signal }).catch((e: DaqError) => e);
  rc.abort();
  t.match(await read, { code: 'DAQ_ABORTED' });
  await holder.release();
});

t.test('await using releases the lease on every path', async (t) => {
  const p = pool();
  t.teardown(() => p.close());
  await t.rejects(
    (async () => {
      await using lease = await p.lease(PORT, { owner: 'v2:a' });
      t.equal(lease.state, 'active');
      throw new Error('driver bug');
    })(),
    /driver bug/,
  );
  t.equal(p.leasesHeld, 0);
});

t.test('closing the pool ends leases and waits and closes the lines', async (t) => {
  const f = new MemoryLineFactory();
  const p = pool(f);
  const l = await p.lease(PORT, { owner: 'v2:a' });
  const w = p.lease(PORT, { owner: 'v4:b', timeoutMs: 5000 }).catch((e: DaqError) => e);
  await p.close();
  t.match(await w, { code: 'DAQ_CLOSED' });
  t.equal(l.state, 'released');
  await t.rejects(l.write('x'), { code: 'DAQ_CLOSED' });
  t.equal(f.line(PORT).closed, true);
  await t.rejects(p.lease(PORT, { owner: 'v2:a' }), { code: 'DAQ_CLOSED' });
  await p.close();
});
