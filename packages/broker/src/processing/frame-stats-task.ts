// The processing pool's task module (runs inside a piscina worker): statistics of one frame read
// in place from a SharedArrayBuffer (a camera ring), the histogram's buffer moved back, not copied;
// and, as the named export `framePreview` (piscina's `name` option: one module, so the threads the
// pool warms up before the cameras start already have it), a frame's preview read the same way,
// its pixels and histograms moved back. Failures are thrown as plain data (DaqError.toJSON) so
// code and facts survive the thread hop.

import { DaqError } from '@daq/core';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { computeFrameStats, type FrameStats } from './frame-stats.js';
import { computeFramePreview, type FramePreview } from './frame-preview.js';

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

const invalid = (message: string, facts: Record<string, unknown> = {}, task = 'frame statistics task') =>
  new DaqError('DAQ_INVALID_ARGUMENT', `${task}: ${message}`, facts);

/** A view of the task's pixels in the shared memory itself; throws DAQ_INVALID_ARGUMENT when they are not there. */
export function framePixels(
  task: Pick<FrameStatsTask, 'sab' | 'byteOffset' | 'byteLength'>,
  what = 'frame statistics task',
): Uint16Array {
  const { sab, byteOffset, byteLength } = task ?? ({} as FrameStatsTask);
  if (!(sab instanceof SharedArrayBuffer)) throw invalid('sab must be a SharedArrayBuffer', {}, what);
  const facts = { byteOffset, byteLength, sabBytes: sab.byteLength };
  if (!Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(byteLength) || byteOffset < 0 || byteLength <= 0) {
    throw invalid(`byteOffset (${byteOffset}) must be an integer ≥ 0 and byteLength (${byteLength}) an integer > 0`, facts, what);
  }
  if (byteOffset % 2 !== 0 || byteLength % 2 !== 0) {
    throw invalid(`byteOffset (${byteOffset}) and byteLength (${byteLength}) must be even: pixels are uint16`, facts, what);
  }
  if (byteOffset + byteLength > sab.byteLength) {
    throw invalid(
      `bytes ${byteOffset}..${byteOffset + byteLength} lie outside the SharedArrayBuffer of ${sab.byteLength} bytes`,
      facts,
      what,
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

/** Where a frame lies in shared memory, its shape, and how to preview it. */
export interface FramePreviewTask {
  sab: SharedArrayBuffer;
  /** Byte offset of the first pixel (even: pixels are uint16). */
  byteOffset: number;
  width: number;
  height: number;
  bitDepth: number;
  /** Binning factor (previewScale). */
  scale: number;
  /** Also the frame's statistics with this many bins (the frame_stats row), from the same pass. */
  statsBins?: number;
}

export interface FramePreviewResult {
  preview: FramePreview;
  stats?: FrameStats;
}

/** The task `framePreview` (ProcessingPool.framePreview): the preview of the frame where it lies in shared memory. */
export function framePreview(task: FramePreviewTask): FramePreviewResult {
  let result: FramePreviewResult;
  try {
    const { width, height } = task ?? ({} as FramePreviewTask);
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
      throw invalid(`width (${width}) and height (${height}) must be integers ≥ 1`, { width, height }, 'frame preview task');
    }
    const pixels = framePixels(
      { sab: task.sab, byteOffset: task.byteOffset, byteLength: width * height * 2 },
      'frame preview task',
    );
    result = computeFramePreview(pixels, width, height, task.bitDepth, task.scale, task.statsBins);
  } catch (err) {
    throw err instanceof DaqError ? err.toJSON() : err;
  }
  // Moved, not cloned: the preview's pixels (a 512x512 preview is 512 KiB) and the histograms.
  const buffers: ArrayBuffer[] = [result.preview.pixels.buffer as ArrayBuffer, result.preview.histogram.buffer as ArrayBuffer];
  if (result.stats) buffers.push(result.stats.histogram.buffer as ArrayBuffer);
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return result;
    },
  }) as unknown as FramePreviewResult;
}
