// Reads V4's scalar batches (self-contained Arrow IPC streams: schema, dictionaries, one record
// batch) straight into the bridge's chunks, without building Arrow tables. Per batch it decodes
// only the record batch's small metadata and copies the timestamp and value columns; the
// schema and the dictionaries repeat from batch to batch (a V4 worker's dictionaries only grow),
// so they are decoded once and recognised by their bytes after that, and so is the table from
// dictionary indices to series ids. A stream this reader does not handle (another schema,
// compression, delta dictionaries) is read with apache-arrow's tableFromIPC instead.

import { Buffer } from 'node:buffer';
import {
  DataType,
  Message,
  MessageHeader,
  Precision,
  TimeUnit,
  type Field,
  type Dictionary,
  type Int,
  type Float,
  type Timestamp,
} from 'apache-arrow';
import { DaqError } from '@daq/core';
import { emptyChunk, type ScalarChunk } from './series.js';

/** A series id for (instrument, channel, unit, flag), flag '' for an ordinary reading. */
export type SeriesOf = (instrument: string, channel: string, unit: string, flag: string) => number;

/** Where the scalar columns are among a schema's fields (each field has one node and two buffers). */
interface Layout {
  fields: number;
  ts: number;
  instrument: number;
  channel: number;
  value: number;
  unit: number;
  /** -1 without a flag column. */
  flag: number;
  /** Dictionary id → field index. */
  dictField: Map<number, number>;
}

/** A dictionary as last received: the bytes of its message (to recognise it) and its strings. */
interface DictState {
  bytes: Uint8Array;
  values: string[];
  /** The read() that last received it: every stream must carry all its dictionaries. */
  seen: number;
}

const CONTINUATION = -1;
const dec = new TextDecoder();

/** Byte equality (a native compare). */
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.compare(a, b) === 0;

/** A stream this reader does not handle; the caller falls back to apache-arrow. */
export class NotFastPath extends Error {}

const isUtf8Dict = (t: DataType): boolean => {
  if (!DataType.isDictionary(t)) return false;
  const d = t as Dictionary;
  return DataType.isUtf8(d.dictionary) && (d.indices as Int).bitWidth === 32 && (d.indices as Int).isSigned;
};

function layoutOf(fields: Field[]): Layout | undefined {
  const at = (name: string) => fields.findIndex((f) => f.name === name);
  const l: Layout = {
    fields: fields.length,
    ts: at('timestamp'),
    instrument: at('instrument'),
    channel: at('channel'),
    value: at('value'),
    unit: at('unit'),
    flag: at('flag'),
    dictField: new Map(),
  };
  // Every field must be one node and two buffers (validity, data): fixed width or dictionary.
  for (const [i, f] of fields.entries()) {
    const t = f.type;
    if (isUtf8Dict(t)) l.dictField.set((t as Dictionary).id, i);
    else if (!(DataType.isTimestamp(t) || DataType.isFloat(t) || DataType.isInt(t))) return undefined;
  }
  const tsType = fields[l.ts]?.type as Timestamp | undefined;
  const valueType = fields[l.value]?.type as Float | undefined;
  if (!tsType || !DataType.isTimestamp(tsType) || tsType.unit !== TimeUnit.NANOSECOND) return undefined;
  if (!valueType || !DataType.isFloat(valueType) || valueType.precision !== Precision.DOUBLE) return undefined;
  for (const k of ['instrument', 'channel', 'unit'] as const) if (l[k] < 0 || !isUtf8Dict(fields[l[k]]!.type)) return undefined;
  if (l.flag >= 0 && !isUtf8Dict(fields[l.flag]!.type)) return undefined;
  return l;
}

/** The state of one source's stream: its schema, dictionaries and series table, as long as they repeat. */
export class ScalarIpcReader {
  private schemaBytes: Uint8Array | undefined;
  private layout: Layout | undefined;
  /** Per field index: the dictionary last received for it. */
  private readonly dicts = new Map<number, DictState>();
  /** (instrument, channel, unit, flag + 1) indices → series id (-1: not yet looked up). */
  private lut: Int32Array | undefined;
  private lutMap: Map<number, number> | undefined;
  private lutDims = [0, 0, 0, 0];
  private lutSeriesOf: SeriesOf | undefined;
  /** Aligned copies of index columns whose bytes are not 4-byte aligned, one per column. */
  private readonly aligned = [0, 1, 2, 3].map(() => new Int32Array(0));
  private reads = 0;

