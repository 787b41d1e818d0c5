// Every camera of a run: its worker (CameraSupervisor), its ring's consumer (FramePipeline), its
// frame files and its frame_stats file, its live-view previews (FramePreviews), plus the
// processing pool they share. Cameras open together, start together and stop first (before the
// instrument workers), each stop draining the camera's buffer and ring to disk.

import { join } from 'node:path';
import { DaqError, createSdkUsers, type DaqConfig, type PvcamInstrumentConfig } from '@daq/core';
import { CameraSupervisor, type CameraReady, type CameraStopReport, type CameraSupervisorOptions } from './camera-supervisor.js';
import { FramePipeline, type FramePipelineCounts } from './frame-pipeline.js';
import { FramePreviews, type CameraPreview, type CameraPreviewCounts, type CameraPreviewOptions } from './frame-previews.js';
import { FrameFileSink, type FrameFileStats } from '../storage/frame-file-sink.js';
import { FrameStatsSink } from '../storage/frame-stats-sink.js';
import { ProcessingPool } from '../processing/processing-pool.js';

export type { CameraPreview, CameraPreviewCounts, CameraPreviewOptions } from './frame-previews.js';

export interface CameraReport {
  id: string;
  state: 'open' | 'running' | 'stopped' | 'failed';
  source?: string;
  sensor?: CameraReady['sensor'];
  geometry?: CameraReady['geometry'];
  /** The CPU asked for and what /proc says the worker thread may run on. */
  cpu?: CameraReady['pinning'];
  /** With `realtime_priority`: the worker's scheduling as the kernel reports it (SCHED_FIFO applied, or why not). */
  realtime?: CameraReady['realtime'];
  /** Frames taken from the camera by the worker. */
  acquired: number;
  /** Frames written and synced to disk. */
  stored: number;
  /** Frames lost, by where it happened. */
  dropped: { atSource: number; ring: number; storage: number; total: number };
  stats?: { computed: number; skipped: number; failed: number; rowsStored: number; file: string };
  /** Live-view previews (CameraManager.previews): subscribers, produced, skipped, failed. */
  previews: CameraPreviewCounts;
  files: string[];
  storageMode?: FrameFileStats['mode'];
  pipeline?: FramePipelineCounts;
  stop?: CameraStopReport;
  error?: string;
}

export interface CameraManagerOptions extends Partial<Pick<CameraSupervisorOptions, 'simSensor' | 'pollUs'>> {
  epochOffsetNs: bigint;
  /** Where frames/<id>/ directories go (the run directory). */
  dir: string;
  /** O_DIRECT for frame files (default true). */
  direct?: boolean;
}

interface CameraRun {
  config: PvcamInstrumentConfig;
  sup: CameraSupervisor;
  sink?: FrameFileSink;
  statsSink?: FrameStatsSink;
  pipeline?: FramePipeline;
  previews: FramePreviews;
  done?: Promise<void>;
  report: CameraReport;
}

export class CameraManager {
  readonly #runs: CameraRun[] = [];
  #pool: ProcessingPool | undefined;
  /** The pool once its threads have loaded the task module: what previews may use. */
  #warmPool: ProcessingPool | undefined;
  /** A pool started for previews after open() (no camera analyses frames): its warm-up. */
  #poolStarting: Promise<void> | undefined;
  #opened = false;
  #stopping = false;

  constructor(
    readonly config: DaqConfig,
    readonly options: CameraManagerOptions,
  ) {
    if (!config.v4.enabled) return;
    const b = config.broker;
    // PVCAM is initialised once per process: the first camera to open does it, the last to close undoes it.
    const sdkState = createSdkUsers();
    for (const i of config.v4.instruments) {
      if (i.type !== 'PVCAMInstrument') continue;
      const sup = new CameraSupervisor(i, {
        simulate: config.application.simulate,
        pvcamLibrary: config.v4.pvcam_library,
        epochOffsetNs: options.epochOffsetNs,
        ringPolicy: config.v4.ring_policy,
        ringBlockTimeoutMs: config.v4.ring_block_timeout_ms,
        startTimeoutMs: b.start_timeout_ms,
        stopTimeoutMs: b.shutdown_timeout_ms,
        sdkState,
        ...(options.simSensor ? { simSensor: options.simSensor } : {}),
        ...(options.pollUs ? { pollUs: options.pollUs } : {}),
      });
      this.#runs.push({ config: i, sup, previews: new FramePreviews(i.id), report: emptyReport(i.id) });
    }
  }

