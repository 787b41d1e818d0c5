// Tests of the PVCAM driver against the fake libpvcam (C, compiled by gcc, loaded through koffi):
// opening by name, geometry and pixel content, lossless and latest retrieval, frames lost at the
// source, vendor failures with their codes, and that every path releases the camera and library.

import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { DaqError, createSdkUsers, patternPixel, type CameraSettings, type FrameRef } from '@daq/core';
import { buildFakePvcam, fakePvcamControl } from '@daq/sim';
import { PvcamCamera, type PvcamCameraOptions } from '../src/camera/pvcam.js';
import { CIRC_NO_OVERWRITE, CIRC_OVERWRITE, EXT_TRIG_INTERNAL, TIMED_MODE } from '../src/camera/pvcam-constants.js';

const library = buildFakePvcam();
const fake = fakePvcamControl(library);
const INSTRUMENT = 'cam1';

const camera = (cameraName = 'pvcam0', extra: Partial<PvcamCameraOptions> = {}) =>
  new PvcamCamera({ library, cameraName, instrument: INSTRUMENT, ...extra });

const settings = (extra: Partial<CameraSettings> = {}): CameraSettings => ({
  exposureMs: 5,
  binning: 1,
  bufferFrames: 64, // slack for a busy machine: 64 frame periods before the reader falls behind
  roi: { x: 0, y: 0, width: 64, height: 64 },
  ...extra,
});

t.beforeEach(() => fake.reset());
t.teardown(() => fake.reset());

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepMs = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

/** Nothing left behind: no open camera, library uninitialised, no sensor thread, no FRAME_INFO. */
function assertReleased(t: Test) {
  t.equal(fake.get('open_cameras'), 0, 'no camera left open');
  t.equal(fake.get('initialized'), 0, 'PVCAM uninitialised');
  t.equal(fake.get('threads_alive'), 0, 'no sensor thread left');
  t.equal(fake.get('frame_info_structs'), 0, 'every FRAME_INFO released');
}

/** Polls next() the way the camera worker does (every ~0.2 ms) until `count` frames were taken. */
function collect(cam: PvcamCamera, count: number, onFrame?: (f: FrameRef) => void, timeoutMs = 5000): number[] {
  const nrs: number[] = [];
  const deadline = performance.now() + timeoutMs;
  while (nrs.length < count) {
    const frame = cam.next();
    if (frame) {
      onFrame?.(frame);
      nrs.push(frame.frameNr);
      cam.release();
      continue;
    }
    if (performance.now() > deadline) throw new Error(`only ${nrs.length} of ${count} frames within ${timeoutMs} ms`);
    sleepMs(0.2);
  }
  return nrs;
}

/** The first pixel of `bytes` that differs from the test pattern of frame `frameNr`, or -1. */
function patternMismatch(bytes: Uint8Array, frameNr: number, bitDepth: number): number {
  const px = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  for (let i = 0; i < px.length; i++) if (px[i] !== patternPixel(frameNr, i, bitDepth)) return i;
  return -1;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function caught(fn: () => unknown): DaqError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DaqError) return e;
    throw e;
  }
  throw new Error('expected a DaqError');
}

t.test('a missing library is a DAQ_CAMERA error naming the path and what to do', async (t) => {
  const missing = '/nonexistent/pvcam/libpvcam.so.2';
  const err = caught(() => new PvcamCamera({ library: missing, cameraName: 'pvcam0', instrument: INSTRUMENT }).open());
  t.equal(err.code, 'DAQ_CAMERA');
  t.match(err.message, missing);
  t.match(err.message, /No such file/);
  t.match(err.message, /Install the PVCAM SDK/);
  t.match(err.message, /\[v4\] pvcam_library/);
  t.equal(err.facts.library, missing);
});

