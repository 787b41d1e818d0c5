// V4's output: readings appended straight into Arrow columns and posted as self-contained
// IPC streams (the buffer is transferred, not copied). The data-path issue moves these
// batches onto a SharedArrayBuffer ring; the batching and counts stay the same.

import { BufferedSink, ScalarBatchBuilder, type ArrowBatchMessage, type PostToBroker, type Reading } from '@daq/core';

export class ArrowSink extends BufferedSink {
  private readonly builder: ScalarBatchBuilder;
  private seq = 0;

  constructor(
    private readonly post: PostToBroker,
    batchRows: number,
    batchIntervalMs: number,
  ) {
    super(batchRows, batchIntervalMs);
    this.builder = new ScalarBatchBuilder(Math.min(batchRows, 65536));
  }

  protected append(instrument: string, r: Reading, timestampNs: bigint): void {
    this.builder.append(timestampNs, instrument, r.channel, r.value, r.unit);
  }

  protected send(): void {
    const batch = this.builder.cutIpc();
    if (!batch) return;
    const message: ArrowBatchMessage = { type: 'daq:arrow', seq: this.seq++, rows: batch.rows, bytes: batch.bytes };
    this.post(message, [batch.bytes.buffer as ArrayBuffer]);
  }
}
