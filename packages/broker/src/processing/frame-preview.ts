// A camera frame's preview for a live view: the frame binned down by an integer factor (the mean
// of each bin, rounded to a uint16) with min, max, mean and a 256-bin histogram of the full
// resolution frame, in one pass over the pixels: each pixel is added to its bin's sum and counted
// per value, and every statistic follows from the 65 536 counts as in computeFrameStats. It runs in
// the processing pool (frame-stats-task.ts `framePreview`), on the frame where it lies in the ring.
//
// Why binning rather than picking every scale-th pixel: a preview of a sparse image (a few bright
// spots) must still show the spots, and its bins' mean stays the frame's mean.

import { DaqError } from '@daq/core';
import { VALUES, checkHistogramArgs, countValues, statsFromCounts, type FrameStats } from './frame-stats.js';

/** Bins of a preview's histogram, equal-width over [0, 2^bitDepth) for every bit depth. */
export const PREVIEW_BINS = 256;

export interface FramePreview {
  /** Size of the binned frame: ceil(frame size / scale); a bin at the right or bottom edge may hold fewer pixels. */
  width: number;
  height: number;
  /** The binning factor, the same in both directions. */
  scale: number;
  /** Row-major, each the rounded mean of its bin. */
  pixels: Uint16Array;
  /** Of the full-resolution frame. */
  min: number;
  max: number;
  mean: number;
  /** PREVIEW_BINS counts of the full-resolution frame over [0, 2^bitDepth); values at or over 2^bitDepth are in the last bin. */
  histogram: Uint32Array;
}

/** The smallest integer factor that brings a frame's longer side to `maxSide` pixels or fewer. */
export function previewScale(width: number, height: number, maxSide: number): number {
  return Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
}

const invalid = (message: string, facts: Record<string, unknown> = {}) =>
  new DaqError('DAQ_INVALID_ARGUMENT', `frame preview: ${message}`, facts);

/** Counts per pixel value; reused call after call (one per thread, the function never yields). */
const counts = new Uint32Array(VALUES);

/**
 * The preview of a `width` x `height` frame binned by `scale`, and, when `statsBins` is given, the
 * frame's statistics with that many bins (what computeFrameStats gives) from the same pass, so a
 * frame that is both previewed and analysed is read once. `pixels` is read, never written.
 */
export function computeFramePreview(
  pixels: Uint16Array,
  width: number,
  height: number,
  bitDepth: number,
  scale: number,
  statsBins?: number,
): { preview: FramePreview; stats?: FrameStats } {
  if (!(pixels instanceof Uint16Array)) throw invalid('pixels must be a Uint16Array');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height !== pixels.length) {
    throw invalid(`a ${width}x${height} frame needs ${width * height} pixels, not ${pixels.length}`, {
      width,
      height,
      pixels: pixels.length,
    });
  }
  if (width * height > 0xffffffff) throw invalid(`a frame must have fewer than 2^32 pixels, not ${width * height}`);
  if (!Number.isInteger(scale) || scale < 1 || scale > Math.max(width, height)) {
    throw invalid(`scale must be an integer from 1 to the frame's longer side (${Math.max(width, height)}), not ${scale}`, {
      scale,
    });
  }
  checkHistogramArgs(bitDepth, 1);
  if (statsBins !== undefined) checkHistogramArgs(bitDepth, statsBins);

  const ow = Math.ceil(width / scale);
  const oh = Math.ceil(height / scale);
  const full = Math.floor(width / scale); // bins `scale` pixels wide, then one narrower bin of `rest`
  const rest = width - full * scale;
  const h = counts;
  h.fill(0);
  const p = pixels;
  let out: Uint16Array;
  if (scale === 1) {
    // Nothing to bin: a copy and the counting pass (a bin loop of one pixel is ~5x slower, measured).
    out = p.slice();
    countValues(h, p);
  } else {
    out = new Uint16Array(ow * oh);
    // Sums of the current row of bins: at most scale² · 65535, exact in a double. Per pixel: one
    // add and one count, along the row (measured faster than column sums first, then across).
    const acc = new Float64Array(ow);
    for (let by = 0; by < oh; by++) {
      const y0 = by * scale;
      const y1 = Math.min(height, y0 + scale);
      acc.fill(0);
      for (let y = y0; y < y1; y++) {
        let i = y * width;
        for (let bx = 0; bx < full; bx++) {
          let sum = 0;
          for (const end = i + scale; i < end; i++) {
            const v = p[i]!;
            sum += v;
            h[v]!++;
          }
          acc[bx]! += sum;
        }
        if (rest > 0) {
          let sum = 0;
          for (const end = i + rest; i < end; i++) {
            const v = p[i]!;
            sum += v;
            h[v]!++;
          }
          acc[full]! += sum;
        }
      }
      // The rounded mean, floor(sum / count + 1/2); the quotient is below 2^16, so `| 0` floors it.
      const rows = y1 - y0;
      const o = by * ow;
      const count = rows * scale;
      for (let bx = 0; bx < full; bx++) out[o + bx] = ((acc[bx]! + count / 2) / count) | 0;
      if (rest > 0) out[o + full] = ((acc[full]! + (rows * rest) / 2) / (rows * rest)) | 0;
    }
  }

  const n = width * height;
  // Min, max and mean follow from the counts whatever the bins; one bin is valid for every depth.
  const stats = statsFromCounts(h, n, bitDepth, statsBins ?? 1);
  const preview: FramePreview = {
    width: ow,
    height: oh,
    scale,
    pixels: out,
    min: stats.min,
    max: stats.max,
    mean: stats.mean,
    // Its own array even at statsBins = 256: both are moved back to the main thread, and a buffer may be moved once.
    histogram: previewHistogram(h, bitDepth),
  };
  return statsBins === undefined ? { preview } : { preview, stats };
}

/** PREVIEW_BINS bins over [0, 2^bitDepth) from counts per value; under 8 bits a value's bin is v · 2^(8 − bitDepth). */
function previewHistogram(h: Uint32Array, bitDepth: number): Uint32Array {
  const histogram = new Uint32Array(PREVIEW_BINS);
  const last = PREVIEW_BINS - 1;
  const down = bitDepth - 8;
  for (let v = 0; v < VALUES; v++) {
    const c = h[v]!;
    if (c === 0) continue;
    const b = down >= 0 ? v >> down : v << -down;
    histogram[b > last ? last : b]! += c;
  }
  return histogram;
}