  /**
   * The record batches of the stream as new chunks (the caller's; `bytes` is not kept). Throws
   * NotFastPath for a stream it does not handle, and DaqError for a malformed one.
   */
  read(bytes: Uint8Array, seriesOf: SeriesOf, alloc: (rows: number) => ScalarChunk = emptyChunk): ScalarChunk[] {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const chunks: ScalarChunk[] = [];
    this.reads++;
    let o = 0;
    let sawSchema = false;
    while (o + 4 <= bytes.byteLength) {
      let metaLength = view.getInt32(o, true);
      let metaStart = o + 4;
      if (metaLength === CONTINUATION) {
        if (o + 8 > bytes.byteLength) break;
        metaLength = view.getInt32(o + 4, true);
        metaStart = o + 8;
      }
      if (metaLength === 0) break; // end of stream
      if (metaLength < 0 || metaStart + metaLength > bytes.byteLength) throw malformed(o, `metadata length ${metaLength}`);
      const meta = bytes.subarray(metaStart, metaStart + metaLength);
      const bodyStart = metaStart + metaLength;
      if (!sawSchema) {
        // The first message is the schema; the same bytes as last time need no decoding.
        sawSchema = true;
        if (!same(this.schemaBytes, meta)) {
          const m = Message.decode(meta);
          if (m.headerType !== MessageHeader.Schema) throw malformed(o, 'it does not start with a schema');
          const layout = layoutOf((m.header() as { fields: Field[] }).fields);
          if (!layout || Number(m.bodyLength) !== 0) throw new NotFastPath();
          this.layout = layout;
          this.schemaBytes = meta.slice();
          this.dicts.clear();
          this.lut = undefined;
          this.lutMap = undefined;
        }
        o = bodyStart;
        continue;
      }
      const m = Message.decode(meta);
      const bodyLength = Number(m.bodyLength);
      const end = bodyStart + bodyLength;
      if (end > bytes.byteLength) throw malformed(o, 'it runs past the end');
      if (m.compression) throw new NotFastPath();
      if (m.headerType === MessageHeader.DictionaryBatch) {
        this.dictionary(m, bytes.subarray(o, end), bytes.subarray(bodyStart, end));
      } else if (m.headerType === MessageHeader.RecordBatch) {
        chunks.push(this.batch(m, bytes, bodyStart, end, seriesOf, alloc));
      } else throw malformed(o, `unexpected message type ${m.headerType}`);
      o = end;
    }
    return chunks;
  }

  private dictionary(m: Message, whole: Uint8Array, body: Uint8Array): void {
    const header = m.header() as {
      id: number;
      isDelta: boolean;
      data: { length: number; buffers: { offset: number; length: number }[] };
    };
    const field = this.layout!.dictField.get(Number(header.id));
    if (field === undefined) throw new DaqError('DAQ_INVALID_ARGUMENT', `Arrow IPC stream: dictionary ${header.id} of no field`);
    if (header.isDelta) throw new NotFastPath();
    const known = this.dicts.get(field);
    if (known && same(known.bytes, whole)) {
      known.seen = this.reads;
      return;
    }
    // A new or changed dictionary: decode its strings (Utf8: validity, offsets, data).
    const n = Number(header.data.length);
    const [, offs, data] = header.data.buffers;
    const copy = body.slice(); // TextDecoder does not read shared memory; a dictionary is small
    const ov = new DataView(copy.buffer, Number(offs!.offset), (n + 1) * 4);
    const base = Number(data!.offset);
    const values: string[] = [];
    for (let i = 0; i < n; i++) {
      const a = ov.getInt32(4 * i, true);
      const b = ov.getInt32(4 * i + 4, true);
      if (a < 0 || b < a || base + b > copy.byteLength)
        throw new DaqError('DAQ_INVALID_ARGUMENT', 'Arrow IPC stream: bad dictionary offsets');
      values.push(dec.decode(copy.subarray(base + a, base + b)));
    }
    this.dicts.set(field, { bytes: whole.slice(), values, seen: this.reads });
    this.lut = undefined;
    this.lutMap = undefined;
  }

  /** Int32 values at `at` (a view when aligned, else an aligned copy). */
  private int32s(bytes: Uint8Array, at: number, n: number, slot: number): Int32Array {
    const abs = bytes.byteOffset + at;
    if (abs % 4 === 0) return new Int32Array(bytes.buffer, abs, n);
    if (this.aligned[slot]!.length < n) this.aligned[slot] = new Int32Array(n);
    const out = this.aligned[slot]!.subarray(0, n);
    new Uint8Array(out.buffer, 0, 4 * n).set(bytes.subarray(at, at + 4 * n));
    return out;
  }

