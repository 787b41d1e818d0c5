// What a camera worker needs from a camera: the PVCAM driver (koffi on libpvcam) and SimCamera
// (TypeScript, for `simulate = true`) both implement it. The API is synchronous on purpose: it
// runs in the camera's own worker thread, whose loop never yields to an event loop while
// frames stream, so a frame never waits for a timer or a message.

/** Acquisition settings, from the camera's [[v4.instruments]] entry. */
export interface CameraSettings {
  /** Exposure per frame in milliseconds (> 0). */
  exposureMs: number;
  /** Region of interest in sensor pixels; undefined: the whole sensor. */
  roi?: { x: number; y: number; width: number; height: number };
  /** Binning, the same in both directions. */
  binning: number;
  /** Bits per pixel wanted; the source reports what it delivers in FrameGeometry.bitDepth. */
  bitDepth?: number;
  /** Frames in the source's circular buffer (>= 2). */
  bufferFrames: number;
  /**
   * 'oldest' (default, lossless): frames are taken oldest first and unlocked one by one; when the
   * buffer is full, new frames are lost at the source and show as frame-number gaps.
   * 'latest' (live view): the newest frame is taken and older ones are skipped (counted as lost).
   */
  retrieval?: 'oldest' | 'latest';
}

/** What the camera says about itself once open. */
export interface SensorInfo {
  /** The camera name it was opened by (PVCAM: as pl_cam_get_name lists it). */
  name: string;
  /** Full sensor size in pixels. */
  width: number;
  height: number;
  /** Bits per pixel of the current readout mode. */
  bitDepth: number;
}

/** The shape of every frame of one acquisition (after ROI and binning). */
export interface FrameGeometry {
  width: number;
  height: number;
  bitDepth: number;
  /** Bytes per frame: width * height * 2 (pixels are little-endian uint16 for every bit depth). */
  frameBytes: number;
}

/** A frame still inside the source's buffer. */
export interface FrameRef {
  /** The frame's bytes in the source's buffer, zero-copy; valid until release(). */
  bytes: Uint8Array;
  /**
   * Frame number from the source, 1 for the first frame of an acquisition. A jump from n to n + k
   * means k - 1 frames were lost at the source.
   */
  frameNr: number;
}

/** Counters a source keeps about itself (all monotonic within one acquisition). */
export interface FrameSourceCounters {
  /** Frames handed out by next(). */
  framesRetrieved: number;
  /** Frames the source knows it lost (frame-number gaps, overwritten frames). */
  framesLostAtSource: number;
}

export interface FrameSource {
  /** 'pvcam' or 'sim', for reports. */
  readonly kind: string;
  /** Opens the camera; throws DaqError (DAQ_CAMERA) with the vendor's code and message. */
  open(): SensorInfo;
  /** Applies settings for the next acquisition; returns the resulting frame geometry. */
  configure(settings: CameraSettings): FrameGeometry;
  /** Starts continuous acquisition into the source's circular buffer. */
  start(): void;
  /**
   * The next frame if one is ready, else undefined; never blocks. Throws DaqError (DAQ_CAMERA)
   * when the source reports a failed readout. Call release() before the next call.
   */
  next(): FrameRef | undefined;
  /** Gives the frame returned by next() back to the source (PVCAM: unlock the oldest frame). */
  release(): void;
  /** Stops acquisition; idempotent. */
  stop(): void;
  /** Stops if needed and closes the camera (PVCAM: and uninitialises the library); idempotent. */
  close(): void;
  counters(): FrameSourceCounters;
}

/** Pixel (i) of frame `frameNr` in the deterministic test pattern both fakes produce. */
export function patternPixel(frameNr: number, i: number, bitDepth: number): number {
  if (i === 0) return frameNr & 0xffff;
  if (i === 1) return (frameNr >>> 16) & 0xffff;
  return (frameNr * 31 + i) & ((1 << bitDepth) - 1);
}

/** The frame number carried by a frame of the test pattern (its first two pixels). */
export function patternFrameNr(bytes: Uint8Array): number {
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}
