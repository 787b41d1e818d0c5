// The camera worker's work: pin the thread, open and configure the camera, then move frames from
// the camera's buffer into the camera's ring, one copy each, until the broker asks it to stop.
// The loop is synchronous: it sleeps on the shared control word between polls (so a stop
// request wakes it at once) and never waits on an event loop, a timer or a message.

import koffi from 'koffi';
import {
  CameraControl,
  CameraState,
  Clock,
  DaqError,
  RingWriter,
  copyBytes,
  createRingBuffer,
  encodeFrameRecord,
  frameLayout,
  type CameraFinalCounts,
  type CameraWorkerData,
  type CameraWorkerMessage,
  type FrameGeometry,
  type FrameSource,
  type FrameSourceCounters,
  type RingCounters,
  type RingPolicy,
  type SensorInfo,
} from '@daq/core';
import { pinThread, setRealtimePriority } from './cpu-affinity.js';

const MAX_RING_BYTES = 2 ** 30;
/**
 * Sleep between polls of the camera for a SCHED_FIFO worker. It does not spin: a real-time thread
 * that never sleeps is throttled by the kernel (sched_rt_runtime_us, or the fair server since Linux
 * 6.12, hand its CPU to waiting normal threads for up to 50 ms a second), and a short sleep costs it
 * nothing, as it preempts any normal thread the moment its timer fires (no timer slack at real-time).
 */
const REALTIME_POLL_US = 100;
const align8 = (n: number) => (n + 7) & ~7;

/** Runs one camera from open to close; every outcome is reported through `post`. */
export async function runCameraWorker(data: CameraWorkerData, post: (m: CameraWorkerMessage) => void): Promise<void> {
  const control = new CameraControl(data.control);
  let source: FrameSource | undefined;
  let writer: RingWriter | undefined;
  try {
    const pinning = pinThread(data.cpu);
    // After pinning: from here the thread preempts everything at normal priority on its CPU.
    const realtime = setRealtimePriority(data.realtimePriority, `the worker of camera "${data.instrument}"`);
    const mod = (await import(data.source.module)) as Record<string, new (o: Record<string, unknown>) => FrameSource>;
    const Source = mod[data.source.export];
    if (typeof Source !== 'function') {
      throw new DaqError('DAQ_CAMERA', `camera "${data.instrument}": ${data.source.module} has no export ${data.source.export}`, {
        instrument: data.instrument,
      });
    }
    source = new Source(data.source.options);
    const sensor = source.open();
    const geometry = source.configure(data.settings);
    const layout = frameLayout(data.instrument, geometry);
    const slot = align8(layout.recordBytes + 8);
    const ringFrames = Math.min(data.ringFrames, Math.floor(MAX_RING_BYTES / slot));
    if (ringFrames < 2) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `camera "${data.instrument}": ${geometry.width}x${geometry.height} frames (${layout.recordBytes} bytes each) do not fit twice in a ring of at most ${MAX_RING_BYTES} bytes; use a smaller roi or binning`,
        { instrument: data.instrument },
      );
    }
    const ring = createRingBuffer(ringFrames * slot, `camera ${data.instrument}`);
    // Fault every page in before the first frame (see PvcamCamera's buffer): the header stays as is.
    new Uint8Array(ring).fill(0, 4096);
    writer = new RingWriter(ring, { policy: data.ringPolicy, blockTimeoutMs: data.ringBlockTimeoutMs });
    control.transition(CameraState.Opening, CameraState.Ready);
    post({
      type: 'ready',
      sensor,
      geometry,
      pinning,
      ...(realtime ? { realtime } : {}),
      sourceKind: source.kind,
      ring,
      ringFrames,
    });
    while (control.state === CameraState.Ready) control.sleepWhile(CameraState.Ready, 1000);
    if (control.state === CameraState.Running)
      capture(data, control, source, writer, ring, layout, pinning.pinned, realtime?.applied === true);
    source.stop();
    const final = { counters: control.counters(), source: source.counters(), ring: writer.counters() };
    source.close();
    source = undefined;
    writer.close();
    control.setState(CameraState.Stopped);
    post({ type: 'stopped', ...final });
  } catch (error) {
    const partial: Partial<CameraFinalCounts> = { counters: control.counters() };
    try {
      if (source) partial.source = source.counters();
      source?.close();
    } catch {
      // The first error is the one to report; close() failing after it adds nothing the user can act on.
    }
    if (writer) partial.ring = writer.counters();
    writer?.close();
    control.setState(CameraState.Failed);
    post({ type: 'failed', error: error instanceof DaqError ? error.toJSON() : error, ...partial });
  }
}

function capture(
  data: CameraWorkerData,
  control: CameraControl,
  source: FrameSource,
  writer: RingWriter,
  ring: SharedArrayBuffer,
  layout: ReturnType<typeof frameLayout>,
  pinned: boolean,
  realtime: boolean,
): void {
  const clock = new Clock(data.epochOffsetNs);
  const pollMs = (data.pollUs ?? (realtime ? REALTIME_POLL_US : pinned ? 0 : 200)) / 1000;
  const c = control.counterArray;
  const ACQ = CameraControl.index('framesAcquired');
  const WRITTEN = CameraControl.index('framesWritten');
  const LOST = CameraControl.index('framesLostAtSource');
  const DROPPED = CameraControl.index('framesDroppedRing');
  const LAST = CameraControl.index('lastFrameNr');
  const WAITS = CameraControl.index('ringWaits');
  const WAIT_MS = CameraControl.index('ringWaitMs');
  // The ring's memory never moves: its address is read once, so each record knows where it sits.
  const base = koffi.address(new Uint8Array(ring)) as bigint;
  let acquired = 0;
  let written = 0;
  let dropped = 0;
  // After a stop request, the frames the camera's buffer already holds (at most bufferFrames)
  // are still taken, so a stop loses nothing that was acquired.
  let drainLeft = -1;
  source.start();
  for (;;) {
    if (drainLeft < 0 && control.state !== CameraState.Running) drainLeft = data.settings.bufferFrames;
    if (drainLeft === 0) break;
    const frame = source.next();
    if (!frame) {
      if (drainLeft > 0) break;
      if (pollMs > 0) control.sleepWhile(CameraState.Running, pollMs);
      continue;
    }
    if (drainLeft > 0) drainLeft--;
    const ts = clock.nowNs();
    c[ACQ] = ++acquired;
    c[LAST] = frame.frameNr;
    const t0 = performance.now();
    let view: Uint8Array | undefined;
    try {
      view = writer.reserve(layout.recordBytes);
    } catch (e) {
      if (!(e instanceof DaqError) || e.code !== 'DAQ_RING_FULL') {
        source.release();
        throw e;
      }
    }
    const waited = performance.now() - t0;
    if (waited > 1) {
      c[WAITS]!++;
      c[WAIT_MS]! += waited;
    }
    if (view) {
      const address = base + BigInt(view.byteOffset);
      writer.commit(encodeFrameRecord(layout, view, address, frame.bytes, BigInt(frame.frameNr), ts, copyBytes));
      c[WRITTEN] = ++written;
    } else {
      c[DROPPED] = ++dropped;
    }
    source.release();
    c[LOST] = source.counters().framesLostAtSource;
  }
  writer.flush();
}
