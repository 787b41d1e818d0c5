// @daq/v4-worker: the V4 subsystem (instrument traits, drivers, Arrow batches) and its worker entry.
export * from './traits.js';
export { V4Instrument } from './v4-instrument.js';
export { ElliptecMotion } from './drivers/elliptec.js';
export { Esp300Motion } from './drivers/esp300.js';
export { Newport1830CMeter } from './drivers/newport-1830c.js';
export { MaiTaiLaser } from './drivers/maitai.js';
export { ScpiDevice } from './drivers/scpi.js';
export { ArrowSink, RING_RECORD_HEADER } from './arrow-sink.js';
export { createV4Instrument, createV4Subsystem } from './subsystem.js';

/** The worker thread's entry file (TypeScript source when running from source, else the build). */
export const v4WorkerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);
export {
  runCameraWorker,
  type CameraWorkerData,
  type CameraWorkerMessage,
  type CameraFinalCounts,
} from './camera/camera-capture.js';
export { pinThread, setThreadAffinity, threadAffinity, parseCpuList, type CpuPinning } from './camera/cpu-affinity.js';

const sourceFile = (name: string) => new URL(import.meta.url.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, import.meta.url);
/** The camera worker thread's entry file. */
export const cameraWorkerUrl = sourceFile('camera/camera-worker');
/** The module holding PvcamCamera, for the camera worker's source spec. */
export const pvcamModuleUrl = sourceFile('camera/pvcam').href;
export { PvcamCamera, type PvcamCameraOptions } from './camera/pvcam.js';