  private batch(
    m: Message,
    bytes: Uint8Array,
    bodyStart: number,
    end: number,
    seriesOf: SeriesOf,
    alloc: (rows: number) => ScalarChunk,
  ): ScalarChunk {
    const l = this.layout!;
    const header = m.header() as {
      length: number;
      nodes: { length: number; nullCount: number }[];
      buffers: { offset: number; length: number }[];
    };
    const n = Number(header.length);
    if (header.nodes.length !== l.fields || header.buffers.length !== 2 * l.fields) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', 'Arrow IPC stream: record batch does not match its schema');
    }
    const buf = (field: number, which: 0 | 1, width: number) => {
      const b = header.buffers[2 * field + which]!;
      const at = bodyStart + Number(b.offset);
      if (Number(b.length) < width || at + width > end) {
        throw new DaqError('DAQ_INVALID_ARGUMENT', 'Arrow IPC stream: a buffer is shorter than its column');
      }
      return at;
    };
    const c = alloc(n);
    c.length = n;
    const tsAt = buf(l.ts, 1, 8 * n);
    const valueAt = buf(l.value, 1, 8 * n);
    new Uint8Array(c.ts.buffer, c.ts.byteOffset, 8 * n).set(bytes.subarray(tsAt, tsAt + 8 * n));
    new Uint8Array(c.value.buffer, c.value.byteOffset, 8 * n).set(bytes.subarray(valueAt, valueAt + 8 * n));
    const dictOf = (field: number) => {
      const d = this.dicts.get(field);
      if (!d || d.seen !== this.reads)
        throw new DaqError('DAQ_INVALID_ARGUMENT', 'Arrow IPC stream: a dictionary column without its dictionary');
      return d.values;
    };
    const di = dictOf(l.instrument);
    const dc = dictOf(l.channel);
    const du = dictOf(l.unit);
    // The flag's dictionary may be left out of a stream whose flags are all null.
    const df = l.flag >= 0 && this.dicts.get(l.flag)?.seen === this.reads ? dictOf(l.flag) : [];
    const ni = di.length;
    const nc = dc.length;
    const nu = du.length;
    const nf = df.length + 1;
    if (this.lutSeriesOf !== seriesOf || this.lutDims.some((x, i) => x !== [ni, nc, nu, nf][i])) {
      this.lut = undefined;
      this.lutMap = undefined;
    }
    if (!this.lut && !this.lutMap) {
      if (ni * nc * nu * nf <= 1 << 20) this.lut = new Int32Array(ni * nc * nu * nf).fill(-1);
      else this.lutMap = new Map();
      this.lutDims = [ni, nc, nu, nf];
      this.lutSeriesOf = seriesOf;
    }
    const lut = this.lut;
    const lutMap = this.lutMap;
    // Dictionary index tuple → series id, looked up in the flat table (the strings only for a new tuple).
    const lookup = (key: number, i: number, ch: number, u: number, f: number): number => {
      let s = lut ? lut[key]! : (lutMap!.get(key) ?? -1);
      if (s < 0) {
        s = seriesOf(di[i]!, dc[ch]!, du[u]!, f > 0 ? df[f - 1]! : '');
        if (lut) lut[key] = s;
        else lutMap!.set(key, s);
      }
      return s;
    };
    const ii = this.int32s(bytes, buf(l.instrument, 1, 4 * n), n, 0);
    const ci = this.int32s(bytes, buf(l.channel, 1, 4 * n), n, 1);
    const ui = this.int32s(bytes, buf(l.unit, 1, 4 * n), n, 2);
    const flagNode = l.flag >= 0 ? header.nodes[l.flag]! : undefined;
    const flagged = flagNode !== undefined && Number(flagNode.nullCount) < n;
    const series = c.series;
    if (!flagged) {
      for (let r = 0; r < n; r++) {
        const i = ii[r]!;
        const ch = ci[r]!;
        const u = ui[r]!;
        if (!(i >>> 0 < ni && ch >>> 0 < nc && u >>> 0 < nu)) throw badIndex(r);
        const key = ((i * nc + ch) * nu + u) * nf;
        const s = lut ? lut[key]! : -1;
        series[r] = s >= 0 ? s : lookup(key, i, ch, u, 0);
      }
      return c;
    }
    // Some rows carry a flag: its index + 1 where the flag is valid, and a NaN value.
    const fi = this.int32s(bytes, buf(l.flag, 1, 4 * n), n, 3);
    const nullCount = Number(flagNode.nullCount);
    const validity = nullCount === 0 ? undefined : bytes.subarray(buf(l.flag, 0, (n + 7) >> 3), end);
    for (let r = 0; r < n; r++) {
      const i = ii[r]!;
      const ch = ci[r]!;
      const u = ui[r]!;
      const valid = !validity || (validity[r >> 3]! & (1 << (r & 7))) !== 0;
      const f = valid ? fi[r]! + 1 : 0;
      if (!(i >>> 0 < ni && ch >>> 0 < nc && u >>> 0 < nu && f >>> 0 < nf)) throw badIndex(r);
      const key = ((i * nc + ch) * nu + u) * nf + f;
      series[r] = lookup(key, i, ch, u, f);
      if (f > 0) c.value[r] = Number.NaN;
    }
    return c;
  }
}

function malformed(at: number, why: string): DaqError {
  return new DaqError('DAQ_INVALID_ARGUMENT', `malformed Arrow IPC stream: message at byte ${at}: ${why}`);
}

function badIndex(row: number): DaqError {
  return new DaqError('DAQ_INVALID_ARGUMENT', `Arrow IPC stream: row ${row} has a dictionary index out of range`);
}
