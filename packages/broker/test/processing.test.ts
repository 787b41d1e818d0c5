// Frame processing: computeFrameStats against a naive reference, the piscina pool reading frames
// straight from shared memory (and its counters, failures and shutdown), and the frame_stats Arrow
// stream read back by apache-arrow and by polars (Rust Arrow).

import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tableFromIPC } from 'apache-arrow';
import { transferableSymbol, valueSymbol } from 'piscina';
import { DaqError, mulberry32 } from '@daq/core';
import {
  FRAME_STATS_SCHEMA,
  FrameStatsBatchBuilder,
  ProcessingPool,
  computeFrameStats,
  framePixels,
  type FrameStats,
  type FrameStatsTask,
} from '../src/processing/index.js';
import frameStatsTask from '../src/processing/frame-stats-task.js';

const pl = createRequire(import.meta.url)('nodejs-polars') as typeof import('nodejs-polars');

/** The obvious way: per pixel, float bin width, two-pass standard deviation. */
function naiveStats(p: Uint16Array, bitDepth: number, bins: number): FrameStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  const histogram = new Uint32Array(bins);
  const width = 2 ** bitDepth / bins;
  for (const v of p) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    histogram[Math.min(Math.floor(v / width), bins - 1)]!++;
  }
  const mean = sum / p.length;
  let ss = 0;
  for (const v of p) ss += (v - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(ss / p.length), histogram };
}

function randomFrame(n: number, bitDepth: number, seed: number): Uint16Array {
  const rand = mulberry32(seed);
  const p = new Uint16Array(n);
  for (let i = 0; i < n; i++) p[i] = Math.floor(rand() * 2 ** bitDepth);
  return p;
}

function sameStats(t: Test, got: FrameStats, want: FrameStats, what: string) {
  t.equal(got.min, want.min, `${what}: min`);
  t.equal(got.max, want.max, `${what}: max`);
  t.ok(Math.abs(got.mean - want.mean) <= 1e-12 * Math.max(1, want.mean), `${what}: mean ${got.mean} ≈ ${want.mean}`);
  t.ok(Math.abs(got.std - want.std) <= 1e-9 * Math.max(1, want.std), `${what}: std ${got.std} ≈ ${want.std}`);
  t.same(Array.from(got.histogram), Array.from(want.histogram), `${what}: histogram`);
  t.ok(got.histogram instanceof Uint32Array, `${what}: histogram is a Uint32Array`);
}

const osThreads = () => readdirSync('/proc/self/task').length;

t.test('computeFrameStats agrees with a naive reference on random 12- and 16-bit frames', async (t) => {
  for (const [bitDepth, bins, n, seed] of [
    [12, 256, 1001 * 997, 1],
    [12, 4096, 640 * 480, 2],
    [16, 256, 1000 * 1003, 3],
    [16, 1024, 4099, 4],
    [16, 1, 17, 5],
    [12, 16, 3, 6],
  ] as const) {
    const p = randomFrame(n, bitDepth, seed);
    const got = computeFrameStats(p, bitDepth, bins);
    sameStats(t, got, naiveStats(p, bitDepth, bins), `${bitDepth}-bit, ${bins} bins, ${n} px`);
    t.equal(
      got.histogram.reduce((a, b) => a + b, 0),
      n,
      'every pixel counted once',
    );
  }
  t.end();
});

t.test('a constant frame has std exactly 0 and one full bin', async (t) => {
  for (const [v, bitDepth, bins, bin] of [
    [0, 12, 16, 0],
    [1234, 12, 16, 4],
    [4095, 12, 4096, 4095],
    [65535, 16, 256, 255],
  ] as const) {
    const p = new Uint16Array(3200 * 32).fill(v);
    const s = computeFrameStats(p, bitDepth, bins);
    t.match(s, { min: v, max: v, mean: v, std: 0 }, `all ${v}`);
    t.equal(s.histogram[bin], p.length);
    t.equal(s.histogram.length, bins);
  }
  t.end();
});

