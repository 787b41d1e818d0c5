// The PVCAM camera driver: a FrameSource over Teledyne Photometrics' libpvcam (koffi). It runs in
// its camera worker's thread; frames are zero-copy views of the circular buffer the SDK fills.
// One file on purpose: the bindings below serve only this class.

import koffi, { type LibraryHandle } from 'koffi';
import {
  DaqError,
  acquireSdk,
  checkSdkUsers,
  createSdkUsers,
  didYouMean,
  releaseSdk,
  type CameraSettings,
  type ErrorFacts,
  type FrameGeometry,
  type FrameRef,
  type FrameSource,
  type FrameSourceCounters,
  type SensorInfo,
} from '@daq/core';
import {
  ATTR,
  CAM_NAME_LEN,
  CCS_HALT,
  CIRC_NO_OVERWRITE,
  CIRC_OVERWRITE,
  ERROR_MSG_LEN,
  EXP_RES_ONE_MICROSEC,
  EXP_RES_ONE_MILLISEC,
  EXP_RES_ONE_SEC,
  EXT_TRIG_INTERNAL,
  OPEN_EXCLUSIVE,
  PARAM_BIT_DEPTH,
  PARAM_EXPOSE_OUT_MODE,
  PARAM_EXPOSURE_MODE,
  PARAM_EXP_RES,
  PARAM_PAR_SIZE,
  PARAM_SER_SIZE,
  READOUT_COMPLETE,
  READOUT_FAILED,
  TIMED_MODE,
} from './pvcam-constants.js';

type KoffiFunction = ReturnType<LibraryHandle['func']>;

/** FRAME_INFO as pvcam.h declares it (natural alignment, no #pragma pack): 48 bytes on LP64. */
const FRAME_INFO = koffi.struct({
  FrameInfoGUID: koffi.struct({ f1: 'uint32_t', f2: 'uint16_t', f3: 'uint16_t', f4: koffi.array('uint8_t', 8) }),
  hCam: 'int16_t',
  FrameNr: 'int32_t',
  TimeStamp: 'int64_t',
  ReadoutTime: 'int32_t',
  TimeStampBOF: 'int64_t',
});
const FRAME_INFO_BYTES = koffi.sizeof(FRAME_INFO);
const FRAME_NR_INDEX = koffi.offsetof(FRAME_INFO, 'FrameNr') / 4;
const EMPTY_I32 = new Int32Array(0);
const EMPTY_BUFFER = new ArrayBuffer(0);

interface PvcamLibrary {
  path: string;
  [fn: `pl_${string}`]: KoffiFunction;
}

// Every call returns rs_bool (uint16, 0 = failure). Pointer outputs are plain typed arrays (the
// callee writes into their memory), or `void *` where pvcam.h has `void **` / FRAME_INFO *.
const SIGNATURES = [
  'uint16_t pl_pvcam_init(void)',
  'uint16_t pl_pvcam_uninit(void)',
  'uint16_t pl_cam_get_total(int16_t *total)',
  'uint16_t pl_cam_get_name(int16_t cam_num, uint8_t *name)',
  'uint16_t pl_cam_open(const char *name, int16_t *hcam, int16_t mode)',
  'uint16_t pl_cam_close(int16_t hcam)',
  'int16_t pl_error_code(void)',
  'uint16_t pl_error_message(int16_t code, uint8_t *msg)',
  'uint16_t pl_get_param(int16_t hcam, uint32_t id, int16_t attr, void *value)',
  'uint16_t pl_set_param(int16_t hcam, uint32_t id, void *value)',
  'uint16_t pl_get_enum_param(int16_t hcam, uint32_t id, uint32_t index, int32_t *value, uint8_t *desc, uint32_t length)',
  'uint16_t pl_create_frame_info_struct(_Out_ void **info)',
  'uint16_t pl_release_frame_info_struct(void *info)',
  'uint16_t pl_exp_setup_cont(int16_t hcam, uint16_t rgn_total, const uint16_t *rgn, int16_t exp_mode, uint32_t exposure, uint32_t *exp_bytes, int16_t buffer_mode)',
  'uint16_t pl_exp_start_cont(int16_t hcam, void *buffer, uint32_t size)',
  'uint16_t pl_exp_check_cont_status(int16_t hcam, int16_t *status, uint32_t *bytes_arrived, uint32_t *buffer_cnt)',
  'uint16_t pl_exp_get_oldest_frame_ex(int16_t hcam, void *frame, void *info)',
  'uint16_t pl_exp_get_latest_frame_ex(int16_t hcam, void *frame, void *info)',
  'uint16_t pl_exp_unlock_oldest_frame(int16_t hcam)',
  'uint16_t pl_exp_stop_cont(int16_t hcam, int16_t cam_state)',
];

