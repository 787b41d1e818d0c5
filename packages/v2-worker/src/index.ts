// @daq/v2-worker: the legacy V2 subsystem (drivers, Measurement batches) and its worker entry.
// The driver classes are re-exported here for tests and library users; the worker does not
// come through this file (it loads the driver modules present, see driver-registry.ts). Removing
// a retirement batch removes its driver files and their lines below (docs/migration.md).
export { LegacyInstrument } from './legacy-instrument.js';
export { ElliptecV2 } from './drivers/elliptec.js';
export { Newport1830CV2 } from './drivers/newport-1830c.js';
export { MaiTaiV2 } from './drivers/maitai.js';
export { MockPowerV2 } from './drivers/mock-power.js';
export { MeasurementSink } from './measurement-sink.js';
export { createV2Instrument, createV2Subsystem } from './subsystem.js';
export { loadV2Drivers, v2DriverSpecifier, v2InstrumentFactory, type V2Driver } from './driver-registry.js';
