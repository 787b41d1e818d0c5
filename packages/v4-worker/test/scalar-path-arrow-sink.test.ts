// V4's batch encoder (issue 18) makes exactly the bytes ScalarBatchBuilder.cutIpc makes, batch
// after batch: plain and flagged rows, dictionaries that grow, shapes that repeat and change,
// odd row counts; and ArrowSink writes those bytes into its ring, every row counted.

import t from 'tap';
import { tableFromIPC } from 'apache-arrow';
import { RingReader, ScalarBatchBuilder, createRingBuffer } from '@daq/core';
import { ArrowSink, RING_RECORD_HEADER, ScalarStreamBuilder } from '../src/arrow-sink.js';

type Row = [bigint, string, string, number, string, string | undefined];

function rows(n: number, from: number, opts: { flagEvery?: number; instruments?: number; unit?: string } = {}): Row[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    const flag = opts.flagEvery && i % opts.flagEvery === 0 ? (i % 2 ? 'overload' : 'not-a-number') : undefined;
    return [BigInt(i), `i${i % (opts.instruments ?? 3)}`, i % 2 ? 'a' : 'b', i * 0.25, opts.unit ?? 'V', flag];
  });
}

t.test('the same bytes as ScalarBatchBuilder, batch after batch', async (t) => {
  const ours = new ScalarStreamBuilder(16);
  const theirs = new ScalarBatchBuilder(16);
  const batches: Row[][] = [
    rows(1000, 0),
    rows(1000, 1000), // the same shape again: metadata reused
    rows(999, 2000), // odd rows: 4-byte columns padded
    rows(1000, 3000, { flagEvery: 7 }), // flags: value and flag bitmaps
    rows(1000, 4000, { flagEvery: 7 }),
    rows(1000, 5000, { instruments: 5 }), // the instrument dictionary grows
    rows(1000, 6000, { unit: 'mV' }), // so does the unit's
    rows(3, 7000, { flagEvery: 1 }), // every row flagged: no flag bitmap, all values null
    rows(1000, 8000),
    rows(70_000, 9000), // past the initial capacity
  ];
  for (const [b, batch] of batches.entries()) {
    for (const r of batch) {
      ours.append(...r);
      theirs.append(...r);
    }
    const a = ours.cutIpc()!;
    const e = theirs.cutIpc()!;
    t.equal(a.rows, e.rows);
    t.ok(Buffer.from(a.bytes).equals(Buffer.from(e.bytes)), `batch ${b}: identical bytes (${a.bytes.byteLength})`);
  }
  t.equal(ours.cutIpc(), undefined, 'nothing appended: no batch');
  const last = tableFromIPC(new ScalarStreamBuilder().cutIpc()?.bytes ?? new Uint8Array(0));
  t.equal(last.numRows, 0);
});

t.test('batches that fill the builder exactly (its columns are the batch, no spare room)', async (t) => {
  const ours = new ScalarStreamBuilder(1024);
  const theirs = new ScalarBatchBuilder(1024);
  for (let b = 0; b < 3; b++) {
    for (const r of rows(1024, b * 1024, { flagEvery: b === 1 ? 5 : undefined })) {
      ours.append(...r);
      theirs.append(...r);
    }
    t.ok(Buffer.from(ours.cutIpc()!.bytes).equals(Buffer.from(theirs.cutIpc()!.bytes)), `batch ${b}: identical bytes`);
  }
});

t.test('ArrowSink writes the batches into its ring; every row accepted is delivered', async (t) => {
  const sab = createRingBuffer(1 << 20, 'v4');
  const sink = new ArrowSink(() => t.fail('posted instead of the ring'), 500, 10_000, {
    sab,
    policy: 'block',
    blockTimeoutMs: 1000,
  });
  const reference = new ScalarBatchBuilder();
  const expected: Uint8Array[] = [];
  for (const [i, [ts, instrument, channel, value, unit, flag]] of rows(1750, 0, { flagEvery: 11 }).entries()) {
    sink.accept(instrument, [{ channel, value, unit, flag: flag as 'overload' | undefined, timestampNs: ts }], 0n);
    reference.append(ts, instrument, channel, value, unit, flag);
    if ((i + 1) % 500 === 0) expected.push(reference.cutIpc()!.bytes);
  }
  sink.flush();
  expected.push(reference.cutIpc()!.bytes);
  const reader = new RingReader(sab);
  for (const [i, e] of expected.entries()) {
    const r = reader.tryRead()!;
    const header = new DataView(r.buffer, r.byteOffset, RING_RECORD_HEADER);
    t.same([header.getUint32(0, true), header.getUint32(4, true)], [i < 3 ? 500 : 250, i]);
    t.ok(Buffer.from(r.subarray(RING_RECORD_HEADER)).equals(Buffer.from(e)), `record ${i}: the stream ScalarBatchBuilder makes`);
  }
  t.equal(reader.tryRead(), undefined);
  t.match(sink.counts(), { accepted: 1750, delivered: 1750, batches: 4, dropped: 0 });
});

t.test('without a ring, each batch is posted as its own buffer', async (t) => {
  const posted: { rows: number; bytes: Uint8Array; transfer: readonly unknown[] }[] = [];
  const sink = new ArrowSink(
    (m, transfer) => posted.push({ ...(m as { rows: number; bytes: Uint8Array }), transfer: transfer ?? [] }),
    100,
    10_000,
  );
  for (const [ts, instrument, channel, value, unit] of rows(250, 0))
    sink.accept(instrument, [{ channel, value, unit, timestampNs: ts }], 0n);
  sink.flush();
  t.same(
    posted.map((p) => p.rows),
    [100, 100, 50],
  );
  for (const p of posted) {
    t.equal(p.bytes.byteOffset, 0);
    t.equal(p.bytes.byteLength, p.bytes.buffer.byteLength, 'the whole buffer is the batch (it is transferred)');
    t.equal(tableFromIPC(p.bytes).numRows, p.rows);
  }
});
