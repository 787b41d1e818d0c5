// Camera capture end to end with SimCamera (the PVCAM driver has its own tests against a fake
// libpvcam): a camera worker pinned to a CPU (checked here from /proc, independently of the
// worker's own report), frames through the camera's ring into chunked Arrow files that polars
// (Rust Arrow) reads with every pixel intact, frame_stats beside them matching the pixels,
// exact accounting of frames acquired, stored and dropped (and where), and no thread left.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { tableFromIPC } from 'apache-arrow';
import {
  CameraControl,
  CameraState,
  FRAME_ALIGN,
  RingReader,
  copyBytes,
  decodeFrameRecord,
  encodeFrameRecord,
  frameLayout,
  parseConfig,
  patternFrameNr,
  patternPixel,
  type DaqConfig,
} from '@daq/core';
import { SimCamera, buildFakePvcam, fakePvcamControl } from '@daq/sim';
import { Acquisition, startAcquisition, formatInspect, inspectPath } from '@daq/broker';
import { CameraManager } from '../packages/broker/src/camera/camera-manager.js';
import { CameraSupervisor } from '../packages/broker/src/camera/camera-supervisor.js';
import { computeFrameStats } from '../packages/broker/src/processing/frame-stats.js';
import { parseCpuList } from '@daq/v4-worker';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const pl = createRequire(import.meta.url)('nodejs-polars') as typeof import('nodejs-polars');
const tmp = await mkdtemp(join(tmpdir(), 'daq-camera-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
// CPU 0: test/camera-realtime.test.ts pins its SCHED_FIFO camera worker to the last CPU, and
// tap may run the two files at once; a real-time thread there would starve this one's worker.
const CPU = 0;

function cameraConfig(extra = '', camera = ''): DaqConfig {
  return parseConfig(
    `
[application]
name = "cam"
simulate = true
data_dir = "${tmp}/data"
[v4]
storage = { flush_interval_ms = 200 }
${extra}
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 5
roi = { x = 0, y = 0, width = 256, height = 128 }
bit_depth = 12
${camera}
`,
    'camera.toml',
  ).config;
}

/** Every pixel of a stored frame against the pattern its frame number selects. */
function checkPattern(pixels: Uint8Array, frameNr: number, bitDepth: number): boolean {
  const px = new Uint16Array(pixels.buffer, pixels.byteOffset, pixels.byteLength / 2);
  for (let i = 0; i < px.length; i++) if (px[i] !== patternPixel(frameNr, i, bitDepth)) return false;
  return true;
}

t.test('a frame record is an aligned Arrow IPC message that two Arrow readers read back', async (t) => {
  const layout = frameLayout('cam', { width: 30, height: 10, bitDepth: 16, frameBytes: 600 });
  t.equal(layout.preamble.byteLength % FRAME_ALIGN, 0);
  t.equal(layout.messageBytes % FRAME_ALIGN, 0);
  const messages: Uint8Array[] = [layout.preamble];
  for (const [i, address] of [
    [1, 8n],
    [2, 4096n - 8n],
    [3, 12345680n],
  ] as const) {
    const pixels = new Uint8Array(600);
    new Uint16Array(pixels.buffer).forEach((_, k, a) => (a[k] = patternPixel(i, k, 16)));
    const record = new Uint8Array(layout.recordBytes);
    const n = encodeFrameRecord(layout, record, address, pixels, BigInt(i), 1000n * BigInt(i), copyBytes);
    const view = decodeFrameRecord(layout, record.subarray(0, n));
    t.equal(Number((address + BigInt(view.message.byteOffset)) % BigInt(FRAME_ALIGN)), 0, 'message starts block-aligned');
    t.same([view.frameIndex, view.timestampNs], [BigInt(i), 1000n * BigInt(i)]);
    t.ok(checkPattern(view.pixels, i, 16));
    messages.push(view.message.slice());
  }
  messages.push(new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0]));
  const bytes = Buffer.concat(messages);
  const table = tableFromIPC(bytes);
  t.equal(table.numRows, 3);
  t.same([...table.getChild('frame_index')!].map(Number), [1, 2, 3]);
  t.equal(table.get(0)!.instrument, 'cam');
  const df = pl.readIPCStream(bytes);
  t.same(df.getColumn('width').toArray(), [30, 30, 30]);
  t.same(df.getColumn('timestamp').cast(pl.Int64).toArray().map(Number), [1000, 2000, 3000]);
  t.throws(() => decodeFrameRecord(layout, new Uint8Array(64)), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => encodeFrameRecord(layout, new Uint8Array(layout.recordBytes), 0n, new Uint8Array(10), 1n, 0n, copyBytes), {
    code: 'DAQ_INVALID_ARGUMENT',
  });
  t.throws(() => frameLayout('cam', { width: 3, height: 3, bitDepth: 16, frameBytes: 17 }), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('SimCamera: pattern frames at its rate, losses at a full buffer counted, latest mode skips', async (t) => {
  const cam = new SimCamera({ cameraName: 'pvcam0', instrument: 'cam', width: 64, height: 32, fps: 1000 });
  t.match(cam.open(), { name: 'pvcam0', width: 64, height: 32, bitDepth: 16 });
  t.throws(() => cam.configure({ exposureMs: 1, binning: 3, bufferFrames: 4 }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.same(
    cam.configure({ exposureMs: 1, roi: { x: 0, y: 0, width: 32, height: 32 }, binning: 2, bufferFrames: 4, bitDepth: 12 }),
    {
      width: 16,
      height: 16,
      bitDepth: 12,
      frameBytes: 512,
    },
  );
  cam.start();
  t.throws(() => cam.configure({ exposureMs: 1, binning: 1, bufferFrames: 4 }), { code: 'DAQ_CAMERA' });
  await new Promise((r) => setTimeout(r, 30)); // ~30 frames arrive, 4 fit in the buffer
  const got: number[] = [];
  for (let f = cam.next(); f; f = cam.next()) {
    t.ok(checkPattern(f.bytes, f.frameNr, 12));
    t.equal(patternFrameNr(f.bytes), f.frameNr);
    got.push(f.frameNr);
    t.throws(() => cam.next(), { code: 'DAQ_CAMERA' }, 'a frame must be released first');
    cam.release();
    if (got.length > 10) break;
  }
  t.same(got.slice(0, 4), [1, 2, 3, 4], 'the buffer kept the oldest frames');
  const c = cam.counters();
  t.ok(c.framesLostAtSource > 0, 'frames that found the buffer full are counted as lost');
  t.equal(c.framesRetrieved, got.length);
  t.equal(got[got.length - 1]! - got.length, c.framesLostAtSource, 'every frame number is either retrieved or lost');
  cam.stop();
  t.equal(cam.next(), undefined);

  const live = new SimCamera({ cameraName: 'pvcam0', instrument: 'cam', width: 16, height: 16, fps: 1000 });
  live.open();
  live.configure({ exposureMs: 1, binning: 1, bufferFrames: 8, retrieval: 'latest' });
  live.start();
  await new Promise((r) => setTimeout(r, 20));
  const f = live.next()!;
  t.ok(f.frameNr > 4, 'latest mode hands out the newest frame');
  live.release();
  t.equal(live.counters().framesLostAtSource, f.frameNr - 1, 'skipped frames are counted');
  live.close();
  t.throws(() => live.configure({ exposureMs: 1, binning: 1, bufferFrames: 2 }), { code: 'DAQ_CAMERA' });
});

t.test('a camera worker pinned to a CPU streams every frame to chunked files; polars reads every pixel', async (t) => {
  const dir = join(tmp, 'pinned');
  // 512 frames in the SDK buffer (1.3 s at 400 fps): the test asks for lossless streaming, and a
  // thread pinned to one CPU cannot move away when a loaded CI machine gives that CPU to others.
  const config = cameraConfig('', `cpu = ${CPU}\nchunk_mb = 16\nbuffer_frames = 512`);
  const cameras = new CameraManager(config, {
    epochOffsetNs: 0n,
    dir,
    simSensor: { width: 2048, height: 2048, bitDepth: 12, fps: 400 },
  });
  // 256x128 frames of 64 KiB at 400 fps: 1 s makes ~400 frames, more than one 16 MiB chunk.
  await cameras.open();
  const sup = cameras.supervisor('cam')!;
  const ready = sup.ready!;
  t.match(ready.pinning, { requested: CPU, pinned: true, allowed: [CPU] });
  // Independently of the worker's report: the kernel's view of that thread.
  const status = readFileSync(`/proc/self/task/${ready.pinning.tid}/status`, 'utf8');
  t.same(parseCpuList(/^Cpus_allowed_list:\s*(.*)$/m.exec(status)![1]!), [CPU], '/proc confirms the pinning');
  t.same(ready.geometry, { width: 256, height: 128, bitDepth: 12, frameBytes: 65536 });
  cameras.start();
  await until(() => cameras.reports()[0]!.acquired >= 400, 10_000);
  const [report] = await cameras.stop();
  t.equal(report!.state, 'stopped');
  t.equal(report!.dropped.total, 0, 'lossless: nothing dropped anywhere');
  t.equal(report!.stored, report!.acquired, 'every frame acquired is stored');
  t.equal(report!.stop!.counters.framesWritten, report!.acquired);
  t.ok(report!.files.length >= 2, `chunked into ${report!.files.length} files`);
  for (const f of report!.files) t.ok((await stat(f)).size <= 16 * 2 ** 20, 'no file passes chunk_mb');

  let expected = 1;
  let checked = 0;
  for (const file of report!.files) {
    const df = pl.readIPCStream(await readFile(file));
    const index = df.getColumn('frame_index').toArray().map(Number);
    t.same(
      index,
      Array.from({ length: index.length }, (_, k) => expected + k),
      `${file}: frame numbers continue without gaps`,
    );
    t.same([...new Set(df.getColumn('instrument').toArray())], ['cam']);
    t.same([...new Set(df.getColumn('bit_depth').toArray())], [12]);
    // polars hands no Binary values to JavaScript: the pixels are checked through apache-arrow.
    const table = tableFromIPC(await readFile(file));
    t.equal(table.numRows, index.length);
    for (let k = 0; k < table.numRows; k += 37) {
      t.ok(checkPattern(table.get(k)!.pixels as Uint8Array, index[k]!, 12), `frame ${index[k]} intact`);
      checked++;
    }
    expected += index.length;
  }
  t.equal(expected - 1, report!.stored);
  t.ok(checked > 5);

  // frame_stats: one row per analysed frame, in frame order, equal to stats of the stored pixels.
  const stats = tableFromIPC(await readFile(report!.stats!.file));
  t.equal(stats.numRows, report!.stats!.computed);
  t.equal(report!.stats!.computed + report!.stats!.skipped, report!.acquired, 'every frame analysed or counted as skipped');
  t.equal(report!.stats!.failed, 0);
  const idx = [...stats.getChild('frame_index')!].map(Number);
  t.same(
    idx,
    [...idx].sort((a, b) => a - b),
    'rows in frame order',
  );
  const first = tableFromIPC(await readFile(report!.files[0]!));
  const px = first.get(0)!.pixels as Uint8Array;
  const want = computeFrameStats(new Uint16Array(px.slice().buffer), 12, 256);
  const row = stats.get(idx.indexOf(1))!;
  if (row) {
    t.same([row.min, row.max, row.mean, row.std], [want.min, want.max, want.mean, want.std]);
    t.same([...row.histogram], [...want.histogram]);
  }
});

t.test('with nobody reading the ring, the worker blocks, then drops, and counts every frame', async (t) => {
  const config = cameraConfig('ring_policy = "block"\nring_block_timeout_ms = 20', 'ring_frames = 2\nbuffer_frames = 4');
  const sup = new CameraSupervisor(config.v4.instruments[0] as never, {
    simulate: true,
    pvcamLibrary: 'unused',
    epochOffsetNs: 0n,
    ringPolicy: 'block',
    ringBlockTimeoutMs: 20,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 5000,
    simSensor: { width: 256, height: 128, bitDepth: 16, fps: 500 },
  });
  await sup.open();
  sup.start();
  t.equal(sup.control.state, CameraState.Running);
  await until(() => sup.control.counters().framesDroppedRing >= 5, 10_000);
  const reader = new RingReader(sup.ring);
  const rep = await sup.stop();
  t.equal(rep.clean, true);
  const c = rep.counters;
  t.equal(c.framesWritten, 2, 'the ring held two frames');
  t.equal(c.framesAcquired, c.framesWritten + c.framesDroppedRing, 'acquired = written + dropped at the ring');
  t.equal(rep.ring!.recordsDropped, c.framesDroppedRing, "the ring's own counter agrees");
  t.ok(c.framesLostAtSource > 0, 'while the worker waited, the camera buffer overflowed: counted at the source');
  t.equal(c.lastFrameNr, c.framesAcquired + c.framesLostAtSource, 'every frame number is accounted for');
  const frames = [reader.tryRead(), reader.tryRead()].map((r) => decodeFrameRecord(sup.layout, r!).frameIndex);
  t.same(frames, [1n, 2n]);
  reader.close();
});

t.test('daq run with a simulated camera: run.json reports frames per camera and where drops happened', async (t) => {
  const out = join(tmp, 'run');
  const loaded = parseConfig(
    `
[application]
name = "cam-run"
simulate = true
[broker]
processing_threads = 2
[v4]
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::127.0.0.1::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 20
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 10
roi = { x = 0, y = 0, width = 128, height = 128 }
`,
    'run.toml',
  );
  const acq = await startAcquisition(loaded, { out });
  await until(() => acq.progress().frames.cam!.stored >= 50, 20_000);
  t.match(acq.progress().frames.cam, { dropped: 0 });
  const record = await acq.stop('completed');
  t.equal(record.status, 'completed');
  const cam = record.streams.frames!.cam!;
  t.match(cam, { state: 'stopped', source: 'sim', dropped: { atSource: 0, ring: 0, storage: 0, total: 0 } });
  t.equal(cam.stored, cam.acquired);
  const saved = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
  t.equal(saved.streams.frames.cam.stored, cam.stored);
  t.match(
    saved.instruments.find((i: { id: string }) => i.id === 'cam'),
    { rows: cam.stored },
  );
  t.notOk(
    saved.instruments.find((i: { id: string }) => i.id === 'cam').note?.includes('not'),
    'the camera is not reported as not run',
  );
  t.ok(saved.streams.scalars.rowsFlushed > 0, 'the scalar instrument ran beside the camera');
  const text = formatInspect(out, await inspectPath(out));
  t.match(
    text,
    `camera cam (sim, 128x128x16): ${cam.acquired} frames acquired, ${cam.stored} stored, 0 dropped; 1 frame file(s)`,
  );
});

t.test('a camera that cannot open fails the start with the reason, and leaves no thread behind', async (t) => {
  const loaded = parseConfig(
    `
[application]
name = "no-sdk"
[v4]
pvcam_library = "${tmp}/missing/libpvcam.so.2"
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
`,
    'nosdk.toml',
  );
  await t.rejects(startAcquisition(loaded, { out: join(tmp, 'nosdk') }), { code: 'DAQ_CAMERA', message: /libpvcam\.so\.2/ });
});

t.test('a stop request reaches a worker that waits to start', async (t) => {
  const config = cameraConfig();
  const cameras = new CameraManager(config, { epochOffsetNs: 0n, dir: join(tmp, 'idle') });
  await cameras.open();
  const [r] = await cameras.stop();
  t.match(r, { state: 'stopped', acquired: 0, stored: 0 });
  t.same(r!.files.length, 1);
  t.equal(new CameraControl(cameras.supervisor('cam')!.control.sab).state, CameraState.Stopped);
});

t.test('the PVCAM driver in a camera worker: frames of the fake libpvcam reach disk intact', async (t) => {
  const lib = buildFakePvcam();
  const ctl = fakePvcamControl(lib);
  ctl.reset();
  ctl.set('width', 512);
  ctl.set('height', 256);
  ctl.set('fps', 300);
  const config = parseConfig(
    `
[application]
name = "pvcam"
[v4]
pvcam_library = "${lib}"
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 3
roi = { x = 0, y = 0, width = 256, height = 128 }
binning = 2
cpu = ${CPU}
# 1.5 s at 333 fps: lossless even when a loaded machine holds the pinned thread back.
buffer_frames = 512
`,
    'pvcam.toml',
  ).config;
  const cameras = new CameraManager(config, { epochOffsetNs: 0n, dir: join(tmp, 'pvcam') });
  await cameras.open();
  t.match(cameras.supervisor('cam')!.ready, {
    sourceKind: 'pvcam',
    geometry: { width: 128, height: 64 },
    pinning: { pinned: true },
  });
  cameras.start();
  await until(() => cameras.reports()[0]!.acquired >= 150, 10_000);
  const [r] = await cameras.stop();
  t.match(r, { state: 'stopped', source: 'pvcam', dropped: { total: 0 } });
  t.equal(r!.stored, r!.acquired);
  t.equal(ctl.get('open_cameras'), 0, 'the camera was closed');
  t.equal(ctl.get('initialized'), 0, 'PVCAM was uninitialised');
  t.equal(ctl.get('threads_alive'), 0);
  const table = tableFromIPC(await readFile(r!.files[0]!));
  t.equal(table.numRows, r!.stored);
  for (let k = 0; k < table.numRows; k += 13) {
    const row = table.get(k)!;
    t.equal(Number(row.frame_index), k + 1);
    t.ok(checkPattern(row.pixels as Uint8Array, k + 1, 16), `frame ${k + 1} intact`);
  }
});

t.test('a PVCAM failure inside the camera worker reaches the broker with the vendor code and message', async (t) => {
  const lib = buildFakePvcam();
  const ctl = fakePvcamControl(lib);
  ctl.reset();
  ctl.set('fail_setup', 185);
  const config = parseConfig(
    `
[application]
name = "pvcam-fail"
[v4]
pvcam_library = "${lib}"
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
`,
    'pvcam-fail.toml',
  ).config;
  const cameras = new CameraManager(config, { epochOffsetNs: 0n, dir: join(tmp, 'pvcam-fail') });
  const err = await cameras.open().then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string; facts?: Record<string, unknown> },
  );
  t.match(err, { code: 'DAQ_CAMERA', message: /pl_exp_setup_cont/, facts: { instrument: 'cam', pvcamCode: 185 } });
  t.equal(ctl.get('open_cameras'), 0, 'the camera was closed after the failure');
  t.equal(ctl.get('initialized'), 0);
  const [r] = await cameras.stop();
  t.match(r, { state: 'failed', acquired: 0, error: /pl_exp_setup_cont/ }, 'the report says why');
  ctl.reset();
});

t.test('no camera threads, files or timers are left', async (t) => {
  await assertNoNewHandles(t, before, 'camera handles');
});