t.test('edge values: 0 and 65535 on a full-size frame, values over the bit depth go to the last bin', async (t) => {
  // Half 0, half 65535 over 3200x3200 pixels: Σv² ≈ 2.2e16 > 2^53, where a one-pass double sum is inexact.
  const n = 3200 * 3200;
  const p = new Uint16Array(n);
  p.fill(65535, n / 2);
  const s = computeFrameStats(p, 16, 256);
  t.match(s, { min: 0, max: 65535, mean: 32767.5, std: 32767.5 });
  t.equal(s.histogram[0], n / 2);
  t.equal(s.histogram[255], n / 2);

  // One pixel off the constant: std = sqrt(n-1)/n · 65535, exact to the last bit.
  p.fill(65535);
  p[0] = 0;
  const one = computeFrameStats(p, 16, 2);
  t.equal(one.std, (Math.sqrt(n - 1) / n) * 65535);
  t.same(Array.from(one.histogram), [1, n - 1]);

  // A 12-bit camera reporting values above 4095 (hot pixels, a wrong bit depth): counted in the last bin.
  const q = new Uint16Array([0, 4095, 4096, 65535, 2048, 100]);
  sameStats(t, computeFrameStats(q, 12, 16), naiveStats(q, 12, 16), '12-bit with overflow');
  t.same(Array.from(computeFrameStats(q, 12, 16).histogram), [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3]);
  t.match(computeFrameStats(q, 12, 16), { min: 0, max: 65535 });

  // bins = 1 and bins = 2^bitDepth.
  t.same(Array.from(computeFrameStats(q, 12, 1).histogram), [6]);
  const r = new Uint16Array([0, 1, 1, 255, 256, 7]);
  const full = computeFrameStats(r, 8, 256).histogram;
  t.equal(full.length, 256);
  t.same([full[0], full[1], full[7], full[254], full[255]], [1, 2, 1, 0, 2]);
  t.same(Array.from(computeFrameStats(new Uint16Array([0, 1, 1, 5]), 1, 2).histogram), [1, 3]);
  t.end();
});

t.test('bad arguments are DAQ_INVALID_ARGUMENT errors that say what is wrong', async (t) => {
  const p = new Uint16Array(4);
  const cases: [() => unknown, RegExp][] = [
    [() => computeFrameStats(p, 0, 1), /bitDepth must be an integer from 1 to 16, not 0/],
    [() => computeFrameStats(p, 17, 16), /bitDepth must be an integer from 1 to 16, not 17/],
    [() => computeFrameStats(p, 12.5, 16), /bitDepth .* not 12\.5/],
    [() => computeFrameStats(p, 12, 3), /bins must be a power of two from 1 to 2\^bitDepth \(4096 for 12-bit pixels\), not 3/],
    [() => computeFrameStats(p, 12, 0), /bins .* not 0/],
    [() => computeFrameStats(p, 12, 0.5), /bins .* not 0\.5/],
    [() => computeFrameStats(p, 12, 8192), /bins .* not 8192/],
    [() => computeFrameStats(p, 8, 512), /\(256 for 8-bit pixels\), not 512/],
    [() => computeFrameStats(new Uint16Array(0), 12, 16), /a frame must have 1 to 2\^32-1 pixels, not 0/],
    [() => computeFrameStats(new Uint8Array(4) as unknown as Uint16Array, 12, 16), /pixels must be a Uint16Array/],
  ];
  for (const [call, message] of cases) {
    t.throws(call, { name: 'DaqError', code: 'DAQ_INVALID_ARGUMENT', message });
    try {
      call();
    } catch (err) {
      t.ok(err instanceof DaqError);
    }
  }
  t.end();
});

