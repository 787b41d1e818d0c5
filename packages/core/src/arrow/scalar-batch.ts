// The V4 scalar stream in Arrow form (DESIGN.md "Data"): rows are appended straight into
// typed columns (no row objects), and a batch is cut as a self-contained Arrow IPC stream
// (schema, dictionaries, one record batch) that any Arrow reader opens.

import { Field, Float64, RecordBatch, Schema } from 'apache-arrow';
import {
  GrowableColumns,
  Interner,
  allNull,
  dictionaryColumn,
  dictionaryField,
  ipcStream,
  numericColumn,
  recordBatch,
  timestampField,
  validityBitmap,
} from './column-builders.js';

/**
 * timestamp: Timestamp(ns, UTC), instrument/channel/unit: Dictionary<Utf8>, value: Float64,
 * plus `flag` (Dictionary<Utf8>, null for ordinary readings): why `value` is null for a
 * reading the instrument answered with a sentinel ("overload", "not-a-number").
 */
export const SCALAR_SCHEMA = new Schema([
  timestampField(),
  dictionaryField('instrument', 0),
  dictionaryField('channel', 1),
  new Field('value', new Float64(), true),
  dictionaryField('unit', 2),
  dictionaryField('flag', 3, true),
]);

export type ScalarColumns = {
  ts: BigInt64Array;
  values: Float64Array;
  instruments: Int32Array;
  channels: Int32Array;
  units: Int32Array;
  /** Flag dictionary index + 1 per row; 0: no flag. */
  flags: Int32Array;
};

/**
 * The rows of a scalar batch being built, in typed columns with the four dictionaries
 * (instrument, channel, unit, flag). ScalarBatchBuilder cuts them into an apache-arrow record
 * batch; V4's ArrowSink encodes them straight into its ring.
 */
export class ScalarRows {
  protected readonly cols: GrowableColumns<ScalarColumns>;
  protected flagged = 0;
  protected readonly dicts = [new Interner(), new Interner(), new Interner(), new Interner()] as const;
  /** Rows appended since the last batch was cut. */
  length = 0;
  /** Rows appended in total. */
  appended = 0;

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.cols = new GrowableColumns<ScalarColumns>({
      ts: new BigInt64Array(n),
      values: new Float64Array(n),
      instruments: new Int32Array(n),
      channels: new Int32Array(n),
      units: new Int32Array(n),
      flags: new Int32Array(n),
    });
  }

  /** A row; with `flag` the value is stored as null (whatever `value` says). */
  append(timestampNs: bigint, instrument: string, channel: string, value: number, unit: string, flag?: string): void {
    if (this.length === this.cols.capacity) this.cols.ensure(this.length + 1);
    const c = this.cols.columns;
    const i = this.length++;
    c.ts[i] = timestampNs;
    c.values[i] = flag ? Number.NaN : value;
    c.instruments[i] = this.dicts[0].id(instrument);
    c.channels[i] = this.dicts[1].id(channel);
    c.units[i] = this.dicts[2].id(unit);
    c.flags[i] = flag ? this.dicts[3].id(flag) + 1 : 0;
    if (flag) this.flagged++;
    this.appended++;
  }
}

export class ScalarBatchBuilder extends ScalarRows {
  /** Cuts the rows appended so far into a record batch (undefined when empty) and starts a new one. */
  cut(): RecordBatch | undefined {
    const n = this.length;
    if (n === 0) return undefined;
    this.length = 0;
    const f = SCALAR_SCHEMA.fields;
    const { ts, values, instruments, channels, units, flags } = this.cols.slice(n);
    const hasFlags = this.flagged > 0;
    this.flagged = 0;
    const valueValidity = hasFlags ? validityBitmap(n, (i) => flags[i] === 0) : undefined;
    const flagIndex = new Int32Array(n);
    if (hasFlags) for (let i = 0; i < n; i++) flagIndex[i] = Math.max(0, flags[i]! - 1);
    return recordBatch(SCALAR_SCHEMA, n, [
      numericColumn(f[0]!.type, n, ts),
      dictionaryColumn(f[1]!.type, n, instruments, this.dicts[0].toVector()),
      dictionaryColumn(f[2]!.type, n, channels, this.dicts[1].toVector()),
      numericColumn(f[3]!.type, n, values, valueValidity),
      dictionaryColumn(f[4]!.type, n, units, this.dicts[2].toVector()),
      dictionaryColumn(
        f[5]!.type,
        n,
        flagIndex,
        this.dicts[3].toVector(),
        hasFlags ? validityBitmap(n, (i) => flags[i] !== 0) : allNull(n),
      ),
    ]);
  }

  /** Cuts a batch and serialises it as a self-contained Arrow IPC stream. */
  cutIpc(): { rows: number; bytes: Uint8Array } | undefined {
    const batch = this.cut();
    if (!batch) return undefined;
    return { rows: batch.numRows, bytes: ipcStream(batch) };
  }
}
