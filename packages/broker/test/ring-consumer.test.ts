// The broker's ring consumer on its own: records handed over in order, a record whose handler
// throws is counted and skipped (never stops the loop), backpressure pauses are counted, and
// finish() drains what the producer left behind.

import t from 'tap';
import { RingWriter, createRingBuffer } from '@daq/core';
import { RingConsumer } from '../src/index.js';

t.test('in order, bad records counted, pauses counted, drained at finish', async (t) => {
  const sab = createRingBuffer(4096, 'test');
  const writer = new RingWriter(sab, { policy: 'block', blockTimeoutMs: 1000 });
  const seen: number[] = [];
  let paused = true;
  const consumer = new RingConsumer(
    sab,
    (r) => {
      if (r[0] === 99) throw new Error('malformed record');
      seen.push(r[0]!);
    },
    { shouldPause: () => paused, name: 'test' },
  );
  consumer.start();
  for (const b of [1, 2, 99, 3]) writer.write(new Uint8Array([b, 0, 0, 0]));
  writer.flush();
  await new Promise((r) => setTimeout(r, 30));
  t.same(seen, [], 'nothing read while paused');
  paused = false;
  await new Promise((r) => setTimeout(r, 50));
  writer.write(new Uint8Array([4]));
  writer.close();
  await consumer.finish();
  t.same(seen, [1, 2, 3, 4], 'every good record, in order');
  const c = consumer.counters();
  t.match(c, { recordsWritten: 5, recordsRead: 5, recordErrors: 1, lastError: 'malformed record', bytesInUse: 0 });
  t.ok(c.pauses >= 1 && c.pausedMs >= 20, `paused ${c.pauses} time(s), ${c.pausedMs} ms`);
});
