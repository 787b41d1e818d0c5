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

export { runCameraWorker } from './camera/camera-capture.js';
export { pinThread, setThreadAffinity, threadAffinity, parseCpuList } from './camera/cpu-affinity.js';

export { PvcamCamera, type PvcamCameraOptions } from './camera/pvcam.js';
