// The `frame_stats` stream stored beside the frames: one row per frame's statistics, appended
// into typed columns and cut as self-contained Arrow IPC streams (the ScalarBatchBuilder contract).

import {
  Dictionary,
  Field,
  Float64,
  Int32,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampNanosecond,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
  makeData,
  tableToIPC,
} from 'apache-arrow';
import { DaqError, Interner, utf8Dictionary } from '@daq/core';
import type { FrameStats } from './frame-stats.js';

/** timestamp, instrument, frame_index, min, max, mean, std, histogram (all non-null). */
export const FRAME_STATS_SCHEMA = new Schema([
  new Field('timestamp', new TimestampNanosecond('UTC'), false),
  new Field('instrument', utf8Dictionary(0), false),
  new Field('frame_index', new Uint64(), false),
  new Field('min', new Uint16(), false),
  new Field('max', new Uint16(), false),
  new Field('mean', new Float64(), false),
  new Field('std', new Float64(), false),
  new Field('histogram', new List(new Field('item', new Uint32(), false)), false),
]);

const grow = <T extends BigInt64Array | BigUint64Array | Float64Array | Int32Array | Uint16Array | Uint32Array>(
  a: T,
  size: number,
): T => {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a as never);
  return b;
};

export class FrameStatsBatchBuilder {
  private capacity = 64;
  private ts = new BigInt64Array(this.capacity);
  private instruments = new Int32Array(this.capacity);
  private frameIndices = new BigUint64Array(this.capacity);
  private mins = new Uint16Array(this.capacity);
  private maxs = new Uint16Array(this.capacity);
  private means = new Float64Array(this.capacity);
  private stds = new Float64Array(this.capacity);
  /** Histogram list offsets (rows + 1) and values. */
  private offsets = new Int32Array(this.capacity + 1);
  private counts = new Uint32Array(this.capacity * 256);
  private length = 0;
  private total = 0;
  /** Instrument dictionary; it only grows, so every cut carries all names and earlier indices stay valid. */
  private readonly names = new Interner();

  /** Rows appended since the last cut. */
  get rows(): number {
    return this.length;
  }

  /** Rows appended in total. */
  get appended(): number {
    return this.total;
  }

  append(timestampNs: bigint, instrument: string, frameIndex: bigint, stats: FrameStats): void {
    const { min, max, histogram } = stats;
    if (frameIndex < 0n || frameIndex > 0xffffffffffffffffn) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', `frame_stats: frame index ${frameIndex} is not a uint64`, { instrument });
    }
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && max <= 0xffff && min <= max)) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', `frame_stats: min ${min} and max ${max} are not uint16 values with min ≤ max`, {
        instrument,
      });
    }
    if (!(histogram instanceof Uint32Array)) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', 'frame_stats: the histogram must be a Uint32Array', { instrument });
    }
    if (this.length === this.capacity) this.growRows();
    const i = this.length;
    const start = this.offsets[i]!;
    const end = start + histogram.length;
    if (end > this.counts.length) this.counts = grow(this.counts, Math.max(end, this.counts.length * 2));
    this.ts[i] = timestampNs;
    this.instruments[i] = this.names.id(instrument);
    this.frameIndices[i] = frameIndex;
    this.mins[i] = min;
    this.maxs[i] = max;
    this.means[i] = stats.mean;
    this.stds[i] = stats.std;
    this.counts.set(histogram, start);
    this.offsets[i + 1] = end;
    this.length++;
    this.total++;
  }

  private growRows(): void {
    const c = (this.capacity *= 2);
    this.ts = grow(this.ts, c);
    this.instruments = grow(this.instruments, c);
    this.frameIndices = grow(this.frameIndices, c);
    this.mins = grow(this.mins, c);
    this.maxs = grow(this.maxs, c);
    this.means = grow(this.means, c);
    this.stds = grow(this.stds, c);
    this.offsets = grow(this.offsets, c + 1);
  }

  /** The rows appended since the last cut as an Arrow IPC stream (schema, dictionary, one record batch); undefined when none. */
  cut(): Uint8Array | undefined {
    const n = this.length;
    if (n === 0) return undefined;
    this.length = 0;
    const f = FRAME_STATS_SCHEMA.fields;
    const values = this.offsets[n]!;
    const list = f[7]!.type as List<Uint32>;
    const children = [
      makeData({ type: f[0]!.type as TimestampNanosecond, length: n, nullCount: 0, data: this.ts.slice(0, n) }),
      makeData({
        type: f[1]!.type as Dictionary<Utf8, Int32>,
        length: n,
        nullCount: 0,
        data: this.instruments.slice(0, n),
        dictionary: this.names.toVector(),
      }),
      makeData({ type: f[2]!.type as Uint64, length: n, nullCount: 0, data: this.frameIndices.slice(0, n) }),
      makeData({ type: f[3]!.type as Uint16, length: n, nullCount: 0, data: this.mins.slice(0, n) }),
      makeData({ type: f[4]!.type as Uint16, length: n, nullCount: 0, data: this.maxs.slice(0, n) }),
      makeData({ type: f[5]!.type as Float64, length: n, nullCount: 0, data: this.means.slice(0, n) }),
      makeData({ type: f[6]!.type as Float64, length: n, nullCount: 0, data: this.stds.slice(0, n) }),
      makeData({
        type: list,
        length: n,
        nullCount: 0,
        valueOffsets: this.offsets.slice(0, n + 1),
        child: makeData({ type: list.children[0]!.type, length: values, nullCount: 0, data: this.counts.slice(0, values) }),
      }),
    ];
    const batch = new RecordBatch(
      FRAME_STATS_SCHEMA,
      makeData({ type: new Struct(FRAME_STATS_SCHEMA.fields), length: n, children }),
    );
    return tableToIPC(new Table([batch]), 'stream');
  }
}