  get ids(): string[] {
    return this.#runs.map((r) => r.config.id);
  }

  supervisor(id: string): CameraSupervisor | undefined {
    return this.#runs.find((r) => r.config.id === id)?.sup;
  }

  /**
   * Subscribes to previews of camera `id`: its newest frame binned to at most `maxSide` pixels a
   * side, with the full frame's min, max, mean and 256-bin histogram, at most `maxHz` a second,
   * while the camera runs. Returns the unsubscribe. Subscriptions whose `maxSide` gives the same
   * binning factor share one production at the fastest of their rates; each subscriber gets at
   * most its own `maxHz`. Previews never hold frames back: one that finds the camera's previous
   * preview still computing or the processing pool at its backlog limit is skipped (counted in
   * the camera's report, `previews`). `onPreview` runs on the main thread: keep it short.
   */
  previews(id: string, options: CameraPreviewOptions, onPreview: (p: CameraPreview) => void): () => void {
    const run = this.#runs.find((r) => r.config.id === id);
    if (!run) {
      const ids = this.ids;
      throw new DaqError(
        'DAQ_CAMERA',
        `no camera "${id}" to preview: ${ids.length > 0 ? `the cameras are ${ids.map((i) => `"${i}"`).join(', ')}` : 'this configuration has no camera (a PVCAMInstrument in [v4])'}`,
        { instrument: id, cameras: ids },
      );
    }
    if (this.#stopping) {
      throw new DaqError('DAQ_CLOSED', `camera "${id}" has stopped: no more previews`, { instrument: id });
    }
    const unsubscribe = run.previews.subscribe(options, onPreview);
    this.#startPool();
    return unsubscribe;
  }

