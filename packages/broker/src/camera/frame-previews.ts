// One camera's live-view previews (the daemon's `previews` WebSocket stream): who is subscribed,
// with which size and rate, and which frame is previewed when. The FramePipeline asks, for each
// batch of frames it takes from the ring, whether the newest is to be previewed; the preview is
// computed in the processing pool from the ring (frame-stats-task.ts `framePreview`) and handed
// to the subscribers here. Nothing is queued for a preview: a frame is previewed now or not at all.
//
// Sharing: subscriptions whose maxSide gives the same binning factor share one production, made
// at the fastest of their rates; each subscriber is then given a preview only when its own
// maxHz allows. Subscriptions with different factors are produced separately, taking turns.
//
// Bounds, the same whoever subscribes: at most one preview task per camera at a time; for each
// factor, two starts at least 1/maxHz apart (so at most maxHz + 1 in any second); and only while
// someone is subscribed. A preview that is due while the camera's previous preview is still
// being computed, or while the pool is at its backlog limit, is skipped and counted (`busy`);
// frames that arrive while no preview is due are counted too (`rate`), so every frame seen while
// someone is subscribed is either previewed or counted.

import { DaqError, type FrameGeometry } from '@daq/core';
import { previewScale, type FramePreview } from '../processing/frame-preview.js';

export interface CameraPreviewOptions {
  /** Longest side of the preview in pixels: the frame is binned by the smallest integer factor that fits. */
  maxSide: number;
  /** Most previews per second this subscriber is given. */
  maxHz: number;
}

/** One preview as subscribers get it. The pixels are the subscriber's own (it may transfer them). */
export interface CameraPreview {
  camera: string;
  frameIndex: number;
  timestampNs: bigint;
  /** Of the preview: ceil(frame size / scale). */
  width: number;
  height: number;
  bitDepth: number;
  /** The binning factor, the same in both directions. */
  scale: number;
  /** Min, max, mean and histogram are of the full-resolution frame. */
  min: number;
  max: number;
  mean: number;
  /** 256 counts over [0, 2^bitDepth). */
  histogram: number[];
  /** width x height, row-major, each the rounded mean of its bin. */
  pixels: Uint16Array;
}

export interface CameraPreviewCounts {
  /** Subscriptions now. */
  subscribers: number;
  /** Previews computed (each handed to the subscribers whose rate allowed it). */
  produced: number;
  /**
   * Frames seen while someone was subscribed and not previewed: `busy`, a preview was due but the
   * camera's previous one was still being computed or the processing pool was at its backlog
   * limit; `rate`, no preview was due (maxHz), or a newer frame taken at the same time was used.
   */
  skipped: { busy: number; rate: number };
  /** Preview tasks that failed; the last reason in lastError. */
  failed: number;
  lastError?: string;
}

/** A preview to make of the newest frame: its binning factor, and when it was decided. */
export interface PreviewJob {
  readonly scale: number;
  readonly startMs: number;
}

interface Subscriber {
  readonly maxSide: number;
  readonly periodMs: number;
  readonly onPreview: (p: CameraPreview) => void;
  /** Binning factor, once the geometry is known (0 before). */
  scale: number;
  /** Start time of the last preview this subscriber was given. */
  lastMs: number;
}

interface Group {
  readonly scale: number;
  /** The fastest rate among the group's subscribers. */
  periodMs: number;
  lastStartMs: number;
}

const MAX_HZ = 1000;

export class FramePreviews {
  readonly camera: string;
  readonly #now: () => number;
  readonly #subs = new Set<Subscriber>();
  #groups = new Map<number, Group>();
  #geometry: FrameGeometry | undefined;
  #inFlight = false;
  readonly #counts = { produced: 0, busy: 0, rate: 0, failed: 0, lastError: undefined as string | undefined };

  constructor(camera: string, now: () => number = () => performance.now()) {
    this.camera = camera;
    this.#now = now;
  }

