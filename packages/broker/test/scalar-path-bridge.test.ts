// The scalar path's fast parts (issue 18) against apache-arrow as the reference: V4 batches read
// without building Arrow tables give the same rows as tableFromIPC (plain, flagged, unaligned,
// several batches, streams of another shape), malformed streams are refused, the merge over
// reused buffers keeps every row in order, and the sink's record batches are the bytes arrow's
// own stream writer makes.

import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Float64,
  Int32,
  Table,
  tableFromArrays,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  Dictionary,
  makeVector,
  Utf8,
  TimestampNanosecond,
  TimestampMicrosecond,
} from 'apache-arrow';
import { Clock, ScalarBatchBuilder, numericColumn, ipcMessages, ipcStream, IPC_END_OF_STREAM } from '@daq/core';
import { MessageHeader } from 'apache-arrow';
import { MeasurementBridge, ScalarFileSink, type BridgeSink, type ScalarChunk, type SeriesTable } from '../src/index.js';
import { STORED_SCALAR_SCHEMA, recordBatchMessage } from '../src/storage/scalar-file-sink.js';

/** A clock frozen at `now` ns, moved by the test. */
class FakeClock extends Clock {
  now = 0n;
  override nowNs(): bigint {
    return this.now;
  }
}

type Row = { ts: bigint; key: string; value: number };

class Collect implements BridgeSink {
  rows: Row[] = [];
  /** Chunks whose arrays were longer than the chunk (a sink must be able to take them whole). */
  oversized = 0;
  write(c: ScalarChunk, table: SeriesTable): void {
    if (c.ts.length !== c.length || c.value.length !== c.length || c.series.length !== c.length) this.oversized++;
    for (let i = 0; i < c.length; i++) {
      const k = table.keys[c.series[i]!]!;
      this.rows.push({
        ts: c.ts[i]!,
        key: `${k.subsystem}/${k.instrument}/${k.channel}/${k.unit}/${k.flag}`,
        value: c.value[i]!,
      });
    }
  }
}

/** What the rows of an IPC stream are, read by apache-arrow (the reference), as the bridge labels them. */
function reference(bytes: Uint8Array, subsystem = 'v4'): Row[] {
  const table = tableFromIPC(bytes);
  const col = (name: string) => table.getChild(name);
  // Raw nanoseconds (Vector.get gives a timestamp in ms).
  const ts = col('timestamp')!.data.flatMap((d) => [...(d.values as BigInt64Array).subarray(d.offset, d.offset + d.length)]);
  return [...Array(table.numRows).keys()].map((i) => {
    const flag = (col('flag')?.get(i) as string | null) ?? '';
    return {
      ts: ts[i]!,
      key: `${subsystem}/${col('instrument')!.get(i)}/${col('channel')!.get(i)}/${col('unit')!.get(i)}/${flag}`,
      value: flag ? Number.NaN : (col('value')!.get(i) as number),
    };
  });
}

function viaBridge(streams: Uint8Array[]): Row[] {
  const out = new Collect();
  const bridge = new MeasurementBridge({ latenessMs: 0 }, [out]);
  let n = 0;
  for (const s of streams) n += bridge.pushArrow('v4', 'v4', s);
  bridge.drain();
  t.equal(out.rows.length, n, 'rows out = rows pushed');
  t.equal(out.oversized, 0, 'each chunk a sink gets has arrays of exactly its length');
  return out.rows;
}

const instruments = ['pm1', 'pm2', 'stage', 'meter', 'dmm'];

function batch(rows: number, from: bigint, opts: { flags?: boolean; instruments?: number } = {}): Uint8Array {
  const b = new ScalarBatchBuilder(rows);
  for (let i = 0; i < rows; i++) {
    const flag = opts.flags && i % 7 === 3 ? (i % 2 ? 'overload' : 'not-a-number') : undefined;
    b.append(from + BigInt(i), instruments[i % (opts.instruments ?? 4)]!, i % 3 ? 'value' : 'aux', i * 0.5, 'V', flag);
  }
  return b.cutIpc()!.bytes;
}

