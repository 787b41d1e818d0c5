// The broker's side of one camera's ring. Frames are never copied here: each ring record is
// written to disk from the ring's memory and handed to the processing pool as (ring, offset),
// and the record is released (oldest first) once both are done. The main thread only moves
// small numbers: it claims, starts the write and the statistics, and releases.
//
// Accounting: frames received from the ring; frame-number gaps (frames lost upstream, at the
// camera); write errors; statistics computed, skipped (the pool was behind; frames are never
// held back for statistics) and failed.
//
// Previews (live view, while someone is subscribed: FramePreviews decides when): the newest frame
// of each batch taken from the ring is the one previewed, by a pool task that reads it in place
// like the statistics do, and the record is held until that task is done, as for statistics.
// When the frame is also to be analysed, the one task computes both (the frame is read once, and
// the pool gets no more tasks than frames); a preview never waits for the pool and never holds
// a frame back beyond its task, so storage does not notice previews.

import { RingReader, decodeFrameRecord, type FrameLayout, type FrameRecordView } from '@daq/core';
import type { FrameFileSink } from '../storage/frame-file-sink.js';
import type { FrameStatsSink } from '../storage/frame-stats-sink.js';
import type { ProcessingPool } from '../processing/processing-pool.js';
import type { FrameStats } from '../processing/frame-stats.js';
import type { FramePreviews, PreviewJob } from './frame-previews.js';

export interface FramePipelineOptions {
  layout: FrameLayout;
  ring: SharedArrayBuffer;
  sink: FrameFileSink;
  stats?: {
    pool: ProcessingPool;
    sink: FrameStatsSink;
    bins: number;
    /** Statistics tasks queued or running beyond which a frame's statistics are skipped (counted). */
    maxBacklog: number;
  };
  previews?: {
    hub: FramePreviews;
    /** The pool, once its threads are up; until then a due preview is skipped (busy). */
    pool: () => ProcessingPool | undefined;
    /** Tasks queued or running at or beyond which a due preview is skipped (busy), as for statistics. */
    maxBacklog: number;
  };
}

export interface FramePipelineCounts {
  framesReceived: number;
  /** Frames missing between consecutive frame numbers (lost before the ring: at the camera). */
  frameGaps: number;
  lastFrameIndex: number;
  writeErrors: number;
  statsComputed: number;
  statsSkipped: number;
  statsFailed: number;
  /** Records held (being written or analysed) right now. */
  inFlight: number;
}

interface Item {
  view: FrameRecordView;
  writing: boolean;
  analysing: boolean;
  stats?: FrameStats;
}

