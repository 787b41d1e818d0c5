// Stores a camera's per-frame statistics as one Arrow IPC stream file (`frame_stats.arrows`)
// beside its frames: rows are appended in frame order and flushed with fdatasync at least every
// flush interval (the same durability as the scalar stream); the schema and the one-entry
// instrument dictionary are written once, then only record batches, then end-of-stream.

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DaqError, IPC_END_OF_STREAM, ipcMessages } from '@daq/core';
import { MessageHeader } from 'apache-arrow';
import { FrameStatsBatchBuilder } from '../processing/frame-stats-stream.js';
import type { FrameStats } from '../processing/frame-stats.js';

export class FrameStatsSink {
  readonly path: string;
  readonly #builder = new FrameStatsBatchBuilder();
  #file: FileHandle | undefined;
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #rows = 0;
  #stored = 0;
  #errors = 0;
  #lastError: string | undefined;
  #closed = false;

  constructor(
    dir: string,
    readonly instrument: string,
    readonly flushIntervalMs: number,
  ) {
    this.path = join(dir, 'frame_stats.arrows');
  }

  async open(): Promise<void> {
    this.#file = await open(this.path, 'wx');
    this.#timer = setInterval(() => void this.flush().catch(() => undefined), this.flushIntervalMs);
  }

  append(timestampNs: bigint, frameIndex: bigint, stats: FrameStats): void {
    this.#builder.append(timestampNs, this.instrument, frameIndex, stats);
    this.#rows++;
  }

  /** Writes the rows appended so far and syncs them; serialised with earlier flushes. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    const rows = this.#builder.rows;
    const bytes = this.#builder.cut();
    if (!bytes) return;
    // The first flush writes the whole stream but its end marker; later ones only the record batches.
    const parts = ipcMessages(bytes)
      .filter((m) => !this.#started || m.type === MessageHeader.RecordBatch)
      .map((m) => bytes.subarray(m.start, m.end));
    try {
      await file.writev(parts);
      await file.datasync();
      this.#started = true;
      this.#stored += rows;
    } catch (e) {
      this.#errors++;
      this.#lastError = (e as Error).message;
      throw new DaqError(
        'DAQ_STORAGE',
        `writing ${rows} frame_stats rows of "${this.instrument}" to ${this.path}: ${this.#lastError}`,
        {
          instrument: this.instrument,
          file: this.path,
        },
      );
    }
  }

  /** Final flush, end-of-stream, close. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const file = this.#file;
    try {
      await this.flush();
      if (file && this.#started) {
        await file.write(IPC_END_OF_STREAM);
        await file.datasync();
      }
    } finally {
      this.#file = undefined;
      await file?.close();
    }
  }

  get stats(): { path: string; rows: number; rowsStored: number; writeErrors: number; lastError?: string } {
    return {
      path: this.path,
      rows: this.#rows,
      rowsStored: this.#stored,
      writeErrors: this.#errors,
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }
}
