// The batching both subsystems do before posting data to the broker: a batch leaves when it
// holds batch_rows readings or when its oldest reading is batch_interval_ms old, whichever
// comes first; every reading is counted in and out.

import type { Reading, ReadingSink } from './instrument.js';
import type { OutputCounts } from './subsystem-api.js';

export abstract class BufferedSink implements ReadingSink {
  private accepted = 0;
  private delivered = 0;
  private batches = 0;
  private dropped = 0;
  private droppedBatches = 0;
  private buffered = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly batchRows: number,
    private readonly batchIntervalMs: number,
  ) {}

  /** Buffers one reading in the subsystem's own format. */
  protected abstract append(instrument: string, reading: Reading, timestampNs: bigint): void;
  /** Sends everything buffered as one batch; returns false when the batch was dropped (a full ring's policy). */
  protected abstract send(rows: number): boolean | void;

  accept(instrument: string, readings: readonly Reading[], stampNs: bigint): void {
    for (const r of readings) {
      this.append(instrument, r, r.timestampNs ?? stampNs);
      this.accepted++;
      if (++this.buffered >= this.batchRows) this.flush();
    }
    if (this.buffered > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.batchIntervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffered === 0) return;
    const rows = this.buffered;
    this.buffered = 0;
    if (this.send(rows) === false) {
      this.dropped += rows;
      this.droppedBatches++;
      return;
    }
    this.delivered += rows;
    this.batches++;
  }

  counts(): OutputCounts {
    return {
      accepted: this.accepted,
      delivered: this.delivered,
      batches: this.batches,
      dropped: this.dropped,
      droppedBatches: this.droppedBatches,
    };
  }
}
