// Real-time scheduling of the camera worker thread (`realtime_priority`): sched_setscheduler
// through koffi against the real libc, read back with sched_getscheduler/sched_getparam and from
// the kernel's /proc, and the message when the kernel refuses.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import t from 'tap';
import {
  RT_PRIORITY_MAX,
  SCHED_FIFO,
  SCHED_OTHER,
  realtimePermission,
  setRealtimePriority,
  threadScheduling,
} from '../src/camera/cpu-affinity.js';

const fixture = new URL('./fixtures/camera-realtime-thread.ts', import.meta.url);

interface ThreadReport {
  before: ReturnType<typeof threadScheduling>;
  result: NonNullable<ReturnType<typeof setRealtimePriority>>;
  after: ReturnType<typeof threadScheduling>;
  proc: { rtPriority: number; policy: number };
  uid?: number;
}

async function inWorker(priority: number): Promise<ThreadReport> {
  const w = new Worker(fixture, { workerData: { priority } });
  const [m] = (await once(w, 'message')) as [ThreadReport];
  await w.terminate();
  return m;
}

/** Whether another user ("nobody") can reach `path`: every directory above it searchable by others. */
function othersCanReach(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

const perm = realtimePermission();
const permitted = perm.capSysNice || Number(perm.rlimitRtprio) >= 10;

t.test(
  'SCHED_FIFO in a worker thread: applied to that thread only, as the kernel reports it',
  { skip: !permitted && `this process may not use real-time priorities (RLIMIT_RTPRIO ${perm.rlimitRtprio}, no CAP_SYS_NICE)` },
  async (t) => {
    const main = threadScheduling();
    const r = await inWorker(10);
    t.equal(r.before.policy, 'SCHED_OTHER', 'the worker starts at normal scheduling');
    t.match(r.result, { requested: 10, policy: 'SCHED_FIFO', priority: 10, applied: true });
    t.notOk(r.result.error, 'no error');
    t.same(
      { policy: r.after.policy, priority: r.after.priority },
      { policy: 'SCHED_FIFO', priority: 10 },
      'sched_getscheduler/sched_getparam read it back',
    );
    t.same(r.proc, { rtPriority: 10, policy: SCHED_FIFO }, "/proc/<tid>/stat: the kernel's own view of the thread");
    t.not(r.result.tid, process.pid, 'a thread of its own, not the process');
    t.same(threadScheduling(), main, 'the calling (main) thread keeps its scheduling');
    t.equal(threadScheduling().policy, 'SCHED_OTHER');
  },
);

t.test('a priority outside 1-99 is refused with the range and what to do; the thread keeps normal scheduling', async (t) => {
  for (const p of [0, RT_PRIORITY_MAX + 1, 2.5]) {
    const r = await inWorker(p);
    t.equal(r.result.applied, false, `${p}: not applied`);
    t.equal(r.result.policy, 'SCHED_OTHER');
    t.same(r.proc, { rtPriority: 0, policy: SCHED_OTHER });
    t.match(r.result.error, `realtime_priority ${p} for the test thread is not a SCHED_FIFO priority (1-99)`);
    t.match(r.result.error, /leave realtime_priority unset/);
  }
  t.equal(setRealtimePriority(undefined), undefined, 'unset: nothing is asked, nothing reported');
});

t.test(
  'refused by the kernel (another user, RLIMIT_RTPRIO 0, no CAP_SYS_NICE): errno and how to permit it',
  {
    skip:
      process.getuid?.() !== 0
        ? 'needs root to start a process as another user'
        : !othersCanReach(fixture.pathname) || !othersCanReach(process.cwd())
          ? `another user cannot reach ${fixture.pathname} or ${process.cwd()} (a directory above it is private, as mkdtemp makes them)`
          : false,
  },
  async (t) => {
    // A child process as "nobody" with its real-time limit at 0: what a lab meets without the setup.
    // tap's TypeScript loader, without its coverage/processinfo hooks (they write files as root's).
    const execArgv = process.execArgv.filter((a) => !/processinfo|@tapjs\/mock/.test(a));
    const child = spawn(process.execPath, [...execArgv, fixture.pathname, '10'], {
      uid: 65534,
      gid: 65534,
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    t.equal(code, 0, `child exited cleanly (stderr: ${err.slice(0, 500)})`);
    const r = JSON.parse(out) as ThreadReport;
    t.equal(r.uid, 65534, 'ran as nobody');
    t.match(r.result, { requested: 10, applied: false, policy: 'SCHED_OTHER', priority: 0 });
    t.same(r.proc, { rtPriority: 0, policy: SCHED_OTHER }, 'the kernel agrees: normal scheduling');
    const e = r.result.error!;
    t.match(e, 'sched_setscheduler(SCHED_FIFO, priority 10) for the test thread failed with errno 1 (EPERM: not permitted)');
    t.match(e, 'RLIMIT_RTPRIO 0');
    t.match(e, 'lacks CAP_SYS_NICE');
    t.match(e, /limits\.conf/);
    t.match(e, 'LimitRTPRIO=10');
    t.match(e, /CAP_SYS_NICE/);
    t.match(e, 'leave realtime_priority unset');
  },
);