  /** Starts the processing pool for previews when no camera's statistics started it at open(). */
  #startPool(): void {
    if (this.#pool || !this.#opened || this.#stopping) return;
    const threads = this.config.broker.processing_threads;
    const pool = new ProcessingPool({ threads });
    this.#pool = pool;
    // Until its threads have loaded the task module previews are skipped (busy), not queued:
    // a frame held while a thread starts would hold the ring.
    this.#poolStarting = warmUp(pool, threads).then(
      () => void (this.#warmPool = pool),
      (e: unknown) => {
        for (const run of this.#runs) run.previews.unavailable(`the processing pool did not start: ${(e as Error).message}`);
      },
    );
  }

  /** Opens every camera and its files; on any failure, what opened is closed again and the error thrown. */
  async open(): Promise<void> {
    if (this.#runs.length === 0) return;
    const flushMs = this.config.v4.storage.flush_interval_ms;
    // The pool is started here when a camera analyses its frames or someone subscribed to previews already.
    if (this.#runs.some((r) => r.config.stats || r.previews.subscribers > 0))
      this.#pool = new ProcessingPool({ threads: this.config.broker.processing_threads });
    try {
      if (this.#pool) {
        await warmUp(this.#pool, this.config.broker.processing_threads);
        this.#warmPool = this.#pool;
      }
      await Promise.all(
        this.#runs.map(async (run) => {
          const ready = await run.sup.open();
          Object.assign(run.report, {
            state: 'open',
            source: ready.sourceKind,
            sensor: ready.sensor,
            geometry: ready.geometry,
            cpu: ready.pinning,
            ...(ready.realtime ? { realtime: ready.realtime } : {}),
          });
          run.previews.geometry = ready.geometry;
          const dir = join(this.options.dir, 'frames', run.config.id);
          run.sink = new FrameFileSink(dir, run.sup.layout, {
            flushIntervalMs: flushMs,
            chunkBytes: run.config.chunk_mb * 2 ** 20,
            direct: this.options.direct ?? true,
          });
          await run.sink.open();
          if (run.config.stats && this.#pool) {
            run.statsSink = new FrameStatsSink(dir, run.config.id, flushMs);
            await run.statsSink.open();
          }
          run.pipeline = new FramePipeline({
            layout: run.sup.layout,
            ring: run.sup.ring,
            sink: run.sink,
            ...(run.statsSink && this.#pool
              ? {
                  stats: {
                    pool: this.#pool,
                    sink: run.statsSink,
                    bins: run.config.stats_bins,
                    maxBacklog: 2 * this.config.broker.processing_threads,
                  },
                }
              : {}),
            previews: {
              hub: run.previews,
              pool: () => this.#warmPool,
              maxBacklog: 2 * this.config.broker.processing_threads,
            },
          });
        }),
      );
      this.#opened = true;
      // Someone subscribed while the cameras were opening, and no camera analyses its frames.
      if (this.#runs.some((r) => r.previews.subscribers > 0)) this.#startPool();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Starts every camera's acquisition and its ring's consumer. */
  start(): void {
    for (const run of this.#runs) {
      run.done = run.pipeline!.run();
      run.done.catch(() => undefined);
      run.sup.start();
      run.report.state = 'running';
    }
  }

  /** Stops every camera, drains rings to disk, closes files and the pool; idempotent. */
  async stop(): Promise<CameraReport[]> {
    this.#stopping = true;
    await Promise.all(
      this.#runs.map(async (run) => {
        if (run.report.state === 'stopped' || run.report.state === 'failed') return;
        const stop = await run.sup.stop();
        // The worker closed the ring (or was terminated): the consumer drains what is in it.
        if (run.done) await run.done.catch((e: unknown) => (run.report.error ??= (e as Error).message));
        await run.sink?.close().catch((e: unknown) => (run.report.error ??= (e as Error).message));
        await run.statsSink?.close().catch((e: unknown) => (run.report.error ??= (e as Error).message));
        run.report.stop = stop;
        run.report.state = stop.clean && !run.sup.failure ? 'stopped' : 'failed';
        if (run.sup.failure) run.report.error ??= run.sup.failure.message;
        else if (stop.error) run.report.error ??= stop.error;
        this.#refresh(run);
      }),
    );
    // A pool started for previews may still be warming up: closing waits for that, then its threads end.
    await this.#poolStarting;
    await this.#pool?.close();
    return this.reports();
  }

  #refresh(run: CameraRun): void {
    const r = run.report;
    const live = run.sup.control.counters();
    const counters = r.stop?.counters ?? live;
    const p = run.pipeline?.counts();
    const s = run.sink?.stats;
    r.acquired = counters.framesAcquired;
    r.stored = s?.framesStored ?? 0;
    const atSource = Math.max(counters.framesLostAtSource, 0);
    const ring = counters.framesDroppedRing;
    const storage = s?.writeErrors ?? 0;
    r.dropped = { atSource, ring, storage, total: atSource + ring + storage };
    if (run.statsSink && p) {
      const st = run.statsSink.stats;
      r.stats = {
        computed: p.statsComputed,
        skipped: p.statsSkipped,
        failed: p.statsFailed,
        rowsStored: st.rowsStored,
        file: st.path,
      };
    }
    r.previews = run.previews.counts();
    r.files = s?.files ?? [];
    if (s) r.storageMode = s.mode;
    if (p) r.pipeline = p;
  }

  /** A report per camera, with live counts while running. */
  reports(): CameraReport[] {
    for (const run of this.#runs) if (run.report.state === 'running' || run.report.state === 'open') this.#refresh(run);
    return this.#runs.map((r) => structuredClone(r.report));
  }
}

/**
 * Runs one tiny task per pool thread before the cameras start: a pool thread loading its module
 * during the first frames would hold those frames' ring records (released in order) long enough
 * to stall the camera.
 */
async function warmUp(pool: ProcessingPool, threads: number): Promise<void> {
  const sab = new SharedArrayBuffer(64);
  await Promise.all(
    Array.from({ length: threads }, () => pool.frameStats({ sab, byteOffset: 0, byteLength: 64, bitDepth: 16, bins: 16 })),
  );
}

function emptyReport(id: string): CameraReport {
  return {
    id,
    state: 'open',
    acquired: 0,
    stored: 0,
    dropped: { atSource: 0, ring: 0, storage: 0, total: 0 },
    previews: { subscribers: 0, produced: 0, skipped: { busy: 0, rate: 0 }, failed: 0 },
    files: [],
  };
}
