// Tests of the SharedArrayBuffer ring: records cross real threads intact and in order, every drop
// under every policy is counted exactly, a held record is never overwritten, and waits end.

import t from 'tap';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { DaqError } from '../src/errors.js';
import { RingReader, RingWriter, copyBytes, createRingBuffer, ringCounters } from '../src/ring/sab-ring.js';
import { checkRecord, fillRecord, recordSizes, seqOf } from './fixtures/ring-records.js';
import type { ProduceOp, ProduceResult } from './fixtures/ring-producer.js';

// One producer thread serves every test (starting a TypeScript worker takes a while); each job
// names the ring it writes to.
const worker = new Worker(new URL('./fixtures/ring-producer.ts', import.meta.url));
t.teardown(() => worker.terminate());

/** The producer thread bound to `sab`: `run` sends it one job and resolves with its report. */
function producer(sab: SharedArrayBuffer) {
  return {
    run(op: Omit<ProduceOp, 'op' | 'sab'>): Promise<ProduceResult> {
      const done = once(worker, 'message') as Promise<[ProduceResult]>;
      worker.postMessage({ op: 'write', sab, ...op });
      return done.then(([r]) => r);
    },
    async close(): Promise<void> {
      const done = once(worker, 'message');
      worker.postMessage({ op: 'close', sab });
      await done;
    },
  };
}

/** Reads every record until the ring is closed and drained, calling `onRecord` with each view. */
async function drain(reader: RingReader, onRecord: (bytes: Uint8Array) => void | Promise<void>): Promise<void> {
  for (;;) {
    const bytes = reader.tryRead();
    if (bytes) {
      await onRecord(bytes);
      continue;
    }
    const r = await reader.waitForData(10_000);
    if (r === 'closed') return;
    if (r === 'timeout') throw new Error('no record and no close within 10 s');
  }
}