t.test('the task module views the pixels in the shared memory itself and moves the histogram back', async (t) => {
  const sab = new SharedArrayBuffer(4096 + 200);
  const task: FrameStatsTask = { sab, byteOffset: 4096, byteLength: 200, bitDepth: 12, bins: 16 };
  const view = framePixels(task);
  t.equal(view.buffer, sab, 'a view of the SharedArrayBuffer, not a copy');
  t.match(view, { byteOffset: 4096, length: 100 });
  view[5] = 4000;
  const result = frameStatsTask(task) as unknown as Record<symbol, unknown>;
  const stats = result[valueSymbol] as FrameStats;
  t.match(stats, { min: 0, max: 4000 });
  t.equal(result[transferableSymbol], stats.histogram.buffer, "the histogram's buffer is marked for transfer");

  const thrown = (task: unknown) => {
    try {
      frameStatsTask(task as FrameStatsTask);
    } catch (err) {
      return err;
    }
    return undefined;
  };
  t.match(thrown({ ...task, byteOffset: 1 }), { daqError: true, code: 'DAQ_INVALID_ARGUMENT', message: /must be even/ });
  t.notOk(thrown({ ...task, byteOffset: 1 }) instanceof Error, 'thrown as plain data, which survives structured clone');
  t.match(thrown(undefined), { code: 'DAQ_INVALID_ARGUMENT', message: /sab must be a SharedArrayBuffer/ });
  t.match(thrown({ ...task, byteOffset: 0.5 }), { message: /byteOffset \(0\.5\) must be an integer ≥ 0/ });
  t.match(thrown({ ...task, byteLength: 4096 }), {
    message: /bytes 4096\.\.8192 lie outside the SharedArrayBuffer of 4296 bytes/,
    facts: { byteOffset: 4096, byteLength: 4096, sabBytes: 4296 },
  });
  const boom = new Error('boom');
  const withGetter = {
    ...task,
    get bitDepth(): number {
      throw boom;
    },
  };
  t.equal(thrown(withGetter), boom, 'other errors pass unchanged');
  t.end();
});

t.test('the pool reads a frame at a non-zero offset of a SharedArrayBuffer without copying it', async (t) => {
  const pool = new ProcessingPool({ threads: 1 });
  t.teardown(() => pool.close());
  const width = 3200;
  const height = 3200;
  const frameBytes = width * height * 2;
  const sab = new SharedArrayBuffer(4096 + frameBytes + 4096);
  // Guards before and after the frame hold values the frame never has: reading them would show in min/max.
  new Uint16Array(sab).fill(65535);
  const frame = new Uint16Array(sab, 4096, width * height);
  const rand = mulberry32(42);
  for (let i = 0; i < frame.length; i++) frame[i] = 100 + Math.floor(rand() * 3000);
  const task: FrameStatsTask = { sab, byteOffset: 4096, byteLength: frameBytes, bitDepth: 12, bins: 256 };

  const first = await pool.frameStats(task);
  sameStats(t, first, naiveStats(frame, 12, 256), 'frame at offset 4096');
  t.ok(first.max < 3100 && first.min >= 100, 'the guards around the frame were not read');

  // Proof the worker reads the shared memory: piscina posts the task synchronously in run() to the
  // idle worker, so a copy (of the task or the pixels) would be taken before the next line; the
  // worker reaches the last pixel ~10 ms later and sees the value written after submission. A copy
  // could never see it; a sharing worker misses it only if this thread stalls ~10 ms between the
  // two lines (a loaded machine), hence a few attempts: one sighting is the proof.
  const last = frame.length - 1;
  const before = frame[last]!;
  let attempts = 0;
  let seen: FrameStats | undefined;
  while (!seen && attempts < 5) {
    attempts++;
    frame[last] = before;
    const pending = pool.frameStats(task);
    frame[last] = 4095;
    const result = await pending;
    if (result.max === 4095) seen = result;
  }
  t.ok(seen, `the mutation made after submission was seen (attempt ${attempts})`);
  t.equal(seen?.histogram[255], first.histogram[255]! + 1, 'as one more pixel in the top bin');
  t.same(pool.counters(), { submitted: 1 + attempts, completed: 1 + attempts, failed: 0, queued: 0, threads: 1 });
});

t.test('many concurrent tasks on a 2-thread pool all complete with their own results', async (t) => {
  const pool = new ProcessingPool({ threads: 2 });
  t.teardown(() => pool.close());
  t.equal(pool.counters().threads, 2, 'threads started at once');
  const tasks = 60;
  const pixels = 64 * 1024;
  const stride = pixels * 2 + 64;
  const sab = new SharedArrayBuffer(tasks * stride);
  const expected: FrameStats[] = [];
  for (let k = 0; k < tasks; k++) {
    const frame = new Uint16Array(sab, k * stride + 64, pixels);
    const rand = mulberry32(k);
    for (let i = 0; i < pixels; i++) frame[i] = k * 1000 + Math.floor(rand() * (k + 1) * 10);
    expected.push(naiveStats(frame, 16, 64));
  }
  const results = Array.from({ length: tasks }, (_, k) =>
    pool.frameStats({ sab, byteOffset: k * stride + 64, byteLength: pixels * 2, bitDepth: 16, bins: 64 }),
  );
  t.equal(pool.backlog, tasks, 'all submitted, none settled yet');
  let maxThreads = 0;
  const sampler = setInterval(() => (maxThreads = Math.max(maxThreads, pool.counters().threads)), 1);
  const got = await Promise.all(results);
  clearInterval(sampler);
  got.forEach((s, k) => sameStats(t, s, expected[k]!, `task ${k}`));
  t.ok(maxThreads <= 2, `never more than 2 threads (saw ${maxThreads})`);
  t.same(pool.counters(), { submitted: tasks, completed: tasks, failed: 0, queued: 0, threads: 2 });
  t.equal(pool.backlog, 0);
});

