// Camera previews, the parts: the binning and statistics of computeFramePreview against a naive
// reference (edge bins, scale 1, bit depths under and over 8), the pool task reading a frame in
// place from shared memory and moving its results back, and FramePreviews' schedule on a clock
// of our own (rate per factor and per subscriber, one task at a time, busy and rate counts,
// unsubscribe, a failing subscriber).

import t, { type Test } from 'tap';
import { mulberry32 } from '@daq/core';
import {
  PREVIEW_BINS,
  ProcessingPool,
  computeFramePreview,
  computeFrameStats,
  previewScale,
  type FramePreview,
} from '../src/processing/index.js';
import { framePreview } from '../src/processing/frame-stats-task.js';
import { FramePreviews, type CameraPreview } from '../src/camera/frame-previews.js';

function randomFrame(n: number, bitDepth: number, seed: number): Uint16Array {
  const rand = mulberry32(seed);
  const p = new Uint16Array(n);
  for (let i = 0; i < p.length; i++) p[i] = Math.floor(rand() * 2 ** bitDepth);
  return p;
}

/** The obvious way: each bin's pixels summed, the mean rounded half up in integers. */
function naivePreview(p: Uint16Array, width: number, height: number, bitDepth: number, scale: number) {
  const ow = Math.ceil(width / scale);
  const oh = Math.ceil(height / scale);
  const pixels = new Uint16Array(ow * oh);
  for (let by = 0; by < oh; by++)
    for (let bx = 0; bx < ow; bx++) {
      let sum = 0;
      let count = 0;
      for (let y = by * scale; y < Math.min(height, (by + 1) * scale); y++)
        for (let x = bx * scale; x < Math.min(width, (bx + 1) * scale); x++) {
          sum += p[y * width + x]!;
          count++;
        }
      pixels[by * ow + bx] = Math.floor((2 * sum + count) / (2 * count));
    }
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  const histogram = new Array<number>(PREVIEW_BINS).fill(0);
  for (const v of p) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    histogram[Math.min(PREVIEW_BINS - 1, Math.floor((v * PREVIEW_BINS) / 2 ** bitDepth))]!++;
  }
  return { width: ow, height: oh, pixels, min, max, mean: sum / p.length, histogram };
}

function samePreview(t: Test, got: FramePreview, want: ReturnType<typeof naivePreview>, what: string) {
  t.same([got.width, got.height], [want.width, want.height], `${what}: size`);
  t.ok(got.pixels instanceof Uint16Array && got.pixels.length === want.width * want.height, `${what}: pixels`);
  let bad = -1;
  for (let i = 0; i < want.pixels.length && bad < 0; i++) if (got.pixels[i] !== want.pixels[i]) bad = i;
  t.equal(
    bad,
    -1,
    `${what}: every bin is the rounded mean of its pixels${bad >= 0 ? ` (bin ${bad}: ${got.pixels[bad]} vs ${want.pixels[bad]})` : ''}`,
  );
  t.same([got.min, got.max], [want.min, want.max], `${what}: min, max`);
  t.ok(Math.abs(got.mean - want.mean) <= 1e-9 * Math.max(1, want.mean), `${what}: mean ${got.mean} ≈ ${want.mean}`);
  t.same(Array.from(got.histogram), want.histogram, `${what}: histogram`);
}

t.test('previewScale: the smallest integer factor that fits the longer side', async (t) => {
  t.equal(previewScale(2048, 2048, 512), 4);
  t.equal(previewScale(2048, 1024, 512), 4);
  t.equal(previewScale(2048, 2048, 500), 5, '2048 / 5 = 410 (rounded up): fits 500, 4 would not');
  t.equal(previewScale(256, 128, 512), 1, 'a small frame is not enlarged');
  t.equal(previewScale(1001, 10, 512), 2);
});

t.test('computeFramePreview agrees with a naive reference', async (t) => {
  for (const [width, height, bitDepth, scale, seed] of [
    [2048, 2048, 12, 4, 1], // the Prime BSI case: 512 x 512
    [1001, 997, 16, 2, 2], // edge bins narrower and shorter than the others
    [640, 480, 12, 3, 3],
    [37, 23, 16, 1, 4], // nothing binned: a copy
    [64, 40, 6, 8, 5], // 6-bit pixels: 64 values over 256 bins
    [5, 3, 16, 5, 6], // one bin per row of bins
  ] as const) {
    const p = randomFrame(width * height, bitDepth, seed);
    const { preview, stats } = computeFramePreview(p, width, height, bitDepth, scale);
    t.equal(stats, undefined, 'no statistics unless asked');
    t.equal(preview.scale, scale);
    samePreview(t, preview, naivePreview(p, width, height, bitDepth, scale), `${width}x${height}x${bitDepth} / ${scale}`);
    t.equal(
      preview.histogram.reduce((a, b) => a + b, 0),
      width * height,
      'every pixel counted once',
    );
  }
  // A value over the bit depth goes to the last bin, as in frame_stats.
  const over = new Uint16Array([0, 4095, 4096, 65535]);
  t.same(Array.from(computeFramePreview(over, 2, 2, 12, 2).preview.histogram.subarray(254)), [0, 3]);
  t.same(Array.from(computeFramePreview(over, 2, 2, 12, 2).preview.pixels), [Math.floor((0 + 4095 + 4096 + 65535 + 2) / 4)]);
});