const libraries = new Map<string, PvcamLibrary>();

function bind(path: string): PvcamLibrary {
  const cached = libraries.get(path);
  if (cached) return cached;
  let handle: LibraryHandle;
  try {
    handle = koffi.load(path);
  } catch (e) {
    throw new DaqError(
      'DAQ_CAMERA',
      `cannot load the PVCAM library ${path}: ${(e as Error).message}. Install the PVCAM SDK (Teledyne Photometrics, ` +
        `which provides libpvcam.so.2) or set [v4] pvcam_library to the library's full path`,
      { library: path },
      { cause: e },
    );
  }
  const lib = { path } as PvcamLibrary;
  for (const signature of SIGNATURES) {
    const name = /(pl_\w+)\(/.exec(signature)![1] as `pl_${string}`;
    try {
      lib[name] = handle.func(signature);
    } catch (e) {
      throw new DaqError(
        'DAQ_CAMERA',
        `${path} is not a usable PVCAM library (${name}: ${(e as Error).message}); point [v4] pvcam_library at libpvcam.so.2`,
        { library: path },
        { cause: e },
      );
    }
  }
  libraries.set(path, lib);
  return lib;
}

const cString = (buf: Uint8Array) => {
  const end = buf.indexOf(0);
  return Buffer.from(buf.buffer, buf.byteOffset, end < 0 ? buf.length : end).toString('latin1');
};

/** One user count per library path for the cameras of this thread (when none is shared). */
const threadSdkStates = new Map<string, Int32Array>();

export interface PvcamCameraOptions {
  /** Path of libpvcam (e.g. /opt/pvcam/library/x86_64/libpvcam.so.2), from [v4] pvcam_library. */
  library: string;
  /** The camera's name as pl_cam_get_name lists it. */
  cameraName: string;
  /** The instrument id, for messages. */
  instrument: string;
  /**
   * Counts the library's users across threads: give every PvcamCamera of the process (one per
   * camera worker) the same createSdkUsers() from @daq/core, so the first open initialises
   * PVCAM and the last close uninitialises it. Without it the count covers this thread only.
   */
  sdkState?: Int32Array;
}

export class PvcamCamera implements FrameSource {
  readonly kind = 'pvcam';
  private readonly name: string;
  private readonly instrument: string;
  private readonly sdk: Int32Array;
  private lib: PvcamLibrary | undefined;
  private sdkHeld = false;
  private hcam = -1;
  private sensor: SensorInfo | undefined;
  /** PARAM_EXP_RES values the camera offers; undefined when it has no such parameter (ms). */
  private expRes: number[] | undefined;
  private expMode = TIMED_MODE;
  private frameInfoPtr: bigint | null = null;
  private frameInfo = EMPTY_I32;
  private geometry: FrameGeometry | undefined;
  private oldest = true;
  private setupArgs: [Uint16Array, number, number, number] | undefined;
  private needsSetup = false;
  private bufferPtr: bigint | null = null;
  private buffer: ArrayBuffer = EMPTY_BUFFER;
  private bufferBase = 0;
  private acquiring = false;
  /** pl_exp_stop_cont failed: the SDK may still write into the buffer. */
  private stopFailed = false;
  private held = false;
  private lastFrameNr = 0;
  private retrieved = 0;
  private lost = 0;
  // Scratch outputs, reused by every call so the polling path allocates nothing.
  private readonly i16 = new Int16Array(1);
  private readonly u16 = new Uint16Array(1);
  private readonly i32 = new Int32Array(1);
  private readonly u32 = new Uint32Array(1);
  private readonly u32b = new Uint32Array(1);
  private readonly framePtr = new Uint32Array(2);
  private readonly text = new Uint8Array(Math.max(ERROR_MSG_LEN, CAM_NAME_LEN) + 1);

  constructor(private readonly options: PvcamCameraOptions) {
    this.name = options.cameraName;
    this.instrument = options.instrument;
    const shared = options.sdkState;
    if (shared) checkSdkUsers(shared, this.instrument);
    this.sdk = shared ?? PvcamCamera.threadState(options.library);
  }

  private static threadState(library: string): Int32Array {
    let state = threadSdkStates.get(library);
    if (!state) threadSdkStates.set(library, (state = createSdkUsers()));
    return state;
  }

  open(): SensorInfo {
    if (this.sensor) return this.sensor;
    const lib = (this.lib = bind(this.options.library));
    try {
      this.acquireSdk(lib);
      const names = this.cameraNames(lib);
      if (!names.includes(this.name)) {
        const list = names.length ? names.map((n) => `"${n}"`).join(', ') : 'none';
        throw new DaqError(
          'DAQ_CAMERA',
          `camera "${this.name}" of instrument ${this.instrument} is not among the cameras PVCAM lists (${list})` +
            `${didYouMean(this.name, names)}; check the camera's name, cable and power`,
          { instrument: this.instrument, camera: this.name, cameras: names },
        );
      }
      if (!lib.pl_cam_open(this.name, this.i16, OPEN_EXCLUSIVE)) {
        throw this.fail('pl_cam_open', 'is another program using the camera?');
      }
      this.hcam = this.i16[0]!;
      const out: unknown[] = [null];
      if (!lib.pl_create_frame_info_struct(out)) throw this.fail('pl_create_frame_info_struct');
      this.frameInfoPtr = out[0] as bigint;
      this.frameInfo = new Int32Array(koffi.view(this.frameInfoPtr, FRAME_INFO_BYTES));
      const width = this.param(PARAM_SER_SIZE, this.u16, 'PARAM_SER_SIZE');
      const height = this.param(PARAM_PAR_SIZE, this.u16, 'PARAM_PAR_SIZE');
      const bitDepth = this.param(PARAM_BIT_DEPTH, this.i16, 'PARAM_BIT_DEPTH');
      this.expRes = this.available(PARAM_EXP_RES) ? this.enumValues(PARAM_EXP_RES) : undefined;
      this.expMode = this.chooseExposureMode();
      this.sensor = { name: this.name, width, height, bitDepth };
      return this.sensor;
    } catch (e) {
      try {
        this.close();
      } catch {
        // the first failure is the one to report
      }
      throw e;
    }
  }

  configure(settings: CameraSettings): FrameGeometry {
    const lib = this.requireOpen('configure');
    if (this.acquiring) throw this.stateError('configure', 'stop() the acquisition first');
    const sensor = this.sensor!;
    const { x, y, width, height } = settings.roi ?? { x: 0, y: 0, width: sensor.width, height: sensor.height };
    const binning = settings.binning;
    const invalid = (what: string) =>
      new DaqError('DAQ_INVALID_ARGUMENT', `instrument ${this.instrument} (camera "${this.name}"): ${what}`, {
        instrument: this.instrument,
        camera: this.name,
        roi: { x, y, width, height },
        binning,
      });
    if (![x, y, width, height, binning].every(Number.isInteger) || width < 1 || height < 1 || binning < 1 || x < 0 || y < 0) {
      throw invalid(`roi ${x},${y} ${width}x${height} and binning ${binning} must be whole numbers (size and binning >= 1)`);
    }
    if (x + width > sensor.width || y + height > sensor.height) {
      throw invalid(`roi ${x},${y} ${width}x${height} does not fit the ${sensor.width}x${sensor.height} sensor`);
    }
    if (width % binning !== 0 || height % binning !== 0) {
      throw invalid(`roi ${width}x${height} is not divisible by binning ${binning}`);
    }
    if (!Number.isInteger(settings.bufferFrames) || settings.bufferFrames < 2) {
      throw invalid(`buffer_frames must be a whole number >= 2 (got ${settings.bufferFrames})`);
    }
    const retrieval = settings.retrieval ?? 'oldest';
    if (retrieval !== 'oldest' && retrieval !== 'latest') throw invalid(`retrieval must be "oldest" or "latest"`);
    const exposure = this.exposure(settings.exposureMs, invalid);
    const frameBytes = (width / binning) * (height / binning) * 2;
    const total = frameBytes * settings.bufferFrames;
    if (total > 0xffffffff) {
      throw invalid(`a ${settings.bufferFrames}-frame buffer of ${frameBytes} B frames exceeds PVCAM's 4 GiB limit`);
    }

    this.geometry = undefined;
    if (exposure.res !== undefined) {
      this.i32[0] = exposure.res;
      if (!lib.pl_set_param(this.hcam, PARAM_EXP_RES, this.i32)) throw this.fail('pl_set_param', 'PARAM_EXP_RES');
    }
    const rgn = new Uint16Array([x, x + width - 1, binning, y, y + height - 1, binning]);
    this.setupArgs = [rgn, this.expMode, exposure.value, retrieval === 'oldest' ? CIRC_NO_OVERWRITE : CIRC_OVERWRITE];
    this.setup();
    if (this.u32[0] !== frameBytes) {
      throw new DaqError(
        'DAQ_CAMERA',
        `pl_exp_setup_cont on camera "${this.name}" (instrument ${this.instrument}) reports ${this.u32[0]} B frames, ` +
          `expected ${frameBytes} B (${width / binning}x${height / binning} 16-bit pixels); is frame metadata enabled?`,
        { instrument: this.instrument, camera: this.name, pvcamFunction: 'pl_exp_setup_cont' },
      );
    }
    this.allocate(total);
    this.oldest = retrieval === 'oldest';
    const bitDepth = this.param(PARAM_BIT_DEPTH, this.i16, 'PARAM_BIT_DEPTH');
    this.geometry = { width: width / binning, height: height / binning, bitDepth, frameBytes };
    return this.geometry;
  }

  start(): void {
    const lib = this.requireOpen('start');
    if (this.acquiring) return;
    if (!this.geometry || this.bufferPtr === null) throw this.stateError('start', 'configure() it first');
    if (this.needsSetup) this.setup();
    this.held = false;
    this.lastFrameNr = 0;
    this.retrieved = 0;
    this.lost = 0;
    if (!lib.pl_exp_start_cont(this.hcam, this.bufferPtr, this.buffer.byteLength)) throw this.fail('pl_exp_start_cont');
    this.acquiring = true;
    this.needsSetup = true;
  }

  next(): FrameRef | undefined {
    if (!this.acquiring) throw this.stateError('next', 'start() it first');
    if (this.held) throw this.stateError('next', 'release() the previous frame first');
    const lib = this.lib!;
    if (!lib.pl_exp_check_cont_status(this.hcam, this.i16, this.u32, this.u32b)) throw this.fail('pl_exp_check_cont_status');
    const status = this.i16[0];
    if (status !== READOUT_COMPLETE) {
      if (status === READOUT_FAILED) throw this.fail('pl_exp_check_cont_status', 'the readout failed (READOUT_FAILED)');
      return undefined;
    }
    const fn = this.oldest ? 'pl_exp_get_oldest_frame_ex' : 'pl_exp_get_latest_frame_ex';
    if (!lib[fn]!(this.hcam, this.framePtr, this.frameInfoPtr)) throw this.fail(fn);
    const frameNr = this.frameInfo[FRAME_NR_INDEX]!;
    if (!this.oldest && frameNr <= this.lastFrameNr) return undefined; // nothing newer than the last one
    const frameBytes = this.geometry!.frameBytes;
    const offset = this.framePtr[0]! + this.framePtr[1]! * 2 ** 32 - this.bufferBase;
    if (offset < 0 || offset + frameBytes > this.buffer.byteLength || offset % frameBytes !== 0) {
      throw new DaqError(
        'DAQ_CAMERA',
        `${fn} on camera "${this.name}" (instrument ${this.instrument}) returned a frame outside the circular buffer`,
        { instrument: this.instrument, camera: this.name, pvcamFunction: fn },
      );
    }
    if (frameNr > this.lastFrameNr + 1) this.lost += frameNr - this.lastFrameNr - 1;
    this.lastFrameNr = frameNr;
    this.retrieved++;
    this.held = true;
    return { bytes: new Uint8Array(this.buffer, offset, frameBytes), frameNr };
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    // CIRC_OVERWRITE frames are never locked; CIRC_NO_OVERWRITE frames stay until unlocked.
    if (this.oldest && !this.lib!.pl_exp_unlock_oldest_frame(this.hcam)) throw this.fail('pl_exp_unlock_oldest_frame');
  }

  stop(): void {
    if (!this.acquiring) return;
    this.acquiring = false;
    this.held = false;
    if (!this.lib!.pl_exp_stop_cont(this.hcam, CCS_HALT)) {
      this.stopFailed = true;
      throw this.fail('pl_exp_stop_cont');
    }
  }

  close(): void {
    const errors: unknown[] = [];
    const lib = this.lib;
    try {
      this.stop();
    } catch (e) {
      errors.push(e);
    }
    let closeFailed = false;
    if (this.hcam >= 0) {
      if (!lib!.pl_cam_close(this.hcam)) {
        closeFailed = true;
        errors.push(this.fail('pl_cam_close'));
      }
      this.hcam = -1;
    }
    if (this.frameInfoPtr !== null) {
      lib!.pl_release_frame_info_struct(this.frameInfoPtr);
      this.frameInfoPtr = null;
      this.frameInfo = EMPTY_I32;
    }
    // Neither stop nor close went through: the SDK may still be writing, so the buffer is leaked.
    if (!(this.stopFailed && closeFailed)) this.freeBuffer();
    this.stopFailed = false;
    if (this.sdkHeld) {
      try {
        this.releaseSdk(lib!);
      } catch (e) {
        errors.push(e);
      }
    }
    this.sensor = undefined;
    this.geometry = undefined;
    this.setupArgs = undefined;
    this.needsSetup = false;
    if (errors.length) throw errors[0];
  }

  counters(): FrameSourceCounters {
    return { framesRetrieved: this.retrieved, framesLostAtSource: this.lost };
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private acquireSdk(lib: PvcamLibrary): void {
    acquireSdk(this.sdk, () => {
      if (lib.pl_pvcam_init()) return true;
      const code = lib.pl_error_code() as number;
      // Initialised by a user outside this count (another camera worker): the library answers.
      if (!lib.pl_cam_get_total(this.i16)) throw this.fail('pl_pvcam_init', undefined, code);
      return false;
    });
    this.sdkHeld = true;
  }

  private releaseSdk(lib: PvcamLibrary): void {
    this.sdkHeld = false;
    releaseSdk(this.sdk, () => {
      if (!lib.pl_pvcam_uninit()) throw this.fail('pl_pvcam_uninit');
    });
  }

  private cameraNames(lib: PvcamLibrary): string[] {
    if (!lib.pl_cam_get_total(this.i16)) throw this.fail('pl_cam_get_total');
    const names: string[] = [];
    for (let i = 0; i < this.i16[0]!; i++) {
      this.text.fill(0);
      if (!lib.pl_cam_get_name(i, this.text)) throw this.fail('pl_cam_get_name');
      names.push(cString(this.text));
    }
    return names;
  }

  /** Reads a parameter's current value into `out` (typed like the parameter) and returns it. */
  private param(id: number, out: Uint16Array | Int16Array | Int32Array, what: string): number {
    if (!this.lib!.pl_get_param(this.hcam, id, ATTR.CURRENT, out)) throw this.fail('pl_get_param', what);
    return out[0]!;
  }

  private available(id: number): boolean {
    this.u16[0] = 0;
    return !!this.lib!.pl_get_param(this.hcam, id, ATTR.AVAIL, this.u16) && this.u16[0] !== 0;
  }

  private enumValues(id: number): number[] {
    const lib = this.lib!;
    if (!lib.pl_get_param(this.hcam, id, ATTR.COUNT, this.u32)) throw this.fail('pl_get_param', 'ATTR_COUNT');
    const values: number[] = [];
    for (let i = 0; i < this.u32[0]!; i++) {
      if (!lib.pl_get_enum_param(this.hcam, id, i, this.i32, this.text, this.text.length)) throw this.fail('pl_get_enum_param');
      values.push(this.i32[0]!);
    }
    return values;
  }

  /**
   * TIMED_MODE where the camera lists it (CCDs, older cameras); sCMOS cameras such as Prime BSI and
   * Kinetix list only the extended modes and refuse TIMED_MODE, so they get EXT_TRIG_INTERNAL
   * with the current expose-out mode (the selection the SDK's own examples make).
   */
  private chooseExposureMode(): number {
    if (!this.available(PARAM_EXPOSURE_MODE)) return TIMED_MODE;
    const modes = this.enumValues(PARAM_EXPOSURE_MODE);
    if (modes.includes(TIMED_MODE) || !modes.includes(EXT_TRIG_INTERNAL)) return TIMED_MODE;
    const exposeOut = this.available(PARAM_EXPOSE_OUT_MODE)
      ? this.param(PARAM_EXPOSE_OUT_MODE, this.i32, 'PARAM_EXPOSE_OUT_MODE')
      : 0;
    return EXT_TRIG_INTERNAL | exposeOut;
  }

  /**
   * The exposure in the finest unit it needs: whole milliseconds in ms, anything finer in µs when
   * the camera offers it. Set every time: some cameras (Kinetix) start in seconds.
   */
  private exposure(ms: number, invalid: (what: string) => DaqError): { res: number | undefined; value: number } {
    if (!Number.isFinite(ms) || ms <= 0) throw invalid(`exposure_ms must be > 0 (got ${ms})`);
    const offered = this.expRes;
    let res: number | undefined;
    let value: number;
    if (!offered)
      value = Math.round(ms); // no PARAM_EXP_RES: pl_exp_setup_cont takes ms
    else if (offered.includes(EXP_RES_ONE_MILLISEC) && Number.isInteger(ms)) [res, value] = [EXP_RES_ONE_MILLISEC, ms];
    else if (offered.includes(EXP_RES_ONE_MICROSEC)) [res, value] = [EXP_RES_ONE_MICROSEC, Math.round(ms * 1000)];
    else if (offered.includes(EXP_RES_ONE_MILLISEC)) [res, value] = [EXP_RES_ONE_MILLISEC, Math.round(ms)];
    else if (offered.includes(EXP_RES_ONE_SEC)) [res, value] = [EXP_RES_ONE_SEC, Math.round(ms / 1000)];
    else throw invalid(`the camera offers no exposure resolution this driver knows (PARAM_EXP_RES ${offered.join(', ')})`);
    if (value < 1 || value > 0xffffffff) throw invalid(`exposure_ms ${ms} is outside what the camera can be given`);
    return { res, value };
  }

  private setup(): void {
    const [rgn, expMode, exposure, bufferMode] = this.setupArgs!;
    this.u32[0] = 0;
    if (!this.lib!.pl_exp_setup_cont(this.hcam, 1, rgn, expMode, exposure, this.u32, bufferMode)) {
      throw this.fail('pl_exp_setup_cont');
    }
    this.needsSetup = false;
  }

  /** The circular buffer: native memory that never moves while the SDK's thread writes into it. */
  private allocate(bytes: number): void {
    if (this.bufferPtr !== null && this.buffer.byteLength === bytes) return;
    this.freeBuffer();
    try {
      this.bufferPtr = koffi.alloc('uint8_t', bytes) as bigint;
    } catch (e) {
      throw new DaqError('DAQ_CAMERA', `cannot allocate a ${bytes} B frame buffer for instrument ${this.instrument}`, {
        instrument: this.instrument,
        camera: this.name,
      });
    }
    this.buffer = koffi.view(this.bufferPtr, bytes);
    this.bufferBase = Number(koffi.address(this.bufferPtr));
    // Touch every page now: a first touch costs far more than a copy (on a VM ~3 ms per MiB), and
    // must not happen while frames stream in.
    new Uint8Array(this.buffer).fill(0);
  }

  private freeBuffer(): void {
    if (this.bufferPtr === null) return;
    koffi.free(this.bufferPtr);
    this.bufferPtr = null;
    this.buffer = EMPTY_BUFFER;
    this.bufferBase = 0;
  }

  private requireOpen(call: string): PvcamLibrary {
    if (!this.sensor) throw this.stateError(call, 'open() it first');
    return this.lib!;
  }

  private stateError(call: string, what: string): DaqError {
    return new DaqError('DAQ_CAMERA', `${call}() on camera "${this.name}" (instrument ${this.instrument}): ${what}`, {
      instrument: this.instrument,
      camera: this.name,
    });
  }

  /** A failed PVCAM call, with the vendor's code and message (read now unless given). */
  private fail(fn: string, detail?: string, code?: number): DaqError {
    const lib = this.lib!;
    const pvcamCode = code ?? (lib.pl_error_code() as number);
    this.text.fill(0);
    const message = lib.pl_error_message(pvcamCode, this.text) ? cString(this.text) : 'no message';
    const facts: ErrorFacts = { instrument: this.instrument, camera: this.name, pvcamCode, pvcamFunction: fn };
    return new DaqError(
      'DAQ_CAMERA',
      `${fn} failed on PVCAM camera "${this.name}" (instrument ${this.instrument})${detail ? ` (${detail})` : ''}: ` +
        `error ${pvcamCode}: ${message}`,
      facts,
    );
  }
}