t.test('a failing task rejects with its DaqError and the pool keeps working', async (t) => {
  const pool = new ProcessingPool({ threads: 2 });
  t.teardown(() => pool.close());
  const sab = new SharedArrayBuffer(8192);
  new Uint16Array(sab).fill(7);
  const good: FrameStatsTask = { sab, byteOffset: 4096, byteLength: 4096, bitDepth: 12, bins: 16 };
  const bad: [Partial<FrameStatsTask>, RegExp][] = [
    [{ byteOffset: 4097 }, /byteOffset \(4097\) and byteLength \(4096\) must be even: pixels are uint16/],
    [{ byteLength: 3 }, /must be even/],
    [{ byteOffset: 6144 }, /bytes 6144\.\.10240 lie outside the SharedArrayBuffer of 8192 bytes/],
    [{ byteOffset: -2 }, /byteOffset \(-2\) must be an integer ≥ 0/],
    [{ byteLength: 0 }, /byteLength \(0\) an integer > 0/],
    [{ sab: new ArrayBuffer(8192) as unknown as SharedArrayBuffer }, /sab must be a SharedArrayBuffer/],
    [{ bins: 3 }, /bins must be a power of two/],
  ];
  for (const [change, message] of bad) {
    const err = await pool.frameStats({ ...good, ...change }).catch((e: unknown) => e);
    t.ok(err instanceof DaqError, 'a DaqError again on this side');
    t.match(err, { code: 'DAQ_INVALID_ARGUMENT', message });
    t.match(await pool.frameStats(good), { min: 7, max: 7, std: 0 }, 'the next task still runs');
  }
  t.match(
    await pool.frameStats({ ...good, byteOffset: 4097 }).catch((e: unknown) => e),
    { facts: { byteOffset: 4097, byteLength: 4096, sabBytes: 8192 } },
    'facts cross the thread boundary',
  );
  const unclonable = { ...good, extra: () => 1 } as FrameStatsTask;
  await t.rejects(pool.frameStats(unclonable), {
    code: 'DAQ_WORKER',
    message: /processing pool task failed: .*could not be cloned/,
  });
  const n = bad.length;
  t.same(pool.counters(), { submitted: 2 * n + 2, completed: n, failed: n + 2, queued: 0, threads: 2 });
  t.equal(pool.backlog, 0);
});

t.test('a full queue rejects with DAQ_WORKER and counts the task as failed', async (t) => {
  const pool = new ProcessingPool({ threads: 1, maxQueue: 1 });
  t.teardown(() => pool.close());
  const sab = new SharedArrayBuffer(2 * 8_000_000);
  const task: FrameStatsTask = { sab, byteOffset: 0, byteLength: sab.byteLength, bitDepth: 16, bins: 16 };
  await pool.frameStats(task); // the worker is up and idle
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => pool.frameStats(task)));
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected', 'rejected'],
    'one running, one waiting, two turned away',
  );
  t.match((results[2] as PromiseRejectedResult).reason, {
    code: 'DAQ_WORKER',
    message: /queue is full \(maxQueue 1, all 1 threads busy\).*raise threads or maxQueue/,
    facts: { maxQueue: 1, threads: 1 },
  });
  t.same(pool.counters(), { submitted: 5, completed: 3, failed: 2, queued: 0, threads: 1 });
});