  /** The frames' geometry, once the camera is open; each subscription's factor follows from it. */
  set geometry(g: FrameGeometry) {
    this.#geometry = { ...g };
    this.#regroup();
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /** Someone is subscribed and frames can be previewed. */
  get active(): boolean {
    return this.#groups.size > 0;
  }

  /** Adds a subscriber; returns its unsubscribe (idempotent). */
  subscribe(options: CameraPreviewOptions, onPreview: (p: CameraPreview) => void): () => void {
    const { maxSide, maxHz } = options ?? ({} as CameraPreviewOptions);
    const facts = { instrument: this.camera };
    if (!Number.isInteger(maxSide) || maxSide < 1 || maxSide > 0xffff) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `camera "${this.camera}" previews: maxSide must be an integer from 1 to 65535, not ${maxSide}`,
        facts,
      );
    }
    if (typeof maxHz !== 'number' || !(maxHz > 0 && maxHz <= MAX_HZ)) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `camera "${this.camera}" previews: maxHz must be a number above 0 and at most ${MAX_HZ}, not ${maxHz}`,
        facts,
      );
    }
    if (typeof onPreview !== 'function') {
      throw new DaqError('DAQ_INVALID_ARGUMENT', `camera "${this.camera}" previews: onPreview must be a function`, facts);
    }
    const sub: Subscriber = { maxSide, periodMs: 1000 / maxHz, onPreview, scale: 0, lastMs: -Infinity };
    this.#subs.add(sub);
    this.#regroup();
    return () => {
      if (this.#subs.delete(sub)) this.#regroup();
    };
  }

  /**
   * For a batch of `frames` frames just taken from the ring, the newest last: the preview to make
   * of the newest now, or undefined (every frame of the batch then counted as skipped, and so are
   * the older ones when a preview is made). `poolFree`: the pool can take a task now.
   */
  take(frames: number, poolFree: boolean): PreviewJob | undefined {
    if (!this.active || frames <= 0) return undefined;
    const c = this.#counts;
    const now = this.#now();
    let due: Group | undefined;
    for (const g of this.#groups.values()) {
      if (now - g.lastStartMs < g.periodMs) continue;
      // The most overdue first: groups of different factors take turns.
      if (!due || g.lastStartMs + g.periodMs < due.lastStartMs + due.periodMs) due = g;
    }
    if (!due) {
      c.rate += frames;
      return undefined;
    }
    c.rate += frames - 1;
    if (this.#inFlight || !poolFree) {
      c.busy++;
      return undefined;
    }
    due.lastStartMs = now;
    this.#inFlight = true;
    return { scale: due.scale, startMs: now };
  }

  /** The job's preview of `frame` is ready: each subscriber of its factor whose rate allows gets it. */
  deliver(job: PreviewJob, frame: { frameIndex: bigint; timestampNs: bigint }, preview: FramePreview): void {
    this.#inFlight = false;
    this.#counts.produced++;
    const to = [...this.#subs].filter((s) => s.scale === job.scale && job.startMs - s.lastMs >= s.periodMs);
    const bitDepth = this.#geometry!.bitDepth;
    to.forEach((s, k) => {
      s.lastMs = job.startMs;
      const p: CameraPreview = {
        camera: this.camera,
        frameIndex: Number(frame.frameIndex),
        timestampNs: frame.timestampNs,
        width: preview.width,
        height: preview.height,
        bitDepth,
        scale: preview.scale,
        min: preview.min,
        max: preview.max,
        mean: preview.mean,
        histogram: Array.from(preview.histogram),
        // The last subscriber gets the task's own array; the others a copy each, so that any of
        // them may transfer its pixels to another thread without taking them from the rest.
        pixels: k === to.length - 1 ? preview.pixels : preview.pixels.slice(),
      };
      try {
        s.onPreview(p);
      } catch (e) {
        // A subscriber's failure is its own: the others and the acquisition go on. Said, not swallowed.
        process.emitWarning(`camera "${this.camera}" previews: a subscriber failed: ${String(e)}`, 'DaqWarning');
      }
    });
  }

  /** The preview task failed. */
  fail(err: unknown): void {
    this.#inFlight = false;
    this.#counts.failed++;
    this.#counts.lastError = err instanceof Error ? err.message : String(err);
  }

  /** Records why previews cannot be made (the processing pool did not start). */
  unavailable(reason: string): void {
    this.#counts.lastError = reason;
  }

  counts(): CameraPreviewCounts {
    const c = this.#counts;
    return {
      subscribers: this.#subs.size,
      produced: c.produced,
      skipped: { busy: c.busy, rate: c.rate },
      failed: c.failed,
      ...(c.lastError === undefined ? {} : { lastError: c.lastError }),
    };
  }

  /** Groups the subscribers by binning factor, keeping each factor's last start (its rate bound). */
  #regroup(): void {
    const g0 = this.#geometry;
    const groups = new Map<number, Group>();
    if (g0) {
      for (const s of this.#subs) {
        s.scale = previewScale(g0.width, g0.height, s.maxSide);
        let g = groups.get(s.scale);
        if (!g) {
          g = { scale: s.scale, periodMs: s.periodMs, lastStartMs: this.#groups.get(s.scale)?.lastStartMs ?? -Infinity };
          groups.set(s.scale, g);
        }
        g.periodMs = Math.min(g.periodMs, s.periodMs);
      }
    }
    this.#groups = groups;
  }
}
