// The modules the broker starts in other threads, found by their package entry points (the
// `exports` and `imports` of package.json) rather than by importing the packages: the broker
// loads none of the subsystems' or simulators' code into the main thread. Resolution honours
// the `daq-source` condition, so the tests' TypeScript sources and the built JavaScript are
// chosen in one place, package.json.
//
// V2 is an optional part (@daq/v2-worker is an optional dependency): v2Installation() says what
// of it is installed (the package, and which V2 driver modules: a retirement batch removes some),
// so the configuration loader can refuse what this installation cannot run.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DaqError, V2_DRIVER_MODULES, type V2Installation } from '@daq/core';

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
  /** The publisher's worker thread ([application.publish]: runs to NATS JetStream). */
  publisherWorker: '@daq/publish/worker',
  /** The processing pool's frame statistics task (the broker's own). */
  frameStatsTask: '#frame-stats-task',
} as const;

export type EntryPoint = keyof typeof ENTRY_POINTS;

/** The URL of a specifier's module if its file is there (resolving alone does not look at the file). */
function present(specifier: string): URL | undefined {
  try {
    const url = new URL(import.meta.resolve(specifier));
    return existsSync(fileURLToPath(url)) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The URL of an entry point; a package that is not installed is an error that says so. */
export function entryUrl(entry: EntryPoint): URL {
  const specifier = ENTRY_POINTS[entry];
  const url = present(specifier);
  if (url) return url;
  const why =
    entry === 'v2Worker'
      ? 'this installation has no V2 subsystem (package @daq/v2-worker absent): migrate the configuration with daq migrate (docs/migration.md), disable [v2], or install @daq/v2-worker'
      : `cannot find ${specifier} (${entry}); run npm ci in the project's root so its workspace packages are installed`;
  throw new DaqError('DAQ_WORKER', why, { entry, specifier });
}

let v2: V2Installation | undefined;

/** What of V2 this installation has: the package, and the V2 types whose driver module is present. */
export function v2Installation(): V2Installation {
  if (!v2) {
    v2 = present(ENTRY_POINTS.v2Worker)
      ? {
          installed: true,
          types: new Set(Object.keys(V2_DRIVER_MODULES).filter((t) => present(`@daq/v2-worker/drivers/${V2_DRIVER_MODULES[t]}`))),
        }
      : { installed: false };
  }
  return v2;
}
