// The broker's side of one camera's ring. Frames are never copied here: each ring record is
// written to disk from the ring's memory and handed to the processing pool as (ring, offset),
// and the record is released (oldest first) once both are done. The main thread only moves
// small numbers: it claims, starts the write and the statistics, and releases.
//
// Accounting: frames received from the ring; frame-number gaps (frames lost upstream, at the
// camera); write errors; statistics computed, skipped (the pool was behind; frames are never
// held back for statistics) and failed.

import { RingReader, decodeFrameRecord, type FrameLayout, type FrameRecordView } from '@daq/core';
import type { FrameFileSink } from '../storage/frame-file-sink.js';
import type { FrameStatsSink } from '../storage/frame-stats-sink.js';
import type { ProcessingPool } from '../processing/processing-pool.js';
import type { FrameStats } from '../processing/frame-stats.js';

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
        while (sink.ready) {
          const record = this.#reader.claim();
          if (!record) break;
          this.#accept(record);
        }
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

  #accept(record: Uint8Array): void {
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
    const st = this.#o.stats;
    if (!st) return;
    if (st.pool.backlog >= st.maxBacklog) {
      c.statsSkipped++;
      return;
    }
    item.analysing = true;
    st.pool
      .frameStats({
        sab: this.#o.ring,
        byteOffset: view.pixels.byteOffset,
        byteLength: view.pixels.byteLength,
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
