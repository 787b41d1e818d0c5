// Pins the calling thread to one CPU with sched_setaffinity(2) through koffi, and reads back what
// the kernel applied from /proc (Cpus_allowed_list of the thread), so the report says what is
// true rather than what was asked. A worker thread is one OS thread (its own tid): pid 0 in
// sched_setaffinity means "the calling thread", not the process.

import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import type { CpuPinning } from '@daq/core';

type Libc = {
  gettid: () => number;
  sched_setaffinity: (pid: number, size: number, mask: Uint8Array) => number;
};

let libc: Libc | undefined;
function bind(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    gettid: lib.func('int gettid(void)'),
    sched_setaffinity: lib.func('int sched_setaffinity(int pid, size_t cpusetsize, const uint8_t *mask)'),
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