/** Takes every record now in the ring (the producer is done) and returns their sequence numbers. */
function takeAll(reader: RingReader): number[] {
  const seqs: number[] = [];
  for (let bytes = reader.tryRead(); bytes; bytes = reader.tryRead()) {
    const ok = checkRecord(bytes, seqOf(bytes));
    if (ok !== true) throw new Error(ok);
    seqs.push(seqOf(bytes));
  }
  return seqs;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

t.test('random-size records cross many wraps between two threads intact and in order', async (t) => {
  const sab = createRingBuffer(64 * 1024, 'random');
  const reader = new RingReader(sab);
  const count = 20_000;
  const sizes = recordSizes(7, count, reader.capacity - 8);
  const p = producer(sab);
  const produced = p.run({ policy: 'block', from: 0, count, seed: 7, close: true });
  let seq = 0;
  let bad: string | undefined;
  await drain(reader, (bytes) => {
    if (bytes.length !== sizes[seq]) bad ??= `seq ${seq}: ${bytes.length} bytes, expected ${sizes[seq]}`;
    const ok = checkRecord(bytes, seq);
    if (ok !== true) bad ??= ok;
    seq++;
  });
  const r = await produced;
  t.equal(bad, undefined, 'every record has its size, sequence number and checksum');
  t.same(r, { attempted: count, accepted: count, rejected: 0 });
  t.equal(seq, count);
  const c = reader.counters();
  const payload = sizes.reduce((a, b) => a + b, 0);
  t.match(c, { recordsWritten: count, recordsRead: count, recordsDropped: 0, bytesWritten: payload, bytesRead: payload });
  t.match(c, { bytesDropped: 0, blockTimeouts: 0, bytesInUse: 0, closed: true });
  t.ok(payload > 50 * c.capacity, `${Math.round(payload / c.capacity)} laps round the ring`);
  t.ok(Math.max(...sizes) > c.capacity - 8 - 64, 'records near the maximum size were written');
  t.ok(c.highWaterBytes > 0 && c.highWaterBytes <= c.capacity);
  t.same(ringCounters(sab), c, 'any thread can read the counters');
});

t.test('drop-oldest with a slow consumer loses only whole records, each one counted', async (t) => {
  const sab = createRingBuffer(32 * 1024, 'oldest');
  const reader = new RingReader(sab);
  const count = 10_000;
  const sizes = recordSizes(11, count, reader.capacity - 8);
  const p = producer(sab);
  const produced = p.run({ policy: 'drop-oldest', from: 0, count, seed: 11, close: true, blockTimeoutMs: 10_000 });
  const seen: number[] = [];
  let bad: string | undefined;
  await drain(reader, async (bytes) => {
    const seq = bytes.length >= 8 ? seqOf(bytes) : -1;
    if (seq < 0) {
      // Too short to carry a number: it is the next record of that size after the last one seen.
      const s = sizes.findIndex((n, i) => i > (seen.at(-1) ?? -1) && n === bytes.length && checkRecord(bytes, i) === true);
      seen.push(s);
    } else seen.push(seq);
    const ok = checkRecord(bytes, seen.at(-1)!);
    if (ok !== true || bytes.length !== sizes[seen.at(-1)!]) bad ??= `record ${seen.at(-1)}: ${ok}`;
    if (seen.length % 50 === 0) await new Promise((r) => setTimeout(r, 1)); // fall behind now and then
  });
  const r = await produced;
  t.equal(bad, undefined, 'every record read is intact');
  t.ok(
    seen.every((s, i) => i === 0 || s > seen[i - 1]!),
    'records arrive in order',
  );
  t.same(r, { attempted: count, accepted: count, rejected: 0 });
  const c = reader.counters();
  const lost = new Set(range(0, count));
  for (const s of seen) lost.delete(s);
  t.ok(lost.size > 0, `${lost.size} records were dropped`);
  t.equal(c.recordsWritten, count);
  t.equal(c.recordsRead, seen.length);
  t.equal(c.recordsDropped, lost.size, 'every dropped record was counted');
  t.equal(c.recordsRead, c.recordsWritten - c.recordsDropped);
  t.equal(
    c.bytesDropped,
    [...lost].reduce((a, s) => a + sizes[s]!, 0),
    'and its bytes',
  );
  t.equal(c.bytesRead, c.bytesWritten - c.bytesDropped);
  t.equal(c.blockTimeouts, 0);
});

// 10 records of 1000 bytes (1008 with their header) fill a 10080-byte ring exactly.
const RECORD = 1000;
const FULL = 10;

t.test('drop-newest keeps the first records when the consumer does not read', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'newest');
  const reader = new RingReader(sab);
  const r = await producer(sab).run({ policy: 'drop-newest', from: 0, count: 25, bytes: RECORD });
  t.same(r, { attempted: 25, accepted: FULL, rejected: 25 - FULL });
  t.match(reader.counters(), { recordsWritten: FULL, recordsDropped: 15, bytesDropped: 15 * RECORD, blockTimeouts: 0 });
  t.match(reader.counters(), { bytesInUse: FULL * 1008, highWaterBytes: FULL * 1008 });
  t.same(takeAll(reader), range(0, FULL));
  const c = reader.counters();
  t.equal(c.recordsWritten + c.recordsDropped, 25, 'written + dropped = attempted');
  t.equal(c.recordsRead, c.recordsWritten);
});

t.test('drop-oldest keeps the last records when the consumer does not read', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'oldest');
  const reader = new RingReader(sab);
  const r = await producer(sab).run({ policy: 'drop-oldest', from: 0, count: 25, bytes: RECORD });
  t.same(r, { attempted: 25, accepted: 25, rejected: 0 });
  t.match(reader.counters(), { recordsWritten: 25, recordsDropped: 15, bytesDropped: 15 * RECORD, blockTimeouts: 0 });
  t.same(takeAll(reader), range(25 - FULL, 25));
  const c = reader.counters();
  t.equal(c.recordsRead, c.recordsWritten - c.recordsDropped, 'read = written - dropped');
  t.equal(c.bytesRead, FULL * RECORD);
});

t.test('block waits blockTimeoutMs, then throws DAQ_RING_FULL and counts the record dropped', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'v4');
  const reader = new RingReader(sab);
  const r = await producer(sab).run({
    policy: 'block',
    blockTimeoutMs: 150,
    from: 0,
    count: 25,
    bytes: RECORD,
    stopOnError: true,
  });
  t.match(r, { attempted: FULL + 1, accepted: FULL, rejected: 0, error: { code: 'DAQ_RING_FULL' } });
  t.match(r.error!.message, /ring "v4" is full: a record of 1000 bytes waited \d+ ms .*raise the ring size/);
  t.match(r.error!.facts, { ring: 'v4', recordBytes: RECORD, capacity: FULL * 1008 });
  t.ok((r.error!.facts.waitedMs as number) >= 149, 'it waited the whole timeout');
  t.match(reader.counters(), { recordsWritten: FULL, recordsDropped: 1, bytesDropped: RECORD, blockTimeouts: 1 });
  t.same(takeAll(reader), range(0, FULL));
  const c = reader.counters();
  t.equal(c.recordsWritten + c.recordsDropped, FULL + 1, 'written + dropped = attempted');
  t.equal(c.recordsRead, c.recordsWritten);
});

