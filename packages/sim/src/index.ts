// @daq/sim: instrument simulators speaking the real protocols over real transports
// (pseudo-terminals and TCP sockets), with fault injection. Written from the manuals,
// independently of the drivers.
export * from './faults.js';
export { Pty, pointLink } from './pty.js';
export {
  SerialSimulator,
  byteTimeMs,
  type Reply,
  type SerialSimulatorOptions,
  type SimulatorCounters,
} from './serial-simulator.js';
export { Newport1830CSimulator, formatWatts, type Newport1830COptions } from './newport-1830c.js';
export { ElliptecBusSimulator, hex32, parseHex32, type ElliptecDeviceOptions, type ElliptecModel } from './elliptec-bus.js';
export * from './scpi-engine.js';
export * from './scpi-tcp-simulator.js';
export { startSimulators, type SimEndpoint, type SimulatorSet } from './simulator-set.js';
