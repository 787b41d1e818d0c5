// A camera configured with realtime_priority: its worker thread runs SCHED_FIFO at that priority
// (checked in the kernel's /proc, independently of the worker's report), the report and run.json's
// camera entry say so, frames flow as without it, and a refusal is reported, not fatal.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfig, validateConfigText, type DaqConfig } from '@daq/core';
import { CameraManager } from '../packages/broker/src/camera/camera-manager.js';
import { realtimePermission } from '../packages/v4-worker/src/camera/cpu-affinity.js';
import { until } from './helpers/runtime.js';

const tmp = await mkdtemp(join(tmpdir(), 'daq-camera-rt-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
const CPU = availableParallelism() - 1;
const perm = realtimePermission();
const permitted = perm.capSysNice || Number(perm.rlimitRtprio) >= 30;

function cameraConfig(camera: string): DaqConfig {
  return parseConfig(
    `
[application]
name = "cam"
simulate = true
data_dir = "${tmp}/data"
[v4]
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 5
roi = { x = 0, y = 0, width = 256, height = 128 }
buffer_frames = 1024
${camera}
`,
    'camera-rt.toml',
  ).config;
}

const daq = new URL('../packages/broker/bin/daq.js', import.meta.url).pathname;
/** Whether another user ("nobody") can reach `path`: every directory above it searchable by others. */
function othersCanReach(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/** Policy and rt_priority of a thread, from /proc/self/task/<tid>/stat (fields 41 and 40). */
function procScheduling(tid: number): { policy: number; rtPriority: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { policy: Number(f[41 - 3]), rtPriority: Number(f[40 - 3]) };
}

t.test('realtime_priority is a camera key: 1-99, unset by default', async (t) => {
  const c = cameraConfig(`cpu = ${CPU}\nrealtime_priority = 30`);
  t.equal((c.v4.instruments[0] as { realtime_priority?: number }).realtime_priority, 30);
  t.equal((cameraConfig('').v4.instruments[0] as { realtime_priority?: number }).realtime_priority, undefined);
  for (const bad of ['0', '100', '2.5', '"high"'])
    t.throws(() => cameraConfig(`realtime_priority = ${bad}`), { code: 'DAQ_CONFIG' }, `realtime_priority = ${bad} is refused`);
  const text = `[application]\nname = "x"\nsimulate = true\n[[v4.instruments]]\nid = "cam"\ntype = "PVCAMInstrument"\ncamera_name = "pvcam0"\ncpu = ${CPU}\nrealtime_priority = 30\n`;
  const r = validateConfigText(text, 'camera-rt.toml');
  t.ok(r.config, 'valid');
  if (permitted)
    t.notOk(
      r.diagnostics.some((d) => /realtime_priority/.test(d.message)),
      'no warning where this process may use it',
    );
  else
    t.ok(
      r.diagnostics.some((d) => /may not use real-time priorities/.test(d.message)),
      'a warning where it may not',
    );
});

t.test(
  'daq validate, run by a user who may not use real-time priorities, warns and says where to look',
  {
    skip:
      process.getuid?.() !== 0
        ? 'needs root to start a process as another user'
        : !othersCanReach(daq) && `another user cannot reach ${daq} (a directory above it is private)`,
  },
  async (t) => {
    chmodSync(tmp, 0o755);
    const file = join(tmp, 'rt.toml');
    writeFileSync(
      file,
      `[application]\nname = "x"\nsimulate = true\n[[v4.instruments]]\nid = "cam"\ntype = "PVCAMInstrument"\ncamera_name = "pvcam0"\nrealtime_priority = 30\n`,
      { mode: 0o644 },
    );
    const r = spawnSync(process.execPath, [daq, 'validate', file], {
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp' },
      encoding: 'utf8',
    });
    t.equal(r.status, 0, 'a warning, not an error');
    t.match(
      r.stderr,
      'v4.instruments[0].realtime_priority: realtime_priority 30: this process may not use real-time priorities (RLIMIT_RTPRIO 0, no CAP_SYS_NICE)',
    );
    t.match(r.stderr, 'docs/performance.md');
  },
);

t.test(
  'a pinned camera worker with realtime_priority runs SCHED_FIFO and streams every frame',
  { skip: !permitted && `real-time priorities not permitted here (RLIMIT_RTPRIO ${perm.rlimitRtprio}, no CAP_SYS_NICE)` },
  async (t) => {
    const cameras = new CameraManager(cameraConfig(`cpu = ${CPU}\nrealtime_priority = 30`), {
      epochOffsetNs: 0n,
      dir: join(tmp, 'rt'),
      // 1024 frames of buffer: 5 s at 200 fps, so a loaded machine stalling the broker loses nothing.
      simSensor: { width: 2048, height: 2048, bitDepth: 16, fps: 200 },
    });
    await cameras.open();
    const ready = cameras.supervisor('cam')!.ready!;
    t.match(ready.realtime, { requested: 30, policy: 'SCHED_FIFO', priority: 30, applied: true });
    t.equal(ready.realtime!.tid, ready.pinning.tid, 'the same thread as the pinned one');
    t.same(
      procScheduling(ready.realtime!.tid),
      { policy: 1, rtPriority: 30 },
      "the kernel's view of the worker thread: SCHED_FIFO 30",
    );
    t.same(
      procScheduling(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0])),
      { policy: 0, rtPriority: 0 },
      'the broker thread stays SCHED_OTHER',
    );
    cameras.start();
    await until(() => cameras.reports()[0]!.acquired >= 200, 10_000);
    const [report] = await cameras.stop();
    t.equal(report!.state, 'stopped');
    t.match(report!.realtime, { applied: true, policy: 'SCHED_FIFO', priority: 30 }, 'the report (run.json) says so');
    t.equal(report!.dropped.total, 0);
    t.equal(report!.stored, report!.acquired);
  },
);

t.test('without realtime_priority nothing is asked and nothing reported', async (t) => {
  const cameras = new CameraManager(cameraConfig(''), {
    epochOffsetNs: 0n,
    dir: join(tmp, 'plain'),
    simSensor: { width: 2048, height: 2048, bitDepth: 16, fps: 200 },
  });
  await cameras.open();
  const ready = cameras.supervisor('cam')!.ready!;
  t.equal(ready.realtime, undefined);
  t.same(procScheduling(ready.pinning.tid), { policy: 0, rtPriority: 0 });
  const [report] = await cameras.stop();
  t.equal(report!.realtime, undefined);
});