t.test('block is lossless: a waiting producer resumes when the consumer frees space', async (t) => {
  const sab = createRingBuffer(FULL * 1008);
  const reader = new RingReader(sab);
  const p = producer(sab);
  t.same(await p.run({ policy: 'block', from: 0, count: FULL, bytes: RECORD }), { attempted: FULL, accepted: FULL, rejected: 0 });
  const more = p.run({ policy: 'block', blockTimeoutMs: 10_000, from: FULL, count: 30, bytes: RECORD, close: true });
  const seqs: number[] = [];
  await drain(reader, (bytes) => void seqs.push(seqOf(bytes)));
  t.same(await more, { attempted: 30, accepted: 30, rejected: 0 });
  t.same(seqs, range(0, FULL + 30));
  t.match(reader.counters(), { recordsWritten: 40, recordsRead: 40, recordsDropped: 0, blockTimeouts: 0 });
});

t.test('drop-oldest never overwrites the record the consumer holds', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'held');
  const reader = new RingReader(sab);
  const p = producer(sab);
  await p.run({ policy: 'drop-oldest', from: 0, count: FULL, bytes: RECORD });
  const held = reader.tryRead()!;
  const copy = held.slice();
  t.equal(seqOf(held), 0);
  // The ring is full and the next record's place is the held one: dropping the others cannot make
  // room, so the producer waits for the release and, here, gives up.
  const r = await p.run({ policy: 'drop-oldest', blockTimeoutMs: 100, from: FULL, count: 1, bytes: RECORD });
  t.match(r, { attempted: 1, accepted: 0, error: { code: 'DAQ_RING_FULL' } });
  t.same(held, copy, 'the held record is intact after the producer tried to overwrite it');
  t.equal(checkRecord(held, 0), true);
  t.match(reader.counters(), { recordsWritten: FULL, recordsDropped: 1, blockTimeouts: 1, recordsRead: 0 });
  // Now the producer waits for the release, then drops the oldest unread records as needed.
  setTimeout(() => {
    t.same(held, copy, 'still intact while the producer waits');
    reader.release();
  }, 50);
  const r2 = await p.run({ policy: 'drop-oldest', blockTimeoutMs: 10_000, from: FULL + 1, count: FULL, bytes: RECORD });
  t.same(r2, { attempted: FULL, accepted: FULL, rejected: 0 });
  t.same(takeAll(reader), range(FULL + 1, 2 * FULL + 1));
  const c = reader.counters();
  t.equal(c.recordsWritten, 2 * FULL);
  t.equal(c.recordsDropped, FULL, 'records 1-9 dropped to make room, record 10 after its timeout');
  t.equal(c.recordsRead, 1 + FULL);
  t.equal(c.recordsRead, c.recordsWritten - (c.recordsDropped - c.blockTimeouts), 'read = written - dropped by drop-oldest');
});