t.test('a library without the PVCAM functions is refused by name', async (t) => {
  const err = caught(() => new PvcamCamera({ library: 'libc.so.6', cameraName: 'pvcam0', instrument: INSTRUMENT }).open());
  t.equal(err.code, 'DAQ_CAMERA');
  t.match(err.message, /libc\.so\.6 is not a usable PVCAM library \(pl_pvcam_init/);
});

t.test('opens a camera by name and reports its sensor', async (t) => {
  fake.set('cameras', 3);
  fake.set('width', 640);
  fake.set('height', 480);
  fake.set('bit_depth', 12);
  const cam = camera('pvcam2');
  t.equal(cam.kind, 'pvcam');
  const info = cam.open();
  t.same(info, { name: 'pvcam2', width: 640, height: 480, bitDepth: 12 });
  t.equal(cam.open(), info, 'open() again returns the same camera');
  t.equal(fake.get('open_cameras'), 1);
  t.equal(fake.get('initialized'), 1);
  cam.close();
  cam.close();
  assertReleased(t);
  t.same(cam.open(), info, 'a closed camera opens again');
  cam[Symbol.dispose]();
  assertReleased(t);
});

t.test('an unknown camera name lists the cameras PVCAM has, with a did-you-mean', async (t) => {
  fake.set('cameras', 2);
  const err = caught(() => camera('pvcma1').open());
  t.equal(err.code, 'DAQ_CAMERA');
  t.match(err.message, '"pvcma1" of instrument cam1');
  t.match(err.message, '("pvcam0", "pvcam1")');
  t.match(err.message, 'did you mean "pvcam1"?');
  t.same(err.facts, { instrument: INSTRUMENT, camera: 'pvcma1', cameras: ['pvcam0', 'pvcam1'] });
  assertReleased(t);
});

t.test('ROI and binning set the geometry; every pixel of every frame is the pattern, in order', async (t) => {
  fake.set('width', 640);
  fake.set('height', 480);
  fake.set('bit_depth', 12);
  fake.set('fps', 200);
  const cam = camera();
  cam.open();
  const geometry = cam.configure(settings({ roi: { x: 64, y: 32, width: 256, height: 128 }, binning: 2 }));
  t.same(geometry, { width: 128, height: 64, bitDepth: 12, frameBytes: 128 * 64 * 2 });
  t.equal(fake.get('last_buffer_mode'), CIRC_NO_OVERWRITE, 'oldest retrieval is CIRC_NO_OVERWRITE');
  t.equal(fake.get('last_exp_mode'), TIMED_MODE);
  cam.start();
  t.equal(fake.get('acquiring'), 1);
  const mismatches: number[] = [];
  const nrs = collect(cam, 6, (f) => {
    t.equal(f.bytes.byteLength, geometry.frameBytes);
    mismatches.push(patternMismatch(f.bytes, f.frameNr, 12));
  });
  t.same(nrs, range(1, 6), 'frames 1..6 in order');
  t.same(mismatches, [-1, -1, -1, -1, -1, -1], 'every pixel matches patternPixel');
  t.same(cam.counters(), { framesRetrieved: 6, framesLostAtSource: 0 });
  cam.stop();
  t.equal(fake.get('threads_alive'), 0, 'stop joins the sensor thread');
  cam.close();
  assertReleased(t);
});

t.test('a full-sensor frame is the default ROI and full frames keep the pattern', async (t) => {
  fake.set('width', 512);
  fake.set('height', 384);
  fake.set('fps', 100);
  const cam = camera();
  cam.open();
  const geometry = cam.configure({ exposureMs: 10, binning: 1, bufferFrames: 4 });
  t.same(geometry, { width: 512, height: 384, bitDepth: 16, frameBytes: 512 * 384 * 2 });
  cam.start();
  const bad: number[] = [];
  t.same(
    collect(cam, 3, (f) => bad.push(patternMismatch(f.bytes, f.frameNr, 16))),
    [1, 2, 3],
  );
  t.same(bad, [-1, -1, -1]);
  cam.close();
  assertReleased(t);
});

t.test('settings the camera cannot take are DAQ_INVALID_ARGUMENT naming the instrument', async (t) => {
  fake.set('width', 640);
  fake.set('height', 480);
  const cam = camera();
  cam.open();
  const cases: [Partial<CameraSettings>, RegExp][] = [
    [{ roi: { x: 600, y: 0, width: 64, height: 64 } }, /does not fit the 640x480 sensor/],
    [{ roi: { x: 0, y: 0, width: 100, height: 64 }, binning: 3 }, /not divisible by binning 3/],
    [{ roi: { x: -1, y: 0, width: 64, height: 64 } }, /whole numbers/],
    [{ binning: 0 }, /whole numbers/],
    [{ bufferFrames: 1 }, /buffer_frames must be a whole number >= 2/],
    [{ exposureMs: 0 }, /exposure_ms must be > 0/],
    [{ retrieval: 'newest' as 'latest' }, /retrieval must be/],
    [{ roi: { x: 0, y: 0, width: 640, height: 480 }, bufferFrames: 8000 }, /exceeds PVCAM's 4 GiB limit/],
  ];
  for (const [extra, message] of cases) {
    const err = caught(() => cam.configure(settings(extra)));
    t.equal(err.code, 'DAQ_INVALID_ARGUMENT', String(message));
    t.match(err.message, message);
    t.match(err.message, /^instrument cam1 \(camera "pvcam0"\)/);
    t.equal(err.facts.instrument, INSTRUMENT);
  }
  t.equal(fake.get('last_exposure'), -1, 'nothing reached pl_exp_setup_cont');
  cam.close();
  assertReleased(t);
});

t.test('oldest retrieval is lossless at 500 fps (200 frames, 256x256)', async (t) => {
  fake.set('fps', 500);
  const cam = camera();
  cam.open();
  cam.configure(settings({ roi: { x: 512, y: 512, width: 256, height: 256 }, exposureMs: 2 }));
  cam.start();
  const firstPixels: number[] = [];
  const nrs = collect(cam, 200, (f) => firstPixels.push(f.bytes[0]! | (f.bytes[1]! << 8)));
  t.same(nrs, range(1, 200), 'every frame, in order');
  t.same(firstPixels, range(1, 200), 'each view shows its own frame');
  t.same(cam.counters(), { framesRetrieved: 200, framesLostAtSource: 0 });
  t.equal(fake.get('frames_lost'), 0);
  cam.close();
  assertReleased(t);
});

t.test('frames the sensor loses are counted exactly from frame-number gaps', async (t) => {
  fake.set('fps', 500);
  fake.set('lose_every', 7);
  const cam = camera();
  cam.open();
  cam.configure(settings({ exposureMs: 2 }));
  cam.start();
  const nrs = collect(cam, 60);
  const expected = range(1, 100)
    .filter((n) => n % 7 !== 0)
    .slice(0, 60);
  t.same(nrs, expected, 'every 7th number missing, the rest in order');
  const last = nrs.at(-1)!;
  t.equal(cam.counters().framesLostAtSource, Math.floor(last / 7));
  t.ok(fake.get('frames_lost_sensor') >= Math.floor(last / 7));
  cam.close();
  assertReleased(t);
});

t.test('when the reader stops, a full buffer loses new frames at the source: gaps counted exactly', async (t) => {
  fake.set('fps', 100);
  const cam = camera();
  cam.open();
  cam.configure(settings({ bufferFrames: 4, exposureMs: 10 }));
  cam.start();
  sleepMs(150); // ~15 frames produced, 4 fit
  const nrs = collect(cam, 10);
  cam.stop();
  t.same(nrs.slice(0, 4), [1, 2, 3, 4], 'the buffer kept the oldest frames (no overwrite)');
  t.ok(nrs[4]! > 5, `a gap after frame 4 (next was ${nrs[4]})`);
  const lostInGaps = nrs.reduce((sum, n, i) => sum + (n - (i === 0 ? 0 : nrs[i - 1]!) - 1), 0);
  t.equal(cam.counters().framesLostAtSource, lostInGaps);
  t.equal(cam.counters().framesLostAtSource, fake.get('frames_lost'), 'the driver counted every frame the fake dropped');
  t.ok(fake.get('frames_lost') > 0);
  cam.close();
  assertReleased(t);
});

t.test('latest retrieval hands out the newest frame and counts the skipped ones', async (t) => {
  fake.set('fps', 500);
  const cam = camera();
  cam.open();
  cam.configure(settings({ retrieval: 'latest', bufferFrames: 8, exposureMs: 2 }));
  t.equal(fake.get('last_buffer_mode'), CIRC_OVERWRITE, 'latest retrieval is CIRC_OVERWRITE');
  cam.start();
  const nrs: number[] = [];
  const bad: number[] = [];
  for (let i = 0; i < 5; i++) {
    sleepMs(20);
    nrs.push(...collect(cam, 1, (f) => bad.push(patternMismatch(f.bytes, f.frameNr, 16))));
  }
  t.ok(
    nrs.every((n, i) => i === 0 || n > nrs[i - 1]! + 1),
    `strictly increasing with skipped frames: ${nrs}`,
  );
  t.same(bad, [-1, -1, -1, -1, -1]);
  t.same(cam.counters(), { framesRetrieved: 5, framesLostAtSource: nrs.at(-1)! - 5 });
  t.ok(fake.get('frames_overwritten') > 0, 'the camera overwrote unread frames');
  cam.close();
  assertReleased(t);
});

t.test('late frames arrive late but in order, and none is lost', async (t) => {
  fake.set('fps', 200);
  fake.set('late_every', 5);
  fake.set('late_ms', 40);
  const cam = camera();
  cam.open();
  cam.configure(settings());
  cam.start();
  const arrivals: number[] = [];
  const nrs = collect(cam, 12, () => arrivals.push(performance.now()));
  t.same(nrs, range(1, 12));
  t.same(cam.counters(), { framesRetrieved: 12, framesLostAtSource: 0 });
  t.ok(arrivals[4]! - arrivals[3]! >= 30, `frame 5 came ${(arrivals[4]! - arrivals[3]!).toFixed(1)} ms after frame 4`);
  t.ok(arrivals[9]! - arrivals[8]! >= 30, `frame 10 came ${(arrivals[9]! - arrivals[8]!).toFixed(1)} ms after frame 9`);
  cam.close();
  assertReleased(t);
});

t.test('vendor failures are DAQ_CAMERA errors with the function, code and message', async (t) => {
  t.test('pl_cam_open', async (t) => {
    fake.set('fail_open', 777);
    const err = caught(() => camera().open());
    t.equal(err.code, 'DAQ_CAMERA');
    t.same(err.facts, { instrument: INSTRUMENT, camera: 'pvcam0', pvcamCode: 777, pvcamFunction: 'pl_cam_open' });
    t.match(err.message, /^pl_cam_open failed on PVCAM camera "pvcam0" \(instrument cam1\)/);
    t.match(err.message, /error 777: PL_ERR_FAKE_INJECTED: simulated failure \(error 777\)/);
    t.match(err.message, /another program/);
    assertReleased(t);
    const cam = camera();
    t.ok(cam.open(), 'the failure happened once');
    cam.close();
  });
  t.test('pl_exp_setup_cont', async (t) => {
    fake.set('fail_setup', 185);
    const cam = camera();
    cam.open();
    const err = caught(() => cam.configure(settings()));
    t.same(err.facts, { instrument: INSTRUMENT, camera: 'pvcam0', pvcamCode: 185, pvcamFunction: 'pl_exp_setup_cont' });
    t.match(err.message, /error 185: PL_ERR_CONFIGURATION_INVALID/);
    t.match(caught(() => cam.start()).message, /configure\(\) it first/, 'a failed configure leaves nothing to start');
    cam.close();
    assertReleased(t);
  });
  t.test('pl_exp_start_cont', async (t) => {
    fake.set('fail_start', 778);
    const cam = camera();
    cam.open();
    cam.configure(settings());
    const err = caught(() => cam.start());
    t.same(err.facts, { instrument: INSTRUMENT, camera: 'pvcam0', pvcamCode: 778, pvcamFunction: 'pl_exp_start_cont' });
    t.match(caught(() => cam.next()).message, /start\(\) it first/);
    cam.close();
    assertReleased(t);
  });
  t.test('out-of-order calls reach the vendor error text too', async (t) => {
    const cam = camera();
    cam.open();
    fake.reset(); // PVCAM uninitialised behind the driver's back
    const err = caught(() => cam.configure(settings()));
    t.equal(err.facts.pvcamCode, 157);
    t.match(err.message, /PL_ERR_LIBRARY_NOT_INITIALIZED/);
    const closeErr = caught(() => cam.close());
    t.equal(closeErr.facts.pvcamFunction, 'pl_cam_close');
    t.equal(fake.get('frame_info_structs'), 0, 'close still released what it held');
    assertReleased(t);
  });
  t.test('a stop that fails still lets close release everything', async (t) => {
    fake.set('fps', 500);
    const cam = camera();
    cam.open();
    cam.configure(settings({ exposureMs: 2 }));
    cam.start();
    fake.reset(); // the library goes away mid-acquisition
    const err = caught(() => cam.stop());
    t.same(err.facts, { instrument: INSTRUMENT, camera: 'pvcam0', pvcamCode: 157, pvcamFunction: 'pl_exp_stop_cont' });
    t.equal(caught(() => cam.close()).facts.pvcamFunction, 'pl_cam_close');
    cam.close();
    assertReleased(t);
  });
});

t.test('a readout failure is a DAQ_CAMERA error from next(), and close still cleans up', async (t) => {
  fake.set('fps', 500);
  fake.set('readout_fail_after', 5);
  fake.set('readout_fail_code', 1014);
  const cam = camera();
  cam.open();
  cam.configure(settings({ exposureMs: 2 }));
  cam.start();
  let err: DaqError | undefined;
  const nrs: number[] = [];
  const deadline = performance.now() + 5000;
  while (!err && performance.now() < deadline) {
    try {
      const f = cam.next();
      if (f) {
        nrs.push(f.frameNr);
        cam.release();
      } else sleepMs(0.2);
    } catch (e) {
      err = e as DaqError;
    }
  }
  t.ok(err, 'next() threw');
  t.equal(err!.code, 'DAQ_CAMERA');
  t.same(err!.facts, { instrument: INSTRUMENT, camera: 'pvcam0', pvcamCode: 1014, pvcamFunction: 'pl_exp_check_cont_status' });
  t.match(err!.message, /READOUT_FAILED/);
  t.match(err!.message, /PL_ERR_READOUT_FAILED/);
  t.same(nrs, range(1, nrs.length), 'frames before the failure were in order');
  t.ok(nrs.length <= 5);
  cam.close();
  assertReleased(t);
});

t.test('exposure goes in ms when whole, in µs when finer, rounded when the camera has only ms', async (t) => {
  const cam = camera();
  cam.open();
  cam.configure(settings({ exposureMs: 5 }));
  t.same([fake.get('last_exp_res'), fake.get('last_exposure')], [0, 5]);
  cam.configure(settings({ exposureMs: 2.5 }));
  t.same([fake.get('last_exp_res'), fake.get('last_exposure')], [1, 2500]);
  cam.close();
  fake.set('exp_res_modes', 1);
  cam.open();
  cam.configure(settings({ exposureMs: 2.5 }));
  t.same([fake.get('last_exp_res'), fake.get('last_exposure')], [0, 3]);
  cam.close();
  fake.set('exp_res_modes', 4); // seconds only
  cam.open();
  cam.configure(settings({ exposureMs: 2000 }));
  t.same([fake.get('last_exp_res'), fake.get('last_exposure')], [2, 2]);
  t.match(caught(() => cam.configure(settings({ exposureMs: 1 }))).message, /outside what the camera can be given/);
  cam.close();
  fake.set('exp_res_modes', 0); // no PARAM_EXP_RES: pl_exp_setup_cont takes ms
  cam.open();
  cam.configure(settings({ exposureMs: 2.4 }));
  t.same([fake.get('last_exp_res'), fake.get('last_exposure')], [0, 2]);
  cam.close();
  assertReleased(t);
});

t.test('frames carrying metadata do not match the geometry: configure says so', async (t) => {
  fake.set('metadata_bytes', 48);
  const cam = camera();
  cam.open();
  const err = caught(() => cam.configure(settings()));
  t.equal(err.code, 'DAQ_CAMERA');
  t.match(err.message, /reports 8240 B frames, expected 8192 B \(64x64 16-bit pixels\); is frame metadata enabled\?/);
  t.match(caught(() => cam.start()).message, /configure\(\) it first/);
  cam.close();
  assertReleased(t);
});

t.test('sCMOS cameras that do not list TIMED_MODE are set up with EXT_TRIG_INTERNAL', async (t) => {
  fake.set('modern_triggers', 1);
  fake.set('fps', 500);
  const cam = camera();
  cam.open();
  cam.configure(settings({ exposureMs: 2 }));
  t.equal(fake.get('last_exp_mode'), EXT_TRIG_INTERNAL);
  cam.start();
  t.same(collect(cam, 5), range(1, 5));
  cam.close();
  assertReleased(t);
});

t.test('stopping and starting again runs a fresh acquisition', async (t) => {
  fake.set('fps', 500);
  const cam = camera();
  cam.open();
  cam.configure(settings({ exposureMs: 2 }));
  cam.start();
  cam.start(); // already running: nothing happens
  t.same(collect(cam, 3), [1, 2, 3]);
  t.ok(cam.next() !== undefined || true);
  cam.release();
  cam.stop();
  cam.stop();
  t.equal(fake.get('threads_alive'), 0);
  cam.start();
  t.same(collect(cam, 3), [1, 2, 3], 'numbers restart with the acquisition');
  t.same(cam.counters(), { framesRetrieved: 3, framesLostAtSource: 0 });
  cam.close();
  assertReleased(t);
});

t.test('calls out of order are DAQ_CAMERA errors; release without a frame does nothing', async (t) => {
  fake.set('fps', 500);
  const cam = camera();
  t.match(
    caught(() => cam.configure(settings())).message,
    /^configure\(\) on camera "pvcam0" \(instrument cam1\): open\(\) it first/,
  );
  t.match(caught(() => cam.start()).message, /open\(\) it first/);
  t.match(caught(() => cam.next()).message, /start\(\) it first/);
  cam.release();
  cam.stop();
  cam.open();
  cam.configure(settings({ exposureMs: 2 }));
  cam.start();
  t.match(caught(() => cam.configure(settings())).message, /stop\(\) the acquisition first/);
  let frame: FrameRef | undefined;
  while (!(frame = cam.next())) sleepMs(0.2);
  t.match(caught(() => cam.next()).message, /release\(\) the previous frame first/);
  cam.release();
  cam.release();
  cam.close(); // stops the acquisition on the way
  assertReleased(t);
});

t.test('two cameras share one PVCAM initialisation; the last close uninitialises', async (t) => {
  fake.set('cameras', 2);
  const a = camera('pvcam0');
  const b = camera('pvcam1');
  a.open();
  b.open();
  t.equal(fake.get('open_cameras'), 2);
  a.close();
  t.equal(fake.get('initialized'), 1, 'still initialised for the other camera');
  t.equal(fake.get('open_cameras'), 1);
  b.close();
  assertReleased(t);

  const shared = createSdkUsers();
  const c = camera('pvcam0', { sdkState: shared });
  const d = camera('pvcam1', { sdkState: shared });
  c.open();
  d.open();
  t.equal(Atomics.load(shared, 0), 2, 'the shared count sees both users');
  d.close();
  t.equal(fake.get('initialized'), 1);
  c.close();
  assertReleased(t);
  t.match(caught(() => camera('pvcam0', { sdkState: new Int32Array(3) })).message, /createSdkUsers/);
});

t.test('PVCAM initialised by someone else is tolerated and left initialised', async (t) => {
  const lib = koffi.load(library);
  const init = lib.func('uint16_t pl_pvcam_init(void)');
  const uninit = lib.func('uint16_t pl_pvcam_uninit(void)');
  t.equal(init(), 1);
  const cam = camera();
  t.ok(cam.open());
  cam.close();
  t.equal(fake.get('initialized'), 1, 'the driver did not uninitialise what it did not initialise');
  t.equal(uninit(), 1);
  assertReleased(t);
});

t.test('FAKE_PVCAM_* environment variables configure the fake unless set explicitly', async (t) => {
  process.env.FAKE_PVCAM_CAMERAS = '2';
  process.env.FAKE_PVCAM_WIDTH = '320';
  process.env.FAKE_PVCAM_HEIGHT = '200';
  t.teardown(() => {
    delete process.env.FAKE_PVCAM_CAMERAS;
    delete process.env.FAKE_PVCAM_WIDTH;
    delete process.env.FAKE_PVCAM_HEIGHT;
  });
  fake.set('height', 100);
  const cam = camera('pvcam1');
  t.same(cam.open(), { name: 'pvcam1', width: 320, height: 100, bitDepth: 16 });
  cam.close();
  assertReleased(t);
});

t.test('the fake lays FRAME_INFO out as pvcam.h does, and rejects unknown switches', async (t) => {
  t.equal(fake.get('sizeof_frame_info'), 48);
  t.equal(fake.get('offsetof_frame_nr'), 20);
  t.throws(() => fake.set('no_such_switch' as 'fps', 1), /no switch "no_such_switch"/);
  t.throws(() => fake.get('no_such_reading' as 'fps'), /no reading "no_such_reading"/);
});

t.test('without gcc the fake cannot be built, and the error says what to install', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvcam-no-gcc-'));
  const saved = { PATH: process.env.PATH, TMPDIR: process.env.TMPDIR };
  t.teardown(() => {
    process.env.PATH = saved.PATH;
    if (saved.TMPDIR === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved.TMPDIR;
    rmSync(dir, { recursive: true, force: true });
  });
  process.env.TMPDIR = dir; // an empty cache
  process.env.PATH = dir; // and no gcc on the path
  const err = caught(() => buildFakePvcam());
  t.equal(err.code, 'DAQ_CAMERA');
  t.match(err.message, /gcc is not installed.*apt-get install gcc/);
});
