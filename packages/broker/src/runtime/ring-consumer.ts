// Reads one worker's SharedArrayBuffer ring on the main thread without blocking it
// (Atomics.waitAsync under RingReader.waitForData), hands each record to the broker while it
// is still in the ring (zero-copy: the handler must not keep the view), and pauses while the
// sinks are behind, which shows up as ring backpressure in the worker, counted and reported.

import { RingReader, type RingCounters } from '@daq/core';

export interface RingConsumerOptions {
  /** True while the consumer should not read (the sinks are behind). */
  shouldPause?: () => boolean;
  name?: string;
}

export class RingConsumer {
  private readonly reader: RingReader;
  private stopping = false;
  private loop: Promise<void> | undefined;
  /** Time spent paused for backpressure, and how often it happened. */
  pausedMs = 0;
  pauses = 0;
  /** Records whose handler threw, and the last such error. */
  recordErrors = 0;
  lastError: string | undefined;

  constructor(
    readonly sab: SharedArrayBuffer,
    private readonly onRecord: (record: Uint8Array) => void,
    private readonly options: RingConsumerOptions = {},
  ) {
    this.reader = new RingReader(sab, { name: options.name });
  }

  start(): void {
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.options.shouldPause?.()) {
        const t = performance.now();
        this.pauses++;
        while (this.options.shouldPause() && !this.stopping) await new Promise((r) => setTimeout(r, 5));
        this.pausedMs += performance.now() - t;
      }
      const record = this.reader.tryRead();
      if (record) {
        try {
          this.onRecord(record);
        } catch (e) {
          // A record the broker cannot use (e.g. malformed Arrow): counted and kept as the last
          // error; the loop goes on, so one bad record never stops the data path.
          this.recordErrors++;
          this.lastError = e instanceof Error ? e.message : String(e);
        } finally {
          this.reader.release();
        }
        continue;
      }
      if (this.stopping) return;
      const w = await this.reader.waitForData(50);
      if (w === 'closed' && !this.reader.hasData()) return;
    }
  }

  /** Reads what is left (the producer is done or gone), then stops. Records already in the ring are never lost. */
  async finish(): Promise<void> {
    this.stopping = true;
    this.start();
    await this.loop;
    this.reader.close();
  }

  counters(): RingCounters & { pausedMs: number; pauses: number; recordErrors: number; lastError?: string } {
    return {
      ...this.reader.counters(),
      pausedMs: Math.round(this.pausedMs),
      pauses: this.pauses,
      recordErrors: this.recordErrors,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}
