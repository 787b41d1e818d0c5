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
