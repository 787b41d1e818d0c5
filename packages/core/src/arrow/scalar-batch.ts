// The V4 scalar stream in Arrow form (DESIGN.md "Data"): rows are appended straight into
// typed columns (no row objects), and a batch is cut as a self-contained Arrow IPC stream
// (schema, dictionaries, one record batch) that any Arrow reader opens.

import {
  Dictionary,
  Field,
  Float64,
  Int32,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampNanosecond,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';

/** The dictionary type of every string column the project writes: Utf8 values, Int32 indices. */
export const utf8Dictionary = (id: number) => new Dictionary(new Utf8(), new Int32(), id);

/**
 * timestamp: Timestamp(ns, UTC), instrument/channel/unit: Dictionary<Utf8>, value: Float64,
 * plus `flag` (Dictionary<Utf8>, null for ordinary readings): why `value` is null for a
 * reading the instrument answered with a sentinel ("overload", "not-a-number").
 */
export const SCALAR_SCHEMA = new Schema([
  new Field('timestamp', new TimestampNanosecond('UTC'), false),
  new Field('instrument', utf8Dictionary(0), false),
  new Field('channel', utf8Dictionary(1), false),
  new Field('value', new Float64(), true),
  new Field('unit', utf8Dictionary(2), false),
  new Field('flag', utf8Dictionary(3), true),
]);

/**
 * An Arrow validity bitmap for `n` rows where `valid(i)` says which are non-null, with its
 * null count; undefined bitmap when every row is valid (Arrow's "all valid" shorthand).
 */
export function validityBitmap(n: number, valid: (i: number) => boolean): { nullBitmap?: Uint8Array; nullCount: number } {
  let nullCount = 0;
  let bitmap: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    if (valid(i)) continue;
    if (!bitmap) {
      bitmap = new Uint8Array((n + 7) >> 3);
      for (let j = 0; j < n; j++) bitmap[j >> 3]! |= 1 << (j & 7);
    }
    bitmap[i >> 3]! &= ~(1 << (i & 7));
    nullCount++;
  }
  return bitmap ? { nullBitmap: bitmap, nullCount } : { nullCount: 0 };
}

/** Interns strings to dictionary indices; the dictionary only grows, so earlier indices stay valid. */
export class Interner {
  private readonly index = new Map<string, number>();
  readonly values: string[] = [];
  private vector: Vector<Utf8> | undefined;

  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.values.length;
      this.index.set(s, i);
      this.values.push(s);
      this.vector = undefined;
    }
    return i;
  }

  toVector(): Vector<Utf8> {
    return (this.vector ??= vectorFromArray(this.values, new Utf8()));
  }
}

export class ScalarBatchBuilder {
  private capacity: number;
  private ts: BigInt64Array;
  private values: Float64Array;
  private instruments: Int32Array;
  private channels: Int32Array;
  private units: Int32Array;
  /** Flag dictionary index + 1 per row; 0: no flag. */
  private flags: Int32Array;
  private flagged = 0;
  private readonly dicts = [new Interner(), new Interner(), new Interner(), new Interner()] as const;
  /** Rows appended since the last batch was cut. */
  length = 0;
  /** Rows appended in total. */
  appended = 0;

  constructor(initialCapacity = 1024) {
    this.capacity = Math.max(16, initialCapacity);
    this.ts = new BigInt64Array(this.capacity);
    this.values = new Float64Array(this.capacity);
    this.instruments = new Int32Array(this.capacity);
    this.channels = new Int32Array(this.capacity);
    this.units = new Int32Array(this.capacity);
    this.flags = new Int32Array(this.capacity);
  }

  /** A row; with `flag` the value is stored as null (whatever `value` says). */
  append(timestampNs: bigint, instrument: string, channel: string, value: number, unit: string, flag?: string): void {
    if (this.length === this.capacity) this.grow();
    const i = this.length++;
    this.ts[i] = timestampNs;
    this.values[i] = flag ? Number.NaN : value;
    this.instruments[i] = this.dicts[0].id(instrument);
    this.channels[i] = this.dicts[1].id(channel);
    this.units[i] = this.dicts[2].id(unit);
    this.flags[i] = flag ? this.dicts[3].id(flag) + 1 : 0;
    if (flag) this.flagged++;
    this.appended++;
  }

  private grow(): void {
    this.capacity *= 2;
    const g = <T extends BigInt64Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(this.capacity);
      b.set(a as never);
      return b;
    };
    this.ts = g(this.ts, (n) => new BigInt64Array(n));
    this.values = g(this.values, (n) => new Float64Array(n));
    this.instruments = g(this.instruments, (n) => new Int32Array(n));
    this.channels = g(this.channels, (n) => new Int32Array(n));
    this.units = g(this.units, (n) => new Int32Array(n));
    this.flags = g(this.flags, (n) => new Int32Array(n));
  }

  /** Cuts the rows appended so far into a record batch (undefined when empty) and starts a new one. */
  cut(): RecordBatch | undefined {
    const n = this.length;
    if (n === 0) return undefined;
    this.length = 0;
    const f = SCALAR_SCHEMA.fields;
    const col = (
      i: 0 | 1 | 2 | 3,
      data: Int32Array,
      validity: { nullBitmap?: Uint8Array; nullCount: number } = { nullCount: 0 },
    ) =>
      makeData({
        type: f[[1, 2, 4, 5][i]!]!.type as Dictionary<Utf8, Int32>,
        length: n,
        data,
        dictionary: this.dicts[i].toVector(),
        ...validity,
      });
    const flags = this.flags.slice(0, n);
    const hasFlags = this.flagged > 0;
    this.flagged = 0;
    const valueValidity = hasFlags ? validityBitmap(n, (i) => flags[i] === 0) : { nullCount: 0 };
    const flagIndex = new Int32Array(n);
    if (hasFlags) for (let i = 0; i < n; i++) flagIndex[i] = Math.max(0, flags[i]! - 1);
    const children = [
      makeData({ type: f[0]!.type as TimestampNanosecond, length: n, data: this.ts.slice(0, n) }),
      col(0, this.instruments.slice(0, n)),
      col(1, this.channels.slice(0, n)),
      makeData({ type: f[3]!.type as Float64, length: n, data: this.values.slice(0, n), ...valueValidity }),
      col(2, this.units.slice(0, n)),
      col(
        3,
        flagIndex,
        hasFlags ? validityBitmap(n, (i) => flags[i] !== 0) : { nullBitmap: new Uint8Array((n + 7) >> 3), nullCount: n },
      ),
    ];
    return new RecordBatch(SCALAR_SCHEMA, makeData({ type: new Struct(SCALAR_SCHEMA.fields), length: n, children }));
  }

  /** Cuts a batch and serialises it as a self-contained Arrow IPC stream. */
  cutIpc(): { rows: number; bytes: Uint8Array } | undefined {
    const batch = this.cut();
    if (!batch) return undefined;
    return { rows: batch.numRows, bytes: tableToIPC(new Table([batch]), 'stream') };
  }
}
