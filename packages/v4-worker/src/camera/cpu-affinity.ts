// Pins the calling thread to one CPU with sched_setaffinity(2) through koffi, and reads back what
// the kernel applied from /proc (Cpus_allowed_list of the thread), so the report says what is
// true rather than what was asked. A worker thread is one OS thread (its own tid): pid 0 in
// sched_setaffinity means "the calling thread", not the process.
//
// Also gives the calling thread a real-time priority (SCHED_FIFO, sched_setscheduler(2) with pid
// 0: again the calling thread only) and reads back what the kernel applied (sched_getscheduler,
// sched_getparam). When the kernel refuses, the report says why and what to change.

import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import type { CpuPinning, RealtimeScheduling } from '@daq/core';

type Libc = {
  gettid: () => number;
  sched_setaffinity: (pid: number, size: number, mask: Uint8Array) => number;
  sched_setscheduler: (pid: number, policy: number, param: Int32Array) => number;
  sched_getscheduler: (pid: number) => number;
  sched_getparam: (pid: number, param: Int32Array) => number;
};

let libc: Libc | undefined;
function bind(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    gettid: lib.func('int gettid(void)'),
    sched_setaffinity: lib.func('int sched_setaffinity(int pid, size_t cpusetsize, const uint8_t *mask)'),
    // struct sched_param is one int (sched_priority) on Linux.
    sched_setscheduler: lib.func('int sched_setscheduler(int pid, int policy, const int32_t *param)'),
    sched_getscheduler: lib.func('int sched_getscheduler(int pid)'),
    sched_getparam: lib.func('int sched_getparam(int pid, _Out_ int32_t *param)'),
  };
  return libc;
}

/** Parses a kernel CPU list such as "0-2,5". */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map((s) => Number.parseInt(s, 10));
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

/** The calling thread's tid and the CPUs /proc says it may run on. */
export function threadAffinity(): { tid: number; allowed: number[] } {
  const tid = bind().gettid();
  const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
  const line = /^Cpus_allowed_list:\s*(.*)$/m.exec(status);
  return { tid, allowed: line ? parseCpuList(line[1]!) : [] };
}

const CPU_SET_BYTES = 128; // sizeof(cpu_set_t): 1024 CPUs

/**
 * Restricts the calling thread to `cpus` (e.g. to keep the broker's thread off a camera's CPU, or
 * to undo that); returns what /proc then says. Threads started afterwards inherit the mask.
 */
export function setThreadAffinity(cpus: readonly number[]): { tid: number; allowed: number[] } {
  const bad = cpus.find((c) => !isCpu(c));
  if (bad !== undefined) throw new RangeError(`cpu ${bad} is not a CPU number`);
  const errno = applyAffinity(cpus);
  if (errno !== 0) throw new Error(`sched_setaffinity(${cpus.join(',')}) failed with errno ${errno}`);
  return threadAffinity();
}

const isCpu = (c: number) => Number.isInteger(c) && c >= 0 && c < CPU_SET_BYTES * 8;

/** sched_setaffinity of the calling thread to `cpus`; 0, or the errno. */
function applyAffinity(cpus: readonly number[]): number {
  const mask = new Uint8Array(CPU_SET_BYTES);
  for (const c of cpus) mask[c >> 3]! |= 1 << (c & 7);
  return bind().sched_setaffinity(0, CPU_SET_BYTES, mask) === 0 ? 0 : koffi.errno();
}

/** Pins the calling thread to `cpu` (undefined: leaves it as is) and reports what /proc says. */
export function pinThread(cpu: number | undefined): CpuPinning {
  if (cpu === undefined) return { ...threadAffinity(), pinned: false };
  let error: string | undefined;
  if (!isCpu(cpu)) {
    error = `cpu ${cpu} is not a CPU number (0-${CPU_SET_BYTES * 8 - 1})`;
  } else {
    const errno = applyAffinity([cpu]);
    if (errno !== 0) {
      error =
        `sched_setaffinity(cpu ${cpu}) failed with errno ${errno}` +
        (errno === 22
          ? ': that CPU does not exist or is not allowed for this process (see `nproc`, taskset, cgroup cpusets); choose another `cpu`'
          : '');
    }
  }
  const now = threadAffinity();
  const pinned = error === undefined && now.allowed.length === 1 && now.allowed[0] === cpu;
  if (!pinned && error === undefined)
    error = `after sched_setaffinity the thread may run on CPUs ${now.allowed.join(',')}, not only ${cpu}`;
  return { requested: cpu, ...now, pinned, ...(error === undefined ? {} : { error }) };
}

/** Linux scheduling policies (sched.h). */
export const SCHED_OTHER = 0;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;
export const SCHED_DEADLINE = 6;
/** OR-ed into the policy: threads the real-time thread starts (an SDK's) do not inherit its priority. */
export const SCHED_RESET_ON_FORK = 0x40000000;

const POLICY_NAMES: Record<number, string> = {
  [SCHED_OTHER]: 'SCHED_OTHER',
  [SCHED_FIFO]: 'SCHED_FIFO',
  [SCHED_RR]: 'SCHED_RR',
  [SCHED_BATCH]: 'SCHED_BATCH',
  [SCHED_IDLE]: 'SCHED_IDLE',
  [SCHED_DEADLINE]: 'SCHED_DEADLINE',
};

