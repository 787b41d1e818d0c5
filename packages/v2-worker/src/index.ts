// @daq/v2-worker: the legacy V2 subsystem (drivers, Measurement batches) and its worker entry.
export { LegacyInstrument } from './legacy-instrument.js';
export { ElliptecV2 } from './drivers/elliptec.js';
export { Newport1830CV2 } from './drivers/newport-1830c.js';
export { MaiTaiV2 } from './drivers/maitai.js';
export { MockPowerV2 } from './drivers/mock-power.js';
export { MeasurementSink } from './measurement-sink.js';
export { createV2Instrument, createV2Subsystem } from './subsystem.js';
