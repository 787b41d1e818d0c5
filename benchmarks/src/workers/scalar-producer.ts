// A V4-like producer thread for the scalar benchmarks: appends rows to a ScalarBatchBuilder as
// fast as it can, cuts Arrow IPC batches of `batchRows`, and writes each into its
// SharedArrayBuffer ring the way the V4 worker's ArrowSink does (8-byte header, then the IPC
// stream), blocking while the ring is full.
import { parentPort, workerData } from 'node:worker_threads';
import { Clock, RingWriter, ScalarBatchBuilder, copyBytes } from '@daq/core';

const { rows, batchRows, instruments, epochOffsetNs, sab } = workerData as {
  rows: number;
  batchRows: number;
  instruments: string[];
  epochOffsetNs: bigint;
  sab: SharedArrayBuffer;
};

parentPort!.once('message', () => {
  const clock = new Clock(epochOffsetNs);
  const builder = new ScalarBatchBuilder(batchRows);
  const ring = new RingWriter(sab, { policy: 'block', blockTimeoutMs: 30_000, name: 'bench' });
  // Timestamps advance 1 ns per row from now: increasing, and never ahead of the real clock.
  let ts = clock.nowNs();
  const started = performance.now();
  let sent = 0;
  let seq = 0;
  for (let i = 0; i < rows; i++) {
    builder.append(ts++, instruments[i % instruments.length]!, 'value', i, 'V');
    if (builder.length === batchRows || i === rows - 1) {
      const b = builder.cutIpc()!;
      const view = ring.reserve(8 + b.bytes.byteLength)!;
      const header = new DataView(view.buffer, view.byteOffset, 8);
      header.setUint32(0, b.rows, true);
      header.setUint32(4, seq++, true);
      copyBytes(view, b.bytes, 8);
      ring.commit();
      sent += b.rows;
    }
  }
  ring.flush();
  ring.close();
  parentPort!.postMessage({ done: true, rows: sent, ms: performance.now() - started });
});
