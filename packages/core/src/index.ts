// @daq/core: what every package shares: errors, configuration, VISA resource names.
export * from './errors.js';
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
  type Subsystem,
  type Transport,
  type JsonSchema,
} from './config/instrument-types.js';
export { configSchema, schemaFileText, SCHEMA_ID } from './config/schema.js';
export { formatKeyPath, type KeyPath } from './config/locate.js';
export { serialPortOf } from './config/semantic.js';
export { loadConfig, parseConfig, validateConfigText, type ValidationResult } from './config/load.js';
export { configReferenceMarkdown } from './config/reference.js';
export * from './rpc.js';