export class FramePipeline {
  readonly #o: FramePipelineOptions;
  readonly #reader: RingReader;
  readonly #queue: Item[] = [];
  readonly #counts: FramePipelineCounts = {
    framesReceived: 0,
    frameGaps: 0,
    lastFrameIndex: 0,
    writeErrors: 0,
    statsComputed: 0,
    statsSkipped: 0,
    statsFailed: 0,
    inFlight: 0,
  };
  #kick: () => void = () => undefined;
  #running: Promise<void> | undefined;

  constructor(options: FramePipelineOptions) {
    this.#o = options;
    this.#reader = new RingReader(options.ring);
  }

  /** Consumes the ring until the camera worker closes it and every frame is written; resolves then. */
  run(): Promise<void> {
    this.#running ??= this.#loop();
    return this.#running;
  }

  counts(): FramePipelineCounts {
    return { ...this.#counts, inFlight: this.#queue.length };
  }

  async #loop(): Promise<void> {
    const sink = this.#o.sink;
    try {
      for (;;) {
        const fresh: Item[] = [];
        while (sink.ready) {
          const record = this.#reader.claim();
          if (!record) break;
          fresh.push(this.#accept(record));
        }
        if (fresh.length > 0) this.#analyse(fresh);
        this.#releaseDone();
        if (this.#queue.length === 0) {
          const r = await this.#reader.waitForData(1000);
          if (r === 'closed') return;
          continue;
        }
        const kicked = new Promise<void>((resolve) => (this.#kick = resolve));
        if (sink.ready && !this.#reader.closed) await Promise.race([kicked, this.#reader.waitForData(20)]);
        else await kicked;
      }
    } finally {
      this.#reader.close();
    }
  }

  /** Counts the frame and starts its write; returns its item. */
  #accept(record: Uint8Array): Item {
    const view = decodeFrameRecord(this.#o.layout, record);
    const c = this.#counts;
    c.framesReceived++;
    const index = Number(view.frameIndex);
    if (c.lastFrameIndex > 0 && index > c.lastFrameIndex + 1) c.frameGaps += index - c.lastFrameIndex - 1;
    c.lastFrameIndex = index;
    const item: Item = { view, writing: true, analysing: false };
    this.#queue.push(item);
    this.#o.sink.write(view.message).then(
      () => this.#done(item, 'writing'),
      () => {
        // The sink keeps the error (stats.lastError); the run goes on and the frame is counted.
        c.writeErrors++;
        this.#done(item, 'writing');
      },
    );
    return item;
  }

  /** Statistics for each frame of a batch just taken, and the newest one's preview when one is due. */
  #analyse(fresh: Item[]): void {
    const newest = fresh.length - 1;
    for (let k = 0; k < newest; k++) this.#stats(fresh[k]!);
    const pv = this.#o.previews;
    if (pv?.hub.active) {
      // Decided after the older frames' statistics went to the pool: the backlog is as it is now.
      const pool = pv.pool();
      const job = pv.hub.take(fresh.length, pool !== undefined && pool.backlog < pv.maxBacklog);
      if (job) return this.#preview(fresh[newest]!, job, pool!);
    }
    this.#stats(fresh[newest]!);
  }

  #stats(item: Item): void {
    const st = this.#o.stats;
    if (!st) return;
    const c = this.#counts;
    if (st.pool.backlog >= st.maxBacklog) {
      c.statsSkipped++;
      return;
    }
    item.analysing = true;
    st.pool
      .frameStats({
        sab: this.#o.ring,
        byteOffset: item.view.pixels.byteOffset,
        byteLength: item.view.pixels.byteLength,
        bitDepth: this.#o.layout.geometry.bitDepth,
        bins: st.bins,
      })
      .then(
        (s) => {
          item.stats = s;
          c.statsComputed++;
          this.#done(item, 'analysing');
        },
        () => {
          c.statsFailed++;
          this.#done(item, 'analysing');
        },
      );
  }

  /** The frame's preview, and its statistics too when they are wanted, in one pool task. */
  #preview(item: Item, job: PreviewJob, pool: ProcessingPool): void {
    const hub = this.#o.previews!.hub;
    const st = this.#o.stats;
    const c = this.#counts;
    const { width, height, bitDepth } = this.#o.layout.geometry;
    item.analysing = true;
    pool
      .framePreview({
        sab: this.#o.ring,
        byteOffset: item.view.pixels.byteOffset,
        width,
        height,
        bitDepth,
        scale: job.scale,
        ...(st ? { statsBins: st.bins } : {}),
      })
      .then(
        (r) => {
          try {
            if (st && r.stats) {
              item.stats = r.stats;
              c.statsComputed++;
            }
            hub.deliver(job, item.view, r.preview);
          } finally {
            this.#done(item, 'analysing');
          }
        },
        (e: unknown) => {
          if (st) c.statsFailed++;
          hub.fail(e);
          this.#done(item, 'analysing');
        },
      );
  }

  #done(item: Item, what: 'writing' | 'analysing'): void {
    item[what] = false;
    this.#kick();
  }

  /** Releases finished records from the oldest on; their statistics go to the stats file in frame order. */
  #releaseDone(): void {
    const q = this.#queue;
    while (q.length > 0 && !q[0]!.writing && !q[0]!.analysing) {
      const item = q.shift()!;
      if (item.stats) this.#o.stats!.sink.append(item.view.timestampNs, item.view.frameIndex, item.stats);
      this.#reader.release();
    }
  }
}
