// A vendor camera SDK (PVCAM) is initialised once per process, while each camera runs in its own
// worker thread. Its users are counted in an Int32Array on a SharedArrayBuffer that every camera
// worker of the process is given: [users, lock, initialised by this count's first user]. The
// first user initialises the library, the last one uninitialises it, and only if the count's
// first user was the one that initialised it. The broker creates the count (it must not load
// the SDK itself); the camera drivers use it.

import { DaqError } from '../errors.js';

const USERS = 0;
const LOCK = 1;
const OWNED = 2;
const LENGTH = 3;

/** A new, empty user count to hand to every camera worker of the process. */
export function createSdkUsers(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(LENGTH * Int32Array.BYTES_PER_ELEMENT));
}

/** Throws unless `state` came from createSdkUsers() (shared memory of the right length). */
export function checkSdkUsers(state: Int32Array, instrument: string): void {
  if (!(state.buffer instanceof SharedArrayBuffer && state.length >= LENGTH))
    throw new DaqError('DAQ_INVALID_ARGUMENT', 'the SDK user count must come from createSdkUsers()', { instrument });
}

function withLock<T>(state: Int32Array, fn: () => T): T {
  while (Atomics.compareExchange(state, LOCK, 0, 1) !== 0) Atomics.wait(state, LOCK, 1, 10);
  try {
    return fn();
  } finally {
    Atomics.store(state, LOCK, 0);
    Atomics.notify(state, LOCK);
  }
}

/**
 * Counts one more user. The first user calls `init`, which returns true when it initialised the
 * library and false when the library was already initialised by someone outside this count
 * (then it is left initialised at the end). A throwing `init` counts no user.
 */
export function acquireSdk(state: Int32Array, init: () => boolean): void {
  withLock(state, () => {
    if (Atomics.load(state, USERS) === 0) Atomics.store(state, OWNED, init() ? 1 : 0);
    Atomics.add(state, USERS, 1);
  });
}

/** Counts one user less; the last one calls `uninit` if this count initialised the library. */
export function releaseSdk(state: Int32Array, uninit: () => void): void {
  withLock(state, () => {
    if (Atomics.sub(state, USERS, 1) === 1 && Atomics.exchange(state, OWNED, 0) === 1) uninit();
  });
}

/** How many users the count holds now (for tests and status). */
export function sdkUsers(state: Int32Array): number {
  return Atomics.load(state, USERS);
}
