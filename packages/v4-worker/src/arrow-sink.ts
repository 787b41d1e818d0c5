// V4's output: readings appended straight into Arrow columns, each batch cut as a
// self-contained IPC stream and written into the worker's SharedArrayBuffer ring (one copy,
// read zero-copy by the broker), or posted with its buffer transferred when no ring is given.
// A ring record is an 8-byte header (rows, sequence) followed by the IPC bytes.

import {
  BufferedSink,
  DaqError,
  RingWriter,
  copyBytes,
  ScalarBatchBuilder,
  type ArrowBatchMessage,
  type PostToBroker,
  type Reading,
  type SubsystemInit,
} from '@daq/core';

/** Bytes before the IPC stream in a ring record: Uint32 rows, Uint32 sequence number. */
export const RING_RECORD_HEADER = 8;

export class ArrowSink extends BufferedSink {
  private readonly builder: ScalarBatchBuilder;
  private readonly ring: RingWriter | undefined;
  private seq = 0;

  constructor(
    private readonly post: PostToBroker,
    batchRows: number,
    batchIntervalMs: number,
    ring?: SubsystemInit['ring'],
  ) {
    super(batchRows, batchIntervalMs);
    this.builder = new ScalarBatchBuilder(Math.min(batchRows, 65536));
    if (ring) this.ring = new RingWriter(ring.sab, { policy: ring.policy, blockTimeoutMs: ring.blockTimeoutMs, name: 'v4' });
  }

  protected append(instrument: string, r: Reading, timestampNs: bigint): void {
    this.builder.append(timestampNs, instrument, r.channel, r.value, r.unit, r.flag);
  }

  protected send(): boolean {
    const batch = this.builder.cutIpc();
    if (!batch) return true;
    if (!this.ring) {
      const message: ArrowBatchMessage = { type: 'daq:arrow', seq: this.seq++, rows: batch.rows, bytes: batch.bytes };
      this.post(message, [batch.bytes.buffer as ArrayBuffer]);
      return true;
    }
    let view: Uint8Array | undefined;
    try {
      view = this.ring.reserve(RING_RECORD_HEADER + batch.bytes.byteLength);
    } catch (e) {
      // A block timeout, or a batch too big for the ring: dropped and counted, never silent.
      if (!(e instanceof DaqError)) throw e;
      return false;
    }
    if (!view) return false; // drop-newest
    const header = new DataView(view.buffer, view.byteOffset, RING_RECORD_HEADER);
    header.setUint32(0, batch.rows, true);
    header.setUint32(4, this.seq++, true);
    copyBytes(view, batch.bytes, RING_RECORD_HEADER);
    this.ring.commit();
    this.ring.flush();
    return true;
  }
}
