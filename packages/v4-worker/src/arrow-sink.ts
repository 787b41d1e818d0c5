// V4's output: readings appended straight into Arrow columns, each batch cut as a
// self-contained IPC stream and written into the worker's SharedArrayBuffer ring (one copy,
// read zero-copy by the broker), or posted with its buffer transferred when no ring is given.
// A ring record is an 8-byte header (rows, sequence) followed by the IPC bytes.
//
// The stream is the one ScalarBatchBuilder.cutIpc makes, byte for byte (schema, the four
// dictionaries, one record batch, end marker), without running apache-arrow's writer for each
// batch: the schema and dictionary messages are kept while the dictionaries stay the same (they
// only grow), and so is the record batch's metadata while the batch's shape (rows, null counts)
// stays the same; the body is the builder's columns, copied into the ring directly. The first
// batch of each shape is written by apache-arrow, and the parts are checked against it then.
// (Issue 18: arrow's writer, with its copies and garbage, was most of the producer's time.)

import { Buffer } from 'node:buffer';
import {
  BufferedSink,
  DaqError,
  IPC_END_OF_STREAM,
  RingWriter,
  SCALAR_SCHEMA,
  ScalarRows,
  allNull,
  copyBytes,
  dictionaryColumn,
  ipcMessages,
  ipcStream,
  numericColumn,
  recordBatch,
  validityBitmap,
  type ArrowBatchMessage,
  type PostToBroker,
  type Reading,
  type SubsystemInit,
} from '@daq/core';

/** Bytes before the IPC stream in a ring record: Uint32 rows, Uint32 sequence number. */
export const RING_RECORD_HEADER = 8;

const PADDING = new Uint8Array(8);

/** A batch encoded as IPC stream parts; the parts view the builder's columns until its next append. */
export interface EncodedBatch {
  rows: number;
  byteLength: number;
  parts: Uint8Array[];
}

/** Copies `parts` one after the other into `view` from `offset`. */
export function writeParts(view: Uint8Array, parts: readonly Uint8Array[], offset = 0): void {
  let o = offset;
  for (const p of parts) {
    copyBytes(view, p, o);
    o += p.byteLength;
  }
}

/** The bytes of a typed array. */
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** True when `parts`, one after the other, are exactly `whole` (a native compare). */
const sameBytes = (parts: readonly Uint8Array[], whole: Uint8Array): boolean => {
  let o = 0;
  for (const p of parts) {
    if (o + p.byteLength > whole.byteLength) return false;
    if (Buffer.compare(bytesOf(p), whole.subarray(o, o + p.byteLength)) !== 0) return false;
    o += p.byteLength;
  }
  return o === whole.byteLength;
};

/** V4's scalar batch builder: ScalarBatchBuilder's rows and stream, encoded without an intermediate copy. */
export class ScalarStreamBuilder extends ScalarRows {
  /** Schema and dictionary messages, for the dictionary sizes in `preambleSizes`. */
  private preamble = new Uint8Array(0);
  private preambleSizes = '';
  /**
   * Per batch shape (rows, null values, null flags): the record batch message up to its body
   * (prefix, metadata, padding), or null where the parts did not match arrow's (then arrow writes).
   */
  private readonly heads = new Map<string, Uint8Array | null>();
  /** Zeros: the flag indices and the all-null flag bitmap of batches without flags. */
  private zeros = new Int32Array(0);
  /** The all-null flag validity of the last batch size without flags. */
  private noFlags = allNull(0);
  /** Flag indices of a batch with flags (reused: the parts are consumed before the next cut). */
  private flagIndex = new Int32Array(0);

  /** The n rows appended so far as the validity and flag columns ScalarBatchBuilder makes of them. */
  private extras(n: number) {
    const flags = this.cols.columns.flags;
    if (this.flagged === 0) {
      if (this.zeros.length < n) this.zeros = new Int32Array(Math.max(n, 2 * this.zeros.length));
      const zeros = this.zeros.subarray(0, n);
      // All flags null: a bitmap of zeros (the all-null validity, in a buffer of its own: arrow's
      // writer mishandles a bitmap that views a larger buffer), no value bitmap.
      if (this.noFlags.nullCount !== n) this.noFlags = allNull(n);
      return { flagIndex: zeros, value: undefined, flag: this.noFlags };
    }
    if (this.flagIndex.length < n) this.flagIndex = new Int32Array(Math.max(n, 2 * this.flagIndex.length));
    const flagIndex = this.flagIndex.subarray(0, n);
    for (let i = 0; i < n; i++) flagIndex[i] = Math.max(0, flags[i]! - 1);
    return { flagIndex, value: validityBitmap(n, (i) => flags[i] === 0), flag: validityBitmap(n, (i) => flags[i] !== 0) };
  }

  /** The rows appended so far as one apache-arrow record batch (what ScalarBatchBuilder.cut makes). */
  private batch(n: number, x = this.extras(n)) {
    const f = SCALAR_SCHEMA.fields;
    const { ts, values, instruments, channels, units } = this.cols.columns;
    return recordBatch(SCALAR_SCHEMA, n, [
      numericColumn(f[0]!.type, n, ts.subarray(0, n)),
      dictionaryColumn(f[1]!.type, n, instruments.subarray(0, n), this.dicts[0].toVector()),
      dictionaryColumn(f[2]!.type, n, channels.subarray(0, n), this.dicts[1].toVector()),
      numericColumn(f[3]!.type, n, values.subarray(0, n), x.value),
      dictionaryColumn(f[4]!.type, n, units.subarray(0, n), this.dicts[2].toVector()),
      dictionaryColumn(f[5]!.type, n, x.flagIndex, this.dicts[3].toVector(), n === 0 ? allNull(0) : x.flag),
    ]);
  }

