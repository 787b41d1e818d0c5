// Benchmarks of the scalar data path (issue: data path):
// - scalar.batches: V4 Arrow batches of 1000 rows built and serialised per second in one
//   thread, vs the V2 way of moving the same rows (Measurement objects, structured clone).
// - scalar.e2e: measurements per second from producer threads to disk (Arrow batches
//   through each thread's SharedArrayBuffer ring → MeasurementBridge merge → ScalarFileSink with fdatasync), vs the rate at which the
//   producers made the rows in the same run (1 means the path keeps up with them).
//   Goal: ≥ 1,000,000 measurements/s.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Clock, ScalarBatchBuilder, createRingBuffer, type Measurement } from '@daq/core';
import { MeasurementBridge, RingConsumer, ScalarFileSink } from '@daq/broker';
import type { BenchContext, BenchResult, Benchmark } from './types.js';

const producerFile = new URL('./workers/scalar-producer.js', import.meta.url);
const INSTRUMENTS = ['pm1', 'pm2', 'stage', 'meter'];

function batchesPerSecond(seconds: number): { arrow: number; objects: number } {
  const clock = new Clock();
  const rows = 1000;
  const measure = (fn: () => void) => {
    let n = 0;
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      fn();
      n++;
    }
    return n / seconds;
  };
  const builder = new ScalarBatchBuilder(rows);
  const arrow = measure(() => {
    const ts = clock.nowNs();
    for (let i = 0; i < rows; i++) builder.append(ts + BigInt(i), INSTRUMENTS[i & 3]!, 'value', i, 'V');
    builder.cutIpc();
  });
  const objects = measure(() => {
    const ts = clock.nowNs();
    const items: Measurement[] = [];
    for (let i = 0; i < rows; i++)
      items.push({ instrument: INSTRUMENTS[i & 3]!, channel: 'value', timestampNs: ts + BigInt(i), value: i, unit: 'V' });
    structuredClone(items);
  });
  return { arrow, objects };
}

async function endToEnd(
  producers: number,
  rowsEach: number,
): Promise<{ rate: number; stored: number; ms: number; producerRate: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-bench-scalar-'));
  const clock = new Clock();
  const bridge = new MeasurementBridge({ latenessMs: 50, tickMs: 10, clock }, []);
  const sink = new ScalarFileSink(dir, { flushIntervalMs: 200, storeSubsystems: new Set(['v4']) });
  bridge.addSink(sink);
  let producerRate = 0;
  // One ring per producer thread, read on this thread exactly as the supervisor reads V4's.
  const rings = Array.from({ length: producers }, () => createRingBuffer(16 << 20, 'bench'));
  const consumers = rings.map(
    (sab, i) =>
      new RingConsumer(sab, (r) => bridge.pushArrow(`p${i}`, 'v4', r.subarray(8)), {
        shouldPause: () => sink.backlog > 2_000_000,
      }),
  );
  const workers = rings.map(
    (sab) =>
      new Worker(producerFile, {
        workerData: { rows: rowsEach, batchRows: 8192, instruments: INSTRUMENTS, epochOffsetNs: clock.epochOffsetNs, sab },
      }),
  );
  const finished = workers.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.on('message', (m: { rows: number; ms: number }) => {
          producerRate += (m.rows / m.ms) * 1000;
          resolve();
        });
        w.once('error', reject);
      }),
  );
  await new Promise((r) => setTimeout(r, 500)); // let the threads load
  const started = performance.now();
  bridge.start();
  sink.start();
  for (const c of consumers) c.start();
  for (const w of workers) w.postMessage('go');
  await Promise.all(finished);
  await Promise.all(consumers.map((c) => c.finish()));
  bridge.drain();
  await sink.close();
  const ms = performance.now() - started;
  await Promise.all(workers.map((w) => w.terminate()));
  await rm(dir, { recursive: true, force: true });
  const stored = sink.rowsFlushed;
  return { rate: (stored / ms) * 1000, stored, ms, producerRate };
}

export const scalarBenchmark: Benchmark = {
  subject: 'scalar',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const b = batchesPerSecond(ctx.quick ? 1 : 3);
    ctx.log(`scalar.batches: ${b.arrow.toFixed(0)} Arrow batches/s vs ${b.objects.toFixed(0)} V2 object batches/s`);
    const rowsEach = ctx.quick ? 1_000_000 : 4_000_000;
    const e2e = await endToEnd(2, rowsEach);
    if (e2e.stored !== 2 * rowsEach) throw new Error(`scalar.e2e stored ${e2e.stored} of ${2 * rowsEach} rows`);
    ctx.log(
      `scalar.e2e: ${e2e.rate.toFixed(0)} rows/s to disk (${e2e.stored} rows in ${e2e.ms.toFixed(0)} ms); the producers made them at ${e2e.producerRate.toFixed(0)} rows/s`,
    );
    return [
      {
        name: 'scalar.batches',
        unit: 'batches/s',
        value: b.arrow,
        better: 'higher',
        vs: { 'v2.objects': b.arrow / b.objects },
        details: { rowsPerBatch: 1000, v2ObjectBatchesPerSecond: b.objects },
      },
      {
        name: 'scalar.e2e',
        unit: 'measurements/s',
        value: e2e.rate,
        better: 'higher',
        vs: { producers: e2e.rate / e2e.producerRate },
        details: {
          producers: 2,
          rows: e2e.stored,
          ms: Math.round(e2e.ms),
          producersRate: e2e.producerRate,
          goal: '>= 1,000,000 measurements/s',
          met: e2e.rate >= 1_000_000,
        },
      },
    ];
  },
};