t.test('close waits for submitted tasks, stops every worker thread, and is idempotent', async (t) => {
  await readFile(new URL(import.meta.url)); // libuv's thread pool starts now, not during the count
  const before = osThreads();
  const pool = new ProcessingPool({ threads: 2 });
  const sab = new SharedArrayBuffer(2 * 1_000_000);
  new Uint16Array(sab).fill(9);
  const task: FrameStatsTask = { sab, byteOffset: 0, byteLength: sab.byteLength, bitDepth: 16, bins: 16 };
  await pool.frameStats(task);
  t.ok(osThreads() >= before + 2, `two more OS threads while open (${before} → ${osThreads()})`);
  const pending = Array.from({ length: 6 }, () => pool.frameStats(task));
  const closing = pool.close();
  t.equal(pool.close(), closing, 'a second close is the same close');
  const all = await Promise.all(pending);
  t.equal(all.length, 6);
  t.ok(all.every((s) => s.mean === 9));
  await closing;
  await pool[Symbol.asyncDispose]();
  t.same(pool.counters(), { submitted: 7, completed: 7, failed: 0, queued: 0, threads: 0 });
  t.equal(pool.backlog, 0);
  t.ok(osThreads() <= before, `worker threads gone (${osThreads()} OS threads, ${before} before the pool)`);
  t.notOk(process.getActiveResourcesInfo().includes('Worker'), 'no active Worker handle');
  await t.rejects(pool.frameStats(task), { name: 'DaqError', code: 'DAQ_CLOSED', message: /processing pool is closed/ });
  t.equal(pool.counters().submitted, 7, 'a refused task is not counted as submitted');
});

t.test('bad pool options are DAQ_INVALID_ARGUMENT', async (t) => {
  t.throws(() => new ProcessingPool({ threads: 0 }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /threads must be an integer ≥ 1, not 0/,
  });
  t.throws(() => new ProcessingPool({ threads: 1.5 }), { code: 'DAQ_INVALID_ARGUMENT', message: /not 1\.5/ });
  t.throws(() => new ProcessingPool({ threads: 1, maxQueue: -1 }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /maxQueue must be an integer ≥ 0, not -1/,
  });
  t.end();
});

const statsOf = (min: number, max: number, mean: number, std: number, histogram: number[]): FrameStats => ({
  min,
  max,
  mean,
  std,
  histogram: Uint32Array.from(histogram),
});

t.test('frame_stats batches are self-contained Arrow IPC streams that apache-arrow reads back', async (t) => {
  const b = new FrameStatsBatchBuilder();
  t.equal(b.cut(), undefined, 'nothing to cut');
  b.append(1_700_000_000_000_000_001n, 'cam1', 0n, statsOf(1, 4095, 2047.5, 1182.5, [1, 2, 3, 4]));
  b.append(1_700_000_000_000_000_002n, 'cam2', 0xffffffffffffffffn, statsOf(0, 65535, 0.25, 0, [7]));
  b.append(1_700_000_000_000_000_003n, 'cam1', 1n, statsOf(5, 6, 5.5, 0.5, [0, 0, 9, 0]));
  t.equal(b.rows, 3);
  const bytes = b.cut()!;
  t.equal(b.rows, 0);
  t.equal(b.appended, 3);
  t.equal(b.cut(), undefined, 'cut starts a new batch');

  const table = tableFromIPC(bytes);
  t.equal(table.numRows, 3);
  t.equal(table.batches.length, 1);
  t.same(
    table.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
    FRAME_STATS_SCHEMA.fields.map((f) => [f.name, String(f.type), false]),
  );
  t.same(
    table.schema.fields.map((f) => String(f.type)),
    ['Timestamp<NANOSECOND, UTC>', 'Dictionary<Int32, Utf8>', 'Uint64', 'Uint16', 'Uint16', 'Float64', 'Float64', 'List<Uint32>'],
  );
  const col = (name: string) => table.getChild(name)!;
  t.same(Array.from(col('timestamp').data[0]!.values as BigInt64Array), [
    1_700_000_000_000_000_001n,
    1_700_000_000_000_000_002n,
    1_700_000_000_000_000_003n,
  ]);
  t.same(col('instrument').toArray(), ['cam1', 'cam2', 'cam1']);
  t.same(Array.from(col('frame_index').toArray() as BigUint64Array), [0n, 0xffffffffffffffffn, 1n]);
  t.same(Array.from(col('min').toArray()), [1, 0, 5]);
  t.same(Array.from(col('max').toArray()), [4095, 65535, 6]);
  t.same(Array.from(col('mean').toArray()), [2047.5, 0.25, 5.5]);
  t.same(Array.from(col('std').toArray()), [1182.5, 0, 0.5]);
  const hist = [0, 1, 2].map((i) => Array.from(col('histogram').get(i)!.toArray() as Uint32Array));
  t.same(hist, [[1, 2, 3, 4], [7], [0, 0, 9, 0]]);

  // Past the initial capacity, and a second cut carries the whole dictionary again.
  for (let i = 0; i < 150; i++) {
    b.append(BigInt(i), i % 2 ? 'cam3' : 'cam2', BigInt(i), statsOf(i, i + 1, i + 0.5, 0.5, new Array(256).fill(i)));
  }
  const next = tableFromIPC(b.cut()!);
  t.equal(next.numRows, 150);
  t.same(next.getChild('instrument')!.toArray().slice(0, 3), ['cam2', 'cam3', 'cam2']);
  t.same(Array.from(next.getChild('histogram')!.get(149)!.toArray() as Uint32Array), new Array(256).fill(149));
  t.same(Array.from(next.getChild('min')!.toArray()).slice(-2), [148, 149]);
  t.equal(b.appended, 153);
});

