// @daq/broker: the process that owns the hardware. Its public face.
export { main } from './cli.js';
export { startAcquisition } from './commands/run.js';
export type { CliIo } from './cli-io.js';
export {
  SerialPortPool,
  DEFAULT_LINE_SETTINGS,
  type LeaseOptions,
  type PortStatus,
  type SerialPortPoolOptions,
} from './serial/serial-port-pool.js';
export { SerialLease, type LeaseState, type QueryOptions, type ReadOptions } from './serial/serial-lease.js';
export { nodeSerialLineFactory, type SerialLine, type SerialLineEvents, type SerialLineFactory } from './serial/serial-line.js';
export type { PortStats } from './serial/port-stats.js';
export type { Distribution } from './latency-histogram.js';
export {
  VisaSessionManager,
  type VisaCallOptions,
  type VisaStats,
  type VisaTransaction,
  type VisaResourceOptions,
} from './visa/visa-session-manager.js';
export type { VisaBackend, VisaSession, VisaOpenOptions } from './visa/backend.js';
export { SocketBackend } from './visa/socket-backend.js';
export { AsrlBackend } from './visa/asrl-backend.js';
export { FfiBackend, FfiSession, type VisaLockMode } from './visa/ffi-backend.js';
export { DeviceCache, parseIdn, type DeviceIdentity } from './device-cache.js';
export { SharedResources, type SharedResourcesOptions, type ExecuteVisaOptions } from './shared-resources.js';
export { BrokerEndpoint, attachWorker } from './rpc/broker-endpoint.js';
export {
  DualRuntimeManager,
  type DualRuntimeOptions,
  type RuntimeEvents,
  type RuntimeStatus,
  type SubsystemName,
  type SubsystemReport,
} from './runtime/dual-runtime-manager.js';
export { SubsystemSupervisor, type CrashReport, type StopReport, type SupervisorState } from './runtime/subsystem-supervisor.js';
export { PublisherHandle, type PublisherStatus } from './publish-handle.js';
export { Acquisition, type AcquisitionOptions, type Progress, type RunRecord, type RunStatus } from './acquisition.js';
export {
  MeasurementBridge,
  SHADOW_SUBSYSTEM,
  type BridgeSink,
  type BridgeOptions,
  type SourceCounts,
} from './bridge/measurement-bridge.js';
export {
  ShadowComparator,
  type ShadowReport,
  type ShadowInstrumentReport,
  type ShadowChannelReport,
  type ShadowMoment,
} from './shadow/shadow-comparator.js';
export { formatShadow } from './shadow/shadow-format.js';
export { SeriesTable, type ScalarChunk, type SeriesKey } from './bridge/series.js';
export { ScalarFileSink, STORED_SCALAR_SCHEMA, type ScalarFileStats } from './storage/scalar-file-sink.js';
export { inspectPath, formatInspect, type InspectResult } from './commands/inspect.js';
export { RingConsumer } from './runtime/ring-consumer.js';
export {
  CameraManager,
  type CameraReport,
  type CameraManagerOptions,
  type CameraPreview,
  type CameraPreviewOptions,
  type CameraPreviewCounts,
} from './camera/camera-manager.js';
export {
  CameraSupervisor,
  type CameraReady,
  type CameraStopReport,
  type CameraSupervisorOptions,
} from './camera/camera-supervisor.js';
export { FramePipeline, type FramePipelineCounts } from './camera/frame-pipeline.js';
export { FrameFileSink, alignedBytes, type FrameFileStats } from './storage/frame-file-sink.js';
export { FrameStatsSink } from './storage/frame-stats-sink.js';
export * from './processing/index.js';
