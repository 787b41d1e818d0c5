// One camera's worker thread, seen from the broker: starts it (the worker pins itself, opens and
// configures the camera and allocates the camera's ring), starts and stops the acquisition
// through the shared control block, and ends the thread on every path (a worker that does not
// stop within the deadline is terminated, and the report says so).

import { Worker } from 'node:worker_threads';
import {
  CameraControl,
  CameraState,
  DaqError,
  createCameraControl,
  deserializeDaqError,
  isSerializedDaqError,
  frameLayout,
  type CameraCounters,
  type CameraWorkerData,
  type CameraWorkerMessage,
  type CpuPinning,
  type RealtimeScheduling,
  type FrameGeometry,
  type FrameLayout,
  type PvcamInstrumentConfig,
  type RingCounters,
  type RingPolicy,
  type SensorInfo,
} from '@daq/core';
import { entryUrl } from '../entry-points.js';
import { withDeadline } from '../runtime/deadline.js';

export interface CameraSupervisorOptions {
  /** SimCamera instead of the PVCAM library. */
  simulate: boolean;
  pvcamLibrary: string;
  epochOffsetNs: bigint;
  ringPolicy: RingPolicy;
  ringBlockTimeoutMs: number;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  /** Sensor of the simulated camera (default 2048x2048, 16 bit). */
  simSensor?: { width: number; height: number; bitDepth: number; fps?: number };
  pollUs?: number;
  /** PVCAM's process-wide init/uninit count, shared by every camera worker (createSdkUsers() from @daq/core). */
  sdkState?: Int32Array;
}

export interface CameraReady {
  sensor: SensorInfo;
  geometry: FrameGeometry;
  pinning: CpuPinning;
  /** The worker's SCHED_FIFO scheduling, when `realtime_priority` is set: applied, or why not. */
  realtime?: RealtimeScheduling;
  sourceKind: string;
  ringFrames: number;
}

export interface CameraStopReport {
  clean: boolean;
  terminated: boolean;
  counters: CameraCounters;
  sourceLost?: number;
  ring?: RingCounters;
  error?: string;
}

function revive(e: unknown): Error {
  if (isSerializedDaqError(e)) return deserializeDaqError(e);
  if (e instanceof Error) return e;
  const m = e && typeof e === 'object' && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return new Error(m);
}

export class CameraSupervisor {
  readonly id: string;
  readonly control = new CameraControl(createCameraControl());
  #worker: Worker | undefined;
  #ready: CameraReady | undefined;
  #ring: SharedArrayBuffer | undefined;
  #layout: FrameLayout | undefined;
  #final: Promise<CameraWorkerMessage> | undefined;
  #exited: Promise<number> | undefined;
  #failure: Error | undefined;
  #stop: Promise<CameraStopReport> | undefined;

  constructor(
    readonly config: PvcamInstrumentConfig,
    readonly options: CameraSupervisorOptions,
  ) {
    this.id = config.id;
  }