t.test('with statsBins, the statistics are those of computeFrameStats, from the same pass', async (t) => {
  const p = randomFrame(1000 * 600, 12, 7);
  for (const bins of [256, 1024, 16]) {
    const { preview, stats } = computeFramePreview(p, 1000, 600, 12, 4, bins);
    t.same(stats, computeFrameStats(p, 12, bins), `${bins} bins`);
    t.not(preview.histogram.buffer, stats!.histogram.buffer, 'the two histograms are separate arrays (each is moved)');
    t.same([preview.min, preview.max, preview.mean], [stats!.min, stats!.max, stats!.mean]);
  }
});

t.test('bad arguments are DAQ_INVALID_ARGUMENT errors that say what is wrong', async (t) => {
  const p = new Uint16Array(12);
  t.throws(() => computeFramePreview(p, 4, 4, 16, 1), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /4x4 frame needs 16 pixels, not 12/,
  });
  t.throws(() => computeFramePreview(p, 4, 3, 16, 0), { code: 'DAQ_INVALID_ARGUMENT', message: /scale/ });
  t.throws(() => computeFramePreview(p, 4, 3, 16, 5), { code: 'DAQ_INVALID_ARGUMENT', message: /scale/ });
  t.throws(() => computeFramePreview(p, 4, 3, 17, 1), { code: 'DAQ_INVALID_ARGUMENT', message: /bitDepth/ });
  t.throws(() => computeFramePreview(p, 4, 3, 12, 1, 100), { code: 'DAQ_INVALID_ARGUMENT', message: /bins/ });
  t.throws(() => computeFramePreview([] as unknown as Uint16Array, 4, 3, 12, 1), { code: 'DAQ_INVALID_ARGUMENT' });
  const sab = new SharedArrayBuffer(64);
  t.throws(() => framePreview({ sab, byteOffset: 0, width: 8, height: 8, bitDepth: 16, scale: 2 }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /outside the SharedArrayBuffer/,
  });
  t.throws(() => framePreview({ sab, byteOffset: 0, width: 0, height: 8, bitDepth: 16, scale: 2 }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /width/,
  });
});

t.test('the pool previews a frame in place in shared memory and moves pixels and histograms back', async (t) => {
  const pool = new ProcessingPool({ threads: 1 });
  t.teardown(() => pool.close());
  const [width, height] = [512, 300];
  const frame = randomFrame(width * height, 16, 8);
  // The frame at an odd place in a larger SharedArrayBuffer, as a ring record would be.
  const offset = 4104;
  const sab = new SharedArrayBuffer(offset + frame.byteLength + 4096);
  new Uint16Array(sab, offset, frame.length).set(frame);
  const r = await pool.framePreview({ sab, byteOffset: offset, width, height, bitDepth: 16, scale: 4, statsBins: 64 });
  samePreview(t, r.preview, naivePreview(frame, width, height, 16, 4), 'through the pool');
  t.ok(r.preview.pixels.buffer instanceof ArrayBuffer, 'the preview is in memory of its own, not in the shared buffer');
  t.equal(r.preview.pixels.buffer.byteLength, 128 * 75 * 2, 'its buffer holds exactly the preview (it came back whole)');
  t.same(r.stats, computeFrameStats(frame, 16, 64), 'and the statistics of the frame');
  t.same(new Uint16Array(sab, offset, frame.length), frame, 'the shared frame is untouched');
  const bad = await pool
    .framePreview({ sab, byteOffset: offset + 1, width, height, bitDepth: 16, scale: 4 })
    .catch((e: unknown) => e);
  t.match(bad, { code: 'DAQ_INVALID_ARGUMENT', message: /even/ }, "a task's DaqError arrives with its code");
  t.match(pool.counters(), { submitted: 2, completed: 1, failed: 1 });
  t.equal(pool.threads, 1);
});

/** A preview as the pool would give it, for the schedule's tests. */
function fakePreview(scale: number): FramePreview {
  return {
    width: 2,
    height: 2,
    scale,
    pixels: new Uint16Array([1, 2, 3, 4]),
    min: 1,
    max: 4,
    mean: 2.5,
    histogram: new Uint32Array(PREVIEW_BINS),
  };
}