/** The calling thread's scheduling policy (its name) and real-time priority, as the kernel reports them. */
export function threadScheduling(): { tid: number; policy: string; priority: number } {
  const lib = bind();
  const tid = lib.gettid();
  const policy = lib.sched_getscheduler(0);
  if (policy < 0) throw new Error(`sched_getscheduler failed with errno ${koffi.errno()}`);
  const param = new Int32Array(1);
  if (lib.sched_getparam(0, param) !== 0) throw new Error(`sched_getparam failed with errno ${koffi.errno()}`);
  const p = policy & ~SCHED_RESET_ON_FORK;
  return { tid, policy: POLICY_NAMES[p] ?? `policy ${p}`, priority: param[0]! };
}

/** Lowest and highest SCHED_FIFO priority on Linux (sched_get_priority_min/max). */
export const RT_PRIORITY_MIN = 1;
export const RT_PRIORITY_MAX = 99;

/** What this process may do with real-time priorities: its RLIMIT_RTPRIO and whether it has CAP_SYS_NICE. */
export function realtimePermission(): { rlimitRtprio: string; capSysNice: boolean } {
  let rlimitRtprio = 'unknown';
  let capSysNice = false;
  try {
    const line = /^Max realtime priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line) rlimitRtprio = line[1]!;
  } catch {
    // /proc not mounted: the message says "unknown".
  }
  try {
    const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/self/task/${bind().gettid()}/status`, 'utf8'));
    const CAP_SYS_NICE = 23n;
    if (eff) capSysNice = ((BigInt(`0x${eff[1]!}`) >> CAP_SYS_NICE) & 1n) === 1n;
  } catch {
    // as above
  }
  return { rlimitRtprio, capSysNice };
}

/**
 * Gives the calling thread (a camera worker) SCHED_FIFO at `priority` (1-99; undefined: leaves it
 * as is) and reports what the kernel then says. Never throws for a refusal: `applied` is false and
 * `error` says what failed, the errno, and what to do; the thread keeps its normal scheduling.
 * `who` names the thread in the message (e.g. `camera "cam1"`).
 */
export function setRealtimePriority(priority: number | undefined, who = 'this thread'): RealtimeScheduling | undefined {
  if (priority === undefined) return undefined;
  let error: string | undefined;
  if (!Number.isInteger(priority) || priority < RT_PRIORITY_MIN || priority > RT_PRIORITY_MAX) {
    error = `realtime_priority ${priority} for ${who} is not a SCHED_FIFO priority (${RT_PRIORITY_MIN}-${RT_PRIORITY_MAX}); choose one in that range, or leave realtime_priority unset`;
  } else {
    const ok = bind().sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, Int32Array.of(priority)) === 0;
    if (!ok) error = refusal(koffi.errno(), priority, who);
  }
  const now = threadScheduling();
  const applied = error === undefined && now.policy === 'SCHED_FIFO' && now.priority === priority;
  if (!applied && error === undefined)
    error = `after sched_setscheduler(SCHED_FIFO, ${priority}) ${who} runs ${now.policy} at priority ${now.priority}`;
  return { requested: priority, ...now, applied, ...(error === undefined ? {} : { error }) };
}

/** The message for a refused sched_setscheduler: what failed, the errno, and what to do. */
function refusal(errno: number, priority: number, who: string): string {
  const head = `sched_setscheduler(SCHED_FIFO, priority ${priority}) for ${who} failed with errno ${errno}`;
  const without =
    '; or leave realtime_priority unset to run without real-time scheduling (the camera then runs at normal priority, as now)';
  if (errno === 1) {
    const { rlimitRtprio, capSysNice } = realtimePermission();
    return (
      `${head} (EPERM: not permitted): this process has RLIMIT_RTPRIO ${rlimitRtprio} (\`ulimit -r\`) and ${capSysNice ? 'has' : 'lacks'} CAP_SYS_NICE. ` +
      (capSysNice || Number(rlimitRtprio) >= priority
        ? 'It should be permitted, so the refusal likely comes from the cgroup: with real-time group scheduling (CONFIG_RT_GROUP_SCHED) the cgroup needs a real-time budget (cpu.rt_runtime_us > 0), and containers need CAP_SYS_NICE granted (e.g. docker run --cap-add=SYS_NICE --ulimit rtprio=99)'
        : `To permit it, raise the limit for the user that runs daq to at least ${priority} ` +
          `(a line "USER - rtprio ${priority}" in /etc/security/limits.conf, then log in again; or LimitRTPRIO=${priority} in its systemd unit), ` +
          'or grant node CAP_SYS_NICE (AmbientCapabilities=CAP_SYS_NICE in the unit, or `setcap cap_sys_nice+ep "$(readlink -f "$(which node)")"`)') +
      without
    );
  }
  if (errno === 22)
    return `${head} (EINVAL: the kernel does not accept this policy or priority); choose realtime_priority in ${RT_PRIORITY_MIN}-${RT_PRIORITY_MAX}${without}`;
  return `${head}${without}`;
}