t.test('claim holds several records at once; release gives them back oldest first', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'claims');
  const reader = new RingReader(sab);
  const p = producer(sab);
  await p.run({ policy: 'drop-oldest', from: 0, count: FULL, bytes: RECORD });
  const a = reader.claim()!;
  const b = reader.claim()!;
  const c = reader.claim()!;
  t.same([seqOf(a), seqOf(b), seqOf(c)], [0, 1, 2]);
  t.equal(reader.held, 3);
  const copies = [a.slice(), b.slice(), c.slice()];
  // Full ring, three records held: the producer may drop only unclaimed records (3..FULL-1), and a
  // new record's place is the oldest held one, so it cannot be written until that is released.
  const r = await p.run({ policy: 'drop-oldest', blockTimeoutMs: 100, from: FULL, count: 1, bytes: RECORD });
  t.match(r, { accepted: 0, error: { code: 'DAQ_RING_FULL' } });
  t.same([a, b, c], copies, 'held records are intact');
  reader.release();
  t.equal(reader.held, 2);
  t.match(reader.counters(), { recordsRead: 1 });
  // With record 0 released there is room for one record; 1 and 2 stay intact.
  const r2 = await p.run({ policy: 'block', blockTimeoutMs: 1000, from: FULL + 1, count: 1, bytes: RECORD });
  t.match(r2, { accepted: 1 });
  t.same([b, c], copies.slice(1), 'records still held are not overwritten');
  t.equal(checkRecord(b, 1) && checkRecord(c, 2), true);
  // tryRead releases everything held, then reads on.
  const next = reader.tryRead()!;
  t.equal(reader.held, 1);
  t.equal(seqOf(next), 3);
  reader.close();
  t.equal(reader.held, 0);
  t.match(reader.counters(), { recordsRead: 4 });
});

t.test('each policy counts its drops exactly with the writer on the consumer thread too', async (t) => {
  const record = (seq: number) => {
    const r = new Uint8Array(RECORD);
    fillRecord(r, seq);
    return r;
  };
  for (const policy of ['block', 'drop-newest', 'drop-oldest'] as const) {
    const sab = createRingBuffer(FULL * 1008, policy);
    const writer = new RingWriter(sab, { policy, blockTimeoutMs: 20 });
    const reader = new RingReader(sab);
    const outcomes: (boolean | string)[] = [];
    for (let seq = 0; seq < 14; seq++) {
      try {
        outcomes.push(writer.write(record(seq)));
      } catch (e) {
        outcomes.push((e as DaqError).code);
      }
    }
    const c = writer.counters();
    if (policy === 'block') {
      t.same(outcomes, [...Array(FULL).fill(true), ...Array(4).fill('DAQ_RING_FULL')]);
      t.match(c, { recordsWritten: FULL, recordsDropped: 4, blockTimeouts: 4, bytesDropped: 4 * RECORD });
      t.same(takeAll(reader), range(0, FULL));
    } else if (policy === 'drop-newest') {
      t.same(outcomes, [...Array(FULL).fill(true), ...Array(4).fill(false)]);
      t.match(c, { recordsWritten: FULL, recordsDropped: 4, blockTimeouts: 0 });
      t.same(takeAll(reader), range(0, FULL));
    } else {
      t.same(outcomes, Array(14).fill(true));
      t.match(c, { recordsWritten: 14, recordsDropped: 4, blockTimeouts: 0 });
      // Hold the oldest record: the next write cannot drop its way past it and times out.
      const held = reader.tryRead()!;
      t.equal(seqOf(held), 4);
      t.throws(() => writer.write(record(14)), {
        code: 'DAQ_RING_FULL',
        message: /waited \d+ ms for the consumer to release the record it holds/,
      });
      t.equal(checkRecord(held, 4), true, 'the held record is intact');
      reader.release();
      t.ok(writer.write(record(15)), 'after the release the record takes the released room');
      t.ok(writer.write(record(16)), 'and the next one drops the oldest unread record');
      t.same(takeAll(reader), range(6, 14).concat(15, 16));
      const after = writer.counters();
      t.match(after, { recordsWritten: 16, recordsDropped: 6, blockTimeouts: 1, recordsRead: 11 });
      t.equal(after.recordsRead, after.recordsWritten - (after.recordsDropped - after.blockTimeouts));
    }
  }
});

t.test('a record larger than the maximum is rejected with what to do, never a hang', async (t) => {
  const sab = createRingBuffer(4096, 'small');
  const writer = new RingWriter(sab, { blockTimeoutMs: 10_000 });
  t.equal(writer.maxRecordBytes, 4088);
  t.throws(() => writer.reserve(4089), {
    code: 'DAQ_INVALID_ARGUMENT',
    message:
      'ring "small": a record of 4089 bytes does not fit: the ring\'s capacity is 4096 bytes (largest record 4088 bytes); raise the ring size to at least 4104 bytes',
  });
  t.throws(() => writer.write(new Uint8Array(5000)), { code: 'DAQ_INVALID_ARGUMENT', facts: { recordBytes: 5000 } });
  t.throws(() => writer.reserve(-1), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => writer.reserve(1.5), { code: 'DAQ_INVALID_ARGUMENT' });
  t.match(writer.counters(), { recordsWritten: 0, recordsDropped: 0 }, 'an invalid record is not a drop');
  // A record of exactly the maximum fits whatever the ring's current offset.
  const reader = new RingReader(sab);
  for (const n of [100, 4088, 3000, 4088, 1, 4088]) {
    const record = new Uint8Array(n);
    fillRecord(record, n);
    t.ok(writer.write(record));
    const got = reader.tryRead()!;
    t.equal(got.length, n);
    t.equal(checkRecord(got, n), true);
    reader.release();
  }
});

