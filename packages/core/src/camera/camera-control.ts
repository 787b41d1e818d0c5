// The control block shared by the broker and a camera worker: a small SharedArrayBuffer with the
// worker's state (the broker moves it to Running or StopRequested and wakes the worker; the
// worker moves it to Stopped or Failed) and the worker's live counters. The camera worker
// never waits for a message while it streams: control and counters are plain shared memory.

export const CameraState = {
  /** The worker is opening and configuring the camera. */
  Opening: 0,
  /** Configured; waits for Running. */
  Ready: 1,
  Running: 2,
  StopRequested: 3,
  Stopped: 4,
  Failed: 5,
} as const;
export type CameraStateValue = (typeof CameraState)[keyof typeof CameraState];

const STATE = 0; // Int32 index
const COUNTERS_AT = 64; // bytes: Float64 counters on their own cache line
const COUNTER_NAMES = [
  'framesAcquired',
  'framesWritten',
  'framesLostAtSource',
  'framesDroppedRing',
  'lastFrameNr',
  'ringWaits',
  'ringWaitMs',
] as const;
export type CameraCounterName = (typeof COUNTER_NAMES)[number];
export type CameraCounters = Record<CameraCounterName, number>;
export const CAMERA_CONTROL_BYTES = COUNTERS_AT + 8 * COUNTER_NAMES.length;

export function createCameraControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(CAMERA_CONTROL_BYTES);
}

/** Typed access to a control block from either side. */
export class CameraControl {
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;

  constructor(readonly sab: SharedArrayBuffer) {
    this.#i32 = new Int32Array(sab, 0, COUNTERS_AT / 4);
    this.#f64 = new Float64Array(sab, COUNTERS_AT, COUNTER_NAMES.length);
  }

  get state(): CameraStateValue {
    return Atomics.load(this.#i32, STATE) as CameraStateValue;
  }

  /** Sets the state and wakes a worker sleeping on it. */
  setState(state: CameraStateValue): void {
    Atomics.store(this.#i32, STATE, state);
    Atomics.notify(this.#i32, STATE);
  }

  /** Moves from `from` to `to` only if the state is still `from`; true when it did. */
  transition(from: CameraStateValue, to: CameraStateValue): boolean {
    const ok = Atomics.compareExchange(this.#i32, STATE, from, to) === from;
    if (ok) Atomics.notify(this.#i32, STATE);
    return ok;
  }

  /** Worker side: sleeps up to `ms` while the state is `state` (returns at once when it changes). */
  sleepWhile(state: CameraStateValue, ms: number): void {
    Atomics.wait(this.#i32, STATE, state, ms);
  }

  /** Index of a counter, for hot loops that store by index. */
  static index(name: CameraCounterName): number {
    return COUNTER_NAMES.indexOf(name);
  }

  get counterArray(): Float64Array {
    return this.#f64;
  }

  counters(): CameraCounters {
    const out = {} as CameraCounters;
    COUNTER_NAMES.forEach((n, i) => (out[n] = this.#f64[i]!));
    return out;
  }
}
