// The `frame_stats` stream stored beside the frames: one row per frame's statistics, appended
// into typed columns and cut as self-contained Arrow IPC streams (the ScalarBatchBuilder contract).

import { Field, Float64, List, Schema, Uint16, Uint32, Uint64, makeData } from 'apache-arrow';
import {
  DaqError,
  GrowableColumns,
  Interner,
  dictionaryColumn,
  dictionaryField,
  grown,
  ipcStream,
  numericColumn,
  recordBatch,
  timestampField,
} from '@daq/core';
import type { FrameStats } from './frame-stats.js';

/** timestamp, instrument, frame_index, min, max, mean, std, histogram (all non-null). */
export const FRAME_STATS_SCHEMA = new Schema([
  timestampField(),
  dictionaryField('instrument', 0),
  new Field('frame_index', new Uint64(), false),
  new Field('min', new Uint16(), false),
  new Field('max', new Uint16(), false),
  new Field('mean', new Float64(), false),
  new Field('std', new Float64(), false),
  new Field('histogram', new List(new Field('item', new Uint32(), false)), false),
]);

type StatsColumns = {
  ts: BigInt64Array;
  instruments: Int32Array;
  frameIndices: BigUint64Array;
  mins: Uint16Array;
  maxs: Uint16Array;
  means: Float64Array;
  stds: Float64Array;
};

const INITIAL_ROWS = 64;

export class FrameStatsBatchBuilder {
  private readonly cols = new GrowableColumns<StatsColumns>({
    ts: new BigInt64Array(INITIAL_ROWS),
    instruments: new Int32Array(INITIAL_ROWS),
    frameIndices: new BigUint64Array(INITIAL_ROWS),
    mins: new Uint16Array(INITIAL_ROWS),
    maxs: new Uint16Array(INITIAL_ROWS),
    means: new Float64Array(INITIAL_ROWS),
    stds: new Float64Array(INITIAL_ROWS),
  });
  /** Histogram list offsets (rows + 1) and values. */
  private offsets = new Int32Array(INITIAL_ROWS + 1);
  private counts = new Uint32Array(INITIAL_ROWS * 256);
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
    const i = this.length;
    if (i === this.cols.capacity) {
      this.cols.ensure(i + 1);
      this.offsets = grown(this.offsets, this.cols.capacity + 1);
    }
    const start = this.offsets[i]!;
    const end = start + histogram.length;
    if (end > this.counts.length) this.counts = grown(this.counts, Math.max(end, this.counts.length * 2));
    const c = this.cols.columns;
    c.ts[i] = timestampNs;
    c.instruments[i] = this.names.id(instrument);
    c.frameIndices[i] = frameIndex;
    c.mins[i] = min;
    c.maxs[i] = max;
    c.means[i] = stats.mean;
    c.stds[i] = stats.std;
    this.counts.set(histogram, start);
    this.offsets[i + 1] = end;
    this.length++;
    this.total++;
  }

  /** The rows appended since the last cut as an Arrow IPC stream (schema, dictionary, one record batch); undefined when none. */
  cut(): Uint8Array | undefined {
    const n = this.length;
    if (n === 0) return undefined;
    this.length = 0;
    const f = FRAME_STATS_SCHEMA.fields;
    const values = this.offsets[n]!;
    const list = f[7]!.type as List<Uint32>;
    const c = this.cols.slice(n);
    const batch = recordBatch(FRAME_STATS_SCHEMA, n, [
      numericColumn(f[0]!.type, n, c.ts),
      dictionaryColumn(f[1]!.type, n, c.instruments, this.names.toVector()),
      numericColumn(f[2]!.type, n, c.frameIndices),
      numericColumn(f[3]!.type, n, c.mins),
      numericColumn(f[4]!.type, n, c.maxs),
      numericColumn(f[5]!.type, n, c.means),
      numericColumn(f[6]!.type, n, c.stds),
      makeData({
        type: list,
        length: n,
        nullCount: 0,
        valueOffsets: this.offsets.slice(0, n + 1),
        child: numericColumn(list.children[0]!.type, values, this.counts.slice(0, values)),
      }),
    ]);
    return ipcStream(batch);
  }
}