t.test('zero-length records are written, read and counted', async (t) => {
  const sab = createRingBuffer(256);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  t.ok(writer.write(new Uint8Array(0)));
  t.ok(writer.write([]));
  writer.reserve(0);
  writer.commit();
  const view = writer.reserve(40)!;
  view.fill(1);
  writer.commit(0); // committed shorter than reserved
  for (let i = 0; i < 4; i++) t.equal(reader.tryRead()?.length, 0);
  t.equal(reader.tryRead(), undefined);
  t.match(reader.counters(), { recordsWritten: 4, recordsRead: 4, bytesWritten: 0, bytesRead: 0, bytesInUse: 0 });
});

t.test('reserve, commit and cancel are checked', async (t) => {
  const sab = createRingBuffer(1024);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  t.throws(() => writer.commit(), { code: 'DAQ_INVALID_ARGUMENT', message: /commit\(\) without reserve\(\)/ });
  const v = writer.reserve(10)!;
  t.throws(() => writer.reserve(10), { code: 'DAQ_INVALID_ARGUMENT', message: /reserve\(\) called twice/ });
  t.throws(() => writer.commit(11), { code: 'DAQ_INVALID_ARGUMENT', message: /outside the 10 bytes reserved/ });
  v.set([1, 2, 3]);
  writer.cancel();
  t.equal(reader.tryRead(), undefined, 'a cancelled record is not published');
  writer.reserve(3)!.set([4, 5, 6]);
  writer.commit();
  t.same([...reader.tryRead()!], [4, 5, 6]);
  reader.release();
  reader.release(); // a second release is a no-op
  // A cancelled record that needed padding to wrap: the padding is skipped, the next record intact.
  t.ok(writer.write(new Uint8Array(900).fill(7)));
  t.equal(reader.tryRead()?.length, 900);
  reader.release();
  writer.reserve(200);
  writer.cancel();
  writer.cancel(); // nothing reserved any more: a no-op
  t.ok(writer.write(new Uint8Array(100).fill(9)));
  t.same([...new Set(reader.tryRead()!)], [9]);
  t.equal(reader.tryRead(), undefined);
  t.match(writer.counters(), { recordsWritten: 3, recordsRead: 3, recordsDropped: 0, bytesInUse: 0 });
});

t.test('copyBytes copies small and large chunks and checks bounds', async (t) => {
  const target = new Uint8Array(new SharedArrayBuffer(10_000));
  const big = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
  copyBytes(target, big, 3000);
  t.same(target.subarray(3000, 8000), big, 'a large chunk, by the native copy');
  t.equal(target[2999], 0);
  t.equal(target[8000], 0, 'nothing written past the chunk');
  copyBytes(target, Uint8Array.of(1, 2, 3));
  t.same([...target.subarray(0, 4)], [1, 2, 3, 0]);
  copyBytes(target, new Uint8Array(0), 10_000);
  t.throws(() => copyBytes(target, big, 6000), RangeError);
  t.throws(() => copyBytes(target, big, -1), RangeError);
});