t.test('V4 batches read by the bridge = the same batches read by apache-arrow', async (t) => {
  const plain = [batch(1500, 0n), batch(1500, 1500n), batch(1000, 3000n, { instruments: 5 })];
  t.same(
    viaBridge(plain),
    plain.flatMap((b) => reference(b)),
    'plain batches, a dictionary that grows',
  );
  const flagged = [batch(1000, 0n, { flags: true }), batch(1000, 1000n), batch(1000, 2000n, { flags: true })];
  t.same(
    viaBridge(flagged),
    flagged.flatMap((b) => reference(b)),
    'flagged rows: NaN and their flag',
  );
  // The same bytes at an odd offset (a copy that is not 4- or 8-byte aligned).
  const odd = plain.map((b) => {
    const buf = new Uint8Array(b.byteLength + 3);
    buf.set(b, 3);
    return buf.subarray(3);
  });
  t.same(
    viaBridge(odd),
    plain.flatMap((b) => reference(b)),
    'unaligned bytes',
  );
});

t.test('streams of other shapes: no flag column, several batches, another time unit, not scalars', async (t) => {
  const dict = (xs: string[]) => vectorFromArray(xs, new Dictionary(new Utf8(), new Int32()));
  const noFlag = tableToIPC(
    new Table({
      timestamp: makeVector(numericColumn(new TimestampNanosecond('UTC'), 3, BigInt64Array.of(1n, 2n, 3n))),
      instrument: dict(['a', 'b', 'a']),
      channel: dict(['c', 'c', 'c']),
      value: vectorFromArray([1, 2, 3], new Float64()),
      unit: dict(['V', 'V', 'A']),
    }),
    'stream',
  );
  t.same(viaBridge([noFlag]), reference(noFlag), 'five columns, no flag');
  // Two record batches in one stream (the fast reader handles them; arrow agrees).
  const b1 = tableFromIPC(batch(100, 0n));
  const b2 = tableFromIPC(batch(100, 100n));
  const two = tableToIPC(new Table([...b1.batches, ...b2.batches]), 'stream');
  t.equal(ipcMessages(two).filter((m) => m.type === MessageHeader.RecordBatch).length, 2);
  t.same(viaBridge([two]), reference(two), 'two record batches');
  // Timestamps in µs: not what the fast reader takes, so apache-arrow reads it (the raw values, as always).
  const micros = tableToIPC(
    new Table({
      timestamp: makeVector(numericColumn(new TimestampMicrosecond('UTC'), 2, BigInt64Array.of(7n, 8n))),
      instrument: dict(['a', 'b']),
      channel: dict(['c', 'c']),
      value: vectorFromArray([1, 2], new Float64()),
      unit: dict(['V', 'V']),
    }),
    'stream',
  );
  t.same(
    viaBridge([micros]).map((r) => [r.ts, r.key, r.value]),
    [
      [7n, 'v4/a/c/V/', 1],
      [8n, 'v4/b/c/V/', 2],
    ],
  );
  // Not a scalar schema at all: apache-arrow reads it, and the bridge refuses it as before.
  const other = tableToIPC(tableFromArrays({ x: Float64Array.of(1, 2) }), 'stream');
  t.throws(() => new MeasurementBridge({ latenessMs: 0 }, []).pushArrow('v4', 'v4', other));
});

t.test('malformed streams are refused with DAQ_INVALID_ARGUMENT, before any row is taken', async (t) => {
  const good = batch(1000, 0n);
  const bridge = new MeasurementBridge({ latenessMs: 0 }, []);
  bridge.pushArrow('v4', 'v4', good); // the schema and dictionaries are known from here on
  const truncated = good.subarray(0, good.byteLength - 200);
  t.throws(() => bridge.pushArrow('v4', 'v4', truncated), { code: 'DAQ_INVALID_ARGUMENT' });
  // A dictionary index past the end of its dictionary.
  const bad = good.slice();
  const spans = ipcMessages(bad);
  const rb = spans.find((s) => s.type === MessageHeader.RecordBatch)!;
  // The instrument indices are the 4th buffer of the body; corrupt them all (any position hits).
  const view = new DataView(bad.buffer);
  const metaLength = view.getInt32(rb.start + 4, true);
  const body = rb.start + 8 + metaLength;
  // ts: validity(0) + 8000 bytes; instrument indices follow (8-byte aligned): 4000 bytes.
  for (let i = 0; i < 1000; i++) view.setInt32(body + 8000 + 4 * i, 77, true);
  t.throws(() => bridge.pushArrow('v4', 'v4', bad), { code: 'DAQ_INVALID_ARGUMENT', message: /index out of range/ });
  t.same(bridge.counts().v4!.in, 1000, 'only the good batch was taken');
});