t.test('polars reads a frame_stats stream with the same values', async (t) => {
  const b = new FrameStatsBatchBuilder();
  const frame = randomFrame(10_000, 12, 9);
  const s = computeFrameStats(frame, 12, 8);
  b.append(10n, 'cam1', 0n, s);
  b.append(20n, 'cam2', 1n, statsOf(3, 3, 3, 0, [0, 5, 0, 0, 0, 0, 0, 0]));
  const df = pl.readIPCStream(Buffer.from(b.cut()!));
  t.same(df.shape, { height: 2, width: 8 });
  t.same(df.columns, ['timestamp', 'instrument', 'frame_index', 'min', 'max', 'mean', 'std', 'histogram']);
  t.same(
    df.dtypes.map((d) => String(d)),
    [
      'DataType(Datetime(ns,UTC))',
      'DataType(Categorical)',
      'DataType(UInt64)',
      'DataType(UInt16)',
      'DataType(UInt16)',
      'DataType(Float64)',
      'DataType(Float64)',
      'DataType(List(DataType(UInt32)))',
    ],
  );
  t.same(df.getColumn('instrument').cast(pl.Utf8).toArray(), ['cam1', 'cam2']);
  t.same(df.getColumn('frame_index').toArray(), [0n, 1n]);
  t.same(df.getColumn('timestamp').cast(pl.Int64).toArray(), [10n, 20n]);
  t.same(df.getColumn('min').toArray(), [s.min, 3]);
  t.same(df.getColumn('max').toArray(), [s.max, 3]);
  t.same(df.getColumn('mean').toArray(), [s.mean, 3]);
  t.same(df.getColumn('std').toArray(), [s.std, 0]);
  t.same(
    df
      .getColumn('histogram')
      .toArray()
      .map((h) => Array.from(h as unknown as ArrayLike<number>)),
    [Array.from(s.histogram), [0, 5, 0, 0, 0, 0, 0, 0]],
  );
});

t.test('append refuses rows that do not fit the schema', async (t) => {
  const b = new FrameStatsBatchBuilder();
  t.throws(() => b.append(0n, 'cam1', -1n, statsOf(0, 1, 0.5, 0.5, [1])), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /frame index -1 is not a uint64/,
  });
  t.throws(() => b.append(0n, 'cam1', 1n << 64n, statsOf(0, 1, 0.5, 0.5, [1])), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => b.append(0n, 'cam1', 0n, statsOf(0, 70000, 0.5, 0.5, [1])), {
    message: /min 0 and max 70000 are not uint16 values/,
  });
  t.throws(() => b.append(0n, 'cam1', 0n, statsOf(5, 4, 0.5, 0.5, [1])), { message: /min ≤ max/ });
  t.throws(() => b.append(0n, 'cam1', 0n, { ...statsOf(0, 1, 0.5, 0.5, []), histogram: [1] as unknown as Uint32Array }), {
    message: /histogram must be a Uint32Array/,
  });
  t.equal(b.rows, 0, 'nothing half-appended');
  t.end();
});
