// Benchmarks of the scalar data path (issue: data path; issue 18):
// - scalar.batches: V4 Arrow batches of 1000 rows built and serialised per second in one
//   thread, vs the V2 way of moving the same rows (Measurement objects, structured clone).
// - scalar.e2e: measurements per second from producer threads to disk (Arrow batches
//   through each thread's SharedArrayBuffer ring → MeasurementBridge merge → ScalarFileSink with
//   fdatasync), vs the rate at which the producers made the rows in the same round (1 means the
//   path keeps up with them). Goal: ≥ 1,500,000 measurements/s, judged on the median.
// Process layout: this (main) thread is the broker (ring consumers, bridge, sink); two producer
// threads (workers/scalar-producer.ts) are started once and loaded before anything is timed, then
// make one run per round. Both figures are medians of interleaved rounds, with their spread.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Clock, ScalarBatchBuilder, createRingBuffer, type Measurement } from '@daq/core';
import { MeasurementBridge, RingConsumer, ScalarFileSink } from '@daq/broker';
import { interleave, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';
import type { ProducerDone, ProducerRun } from './workers/scalar-producer.js';

const producerFile = new URL('./workers/scalar-producer.js', import.meta.url);
const INSTRUMENTS = ['pm1', 'pm2', 'stage', 'meter'];

/** Calls `fn` for `seconds` and returns how many calls per second it made. */
function perSecond(seconds: number, fn: () => void): number {
  let n = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    fn();
    n++;
  }
  return (n * 1000) / (performance.now() - started);
}

const BATCH_ROWS = 1000;
const clock = new Clock();
const builder = new ScalarBatchBuilder(BATCH_ROWS);

/** V4: batches of 1000 rows built in Arrow columns and serialised as IPC streams. */
function arrowBatchesPerSecond(seconds: number): number {
  return perSecond(seconds, () => {
    const ts = clock.nowNs();
    for (let i = 0; i < BATCH_ROWS; i++) builder.append(ts + BigInt(i), INSTRUMENTS[i & 3]!, 'value', i, 'V');
    builder.cutIpc();
  });
}

/** V2: the same rows as Measurement objects, moved by structured clone (what postMessage does). */
function objectBatchesPerSecond(seconds: number): number {
  return perSecond(seconds, () => {
    const ts = clock.nowNs();
    const items: Measurement[] = [];
    for (let i = 0; i < BATCH_ROWS; i++)
      items.push({ instrument: INSTRUMENTS[i & 3]!, channel: 'value', timestampNs: ts + BigInt(i), value: i, unit: 'V' });
    structuredClone(items);
  });
}

export interface E2eRound {
  /** Rows stored per second, from the producers' start to the last row on disk (fdatasync'd). */
  rate: number;
  stored: number;
  ms: number;
  /** The rate at which the producers made their rows, summed over the threads. */
  producerRate: number;
  /** CPU time of the whole process (producers, broker thread, GC and I/O threads) per stored row. */
  cpuNsPerRow: number;
}

/** Starts the producer threads and waits until each has loaded (start-up is not part of the data path). */
export async function startProducers(n: number, epochOffsetNs: bigint): Promise<Worker[]> {
  const workers = Array.from(
    { length: n },
    () => new Worker(producerFile, { workerData: { batchRows: 8192, instruments: INSTRUMENTS, epochOffsetNs } }),
  );
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  return workers;
}

/** Something that runs beside one round and follows its run directory (publish.overhead: the publisher). */
export interface RoundCompanion {
  start(dir: string): void | Promise<void>;
  /** After the round's files are closed (not timed). */
  stop(dir: string): void | Promise<void>;
}