  get ready(): CameraReady | undefined {
    return this.#ready;
  }
  get ring(): SharedArrayBuffer {
    return this.#ring!;
  }
  get layout(): FrameLayout {
    return this.#layout!;
  }
  /** The error the worker reported (open, configure or during capture), if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Starts the worker and waits until the camera is open and configured. */
  async open(): Promise<CameraReady> {
    const c = this.config;
    const o = this.options;
    const source = o.simulate
      ? {
          module: entryUrl('simCamera').href,
          export: 'SimCamera',
          options: { cameraName: c.camera_name, instrument: c.id, ...o.simSensor },
        }
      : {
          module: entryUrl('pvcam').href,
          export: 'PvcamCamera',
          options: {
            library: o.pvcamLibrary,
            cameraName: c.camera_name,
            instrument: c.id,
            ...(o.sdkState ? { sdkState: o.sdkState } : {}),
          },
        };
    const data: CameraWorkerData = {
      instrument: c.id,
      settings: {
        exposureMs: c.exposure_ms,
        ...(c.roi ? { roi: c.roi } : {}),
        binning: c.binning,
        bitDepth: c.bit_depth,
        bufferFrames: c.buffer_frames,
        retrieval: c.retrieval,
      },
      ...(c.cpu === undefined ? {} : { cpu: c.cpu }),
      ...(c.realtime_priority === undefined ? {} : { realtimePriority: c.realtime_priority }),
      source,
      ringFrames: c.ring_frames,
      ringPolicy: o.ringPolicy,
      ringBlockTimeoutMs: o.ringBlockTimeoutMs,
      control: this.control.sab,
      epochOffsetNs: o.epochOffsetNs,
      ...(o.pollUs ? { pollUs: o.pollUs } : {}),
    };
    const worker = new Worker(entryUrl('cameraWorker'), { workerData: data, name: `camera ${c.id}` });
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', resolve));
    let onReady!: (m: CameraWorkerMessage) => void;
    const first = new Promise<CameraWorkerMessage>((resolve) => (onReady = resolve));
    this.#final = new Promise<CameraWorkerMessage>((resolve, reject) => {
      worker.on('message', (m: CameraWorkerMessage) => {
        if (m.type === 'ready') onReady(m);
        else {
          if (m.type === 'failed') this.#failure = revive(m.error);
          onReady(m);
          resolve(m);
        }
      });
      worker.once('error', (e) => {
        this.#failure = e;
        const m = { type: 'failed', error: e } as CameraWorkerMessage;
        onReady(m);
        reject(e);
      });
      worker.once('exit', (code) => {
        const e = new DaqError('DAQ_WORKER', `the worker of camera "${c.id}" exited (code ${code}) without reporting`, {
          instrument: c.id,
        });
        onReady({ type: 'failed', error: e.toJSON() });
        reject(e);
      });
    });
    this.#final.catch(() => undefined);
    try {
      const m = await withDeadline(first, o.startTimeoutMs, `opening camera "${c.id}"`, { instrument: c.id });
      if (m.type !== 'ready') throw this.#failure ?? revive((m as { error: unknown }).error);
      this.#ring = m.ring;
      this.#layout = frameLayout(c.id, m.geometry);
      this.#ready = {
        sensor: m.sensor,
        geometry: m.geometry,
        pinning: m.pinning,
        ...(m.realtime ? { realtime: m.realtime } : {}),
        sourceKind: m.sourceKind,
        ringFrames: m.ringFrames,
      };
      return this.#ready;
    } catch (e) {
      await this.#end();
      throw e;
    }
  }

  /** Starts the acquisition: the worker starts the camera and streams frames into the ring. */
  start(): void {
    if (!this.control.transition(CameraState.Ready, CameraState.Running)) {
      throw new DaqError('DAQ_CAMERA', `camera "${this.id}" cannot start: it is not open and idle`, { instrument: this.id });
    }
  }

  /** Stops the acquisition (the worker takes what the camera's buffer holds first) and ends the thread. */
  stop(): Promise<CameraStopReport> {
    this.#stop ??= this.#stopOnce();
    return this.#stop;
  }

  async #stopOnce(): Promise<CameraStopReport> {
    if (!this.#worker) return { clean: true, terminated: false, counters: this.control.counters() };
    const st = this.control.state;
    if (st === CameraState.Running || st === CameraState.Ready || st === CameraState.Opening)
      this.control.setState(CameraState.StopRequested);
    try {
      const m = await withDeadline(this.#final!, this.options.stopTimeoutMs, `stopping camera "${this.id}"`, {
        instrument: this.id,
      });
      await this.#exited;
      this.#worker = undefined;
      if (m.type === 'stopped')
        return { clean: true, terminated: false, counters: m.counters, sourceLost: m.source.framesLostAtSource, ring: m.ring };
      return {
        clean: false,
        terminated: false,
        counters: m.type === 'failed' && m.counters ? m.counters : this.control.counters(),
        error: this.#failure?.message ?? 'failed',
      };
    } catch (e) {
      await this.#end();
      return { clean: false, terminated: true, counters: this.control.counters(), error: (e as Error).message };
    }
  }

  /** Ends the thread now. */
  async #end(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    this.control.setState(CameraState.StopRequested);
    await w.terminate();
    await this.#exited;
  }
}
