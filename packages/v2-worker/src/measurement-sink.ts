// V2's output: scalar Measurement objects, posted to the broker in small batches (the legacy
// format; V4 uses Arrow). Batches carry a sequence number so the broker can see a gap.

import { BufferedSink, type Measurement, type MeasurementBatchMessage, type PostToBroker, type Reading } from '@daq/core';

export class MeasurementSink extends BufferedSink {
  private items: Measurement[] = [];
  private seq = 0;

  constructor(
    private readonly post: PostToBroker,
    batchRows: number,
    batchIntervalMs: number,
  ) {
    super(batchRows, batchIntervalMs);
  }

  protected append(instrument: string, r: Reading, timestampNs: bigint): void {
    const m: Measurement = { instrument, channel: r.channel, timestampNs, value: r.value, unit: r.unit };
    // Only flagged readings carry the field, so the legacy Measurement shape is unchanged otherwise.
    if (r.flag) {
      m.flag = r.flag;
      m.value = Number.NaN;
    }
    this.items.push(m);
  }

  protected send(): void {
    const message: MeasurementBatchMessage = { type: 'daq:measurements', seq: this.seq++, items: this.items };
    this.items = [];
    this.post(message);
  }
}