t.test('rings and options are validated', async (t) => {
  t.throws(() => createRingBuffer(10), { code: 'DAQ_INVALID_ARGUMENT', message: /capacity 10 bytes/ });
  t.throws(() => createRingBuffer(2 ** 31), { code: 'DAQ_INVALID_ARGUMENT' });
  t.equal(ringCounters(createRingBuffer(1001)).capacity, 1008, 'capacity is rounded up to 8 bytes');
  t.throws(() => new RingReader(new SharedArrayBuffer(4096)), { code: 'DAQ_INVALID_ARGUMENT', message: /not a ring buffer/ });
  t.throws(() => ringCounters(new ArrayBuffer(4096) as unknown as SharedArrayBuffer), { code: 'DAQ_INVALID_ARGUMENT' });
  const sab = createRingBuffer(1024, 'camera-1');
  t.throws(() => new RingWriter(sab, { policy: 'lossy' as 'block' }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /unknown policy "lossy"/,
  });
  t.throws(() => new RingWriter(sab, { blockTimeoutMs: -1 }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.equal(new RingWriter(sab).name, 'camera-1', 'the name given at creation is shared by both sides');
  t.equal(new RingReader(sab, { name: 'other' }).name, 'other');
});

t.test('close wakes a waiting consumer, which reads the remaining records first', async (t) => {
  const sab = createRingBuffer(64 * 1024);
  const reader = new RingReader(sab);
  const p = producer(sab);
  const waiting = reader.waitForData(10_000);
  await p.close();
  t.equal(await waiting, 'closed', 'an empty closed ring wakes the consumer at once');
  t.ok(reader.closed);

  const sab2 = createRingBuffer(64 * 1024);
  const reader2 = new RingReader(sab2);
  const p2 = producer(sab2);
  const waiting2 = reader2.waitForData(10_000);
  await p2.run({ policy: 'block', from: 0, count: 3, bytes: 100, close: true });
  t.equal(await waiting2, 'data');
  t.same(takeAll(reader2), [0, 1, 2]);
  t.equal(await reader2.waitForData(10_000), 'closed');
  t.throws(() => new RingWriter(sab2).write(new Uint8Array(1)), { code: 'DAQ_CLOSED' });
});

t.test('waitForData times out without blocking the event loop', async (t) => {
  const reader = new RingReader(createRingBuffer(1024));
  let ticks = 0;
  const interval = setInterval(() => ticks++, 5);
  t.teardown(() => clearInterval(interval));
  t.equal(await reader.waitForData(150), 'timeout');
  t.ok(ticks >= 5, `the event loop kept running (${ticks} ticks)`);
  t.equal(await reader.waitForData(0), 'timeout');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  await t.rejects(reader.waitForData(10_000, { signal: ac.signal }), { code: 'DAQ_ABORTED' });
  await t.rejects(reader.waitForData(10_000, { signal: ac.signal }), { code: 'DAQ_ABORTED' });
});

t.test('overlapping waits: a wait that ends does not leave another one unwoken', async (t) => {
  const sab = createRingBuffer(4096, 'overlap');
  const reader = new RingReader(sab);
  const writer = new RingWriter(sab);
  // A short wait abandoned by its caller (raced against other work) ends while a long one sleeps.
  const short = reader.waitForData(30);
  const long = reader.waitForData(10_000);
  t.equal(await short, 'timeout');
  const started = performance.now();
  setTimeout(() => writer.write(new Uint8Array(8)), 20);
  const winner = await Promise.race([long, new Promise((r) => setTimeout(() => r('not woken'), 3000))]);
  t.equal(winner, 'data', 'the commit woke the remaining wait');
  t.ok(performance.now() - started < 3000);
  writer.close();
  reader.close();
});

t.test('a consumer that closes ends a blocked producer with DAQ_CLOSED', async (t) => {
  const sab = createRingBuffer(FULL * 1008, 'gone');
  const reader = new RingReader(sab);
  const p = producer(sab);
  await p.run({ policy: 'block', from: 0, count: FULL, bytes: RECORD });
  const blocked = p.run({ policy: 'block', blockTimeoutMs: 10_000, from: FULL, count: 1, bytes: RECORD });
  setTimeout(() => reader.close(), 50);
  const r = await blocked;
  t.match(r, {
    attempted: 1,
    accepted: 0,
    error: { code: 'DAQ_CLOSED', message: 'ring "gone" is closed; no more records can be written' },
  });
  t.ok(reader.counters().closed);
  const w = new RingWriter(sab);
  t.throws(() => w.reserve(1), DaqError);
});

t.test('rings are disposable', async (t) => {
  const sab = createRingBuffer(1024);
  const writer = new RingWriter(sab);
  writer.write(new Uint8Array(3));
  writer.flush();
  writer[Symbol.dispose]();
  const reader = new RingReader(sab);
  t.equal(reader.tryRead()?.length, 3);
  t.equal(await reader.waitForData(1000), 'closed');
  reader[Symbol.dispose]();
});
