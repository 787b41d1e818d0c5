// The processing pool's task module (runs inside a piscina worker): statistics of one frame read
// in place from a SharedArrayBuffer (a camera ring), the histogram's buffer moved back, not copied.
// Failures are thrown as plain data (DaqError.toJSON) so code and facts survive the thread hop.

import { DaqError } from '@daq/core';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { computeFrameStats, type FrameStats } from './frame-stats.js';

/** Where a frame lies in shared memory, and how to bin it. */
export interface FrameStatsTask {
  sab: SharedArrayBuffer;
  /** Byte offset of the first pixel (even: pixels are uint16). */
  byteOffset: number;
  /** Bytes of pixels (even). */
  byteLength: number;
  bitDepth: number;
  bins: number;
}

const invalid = (message: string, facts: Record<string, unknown> = {}) =>
  new DaqError('DAQ_INVALID_ARGUMENT', `frame statistics task: ${message}`, facts);

/** A view of the task's pixels in the shared memory itself; throws DAQ_INVALID_ARGUMENT when they are not there. */
export function framePixels(task: FrameStatsTask): Uint16Array {
  const { sab, byteOffset, byteLength } = task ?? ({} as FrameStatsTask);
  if (!(sab instanceof SharedArrayBuffer)) throw invalid('sab must be a SharedArrayBuffer');
  const facts = { byteOffset, byteLength, sabBytes: sab.byteLength };
  if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) || byteOffset < 0 || byteLength <= 0) {
    throw invalid(`byteOffset (${byteOffset}) must be an integer ≥ 0 and byteLength (${byteLength}) an integer > 0`, facts);
  }
  if (byteOffset % 2 !== 0 || byteLength % 2 !== 0) {
    throw invalid(`byteOffset (${byteOffset}) and byteLength (${byteLength}) must be even: pixels are uint16`, facts);
  }
  if (byteOffset + byteLength > sab.byteLength) {
    throw invalid(
      `bytes ${byteOffset}..${byteOffset + byteLength} lie outside the SharedArrayBuffer of ${sab.byteLength} bytes`,
      facts,
    );
  }
  return new Uint16Array(sab, byteOffset, byteLength / 2);
}

export default function frameStatsTask(task: FrameStatsTask): FrameStats {
  let stats: FrameStats;
  try {
    stats = computeFrameStats(framePixels(task), task.bitDepth, task.bins);
  } catch (err) {
    // A thrown DaqError would arrive as a bare Error (structured clone drops code and facts).
    throw err instanceof DaqError ? err.toJSON() : err;
  }
  // piscina moves a top-level Transferable: the value is posted, the histogram's buffer transferred.
  return move({
    get [transferableSymbol]() {
      return stats.histogram.buffer;
    },
    get [valueSymbol]() {
      return stats;
    },
  }) as unknown as FrameStats;
}