t.test('the merge over reused buffers: many ticks, three sources, every row once and in order', async (t) => {
  const out = new Collect();
  const clock = new FakeClock();
  const bridge = new MeasurementBridge({ latenessMs: 0, clock }, [out]);
  let pushed = 0;
  for (let round = 0; round < 20; round++) {
    for (let s = 0; s < 3; s++) {
      // Interleaved timestamps: source s has ts ≡ s (mod 3).
      const b = new ScalarBatchBuilder(2048);
      for (let i = 0; i < 2048; i++) b.append(BigInt((round * 2048 + i) * 3 + s), `i${s}`, 'c', i, 'u');
      pushed += bridge.pushArrow(`p${s}`, 'v4', b.cutIpc()!.bytes);
    }
    clock.now = BigInt(((round + 1) * 2048 - 500) * 3); // emit all but the youngest rows
    bridge.tick();
  }
  bridge.drain();
  t.equal(out.rows.length, pushed);
  let sorted = true;
  for (let i = 1; i < out.rows.length; i++) if (out.rows[i]!.ts !== out.rows[i - 1]!.ts + 1n) sorted = false;
  t.ok(sorted, 'every timestamp once, in order');
  for (const c of Object.values(bridge.counts())) t.same([c.in, c.out, c.late, c.buffered], [c.in, c.in, 0, 0]);
});

t.test("the sink's record-batch messages are arrow's own bytes; the file reads back", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-scalar-path-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sink = new ScalarFileSink(dir, { flushIntervalMs: 60_000, storeSubsystems: new Set(['v4']), sync: false });
  const bridge = new MeasurementBridge({ latenessMs: 0 }, [sink]);
  // Every series in the first batch, so that the file's dictionaries never grow (no new part file).
  const streams = [batch(3000, 0n, { flags: true }), batch(3000, 3000n, { flags: true }), batch(3000, 6000n, { flags: true })];
  for (const s of streams) {
    bridge.pushArrow('v4', 'v4', s);
    bridge.drain();
    await sink.flush();
  }
  await sink.close();
  const bytes = await readFile(join(dir, 'scalars.arrows'));
  const table = tableFromIPC(bytes);
  t.equal(table.numRows, 9000);
  t.same(
    table.schema.fields.map((f) => f.name),
    STORED_SCALAR_SCHEMA.fields.map((f) => f.name),
  );
  const want = streams.flatMap((s) => reference(s));
  const ts = table
    .getChild('timestamp')!
    .data.flatMap((d) => [...(d.values as BigInt64Array).subarray(d.offset, d.offset + d.length)]);
  const got = [...Array(table.numRows).keys()].map((i) => ({
    ts: ts[i]!,
    key: `v4/${table.getChild('instrument')!.get(i)}/${table.getChild('channel')!.get(i)}/${table.getChild('unit')!.get(i)}/${table.getChild('flag')!.get(i) ?? ''}`,
    value: (table.getChild('value')!.get(i) as number | null) ?? Number.NaN,
  }));
  t.same(got, want);
  t.same(sink.stats.rowsFlushed, 9000);
  // Each message after the first is what arrow's stream writer makes of the same batch.
  const spans = ipcMessages(bytes).filter((m) => m.type === MessageHeader.RecordBatch);
  t.equal(spans.length, 3);
  for (const [i, rb] of table.batches.entries()) {
    const fromArrow = ipcMessages(ipcStream(rb)).find((m) => m.type === MessageHeader.RecordBatch)!;
    const arrowBytes = ipcStream(rb).subarray(fromArrow.start, fromArrow.end);
    const parts = recordBatchMessage(rb);
    const ours = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let o = 0;
    for (const p of parts) {
      ours.set(p, o);
      o += p.byteLength;
    }
    t.same(Buffer.from(ours), Buffer.from(arrowBytes), `record batch ${i}: the same bytes`);
    t.same(Buffer.from(bytes.subarray(spans[i]!.start, spans[i]!.end)), Buffer.from(arrowBytes), `record batch ${i} on disk`);
  }
  const first = ipcStream(table.batches[0]!);
  const firstSchema = ipcMessages(first).find((m) => m.type === MessageHeader.RecordBatch)!.start;
  t.same(
    Buffer.from(bytes.subarray(0, spans[0]!.start)),
    Buffer.from(first.subarray(0, firstSchema)),
    'schema and dictionaries as arrow writes them',
  );
  t.same(Buffer.from(bytes.subarray(bytes.byteLength - 8)), Buffer.from(IPC_END_OF_STREAM), 'the stream is closed');
});
