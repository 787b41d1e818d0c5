// What the broker and a camera worker say to each other: the worker's start-up data and the
// messages it posts back. Both sides import these types from here, so the broker needs no code
// of the worker's package (it starts the worker by its entry point).

import type { CameraSettings, FrameGeometry, FrameSourceCounters, SensorInfo } from './frame-source.js';
import type { CameraCounters } from './camera-control.js';
import type { RingCounters } from '../ring/ring-layout.js';
import type { RingPolicy } from '../ring/ring-writer.js';

export interface CpuPinning {
  /** The CPU asked for, or undefined when the camera is not pinned. */
  requested?: number;
  /** The OS thread id of the camera worker. */
  tid: number;
  /** CPUs the thread may run on, as the kernel reports them in /proc. */
  allowed: number[];
  /** True when the thread runs on exactly the requested CPU. */
  pinned: boolean;
  /** Why pinning failed (errno and what to do), when it did. */
  error?: string;
}

/** The camera worker's real-time scheduling (`realtime_priority`), as the kernel reports it after asking. */
export interface RealtimeScheduling {
  /** The SCHED_FIFO priority asked for (1-99). */
  requested: number;
  /** The OS thread id of the camera worker. */
  tid: number;
  /** The thread's policy now, e.g. "SCHED_FIFO", or "SCHED_OTHER" when it was refused. */
  policy: string;
  /** The thread's real-time priority now (0 for SCHED_OTHER). */
  priority: number;
  /** True when the thread runs SCHED_FIFO at the requested priority. */
  applied: boolean;
  /** Why it was refused (errno and what to do), when it was. */
  error?: string;
}

export interface CameraWorkerData {
  instrument: string;
  settings: CameraSettings;
  /** CPU to pin the worker to; undefined: not pinned. */
  cpu?: number;
  /** SCHED_FIFO priority of the worker thread (1-99); undefined: normal scheduling. */
  realtimePriority?: number;
  /** Where the FrameSource class lives (the PVCAM driver, or SimCamera for `simulate = true`). */
  source: { module: string; export: string; options: Record<string, unknown> };
  /** Frames the camera's ring holds (it is sized once the frame size is known; at most 1 GiB). */
  ringFrames: number;
  ringPolicy: RingPolicy;
  ringBlockTimeoutMs: number;
  control: SharedArrayBuffer;
  epochOffsetNs: bigint;
  /**
   * Sleep between polls of the camera while no frame is ready. Default: 0 (spin) when pinned, as
   * a CPU of its own is there to spin on: a CPU that goes idle takes long to wake (on a VM, the
   * host deschedules an idle vCPU: milliseconds); 200 µs when not pinned.
   */
  pollUs?: number;
}

export interface CameraFinalCounts {
  counters: CameraCounters;
  source: FrameSourceCounters;
  ring: RingCounters;
}

export type CameraWorkerMessage =
  | {
      type: 'ready';
      sensor: SensorInfo;
      geometry: FrameGeometry;
      pinning: CpuPinning;
      /** Present when `realtime_priority` was asked for. */
      realtime?: RealtimeScheduling;
      sourceKind: string;
      /** The camera's ring, allocated here once the frame size is known; the broker reads it. */
      ring: SharedArrayBuffer;
      ringFrames: number;
    }
  | ({ type: 'stopped' } & CameraFinalCounts)
  | ({ type: 'failed'; error: unknown } & Partial<CameraFinalCounts>);
