// Scalar rows inside the broker: columns of timestamps, values and a series id, where a
// series is one (subsystem, instrument, channel, unit, flag); a flagged series (an overload,
// not-a-number) has NaN values, stored as null. Interning the four strings once per
// series keeps the merge and the storage writer on typed arrays.

export interface SeriesKey {
  subsystem: string;
  instrument: string;
  channel: string;
  unit: string;
  /** '' for ordinary readings; else why the value is null ("overload", "not-a-number"). */
  flag: string;
}

export class SeriesTable {
  private readonly ids = new Map<string, number>();
  readonly keys: SeriesKey[] = [];

  id(subsystem: string, instrument: string, channel: string, unit: string, flag = ''): number {
    const k = `${subsystem}\u0000${instrument}\u0000${channel}\u0000${unit}\u0000${flag}`;
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.keys.length;
      this.ids.set(k, id);
      this.keys.push({ subsystem, instrument, channel, unit, flag });
    }
    return id;
  }

  get size(): number {
    return this.keys.length;
  }
}

/** A run of scalar rows in columns; `length` rows are valid. */
export interface ScalarChunk {
  ts: BigInt64Array;
  value: Float64Array;
  series: Int32Array;
  length: number;
}

export function emptyChunk(capacity: number): ScalarChunk {
  return { ts: new BigInt64Array(capacity), value: new Float64Array(capacity), series: new Int32Array(capacity), length: 0 };
}

/**
 * The timestamps as 32-bit words (little-endian: low word at 2i, high at 2i+1). Reading a
 * BigInt64Array element allocates a BigInt; comparing and copying words does not, which is
 * what keeps the merge fast. Timestamps are Unix-epoch ns, so never negative.
 */
export function tsWords(c: ScalarChunk): Uint32Array {
  return new Uint32Array(c.ts.buffer, c.ts.byteOffset, c.ts.length * 2);
}

/** a[i] < b[j] on word views. */
export function tsLess(a: Uint32Array, i: number, b: Uint32Array, j: number): boolean {
  const ah = a[2 * i + 1]!;
  const bh = b[2 * j + 1]!;
  return ah < bh || (ah === bh && a[2 * i]! < b[2 * j]!);
}

/** True when the chunk's timestamps never decrease. */
export function isSorted(c: ScalarChunk): boolean {
  const w = tsWords(c);
  for (let i = 1; i < c.length; i++) if (tsLess(w, i, w, i - 1)) return false;
  return true;
}

/** Rows of a sorted chunk with a timestamp below `t`. */
export function countBelow(c: ScalarChunk, t: bigint): number {
  let lo = 0;
  let hi = c.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (c.ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Sorts a chunk by timestamp, stable (rare: only for sources that stamp out of order). */
export function sortChunk(c: ScalarChunk): ScalarChunk {
  const order = Array.from({ length: c.length }, (_, i) => i).sort((a, b) =>
    c.ts[a]! < c.ts[b]! ? -1 : c.ts[a]! > c.ts[b]! ? 1 : a - b,
  );
  const out = emptyChunk(c.length);
  order.forEach((j, i) => {
    out.ts[i] = c.ts[j]!;
    out.value[i] = c.value[j]!;
    out.series[i] = c.series[j]!;
  });
  out.length = c.length;
  return out;
}
