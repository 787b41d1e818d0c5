// The loaded configuration, defaults applied. Keys stay snake_case as in the TOML file so a
// run's config snapshot reads like the file the user wrote.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Which subsystem: the one name for it everywhere (config sections, workers, lease owners, data). */
export type SubsystemName = 'v2' | 'v4';

/** Where a stored row comes from: a subsystem, or V4's run of a V2 instrument it shadows. */
export type DataSource = SubsystemName | 'v4-shadow';

export interface SerialLineSettings {
  baud_rate: number;
  data_bits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stop_bits: 1 | 2;
  flow_control: 'none' | 'rtscts' | 'xonxoff';
}

interface InstrumentBase {
  id: string;
}

/** Simulator fault injection from the file's `sim` table (simulate = true only). */
export interface SimFaultsConfig {
  latency_ms: number;
  drop_probability: number;
  corrupt_probability: number;
  late_probability: number;
  late_ms: number;
  seed: number;
  /** Added to readings served to V4 (Newport1830C W, MaiTai power W, Elliptec pulses). */
  v4_offset?: number;
  /** "fast" (default): answers as fast as the line allows; "hardware": the real device's response, move and stall times. */
  profile: 'fast' | 'hardware';
  /** The simulated model (Elliptec device, Newport1830C detector head, MaiTai model); the type's default when unset. */
  model?: string;
  /** Newport1830C only: the simulated optical bench the meter reads (a laser through a polarizer). */
  light?: SimLightConfig;
}

/**
 * A simulated Newport1830C's light (`sim.light`): P = P_source · transmission · cos²(θ − axis_deg)
 * + leak_w, with Gaussian noise of relative standard deviation `noise`, at each reading.
 */
export interface SimLightConfig {
  /** Id of a MaiTai: P_source is its beam (zero while the pump is off or the shutter closed). Unset: source_w. */
  laser?: string;
  /** Start that MaiTai warmed up, emitting, shutter open, watchdog off (default true). */
  laser_on: boolean;
  /** Constant source power in W when no laser is named. */
  source_w: number;
  /** Id of an Elliptec rotation mount holding the polarizer; θ is its angle. Unset: no cos² factor. */
  polarizer?: string;
  /** The polarizer's transmission axis relative to the mount's zero, degrees. */
  axis_deg: number;
  /** Fraction of the beam reaching the detector with the polarizer aligned (0-1). */
  transmission: number;
  /** Stray light reaching the detector whatever the laser and polarizer do, W. */
  leak_w: number;
  /** Relative standard deviation of the Gaussian noise on each reading (0-1). */
  noise: number;
  /** Seed of the noise; unset: the sim table's seed. */
  seed?: number;
}

export interface SerialInstrumentBase extends InstrumentBase, SerialLineSettings {
  serial_port: string;
  poll_hz: number;
  /** How long the driver waits for one reply. */
  timeout_ms: number;
  sim?: SimFaultsConfig;
}

export interface ElliptecConfig extends SerialInstrumentBase {
  type: 'Elliptec';
  /** Upper-case hex digit "0"-"F" (integers in the file are normalised). */
  address: string;
  /** How long a move or a home may take before the driver gives up. */
  move_timeout_ms: number;
}

export interface Newport1830CConfig extends SerialInstrumentBase {
  type: 'Newport1830C';
  wavelength_nm?: number;
  filter?: 'slow' | 'medium' | 'fast';
  attenuator?: boolean;
}

export interface MaiTaiConfig extends SerialInstrumentBase {
  type: 'MaiTai';
  wavelength_nm?: number;
}

export interface Esp300Config extends SerialInstrumentBase {
  type: 'ESP300';
  axes: number[];
  /** How long a move or a home search may take (waitSettled, home). */
  move_timeout_ms: number;
}

export interface MockPowerConfig extends InstrumentBase {
  type: 'MockPower';
  poll_hz: number;
  power_w: number;
  noise: number;
}

