// Per-frame statistics of a camera frame (uint16 pixels): min, max, mean, population standard
// deviation and a binned histogram, in one pass over the pixels.
//
// Why a full 65 536-entry value histogram first: the only per-pixel work is one counter
// increment (about 2x faster than min/max/sum/sum-of-squares/bin per pixel, measured), and every
// statistic then follows exactly from the 65 536 counts: sums are integers, combined in BigInt
// where they could pass 2^53, so the variance has no cancellation and a constant frame has std 0.

import { DaqError } from '@daq/core';

export interface FrameStats {
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  /** `bins` equal-width bins over [0, 2^bitDepth); values at or over 2^bitDepth are in the last bin. */
  histogram: Uint32Array;
}

/** Distinct uint16 pixel values: the length of a counts-per-value array. */
export const VALUES = 65536;
/** Counts per pixel value; reused call after call (one per thread, the function never yields). */
const counts = new Uint32Array(VALUES);
const TWO_20 = 1048576;

/** Throws DAQ_INVALID_ARGUMENT unless bitDepth is 1..16 and bins a power of two in 1..2^bitDepth; returns log2(bins). */
export function checkHistogramArgs(bitDepth: number, bins: number): number {
  if (!Number.isInteger(bitDepth) || bitDepth < 1 || bitDepth > 16) {
    throw new DaqError('DAQ_INVALID_ARGUMENT', `frame statistics: bitDepth must be an integer from 1 to 16, not ${bitDepth}`, {
      bitDepth,
    });
  }
  const log2 = Math.log2(bins);
  if (!Number.isInteger(bins) || !Number.isInteger(log2) || log2 < 0 || log2 > bitDepth) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `frame statistics: bins must be a power of two from 1 to 2^bitDepth (${2 ** bitDepth} for ${bitDepth}-bit pixels), not ${bins}`,
      { bitDepth, bins },
    );
  }
  return log2;
}

/** Statistics of one frame; `pixels` is read, never copied or written. */
export function computeFrameStats(pixels: Uint16Array, bitDepth: number, bins: number): FrameStats {
  checkHistogramArgs(bitDepth, bins);
  if (!(pixels instanceof Uint16Array)) {
    throw new DaqError('DAQ_INVALID_ARGUMENT', 'frame statistics: pixels must be a Uint16Array');
  }
  const n = pixels.length;
  if (n === 0 || n > 0xffffffff) {
    // (A frame of 2^32 pixels or more would overflow the uint32 counts.)
    throw new DaqError('DAQ_INVALID_ARGUMENT', `frame statistics: a frame must have 1 to 2^32-1 pixels, not ${n}`);
  }

  counts.fill(0);
  countValues(counts, pixels);
  return statsFromCounts(counts, n, bitDepth, bins);
}

/** Adds each pixel's value to its count in `h` (65 536 entries). */
export function countValues(h: Uint32Array, p: Uint16Array): void {
  // Unrolled by four: independent increments overlap (measured ~25% faster than the plain loop).
  const n = p.length;
  const n4 = n - (n & 3);
  let i = 0;
  for (; i < n4; i += 4) {
    h[p[i]!]!++;
    h[p[i + 1]!]!++;
    h[p[i + 2]!]!++;
    h[p[i + 3]!]!++;
  }
  for (; i < n; i++) h[p[i]!]!++;
}

/**
 * The statistics of `n` pixels from their counts per value (`h`, 65 536 entries), as
 * computeFrameStats gives them; for callers that count the values in a pass of their own (the
 * preview task counts while it bins).
 */
export function statsFromCounts(h: Uint32Array, n: number, bitDepth: number, bins: number): FrameStats {
  const shift = bitDepth - checkHistogramArgs(bitDepth, bins);
  const histogram = new Uint32Array(bins);
  const last = bins - 1;
  let min = -1;
  let max = 0;
  let sum = 0; // Σ c·v < 2^32 · 2^16: exact in a double
  // Σ c·v² can reach 2^64: c·v = a (< 2^48) is split as a = aHi·2^20 + aLo, and Σ aHi·v (< 2^44)
  // and Σ aLo·v (< 2^36 · 2^16 = 2^52) are each exact.
  let sqHi = 0;
  let sqLo = 0;
  for (let v = 0; v < VALUES; v++) {
    const c = h[v]!;
    if (c === 0) continue;
    if (min < 0) min = v;
    max = v;
    const a = c * v;
    sum += a;
    const aHi = Math.floor(a / TWO_20);
    sqHi += aHi * v;
    sqLo += (a - aHi * TWO_20) * v;
    const b = v >> shift;
    histogram[b > last ? last : b]! += c;
  }
  // Variance = (n·Σv² − (Σv)²) / n², the numerator exact in BigInt, rounded once.
  const N = BigInt(n);
  const S = BigInt(sum);
  const numerator = N * ((BigInt(sqHi) << 20n) + BigInt(sqLo)) - S * S;
  return { min, max, mean: sum / n, std: Math.sqrt(Number(numerator)) / n, histogram };
}
