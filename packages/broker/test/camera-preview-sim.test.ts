// Camera previews end to end: a simulated camera in its real camera worker, frames through its
// ring into the FramePipeline, previews computed in the processing pool from the ring. Checked:
// the geometry of a 2048x2048 camera's previews at maxSide 512; every previewed bin, min, max
// and mean against the frame as stored on disk (and the frame_stats row of that frame); the rate
// bound (at most maxHz + 1 in any second, per subscriber, shared and separate productions);
// unsubscribing stops production; storage loses nothing while previews run; no thread is left.

import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { parseConfig, type DaqConfig } from '@daq/core';
import { CameraManager, type CameraPreview } from '../src/camera/camera-manager.js';
import { assertNoNewHandles, handleSnapshot } from '../../../test/helpers/leaks.js';

const before = handleSnapshot();
const tmp = await mkdtemp(join(tmpdir(), 'daq-camera-preview-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

function cameraConfig(camera = ''): DaqConfig {
  return parseConfig(
    `
[application]
name = "cam-preview"
simulate = true
data_dir = "${tmp}/data"
[v4]
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 5
bit_depth = 12
${camera}
`,
    'camera-preview.toml',
  ).config;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The most arrival times that fall in any window of `ms` (each window starting at an arrival). */
function mostInWindow(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= ms) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

interface Received {
  at: number;
  p: CameraPreview;
}

t.test('a 2048x2048 camera previewed at maxSide 512: 512x512 bins of the stored frames, nothing dropped', async (t) => {
  const dir = join(tmp, 'full');
  // The whole 2048x2048 sensor (8 MiB frames) at 15 fps; frames and their statistics are stored.
  const cameras = new CameraManager(cameraConfig(), {
    epochOffsetNs: 0n,
    dir,
    simSensor: { width: 2048, height: 2048, bitDepth: 12, fps: 15 },
  });
  await cameras.open();
  t.same(cameras.supervisor('cam')!.ready!.geometry, { width: 2048, height: 2048, bitDepth: 12, frameBytes: 2048 * 2048 * 2 });
  const got: Received[] = [];
  const off = cameras.previews('cam', { maxSide: 512, maxHz: 5 }, (p) => got.push({ at: performance.now(), p }));
  cameras.start();
  await until(() => got.length >= 4, 20_000, 'four previews');
  off();
  const produced = cameras.reports()[0]!.previews.produced;
  const [report] = await cameras.stop();

  t.equal(report!.state, 'stopped');
  t.match(report!.dropped, { atSource: 0, ring: 0, storage: 0, total: 0 }, 'storage lost nothing while previews ran');
  t.equal(report!.stored, report!.acquired, 'every frame acquired is stored');
  t.equal(report!.stats!.computed + report!.stats!.skipped, report!.acquired, 'every frame analysed or counted as skipped');
  t.equal(report!.stats!.failed, 0);
  t.match(report!.previews, { subscribers: 0, failed: 0 });
  t.ok(report!.previews.produced >= got.length && report!.previews.produced <= produced + 1, 'produced counts what was made');
  t.ok(report!.previews.skipped.rate > 0, 'frames between previews are counted (rate)');

  for (const { p } of got) {
    t.match(p, { camera: 'cam', width: 512, height: 512, bitDepth: 12, scale: 4 });
    t.equal(p.pixels.length, 512 * 512);
    t.equal(p.histogram.length, 256);
    t.equal(
      p.histogram.reduce((a, b) => a + b, 0),
      2048 * 2048,
      'the histogram counts every full-resolution pixel',
    );
  }
  const indices = got.map((g) => g.p.frameIndex);
  t.same(
    indices,
    [...new Set(indices)].sort((a, b) => a - b),
    'each preview is of a newer frame',
  );

  // Against the frames as stored: every bin the rounded mean of its 4x4 pixels; min, max, mean of the full frame.
  const frames = tableFromIPC(await readFile(report!.files[0]!));
  const stats = tableFromIPC(await readFile(report!.stats!.file));
  const frameIndex = [...frames.getChild('frame_index')!].map(Number);
  // The raw int64 nanoseconds (a Timestamp column reads as milliseconds).
  const timestamps = frames.getChild('timestamp')!.data.flatMap((d) => [...(d.values as BigInt64Array)]);
  const statsIndex = [...stats.getChild('frame_index')!].map(Number);
  for (const { p } of got) {
    const row = frames.get(frameIndex.indexOf(p.frameIndex))!;
    t.equal(
      timestamps[frameIndex.indexOf(p.frameIndex)],
      p.timestampNs,
      `frame ${p.frameIndex}: the timestamp of the stored frame`,
    );
    const bytes = row.pixels as Uint8Array;
    const px = new Uint16Array(bytes.slice().buffer);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of px) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    t.same([p.min, p.max], [min, max], `frame ${p.frameIndex}: min and max of the stored frame`);
    t.ok(Math.abs(p.mean - sum / px.length) < 1e-9, `frame ${p.frameIndex}: mean ${p.mean} = ${sum / px.length}`);
    let bad = 0;
    for (let by = 0; by < 512; by++)
      for (let bx = 0; bx < 512; bx++) {
        let s = 0;
        for (let y = by * 4; y < by * 4 + 4; y++) for (let x = bx * 4; x < bx * 4 + 4; x++) s += px[y * 2048 + x]!;
        if (p.pixels[by * 512 + bx] !== Math.floor((s + 8) / 16)) bad++;
      }
    t.equal(bad, 0, `frame ${p.frameIndex}: every bin is the rounded mean of its 16 stored pixels`);
    // The previewed frame's statistics came from the preview task (one pass for both): its frame_stats row.
    const k = statsIndex.indexOf(p.frameIndex);
    t.ok(k >= 0, `frame ${p.frameIndex} has its frame_stats row`);
    const s = stats.get(k)!;
    t.same([s.min, s.max, s.mean], [p.min, p.max, p.mean], `frame ${p.frameIndex}: the frame_stats row agrees`);
  }
});

t.test('the rate bound, shared and separate productions, and unsubscribe stops production', async (t) => {
  const dir = join(tmp, 'rate');
  // Frames 10 to 20 times faster than the previews asked for.
  const cameras = new CameraManager(cameraConfig('roi = { x = 0, y = 0, width = 512, height = 512 }\nbuffer_frames = 128'), {
    epochOffsetNs: 0n,
    dir,
    simSensor: { width: 2048, height: 2048, bitDepth: 12, fps: 200 },
  });
  await cameras.open();
  const fast: number[] = [];
  const slow: number[] = [];
  const small: Received[] = [];
  const offFast = cameras.previews('cam', { maxSide: 128, maxHz: 10 }, () => fast.push(performance.now()));
  // The same factor (512 / 4 = 128 ≤ 130): shares the 10 Hz production, given at most 4 a second.
  const offSlow = cameras.previews('cam', { maxSide: 130, maxHz: 4 }, () => slow.push(performance.now()));
  // Another factor (8): produced on its own.
  const offSmall = cameras.previews('cam', { maxSide: 64, maxHz: 10 }, (p) => small.push({ at: performance.now(), p }));
  cameras.start();
  await until(() => cameras.reports()[0]!.acquired >= 300, 20_000, '300 frames');
  const at = performance.now();
  offFast();
  offSlow();
  offSmall();
  let calledAfter = 0;
  const stopped = cameras.reports()[0]!.previews;
  t.equal(stopped.subscribers, 0);
  // What was in flight finishes; then nothing more is made, while frames keep coming.
  await new Promise((r) => setTimeout(r, 100));
  const settled = cameras.reports()[0]!;
  await until(() => cameras.reports()[0]!.acquired >= settled.acquired + 100, 20_000, '100 more frames');
  const [report] = await cameras.stop();
  calledAfter = [...fast, ...slow, ...small.map((s) => s.at)].filter((x) => x > at).length;

  t.comment(
    `previews in ${((at - small[0]!.at) / 1000).toFixed(2)} s: fast ${fast.length}, slow ${slow.length}, small ${small.length}; counts ${JSON.stringify(report!.previews)}`,
  );
  t.ok(fast.length >= 5 && slow.length >= 2 && small.length >= 5, 'every subscriber got previews');
  t.ok(mostInWindow(fast, 1000) <= 10 + 1, `10 Hz: at most 11 in any second (${mostInWindow(fast, 1000)})`);
  t.ok(
    mostInWindow(slow, 1000) <= 4 + 1,
    `4 Hz sharing the 10 Hz production: at most 5 in any second (${mostInWindow(slow, 1000)})`,
  );
  t.ok(
    mostInWindow(
      small.map((s) => s.at),
      1000,
    ) <=
      10 + 1,
    'the other factor: at most 11 in any second',
  );
  for (const { p } of small) t.match(p, { width: 64, height: 64, scale: 8 });
  t.equal(calledAfter, 0, 'no subscriber was called after unsubscribing');
  t.equal(report!.previews.produced, settled.previews.produced, 'no preview was made after the last unsubscribe');
  t.match(report!.previews, { subscribers: 0, failed: 0 });
  // The broker's side lost nothing: every frame the camera worker took was stored. (At 200 fps a
  // machine busy elsewhere may starve the camera worker: such losses are the camera's, atSource.)
  t.match(report!.dropped, { ring: 0, storage: 0 }, 'storage and the ring lost nothing while previews ran');
  t.equal(report!.stored, report!.acquired, 'every frame acquired is stored');
  if (report!.dropped.atSource > 0) t.comment(`${report!.dropped.atSource} frame(s) lost at the camera`);
});

t.test('a camera without statistics: the pool starts for the first subscriber and ends at stop', async (t) => {
  const cameras = new CameraManager(cameraConfig('roi = { x = 0, y = 0, width = 256, height = 256 }\nstats = false'), {
    epochOffsetNs: 0n,
    dir: join(tmp, 'nostats'),
    simSensor: { width: 2048, height: 2048, bitDepth: 12, fps: 100 },
  });
  await cameras.open();
  cameras.start();
  const got: CameraPreview[] = [];
  const off = cameras.previews('cam', { maxSide: 1000, maxHz: 20 }, (p) => got.push(p));
  await until(() => got.length >= 3, 20_000, 'three previews');
  off();
  const [report] = await cameras.stop();
  t.match(got[0], { width: 256, height: 256, scale: 1 }, 'a frame smaller than maxSide is previewed as it is');
  t.equal(report!.stats, undefined, 'no statistics');
  // As above: the broker's side loses nothing; a machine busy elsewhere may starve the camera
  // worker at 100 fps, and those losses are the camera's (atSource), counted.
  t.match(report!.dropped, { ring: 0, storage: 0 }, 'storage and the ring lost nothing');
  t.equal(report!.dropped.total, report!.dropped.atSource, 'any loss is counted at the camera');
  if (report!.dropped.atSource > 0) t.comment(`${report!.dropped.atSource} frame(s) lost at the camera`);
  t.ok(report!.previews.produced >= 3);
});

t.test('unknown cameras, bad options and a stopped camera are refused with what is wrong', async (t) => {
  const cameras = new CameraManager(cameraConfig(), { epochOffsetNs: 0n, dir: join(tmp, 'refused') });
  const cb = () => undefined;
  t.throws(() => cameras.previews('kam', { maxSide: 512, maxHz: 5 }, cb), {
    code: 'DAQ_CAMERA',
    message: 'no camera "kam" to preview: the cameras are "cam"',
    facts: { instrument: 'kam', cameras: ['cam'] },
  });
  t.throws(() => cameras.previews('cam', { maxSide: 0, maxHz: 5 }, cb), { code: 'DAQ_INVALID_ARGUMENT' });
  const none = new CameraManager(parseConfig('[application]\nname = "none"\n[v4]\n', 'none.toml').config, {
    epochOffsetNs: 0n,
    dir: join(tmp, 'none'),
  });
  t.throws(() => none.previews('cam', { maxSide: 512, maxHz: 5 }, cb), { code: 'DAQ_CAMERA', message: /has no camera/ });
  await cameras.stop();
  t.throws(() => cameras.previews('cam', { maxSide: 512, maxHz: 5 }, cb), { code: 'DAQ_CLOSED' });
});

t.test('no camera threads, pool threads, files or timers are left', async (t) => {
  await assertNoNewHandles(t, before, 'camera or pool handles');
});
