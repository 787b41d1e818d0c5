// Benchmark of the SharedArrayBuffer ring (issue: SPSC ring): records of 64 KiB, 1 MiB and 8 MiB
// moved from a producer worker to the main thread through the ring, in GB/s, against baselines
// from the same run: postMessage with a transferred ArrayBuffer, postMessage with a structured
// clone, and a single-thread memcpy (Uint8Array.set) of the same bytes. Every variant writes every
// byte of each record from the same source buffer, and the consumer checks each record's sequence
// number and reads 16 bytes spread over it, so a zero-copy view is not read for free.

import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { RingReader, createRingBuffer } from '@daq/core';
import { spreadOf, type BenchContext, type BenchResult, type Benchmark } from './types.js';
import type { RingProducerJob } from './workers/ring-producer.js';

const workerFile = new URL('./workers/ring-producer.js', import.meta.url);
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [
  { label: '64KiB', bytes: 64 * KiB },
  { label: '1MiB', bytes: MiB },
  { label: '8MiB', bytes: 8 * MiB },
];
const BASELINES = ['memcpy', 'postMessage.transfer', 'postMessage.clone'] as const;
type Variant = 'ring' | (typeof BASELINES)[number];

/**
 * Ring capacity per record size: room for several records, so that the producer rides out short
 * stalls of the main thread, yet small enough to stay in cache. The postMessage baselines get the
 * same bound on bytes in flight, and memcpy writes over a destination of the same size.
 */
const capacityFor = (recordBytes: number) => Math.max(8 * recordBytes, 4 * MiB);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** What a consumer does with each record: checks its sequence number and reads 16 spread bytes. */
let sink = 0;
function touch(bytes: Uint8Array, seq: number): void {
  const got = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  if (got !== seq >>> 0) throw new Error(`record ${seq} arrived as ${got}: out of order`);
  const stride = Math.floor(bytes.length / 16);
  let sum = 0;
  for (let i = 0; i < 16; i++) sum += bytes[i * stride]!;
  sink += sum;
}

/** A producer thread kept for every run of one variant, so runs measure warm, compiled code. */
async function startProducer(job: RingProducerJob): Promise<Worker> {
  const worker = new Worker(workerFile, { workerData: job });
  const [ready] = (await Promise.race([once(worker, 'message'), once(worker, 'error')])) as [unknown];
  if (ready !== 'ready') throw ready instanceof Error ? ready : new Error(`ring benchmark worker: ${String(ready)}`);
  return worker;
}

/** One way of moving `count` records; returns GB/s. */
type Mover = (count: number) => Promise<number>;

/** Through the ring: the producer thread writes records in place, the main thread reads them with waitAsync. */
async function ringMover(recordBytes: number, workers: Worker[]): Promise<Mover> {
  const sab = createRingBuffer(capacityFor(recordBytes), 'bench');
  const reader = new RingReader(sab);
  const worker = await startProducer({ mode: 'ring', recordBytes, ring: sab });
  workers.push(worker);
  const failed = once(worker, 'error').then(([e]) => Promise.reject(e as Error));
  failed.catch(() => undefined);
  return async (count) => {
    const started = performance.now();
    worker.postMessage(count);
    let seq = 0;
    while (seq < count) {
      const bytes = reader.tryRead();
      if (bytes) {
        touch(bytes, seq++);
        continue;
      }
      const r = await Promise.race([reader.waitForData(30_000), failed]);
      if (r !== 'data') throw new Error(`ring benchmark: ${r} after ${seq} of ${count} records`);
    }
    reader.release();
    return (recordBytes * count) / ((performance.now() - started) / 1000) / 1e9;
  };
}

/** By postMessage, with no more records in flight than the ring would hold. */
async function postMessageMover(recordBytes: number, transfer: boolean, workers: Worker[]): Promise<Mover> {
  const credits = new Int32Array(new SharedArrayBuffer(8));
  const window = Math.floor(capacityFor(recordBytes) / recordBytes);
  const mode = transfer ? 'transfer' : 'clone';
  const worker = await startProducer({ mode, recordBytes, credits: credits.buffer as SharedArrayBuffer, window });
  workers.push(worker);
  let onMessage: (m: Uint8Array | 'end') => void = () => undefined;
  let onError: (e: Error) => void = () => undefined;
  worker.on('message', (m: Uint8Array | 'end') => onMessage(m));
  worker.on('error', (e: Error) => onError(e));
  return async (count) => {
    let seq = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      onError = reject;
      onMessage = (m) => {
        if (m === 'end') return resolve();
        touch(m, seq++);
        Atomics.add(credits, 0, 1);
        if (Atomics.load(credits, 1) !== 0) {
          Atomics.store(credits, 1, 0);
          Atomics.notify(credits, 0);
        }
      };
      worker.postMessage(count);
    });
    if (seq !== count) throw new Error(`postMessage benchmark: ${seq} of ${count} records arrived`);
    return (recordBytes * count) / ((performance.now() - started) / 1000) / 1e9;
  };
}

