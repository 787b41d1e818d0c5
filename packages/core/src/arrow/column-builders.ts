// Building blocks of every Arrow stream the project writes (scalars, frames, frame_stats, the
// stored scalar files): typed columns that grow by doubling, validity bitmaps, interned Utf8
// dictionaries, the fields the schemas share, and the assembly of columns into a record batch
// and a self-contained IPC stream.

import {
  Dictionary,
  Field,
  Int32,
  RecordBatch,
  Struct,
  Table,
  TimestampNanosecond,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
  type Data,
  type DataType,
  type Schema,
  type Vector,
} from 'apache-arrow';

/** The dictionary type of every string column the project writes: Utf8 values, Int32 indices. */
export const utf8Dictionary = (id: number) => new Dictionary(new Utf8(), new Int32(), id);

/** The first field of every stream: when the row was measured, UTC nanoseconds, never null. */
export const timestampField = () => new Field('timestamp', new TimestampNanosecond('UTC'), false);

/** A string field: Dictionary<Utf8> with dictionary `id`. */
export const dictionaryField = (name: string, id: number, nullable = false) => new Field(name, utf8Dictionary(id), nullable);

/** Which rows of a column are valid, in the form makeData takes: no bitmap means all valid. */
export interface Validity {
  nullBitmap?: Uint8Array;
  nullCount: number;
}

const ALL_VALID: Validity = Object.freeze({ nullCount: 0 });

/**
 * An Arrow validity bitmap for `n` rows where `valid(i)` says which are non-null, with its
 * null count; undefined bitmap when every row is valid (Arrow's "all valid" shorthand).
 */
export function validityBitmap(n: number, valid: (i: number) => boolean): Validity {
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

/** Validity of `n` rows that are all null. */
export const allNull = (n: number): Validity => ({ nullBitmap: new Uint8Array((n + 7) >> 3), nullCount: n });

/** A Utf8 vector of `values`: the dictionary of a string column. */
const utf8Vector = (values: readonly string[]): Vector<Utf8> => vectorFromArray(values as string[], new Utf8());

/** Interns strings to dictionary indices; the dictionary only grows, so earlier indices stay valid. */
export class Interner {
  private readonly index = new Map<string, number>();
  readonly values: string[] = [];
  private vector: Vector<Utf8> | undefined;
  /** The last string asked for and its id: a poll's readings share their instrument, and often their unit. */
  private last: string | undefined;
  private lastId = -1;

  id(s: string): number {
    if (s === this.last) return this.lastId;
    this.last = s;
    return (this.lastId = this.lookup(s));
  }

  /** How many distinct strings so far. */
  get size(): number {
    return this.values.length;
  }

  private lookup(s: string): number {
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
    return (this.vector ??= utf8Vector(this.values));
  }
}

/** The typed arrays a column's values are built in. */
export type TypedColumn = BigInt64Array | BigUint64Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

/** A new array of `a`'s type, `size` long, starting with `a`'s first `keep` elements. */
export function grown<T extends TypedColumn>(a: T, size: number, keep = a.length): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set((keep === a.length ? a : a.subarray(0, keep)) as never);
  return b;
}

/**
 * Typed columns with one row at each index, grown together by doubling. Appending writes into
 * `columns` in place; growing replaces the arrays, so take them from `columns` after ensure().
 */
export class GrowableColumns<C extends Record<string, TypedColumn>> {
  columns: C;
  /** Rows every column has room for. */
  capacity: number;
  private readonly names: (keyof C)[];

  /** `columns`: the initial arrays, all of the same length (at least 1). */
  constructor(columns: C) {
    this.names = Object.keys(columns);
    this.columns = columns;
    this.capacity = columns[this.names[0]!]!.length;
    if (!(this.capacity >= 1) || this.names.some((k) => columns[k]!.length !== this.capacity)) {
      throw new RangeError('GrowableColumns: the initial columns must all have the same length, at least 1');
    }
  }

  /** Makes room for `rows` rows (doubling the capacity as often as needed), keeping the first `keep`. */
  ensure(rows: number, keep = this.capacity): void {
    if (rows <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < rows) capacity *= 2;
    this.capacity = capacity;
    for (const k of this.names) this.columns[k] = grown(this.columns[k]!, capacity, keep) as C[keyof C];
  }

  /** Copies of rows [0, n) of every column. */
  slice(n: number): C {
    const out = {} as C;
    for (const k of this.names) out[k] = this.columns[k]!.slice(0, n) as C[keyof C];
    return out;
  }

  /**
   * Puts rows [from, to) of `earlier` (columns like these) in front of the first `length` rows
   * held, in new columns of max(rows, minCapacity) rows. Returns the number of rows held now.
   */
  unshift(earlier: C, from: number, to: number, length: number, minCapacity = this.capacity): number {
    const before = to - from;
    const rows = before + length;
    this.capacity = Math.max(rows, minCapacity);
    for (const k of this.names) {
      const next = grown(earlier[k]!.subarray(from, to) as C[keyof C], this.capacity);
      next.set(this.columns[k]!.subarray(0, length) as never, before);
      this.columns[k] = next;
    }
    return rows;
  }
}

/** A fixed-width column (integer, float, timestamp) of `n` rows over `data`. */
export function numericColumn<T extends DataType>(type: T, n: number, data: TypedColumn, validity = ALL_VALID): Data<T> {
  // makeData has one overload per type; they all take these properties for fixed-width types.
  return makeData({ type: type as DataType as Int32, length: n, data: data as Int32Array, ...validity }) as Data as Data<T>;
}

/** A string column of `n` rows: indices into `dictionary` (a Utf8 vector, or the strings themselves). */
export function dictionaryColumn(
  type: Dictionary<Utf8, Int32>,
  n: number,
  indices: Int32Array,
  dictionary: Vector<Utf8> | readonly string[],
  validity = ALL_VALID,
): Data<Dictionary<Utf8, Int32>> {
  const values = Array.isArray(dictionary) ? utf8Vector(dictionary) : (dictionary as Vector<Utf8>);
  return makeData({ type, length: n, data: indices, dictionary: values, ...validity });
}

/** `children` (one per field of `schema`, `n` rows each) as one record batch of `schema`. */
export function recordBatch(schema: Schema, n: number, children: Data[]): RecordBatch {
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, children }));
}

/** A record batch as a self-contained Arrow IPC stream: schema, dictionaries, the batch, end marker. */
export function ipcStream(batch: RecordBatch): Uint8Array {
  return tableToIPC(new Table([batch]), 'stream');
}
