// @daq/sim: instrument simulators speaking the real protocols over real transports
// (pseudo-terminals and TCP sockets), with fault injection. Written from the manuals,
// independently of the drivers.
export * from './faults.js';
export { Pty, pointLink, removeLink, type PtyOptions } from './pty.js';
export {
  SerialSimulator,
  byteTimeMs,
  type FramedCommand,
  type Reply,
  type SerialSimulatorOptions,
  type SimulatorCounters,
  type SimProfile,
} from './serial-simulator.js';
export {
  ElliptecBusSimulator,
  ElliptecDevice,
  ElliptecStatus,
  hex32,
  parseHex32,
  type ElliptecBusOptions,
  type ElliptecDeviceOptions,
  type ElliptecModel,
  type ElliptecFirmwareQuirks,
  type ElliptecKind,
} from './elliptec-bus.js';
export {
  Newport1830CSimulator,
  FILTER_MS,
  StatusBits,
  formatWatts,
  DETECTORS,
  COMMAND_MS,
  type Detector,
  type Filter,
  type Newport1830COptions,
  type Units,
} from './newport-1830c.js';
export {
  Esp300Simulator,
  Esp300Axis,
  AxisError,
  Trajectory,
  ESP300_UNITS as ESP300_SIM_UNITS,
  esp300ErrorMessage,
  type Esp300Options,
  type Esp300AxisOptions,
  type LimitHit,
} from './esp300.js';
export {
  MaiTaiSimulator,
  MaiTaiErrorBits,
  XON,
  XOFF,
  TUNING_PEAK_NM,
  tuningFraction,
  type MaiTaiOptions,
  type MaiTaiModel,
} from './maitai.js';
export { opticalPath, planBenches, malus, gaussian, type OpticalPathOptions, type BenchPlan } from './optical-bench.js';
export * from './scpi-engine.js';
export * from './scpi-tcp-simulator.js';
export { ScpiSerialSimulator, type ScpiSerialOptions } from './scpi-serial-simulator.js';
export { startSimulators, type SimEndpoint, type SimulatorSet } from './simulator-set.js';
export { SimCamera, type SimCameraOptions } from './sim-camera.js';
export * from './fake-pvcam.js';