export async function endToEnd(
  workers: Worker[],
  rowsEach: number,
  epochOffsetNs: bigint,
  companion?: RoundCompanion,
): Promise<E2eRound> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-bench-scalar-'));
  try {
    await companion?.start(dir);
    const clock = new Clock(epochOffsetNs);
    const bridge = new MeasurementBridge({ latenessMs: 50, tickMs: 10, clock }, []);
    const sink = new ScalarFileSink(dir, { flushIntervalMs: 200, storeSubsystems: new Set(['v4']) });
    bridge.addSink(sink);
    // One ring per producer thread, read on this thread exactly as the supervisor reads V4's.
    const rings = workers.map(() => createRingBuffer(16 << 20, 'bench'));
    const consumers = rings.map(
      (sab, i) =>
        new RingConsumer(sab, (r) => bridge.pushArrow(`p${i}`, 'v4', r.subarray(8)), {
          shouldPause: () => sink.backlog > 2_000_000,
        }),
    );
    const cpu = process.cpuUsage();
    const started = performance.now();
    bridge.start();
    sink.start();
    for (const c of consumers) c.start();
    const done = await Promise.all(
      workers.map((w, i) => {
        const finished = new Promise<ProducerDone>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        });
        const run: ProducerRun = { rows: rowsEach, sab: rings[i]! };
        w.postMessage(run);
        return finished;
      }),
    );
    await Promise.all(consumers.map((c) => c.finish()));
    bridge.drain();
    await sink.close();
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    await companion?.stop(dir);
    const stored = sink.rowsFlushed;
    // Nothing lost: every ring record read, every row merged out and stored.
    const made = done.reduce((n, d) => n + d.rows, 0);
    const counts = Object.values(bridge.counts());
    const rings_ = consumers.map((c) => c.counters());
    if (
      stored !== made ||
      sink.stats.rowsAccepted !== stored ||
      counts.some((c) => c.in !== c.out || c.buffered !== 0) ||
      rings_.some((r) => r.recordsRead !== r.recordsWritten || r.recordsDropped !== 0 || r.recordErrors !== 0)
    ) {
      throw new Error(
        `scalar.e2e lost rows: made ${made}, stored ${stored}; bridge ${JSON.stringify(counts)}; rings ${JSON.stringify(rings_)}`,
      );
    }
    return {
      rate: (stored / ms) * 1000,
      stored,
      ms,
      producerRate: done.reduce((r, d) => r + (d.rows / d.ms) * 1000, 0),
      cpuNsPerRow: ((used.user + used.system) * 1000) / stored,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const E2E_GOAL = 1_500_000;

export const scalarBenchmark: Benchmark = {
  subject: 'scalar',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const rounds = ctx.quick ? 5 : 9;
    const batchSeconds = ctx.quick ? 0.3 : 1;
    const rowsEach = ctx.quick ? 1_000_000 : 2_000_000;
    const producers = 2;
    const epochOffsetNs = new Clock().epochOffsetNs;
    const workers = await startProducers(producers, epochOffsetNs);
    try {
      // One short run first, so that every round measures compiled code, not the JIT warming up.
      await endToEnd(workers, rowsEach / 4, epochOffsetNs);
      const e2eRounds: E2eRound[] = [];
      const r = await interleave(rounds, {
        arrow: () => arrowBatchesPerSecond(batchSeconds),
        objects: () => objectBatchesPerSecond(batchSeconds),
        e2e: async () => {
          const round = await endToEnd(workers, rowsEach, epochOffsetNs);
          e2eRounds.push(round);
          return round.rate;
        },
      });
      const arrow = summarize(r.arrow);
      const objects = summarize(r.objects);
      const arrowVsObjects = summarize(r.arrow.map((a, i) => a / r.objects[i]!));
      const e2e = summarize(r.e2e);
      const vsProducers = summarize(e2eRounds.map((x) => x.rate / x.producerRate));
      const producerRate = summarize(e2eRounds.map((x) => x.producerRate));
      const cpuNsPerRow = summarize(e2eRounds.map((x) => x.cpuNsPerRow));
      const range = (s: ReturnType<typeof summarize>) =>
        s.spread ? ` (p10 ${s.spread.p10!.toFixed(0)}, p90 ${s.spread.p90!.toFixed(0)})` : '';
      ctx.log(
        `scalar.batches: ${arrow.value.toFixed(0)} Arrow batches/s${range(arrow)} vs ${objects.value.toFixed(0)} V2 object batches/s; ` +
          `medians of ${rounds} interleaved rounds of ${batchSeconds} s`,
      );
      ctx.log(
        `scalar.e2e: ${e2e.value.toFixed(0)} rows/s to disk${range(e2e)}, median of ${rounds} rounds of ${producers} × ${rowsEach} rows ` +
          `(after a warm-up run); the producers made them at ${producerRate.value.toFixed(0)} rows/s; ` +
          `${cpuNsPerRow.value.toFixed(0)} ns of CPU per row (all threads); goal >= ${E2E_GOAL}: ${e2e.value >= E2E_GOAL ? 'met' : 'NOT met'}`,
      );
      return [
        {
          name: 'scalar.batches',
          unit: 'batches/s',
          value: arrow.value,
          better: 'higher',
          spread: arrow.spread,
          vs: { 'v2.objects': arrowVsObjects.value },
          details: {
            rowsPerBatch: 1000,
            rounds,
            secondsPerRound: batchSeconds,
            v2ObjectBatchesPerSecond: objects.value,
            v2ObjectSpread: objects.spread,
          },
        },
        {
          name: 'scalar.e2e',
          unit: 'measurements/s',
          value: e2e.value,
          better: 'higher',
          spread: e2e.spread,
          vs: { producers: vsProducers.value },
          goals: [{ text: 'value >= 1,500,000 measurements/s', met: e2e.value >= E2E_GOAL }],
          details: {
            producers,
            rounds,
            rowsPerRound: producers * rowsEach,
            msPerRound: e2eRounds.map((x) => Math.round(x.ms)),
            producersRate: producerRate.value,
            producersRateSpread: producerRate.spread,
            cpuNsPerRow: cpuNsPerRow.value,
            cpuNsPerRowSpread: cpuNsPerRow.spread,
          },
        },
      ];
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  },
};