t.test('FramePreviews: rate per factor and per subscriber, one task at a time, everything counted', async (t) => {
  let now = 0;
  const hub = new FramePreviews('cam', () => now);
  t.equal(hub.active, false);
  const got: Record<string, CameraPreview[]> = { a: [], b: [], c: [] };
  const offA = hub.subscribe({ maxSide: 512, maxHz: 10 }, (p) => got.a!.push(p));
  t.equal(hub.active, false, 'nothing is due before the geometry is known');
  t.equal(hub.take(3, true), undefined);
  hub.geometry = { width: 2048, height: 2048, bitDepth: 12, frameBytes: 2048 * 2048 * 2 };
  t.equal(hub.active, true);
  const offB = hub.subscribe({ maxSide: 600, maxHz: 4 }, (p) => got.b!.push(p)); // also scale 4: shared
  const frame = (i: number) => ({ frameIndex: BigInt(i), timestampNs: BigInt(i) * 1000n });

  const j1 = hub.take(3, true)!;
  t.match(j1, { scale: 4, startMs: 0 }, 'the first batch: its newest frame is previewed at once');
  now = 50;
  t.equal(hub.take(1, true), undefined, 'not due yet');
  now = 120;
  t.equal(hub.take(1, true), undefined, 'due, but the previous preview is still being computed');
  hub.deliver(j1, frame(3), fakePreview(4));
  t.equal(got.a!.length, 1);
  t.equal(got.b!.length, 1);
  t.not(got.a![0]!.pixels.buffer, got.b![0]!.pixels.buffer, 'each subscriber has pixels of its own');
  t.match(got.a![0], {
    camera: 'cam',
    frameIndex: 3,
    timestampNs: 3000n,
    width: 2,
    height: 2,
    bitDepth: 12,
    scale: 4,
    min: 1,
    max: 4,
    mean: 2.5,
  });
  t.equal(got.a![0]!.histogram.length, 256);
  t.equal(hub.take(2, false), undefined, 'due, but the pool is at its limit');
  t.match(hub.counts(), { subscribers: 2, produced: 1, skipped: { busy: 2, rate: 2 + 1 + 1 }, failed: 0 });

  // 10 Hz for the group (its fastest subscriber); b (4 Hz) only every 250 ms.
  for (let ms = 130; ms <= 1130; ms += 10) {
    now = ms;
    const job = hub.take(1, true);
    if (job) hub.deliver(job, frame(ms), fakePreview(4));
  }
  const starts = (list: CameraPreview[]) => list.map((p) => p.frameIndex);
  t.same(starts(got.a!).slice(1), [130, 230, 330, 430, 530, 630, 730, 830, 930, 1030, 1130], 'a: every 100 ms');
  t.same(starts(got.b!).slice(1), [330, 630, 930], 'b: at most 4 a second, from the same previews');

  // Another factor is produced separately; the two take turns for the one task slot.
  const offC = hub.subscribe({ maxSide: 256, maxHz: 10 }, (p) => got.c!.push(p));
  now = 1230;
  const jC = hub.take(1, true)!;
  t.equal(jC.scale, 8, 'the more overdue factor first (the new one, never produced)');
  now = 1240;
  t.equal(hub.take(1, true), undefined, 'the other factor waits for the slot');
  hub.deliver(jC, frame(1230), fakePreview(8));
  t.same([got.a!.length, got.c!.length], [12, 1], 'only the subscribers of that factor get it');
  now = 1250;
  const jA = hub.take(1, true)!;
  t.equal(jA.scale, 4);
  hub.fail(new Error('boom'));
  t.match(hub.counts(), { failed: 1, lastError: 'boom' });
  t.equal(got.a!.length, 12);
  offC();

  // A subscriber that throws is reported and does not keep the others from their preview.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const offD = hub.subscribe({ maxSide: 512, maxHz: 10 }, () => {
    throw new Error('subscriber bug');
  });
  now = 1400;
  const jD = hub.take(1, true)!;
  hub.deliver(jD, frame(1400), fakePreview(jD.scale));
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  t.match(warnings, [/camera "cam" previews: a subscriber failed: Error: subscriber bug/]);

  // Unsubscribing all: nothing is due, nothing counted.
  for (const off of [offA, offB, offC, offD, offA]) off();
  t.equal(hub.active, false);
  const before = hub.counts();
  now = 5000;
  t.equal(hub.take(5, true), undefined);
  t.same(hub.counts(), { ...before, subscribers: 0 }, 'frames without subscribers are not counted');
});

t.test('FramePreviews refuses bad options with DAQ_INVALID_ARGUMENT', async (t) => {
  const hub = new FramePreviews('cam');
  const cb = () => undefined;
  t.throws(() => hub.subscribe({ maxSide: 0, maxHz: 1 }, cb), { code: 'DAQ_INVALID_ARGUMENT', message: /maxSide/ });
  t.throws(() => hub.subscribe({ maxSide: 1.5, maxHz: 1 }, cb), { code: 'DAQ_INVALID_ARGUMENT', message: /maxSide/ });
  t.throws(() => hub.subscribe({ maxSide: 512, maxHz: 0 }, cb), { code: 'DAQ_INVALID_ARGUMENT', message: /maxHz/ });
  t.throws(() => hub.subscribe({ maxSide: 512, maxHz: NaN }, cb), { code: 'DAQ_INVALID_ARGUMENT', message: /maxHz/ });
  t.throws(() => hub.subscribe({ maxSide: 512, maxHz: 5 }, undefined as never), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /onPreview/,
  });
  t.equal(hub.subscribers, 0);
});
