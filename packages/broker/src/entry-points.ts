// The modules the broker starts in other threads, found by their package entry points (the
// `exports` and `imports` of package.json) rather than by importing the packages: the broker
// loads none of the subsystems' or simulators' code into the main thread. Resolution honours
// the `daq-source` condition, so the tests' TypeScript sources and the built JavaScript are
// chosen in one place, package.json.

import { DaqError } from '@daq/core';

/** Each thread entry and module the broker hands to a worker, by package specifier. */
export const ENTRY_POINTS = {
  /** The V2 subsystem's worker thread. */
  v2Worker: '@daq/v2-worker/worker',
  /** The V4 subsystem's worker thread. */
  v4Worker: '@daq/v4-worker/worker',
  /** A camera's worker thread (one per camera). */
  cameraWorker: '@daq/v4-worker/camera-worker',
  /** The PVCAM camera driver, loaded by a camera worker. */
  pvcam: '@daq/v4-worker/pvcam',
  /** The simulated camera (`simulate = true`), loaded by a camera worker. */
  simCamera: '@daq/sim/sim-camera',
  /** daq serve's server worker (HTTP + WebSocket API, the web page). */
  serverWorker: '@daq/server/worker',
  /** The processing pool's frame statistics task (the broker's own). */
  frameStatsTask: '#frame-stats-task',
} as const;

export type EntryPoint = keyof typeof ENTRY_POINTS;

/** The URL of an entry point; a package that is not installed is an error that says so. */
export function entryUrl(entry: EntryPoint): URL {
  const specifier = ENTRY_POINTS[entry];
  try {
    return new URL(import.meta.resolve(specifier));
  } catch (e) {
    throw new DaqError(
      'DAQ_WORKER',
      `cannot find ${specifier} (${entry}): ${(e as Error).message}; run npm ci in the project's root so its workspace packages are installed`,
      { entry, specifier },
      { cause: e },
    );
  }
}
