// A V4-like producer thread for the scalar benchmarks: appends rows to a ScalarBatchBuilder as
// fast as it can, cuts Arrow IPC batches of `batchRows`, and sends each to the main thread
// (postMessage with the buffer transferred: the V4 worker's transport until the SAB ring).
import { parentPort, workerData } from 'node:worker_threads';
import { Clock, ScalarBatchBuilder } from '@daq/core';

const { rows, batchRows, instruments, epochOffsetNs } = workerData as {
  rows: number;
  batchRows: number;
  instruments: string[];
  epochOffsetNs: bigint;
};

parentPort!.once('message', () => {
  const clock = new Clock(epochOffsetNs);
  const builder = new ScalarBatchBuilder(batchRows);
  // Timestamps advance 1 ns per row from now: increasing, and never ahead of the real clock.
  let ts = clock.nowNs();
  const started = performance.now();
  let sent = 0;
  for (let i = 0; i < rows; i++) {
    builder.append(ts++, instruments[i % instruments.length]!, 'value', i, 'V');
    if (builder.length === batchRows || i === rows - 1) {
      const b = builder.cutIpc()!;
      parentPort!.postMessage({ rows: b.rows, bytes: b.bytes }, [b.bytes.buffer as ArrayBuffer]);
      sent += b.rows;
    }
  }
  parentPort!.postMessage({ done: true, rows: sent, ms: performance.now() - started });
});
