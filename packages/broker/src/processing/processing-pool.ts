// The broker's processing pool (DESIGN.md "processing pool"): a fixed number of piscina worker
// threads computing frame statistics and live-view previews straight from the camera rings'
// shared memory. It counts what it was given and what came back, and errors cross the thread
// boundary as DaqErrors.

import { DaqError, deserializeDaqError, isSerializedDaqError } from '@daq/core';
import { Piscina } from 'piscina';
import type { FrameStats } from './frame-stats.js';
import type { FramePreviewResult, FramePreviewTask, FrameStatsTask } from './frame-stats-task.js';
import { entryUrl } from '../entry-points.js';

/** The task module (package.json `imports`: the TypeScript source in tests, else the build). */
export const frameStatsTaskUrl = entryUrl('frameStatsTask');

export interface ProcessingPoolOptions {
  /** Worker threads, started at once and kept (min = max). */
  threads: number;
  /** Tasks that may wait for a free thread before frameStats rejects (default: unbounded). */
  maxQueue?: number;
}

export interface ProcessingCounters {
  submitted: number;
  completed: number;
  failed: number;
  /** Waiting for a thread (not yet running). */
  queued: number;
  threads: number;
}

export class ProcessingPool {
  private readonly pool: Piscina<FrameStatsTask | FramePreviewTask, FrameStats | FramePreviewResult>;
  private readonly maxQueue: number;
  private submitted = 0;
  private completed = 0;
  private failed = 0;
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(options: ProcessingPoolOptions) {
    const { threads, maxQueue = Infinity } = options;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', `processing pool: threads must be an integer ≥ 1, not ${threads}`);
    }
    if (maxQueue !== Infinity && (!Number.isInteger(maxQueue) || maxQueue < 0)) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', `processing pool: maxQueue must be an integer ≥ 0, not ${maxQueue}`);
    }
    this.maxQueue = maxQueue;
    this.pool = new Piscina({
      filename: frameStatsTaskUrl.href,
      minThreads: threads,
      maxThreads: threads,
      maxQueue,
    });
    // A worker failing outside any task is reported by piscina as an 'error' event (piscina starts
    // a replacement); unhandled, it would throw on the main thread. Said, not swallowed.
    this.pool.on('error', (err: unknown) =>
      process.emitWarning(`processing pool: a worker thread failed outside a task: ${String(err)}`, 'DaqWarning'),
    );
  }

  /** Statistics of the frame at task.byteOffset in task.sab, computed in a worker without copying the pixels. */
  frameStats(task: FrameStatsTask): Promise<FrameStats> {
    return this.run(task, 'default', 'frame statistics') as Promise<FrameStats>;
  }

  /**
   * The preview of the frame at task.byteOffset in task.sab (and its statistics when task.statsBins
   * is set), computed in a worker without copying the frame; the preview's pixels are moved back.
   */
  framePreview(task: FramePreviewTask): Promise<FramePreviewResult> {
    return this.run(task, 'framePreview', 'frame previews') as Promise<FramePreviewResult>;
  }

  /** Runs `name`, an export of the task module, counted like every task. */
  private run(task: FrameStatsTask | FramePreviewTask, name: string, what: string): Promise<FrameStats | FramePreviewResult> {
    if (this.closing) {
      return Promise.reject(new DaqError('DAQ_CLOSED', `processing pool is closed: no more ${what} can be computed`));
    }
    this.submitted++;
    const result = this.pool.run(task, { name }).then(
      (value) => {
        this.completed++;
        return value;
      },
      (err: unknown) => {
        this.failed++;
        throw this.toDaqError(err);
      },
    );
    const settled: Promise<void> = result.then(
      () => void this.running.delete(settled),
      () => void this.running.delete(settled),
    );
    this.running.add(settled);
    return result;
  }

  private toDaqError(err: unknown): DaqError {
    if (isSerializedDaqError(err)) return deserializeDaqError(err);
    const message = err instanceof Error ? err.message : String(err);
    // piscina's words for "no thread free and the queue is at maxQueue".
    if (message === 'Task queue is at limit' || message === 'No task queue available and all Workers are busy') {
      const threads = this.pool.maxThreads;
      return new DaqError(
        'DAQ_WORKER',
        `processing pool queue is full (maxQueue ${this.maxQueue}, all ${threads} threads busy): frames arrive faster than they are processed; raise threads or maxQueue`,
        { maxQueue: this.maxQueue, threads },
        { cause: err },
      );
    }
    return new DaqError('DAQ_WORKER', `processing pool task failed: ${message}`, {}, { cause: err });
  }

  counters(): ProcessingCounters {
    return {
      submitted: this.submitted,
      completed: this.completed,
      failed: this.failed,
      queued: this.pool.queueSize,
      threads: this.pool.threads.length,
    };
  }

  /** Worker threads (fixed). */
  get threads(): number {
    return this.pool.maxThreads;
  }

  /** Tasks submitted and not yet settled (waiting or running). */
  get backlog(): number {
    return this.submitted - this.completed - this.failed;
  }

  /** Lets every submitted task finish, then stops the worker threads. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.all(this.running);
      await this.pool.destroy();
    })());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
