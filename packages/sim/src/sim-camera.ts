// SimCamera: a simulated scientific camera for `simulate = true` and the demo. It behaves like a
// camera SDK's continuous acquisition: a sensor produces frames at its frame rate into a
// circular buffer of `bufferFrames` slots whether or not anyone reads them; a full buffer loses
// the newest frames (retrieval 'oldest') and frame numbers keep counting, so a slow reader sees
// gaps. Frames carry the deterministic pattern of core's `patternPixel`, so every pixel can be
// checked downstream. Time is the process's monotonic clock: the work happens lazily in next().

import { DaqError, patternPixel } from '@daq/core';
import type { CameraSettings, FrameGeometry, FrameRef, FrameSource, FrameSourceCounters, SensorInfo } from '@daq/core';

export interface SimCameraOptions {
  cameraName: string;
  instrument: string;
  /** Sensor size (default 2048x2048, a Prime BSI) and bit depth (default 16). */
  width?: number;
  height?: number;
  bitDepth?: number;
  /** Frames per second; default 1000 / exposure. */
  fps?: number;
}

export class SimCamera implements FrameSource {
  readonly kind = 'sim';
  readonly #o: Required<Omit<SimCameraOptions, 'fps'>> & { fps?: number };
  #geometry: FrameGeometry | undefined;
  #settings: CameraSettings | undefined;
  #slots: Uint8Array[] = [];
  #open = false;
  #running = false;
  #t0 = 0n;
  #periodNs = 0n;
  /** Frame numbers waiting in the buffer, oldest first. */
  #buffered: number[] = [];
  #lastArrived = 0;
  #lastRetrieved = 0;
  #slot = 0;
  #holding = false;
  #retrieved = 0;
  #lost = 0;

  constructor(options: SimCameraOptions) {
    this.#o = { width: 2048, height: 2048, bitDepth: 16, ...options };
  }

  open(): SensorInfo {
    this.#open = true;
    const { cameraName, width, height, bitDepth } = this.#o;
    return { name: cameraName, width, height, bitDepth };
  }

  configure(settings: CameraSettings): FrameGeometry {
    if (!this.#open) throw this.#error('configure', 'the camera is not open');
    if (this.#running) throw this.#error('configure', 'acquisition is running; stop it first');
    const { width: sw, height: sh } = this.#o;
    const roi = settings.roi ?? { x: 0, y: 0, width: sw, height: sh };
    const bin = settings.binning;
    if (roi.x + roi.width > sw || roi.y + roi.height > sh || roi.width % bin !== 0 || roi.height % bin !== 0) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `camera "${this.#o.instrument}": roi ${roi.width}x${roi.height}+${roi.x}+${roi.y} with binning ${bin} does not fit the ${sw}x${sh} sensor in whole binned pixels`,
        { instrument: this.#o.instrument },
      );
    }
    const width = roi.width / bin;
    const height = roi.height / bin;
    const bitDepth = settings.bitDepth ?? this.#o.bitDepth;
    this.#geometry = { width, height, bitDepth, frameBytes: width * height * 2 };
    this.#settings = settings;
    this.#slots = Array.from({ length: settings.bufferFrames }, () => new Uint8Array(width * height * 2));
    const fps = this.#o.fps ?? 1000 / settings.exposureMs;
    this.#periodNs = BigInt(Math.max(1, Math.round(1e9 / fps)));
    return { ...this.#geometry };
  }

  start(): void {
    if (!this.#geometry) throw this.#error('start', 'configure() first');
    this.#t0 = process.hrtime.bigint();
    this.#buffered = [];
    this.#lastArrived = 0;
    this.#lastRetrieved = 0;
    this.#retrieved = 0;
    this.#lost = 0;
    this.#holding = false;
    this.#running = true;
  }

  next(): FrameRef | undefined {
    if (!this.#running) return undefined;
    if (this.#holding) throw this.#error('next', 'release() the previous frame first');
    const due = Number((process.hrtime.bigint() - this.#t0) / this.#periodNs);
    if (due > this.#lastArrived) {
      // Frames that arrived since the last look: into free slots, the rest lost (no overwrite).
      const free = this.#slots.length - this.#buffered.length;
      const arrived = due - this.#lastArrived;
      const kept = Math.min(free, arrived);
      for (let n = this.#lastArrived + 1; n <= this.#lastArrived + kept; n++) this.#buffered.push(n);
      this.#lastArrived = due;
    }
    if (this.#buffered.length === 0) return undefined;
    let frameNr: number;
    if (this.#settings!.retrieval === 'latest') {
      frameNr = this.#buffered[this.#buffered.length - 1]!;
      this.#buffered.length = 0;
    } else {
      frameNr = this.#buffered.shift()!;
    }
    // Every frame number between the last one handed out and this one was lost at the source.
    this.#lost += frameNr - this.#lastRetrieved - 1;
    this.#lastRetrieved = frameNr;
    this.#retrieved++;
    const slot = this.#slots[this.#slot]!;
    this.#slot = (this.#slot + 1) % this.#slots.length;
    fillPattern(slot, frameNr, this.#geometry!.bitDepth);
    this.#holding = true;
    return { bytes: slot, frameNr };
  }

  release(): void {
    this.#holding = false;
  }

  stop(): void {
    this.#running = false;
    this.#holding = false;
  }

  close(): void {
    this.stop();
    this.#open = false;
    this.#slots = [];
  }

  counters(): FrameSourceCounters {
    return { framesRetrieved: this.#retrieved, framesLostAtSource: this.#lost };
  }

  #error(what: string, why: string): DaqError {
    return new DaqError('DAQ_CAMERA', `camera "${this.#o.instrument}" (simulated ${this.#o.cameraName}): ${what}: ${why}`, {
      instrument: this.#o.instrument,
      camera: this.#o.cameraName,
    });
  }
}

/** Writes frame `frameNr` of the test pattern into `bytes` (uint16 little-endian pixels). */
function fillPattern(bytes: Uint8Array, frameNr: number, bitDepth: number): void {
  const px = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  px[0] = patternPixel(frameNr, 0, bitDepth);
  px[1] = patternPixel(frameNr, 1, bitDepth);
  const mask = (1 << bitDepth) - 1;
  const base = frameNr * 31;
  for (let i = 2; i < px.length; i++) px[i] = (base + i) & mask;
}
