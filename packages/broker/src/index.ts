// @daq/broker: the process that owns the hardware. Its public face grows with each layer.
export { main } from './cli.js';
export type { CliIo } from './cli-io.js';
