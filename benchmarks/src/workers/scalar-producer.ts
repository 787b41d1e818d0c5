// A V4 producer thread for the scalar benchmarks: V4's own output, the ArrowSink of the V4 worker,
// fed rows as fast as this thread can make them (one reading per call, instruments in turn), cuts
// Arrow IPC batches of `batchRows` into its SharedArrayBuffer ring (8-byte header, then the IPC
// stream), blocking while the ring is full. It says `ready` once loaded, then produces one run per
// message (a fresh ring each time), so the benchmark times the data path, not thread start-up.
import { parentPort, workerData } from 'node:worker_threads';
import { Clock, type Reading } from '@daq/core';
import { ArrowSink } from '@daq/v4-worker';

const { batchRows, instruments, epochOffsetNs } = workerData as {
  batchRows: number;
  instruments: string[];
  epochOffsetNs: bigint;
};

export interface ProducerRun {
  rows: number;
  sab: SharedArrayBuffer;
}

export interface ProducerDone {
  done: true;
  rows: number;
  ms: number;
}

const clock = new Clock(epochOffsetNs);

parentPort!.on('message', ({ rows, sab }: ProducerRun) => {
  const sink = new ArrowSink(
    () => {
      throw new Error('the benchmark producer writes to its ring, never posts');
    },
    batchRows,
    60_000,
    { sab, policy: 'block', blockTimeoutMs: 30_000 },
  );
  // One reading object, refilled per row (the sink copies its fields at once), so the loop measures the sink.
  const reading: Reading = { channel: 'value', value: 0, unit: 'V', timestampNs: 0n };
  const one = [reading];
  // Timestamps advance 1 ns per row from now: increasing, and never ahead of the real clock.
  let ts = clock.nowNs();
  const started = performance.now();
  for (let i = 0; i < rows; i++) {
    reading.value = i;
    reading.timestampNs = ts++;
    sink.accept(instruments[i % instruments.length]!, one, 0n);
  }
  sink.flush();
  const { delivered, dropped } = sink.counts();
  if (dropped > 0) throw new Error(`the producer's ring dropped ${dropped} rows`);
  const done: ProducerDone = { done: true, rows: delivered, ms: performance.now() - started };
  parentPort!.postMessage(done);
});
parentPort!.postMessage('ready');