/** One thread copying the records one after another over `dest` (slot after slot), as the ring's producer does. */
function memcpyMover(recordBytes: number, dest: Uint8Array): Mover {
  const source = new Uint8Array(recordBytes);
  for (let i = 0; i < recordBytes; i += 4096) source.fill(i >> 12, i, Math.min(recordBytes, i + 4096));
  const slots = Math.floor(dest.length / recordBytes);
  const views = Array.from({ length: slots }, (_, i) => dest.subarray(i * recordBytes, (i + 1) * recordBytes));
  return async (count) => {
    const started = performance.now();
    for (let seq = 0; seq < count; seq++) {
      const view = views[seq % slots]!;
      view.set(source);
      view[0] = seq;
      view[1] = seq >>> 8;
      view[2] = seq >>> 16;
      view[3] = seq >>> 24;
      touch(view, seq);
    }
    return (recordBytes * count) / ((performance.now() - started) / 1000) / 1e9;
  };
}

async function ringSize(ctx: BenchContext, label: string, recordBytes: number): Promise<BenchResult> {
  // Bytes each run moves: less for the postMessage baselines, which are an order of magnitude
  // slower, yet enough for their allocator to reach its steady state (each message needs new memory).
  const volume = ctx.quick ? 1024 * MiB : 4096 * MiB;
  const postVolume = ctx.quick ? 64 * MiB : 512 * MiB;
  const reps = ctx.quick ? 3 : 5;
  const capacity = capacityFor(recordBytes);
  const records = (bytes: number) => Math.max(16, Math.round(bytes / recordBytes));
  const counts = new Map<Variant, number>([
    ['ring', records(volume)],
    ['memcpy', records(volume)],
    ['postMessage.transfer', records(postVolume)],
    ['postMessage.clone', records(postVolume)],
  ]);
  const workers: Worker[] = [];
  try {
    const movers = new Map<Variant, Mover>([
      ['ring', await ringMover(recordBytes, workers)],
      ['memcpy', memcpyMover(recordBytes, new Uint8Array(capacity))],
      ['postMessage.transfer', await postMessageMover(recordBytes, true, workers)],
      ['postMessage.clone', await postMessageMover(recordBytes, false, workers)],
    ]);
    // Warm-up: JIT, first touch of every buffer's pages, allocators.
    for (const [v, move] of movers) await move(counts.get(v)!);
    // Interleaved runs, so that a slow phase of the machine hits every variant alike; the median
    // of each variant is reported.
    const samples = new Map<Variant, number[]>([...movers.keys()].map((v) => [v, []]));
    for (let r = 0; r < reps; r++) for (const [v, move] of movers) samples.get(v)!.push(await move(counts.get(v)!));
    const value = median(samples.get('ring')!);
    const base = Object.fromEntries(BASELINES.map((b) => [b, median(samples.get(b)!)])) as Record<
      (typeof BASELINES)[number],
      number
    >;
    const vs = Object.fromEntries(BASELINES.map((b) => [b, value / base[b]]));
    const hot = memcpyMover(recordBytes, new Uint8Array(recordBytes));
    await hot(counts.get('memcpy')!); // warm-up
    ctx.log(
      `${label}: ring ${value.toFixed(2)} GB/s; memcpy ${base.memcpy.toFixed(2)}, transfer ${base['postMessage.transfer'].toFixed(2)}, ` +
        `clone ${base['postMessage.clone'].toFixed(2)} GB/s (median of ${reps} runs; ring ${capacity / MiB} MiB)`,
    );
    return {
      name: `ring.${label}`,
      unit: 'GB/s',
      value,
      better: 'higher',
      spread: spreadOf(samples.get('ring')!),
      vs,
      details: {
        recordBytes,
        recordsPerRun: Object.fromEntries(counts),
        runs: reps,
        ringCapacityBytes: capacity,
        samplesGBps: Object.fromEntries(samples),
        baselinesGBps: base,
        memcpy: 'Uint8Array.set of each record into the next slot of an ordinary buffer the size of the ring',
        memcpyOneBufferGBps: await hot(counts.get('memcpy')!),
      },
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export const ringBenchmark: Benchmark = {
  subject: 'ring',
  async run(ctx) {
    const results: BenchResult[] = [];
    for (const { label, bytes } of SIZES) results.push(await ringSize(ctx, label, bytes));
    const mib = results.find((r) => r.name === 'ring.1MiB')!;
    const goals = {
      'ring.1MiB >= 0.7 x memcpy': { ratio: mib.vs.memcpy!, met: mib.vs.memcpy! >= 0.7 },
      'ring.1MiB >= 3 x postMessage.clone': { ratio: mib.vs['postMessage.clone']!, met: mib.vs['postMessage.clone']! >= 3 },
    };
    for (const r of results) r.details = { ...r.details, goals };
    const summary = Object.entries(goals).map(([k, g]) => `${k}: ${g.ratio.toFixed(2)} ${g.met ? 'met' : 'NOT met'}`);
    ctx.log(`goals: ${summary.join('; ')}`);
    return results;
  },
};
