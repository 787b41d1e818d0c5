// @daq/server: the daemon's server worker (entry `@daq/server/worker`), the contract between it
// and the main thread, and the pieces tests and the broker use directly.

export * from './api.js';
export { buildApp, type App, type AppOptions } from './app.js';
export { Hub, LiveRows, frame, type Rows, type ClientCounts } from './hub.js';
export { gate, isLoopback, isWildcard, TOKEN_COOKIE } from './security.js';
export { planSchema, planList } from './schemas.js';