export interface ScpiInstrumentConfig extends InstrumentBase {
  type: 'ScpiInstrument';
  resource: string;
  poll_query?: string;
  poll_hz: number;
  unit: string;
  timeout_ms?: number;
  read_termination: string;
  write_termination: string;
  baud_rate?: number;
  /** The instrument as a motor for plans: a set command with {value}, a read query, limits. */
  motor?: { set: string; read: string; unit: string; min?: number; max?: number; opc: boolean };
  sim?: SimFaultsConfig;
}

export interface Roi {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PvcamInstrumentConfig extends InstrumentBase {
  type: 'PVCAMInstrument';
  camera_name: string;
  exposure_ms: number;
  roi?: Roi;
  binning: 1 | 2 | 4 | 8;
  bit_depth: 8 | 12 | 16;
  cpu?: number;
  realtime_priority?: number;
  buffer_frames: number;
  retrieval: 'oldest' | 'latest';
  ring_frames: number;
  stats: boolean;
  stats_bins: number;
  chunk_mb: number;
}

export type V2InstrumentConfig = ElliptecConfig | Newport1830CConfig | MaiTaiConfig | MockPowerConfig;
export type V4InstrumentConfig =
  ElliptecConfig | Newport1830CConfig | MaiTaiConfig | Esp300Config | ScpiInstrumentConfig | PvcamInstrumentConfig;
export type InstrumentConfig = V2InstrumentConfig | V4InstrumentConfig;

export interface StorageConfig {
  enabled: boolean;
  flush_interval_ms: number;
}

export type RestartPolicy = 'never' | 'on-failure';

export interface SubsystemConfig<I> {
  enabled: boolean;
  instruments: I[];
  storage: StorageConfig;
  restart: RestartPolicy;
  max_restarts: number;
  restart_backoff_ms: number;
  batch_rows: number;
  batch_interval_ms: number;
}

export interface ShadowConfig {
  /** V2 instrument ids V4 shadows. */
  instruments: string[];
  /** Pairing tolerance; unset: half the instrument's poll period. */
  tolerance_ms?: number;
  worst: number;
  /** The verdict's tolerance: largest relative difference |V4 − V2| / |V2| for "V4 agrees". */
  max_rel_diff: number;
}

export interface V4RingConfig {
  ring_bytes: number;
  ring_policy: 'block' | 'drop-newest' | 'drop-oldest';
  ring_block_timeout_ms: number;
  pvcam_library: string;
  shadow: ShadowConfig;
}

/** [application.publish]: runs published to NATS JetStream. */
export interface PublishConfig {
  enabled: boolean;
  servers: string[];
  stream: string;
  subject_root: string;
  lab?: string;
  host?: string;
  replicas: number;
  token?: string;
  user?: string;
  password?: string;
  nkey_seed?: string;
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  drain_timeout_ms: number;
  max_pending: number;
  nice: number;
}

export interface DaqConfig {
  application: {
    name: string;
    log_level: LogLevel;
    data_dir: string;
    simulate: boolean;
    /** Recorded in the run start document of every plan run. */
    metadata?: Record<string, string | number | boolean>;
    /** Absent: runs are not published. */
    publish?: PublishConfig;
  };
  broker: {
    visa_library?: string;
    serial_lease_timeout_ms: number;
    visa_timeout_ms: number;
    heartbeat_interval_ms: number;
    heartbeat_timeout_ms: number;
    start_timeout_ms: number;
    shutdown_timeout_ms: number;
    processing_threads: number;
  };
  /** Absent section: disabled, no instruments. */
  v2: SubsystemConfig<V2InstrumentConfig> & { allow_deprecated: boolean };
  v4: SubsystemConfig<V4InstrumentConfig> & V4RingConfig;
}

/** A loaded configuration together with where it came from. */
export interface LoadedConfig {
  file: string;
  config: DaqConfig;
  /** Problems that do not stop a run (e.g. a CPU this machine lacks). */
  warnings: import('../errors.js').ConfigDiagnostic[];
}