  /** The schema and dictionary messages for the current dictionaries (made again only when one grew). */
  private schemaAndDictionaries(): Uint8Array {
    const sizes = this.dicts.map((d) => d.size).join(',');
    if (sizes !== this.preambleSizes) {
      const stream = ipcStream(this.batch(0));
      const spans = ipcMessages(stream);
      this.preamble = stream.slice(0, spans.at(-1)!.start); // everything before the (empty) record batch
      this.preambleSizes = sizes;
    }
    return this.preamble;
  }

  /**
   * Cuts the rows appended so far (undefined when none) as the parts of a self-contained IPC
   * stream, and starts a new batch. The parts are valid until the next append.
   */
  cut(): EncodedBatch | undefined {
    const n = this.length;
    if (n === 0) return undefined;
    const x = this.extras(n);
    const { ts, values, instruments, channels, units } = this.cols.columns;
    // The body: each buffer padded to 8 bytes; a validity bitmap only where a column has nulls.
    const body: Uint8Array[] = [];
    const add = (b: Uint8Array) => {
      body.push(b);
      const pad = ((b.byteLength + 7) & ~7) - b.byteLength;
      if (pad > 0) body.push(PADDING.subarray(0, pad));
    };
    add(bytesOf(ts.subarray(0, n)));
    add(bytesOf(instruments.subarray(0, n)));
    add(bytesOf(channels.subarray(0, n)));
    if (x.value?.nullBitmap) add(x.value.nullBitmap);
    add(bytesOf(values.subarray(0, n)));
    add(bytesOf(units.subarray(0, n)));
    if (x.flag.nullBitmap && x.flag.nullCount > 0) add(x.flag.nullBitmap);
    add(bytesOf(x.flagIndex));
    const shape = `${n}:${x.value?.nullCount ?? 0}:${x.flag.nullCount}`;
    let head = this.heads.get(shape);
    let parts: Uint8Array[];
    if (head === undefined) {
      // A new shape: arrow writes this batch, and tells the metadata for the next ones.
      const stream = ipcStream(this.batch(n, x));
      const rb = ipcMessages(stream).at(-1)!;
      const bodyAt = rb.start + 8 + new DataView(stream.buffer, stream.byteOffset).getInt32(rb.start + 4, true);
      const ok =
        sameBytes([this.schemaAndDictionaries()], stream.subarray(0, rb.start)) &&
        sameBytes(body, stream.subarray(bodyAt, rb.end));
      head = ok ? stream.slice(rb.start, bodyAt) : null;
      if (this.heads.size < 64) this.heads.set(shape, head);
      parts = [stream];
    } else if (head === null) parts = [ipcStream(this.batch(n, x))];
    else parts = [this.schemaAndDictionaries(), head, ...body, IPC_END_OF_STREAM];
    this.length = 0;
    this.flagged = 0;
    return { rows: n, byteLength: parts.reduce((s, p) => s + p.byteLength, 0), parts };
  }

  /** Cuts a batch as one self-contained IPC stream in a buffer of its own. */
  cutIpc(): { rows: number; bytes: Uint8Array } | undefined {
    const b = this.cut();
    if (!b) return undefined;
    const bytes = new Uint8Array(b.byteLength);
    writeParts(bytes, b.parts);
    return { rows: b.rows, bytes };
  }
}

export class ArrowSink extends BufferedSink {
  private readonly builder: ScalarStreamBuilder;
  private readonly ring: RingWriter | undefined;
  private seq = 0;

  constructor(
    private readonly post: PostToBroker,
    batchRows: number,
    batchIntervalMs: number,
    ring?: SubsystemInit['ring'],
  ) {
    super(batchRows, batchIntervalMs);
    this.builder = new ScalarStreamBuilder(Math.min(batchRows, 65536));
    if (ring) this.ring = new RingWriter(ring.sab, { policy: ring.policy, blockTimeoutMs: ring.blockTimeoutMs, name: 'v4' });
  }

  protected append(instrument: string, r: Reading, timestampNs: bigint): void {
    this.builder.append(timestampNs, instrument, r.channel, r.value, r.unit, r.flag);
  }

  protected send(): boolean {
    if (!this.ring) {
      const batch = this.builder.cutIpc();
      if (!batch) return true;
      const message: ArrowBatchMessage = { type: 'daq:arrow', seq: this.seq++, rows: batch.rows, bytes: batch.bytes };
      this.post(message, [batch.bytes.buffer as ArrayBuffer]);
      return true;
    }
    const batch = this.builder.cut();
    if (!batch) return true;
    let view: Uint8Array | undefined;
    try {
      view = this.ring.reserve(RING_RECORD_HEADER + batch.byteLength);
    } catch (e) {
      // A block timeout, or a batch too big for the ring: dropped and counted, never silent.
      if (!(e instanceof DaqError)) throw e;
      return false;
    }
    if (!view) return false; // drop-newest
    const header = new DataView(view.buffer, view.byteOffset, RING_RECORD_HEADER);
    header.setUint32(0, batch.rows, true);
    header.setUint32(4, this.seq++, true);
    writeParts(view, batch.parts, RING_RECORD_HEADER);
    this.ring.commit();
    this.ring.flush();
    return true;
  }
}
