// @daq/core: what every package shares: errors, configuration, VISA resource names.
export * from './errors.js';
export * from './error-catalogue.js';
export * from './visa-resource.js';
export * from './did-you-mean.js';
export * from './config/types.js';
export {
  INSTRUMENT_TYPES,
  BAUD_RATES,
  SERIAL_LINE_KEYS,
  instrumentTypesFor,
  instrumentTypeSpec,
  type InstrumentTypeSpec,
  type Transport,
  type JsonSchema,
} from './config/instrument-types.js';
export { configSchema, schemaFileText, SCHEMA_ID } from './config/schema.js';
export { PositionIndex, formatKeyPath, type KeyPath } from './config/locate.js';
export { serialPortOf, shadowedInstruments } from './config/semantic.js';
export * from './config/publish.js';
export { loadConfig, parseConfig, validateConfigText, type ValidationResult } from './config/load.js';
export * from './config/migrate.js';
export { configReferenceMarkdown } from './config/reference.js';
export * from './rpc.js';
export * from './clock.js';
export * from './measurement.js';
export * from './arrow/column-builders.js';
export { SCALAR_SCHEMA, ScalarBatchBuilder, ScalarRows, type ScalarColumns } from './arrow/scalar-batch.js';
export * from './runtime/serial-channel.js';
export * from './runtime/command-table.js';
export * from './runtime/instrument.js';
export * from './runtime/instrument-driver.js';
export * from './runtime/serial-queue.js';
export * from './runtime/subsystem-api.js';
export * from './runtime/subsystem-host.js';
export * from './runtime/serve-worker.js';
export * from './runtime/batching-endpoint.js';
export * from './runtime/buffered-sink.js';
export * from './arrow/ipc-messages.js';
export * from './ring/sab-ring.js';
export { mulberry32 } from './random.js';
export * from './diagnostics.js';
export * from './camera/frame-source.js';
export * from './arrow/frame-batch.js';
export * from './camera/camera-control.js';
export * from './camera/sdk-users.js';
export * from './camera/camera-worker-protocol.js';
