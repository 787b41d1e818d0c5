// A headless acquisition run: simulators (when simulate = true), shared resources, the dual
// runtime, the measurement bridge and the storage sink, started in that order and stopped in
// reverse, with run.json recording what happened. `daq run` is a thin shell around it.

import { hostname, cpus, platform, release } from 'node:os';
import { createRequire } from 'node:module';
import type { DaqConfig, LoadedConfig } from '@daq/core';
import { startSimulators, type SimulatorSet } from '@daq/sim';
import { SharedResources } from './shared-resources.js';
import { DualRuntimeManager } from './runtime/dual-runtime-manager.js';
import type { CrashReport, StopReport } from './runtime/subsystem-supervisor.js';
import { MeasurementBridge, type SourceCounts } from './bridge/measurement-bridge.js';
import { ScalarFileSink, type ScalarFileStats } from './storage/scalar-file-sink.js';
import { createRunDirectory, writeJsonAtomic } from './storage/run-directory.js';
import { CameraManager, type CameraReport } from './camera/camera-manager.js';

export type RunStatus = 'running' | 'completed' | 'interrupted' | 'failed';

export interface AcquisitionOptions {
  /** The run directory itself (must be absent or empty); default a new one under data_dir. */
  out?: string;
  /** Rows waiting for the disk beyond which V4's ring is no longer read (backpressure). Default 2 million. */
  maxBacklogRows?: number;
  /** How often run.json is refreshed while running (default: every flush, at least 1 s apart), so a killed run still tells its story. */
  recordIntervalMs?: number;
}

export interface Progress {
  elapsedS: number;
  /** Rows received from each subsystem so far. */
  rows: Record<string, number>;
  /** Rows per second over the whole run. */
  rate: number;
  stored: number;
  backlog: number;
  dropped: number;
  late: number;
  subsystems: Record<string, string>;
  /** Per camera: frames taken from the camera, stored on disk, and lost (anywhere). */
  frames: Record<string, { acquired: number; stored: number; dropped: number }>;
}

export interface RunRecord {
  format: 'daq-run/1';
  name: string;
  status: RunStatus;
  reason?: string;
  configFile: string;
  config: DaqConfig;
  versions: Record<string, string>;
  host: { hostname: string; platform: string; release: string; cpu: string; cores: number };
  startedAt: string;
  stoppedAt?: string;
  durationS?: number;
  streams: {
    scalars: ScalarFileStats & { sources: Record<string, SourceCounts>; dropped: number };
    /** Per producer thread's SharedArrayBuffer ring (V4): written, read, dropped, high-water, backpressure pauses. */
    rings?: Record<string, unknown>;
    /** Per camera: frames acquired, stored, dropped (and where), statistics, files, CPU pinning. */
    frames?: Record<string, CameraReport>;
  };
  instruments: { id: string; subsystem: string; type: string; rows: number; note?: string }[];
  subsystems: { name: string; state: string; restarts: number; crashes: CrashReport[]; stop?: StopReport }[];
  warnings: string[];
}

const require = createRequire(import.meta.url);
function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export class Acquisition {
  private started = performance.now();
  private recordTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<RunRecord> | undefined;
  readonly record: RunRecord;
  readonly crashes: CrashReport[] = [];

  private constructor(
    readonly dir: string,
    readonly config: DaqConfig,
    private readonly sims: SimulatorSet | undefined,
    readonly resources: SharedResources,
    readonly runtime: DualRuntimeManager,
    readonly bridge: MeasurementBridge,
    readonly sink: ScalarFileSink,
    readonly cameras: CameraManager,
    loaded: LoadedConfig,
  ) {
    const cpu = cpus();
    this.record = {
      format: 'daq-run/1',
      name: loaded.config.application.name,
      status: 'running',
      configFile: loaded.file,
      config: loaded.config,
      versions: { daq: '0.1.0', node: process.versions.node, 'apache-arrow': versionOf('apache-arrow') },
      host: {
        hostname: hostname(),
        platform: platform(),
        release: release(),
        cpu: cpu[0]?.model ?? 'unknown',
        cores: cpu.length,
      },
      startedAt: new Date().toISOString(),
      streams: { scalars: { ...sink.stats, sources: {}, dropped: 0 } },
      instruments: [],
      subsystems: [],
      warnings: loaded.warnings.map((w) => `${w.path}: ${w.message}`),
    };
  }

  /** Starts everything; on failure whatever started is stopped again and run.json says why. */
  static async start(loaded: LoadedConfig, options: AcquisitionOptions = {}): Promise<Acquisition> {
    const config = loaded.config;
    const dir = await createRunDirectory({
      dataDir: config.application.data_dir,
      name: config.application.name,
      exact: options.out,
    });
    const sims = config.application.simulate ? await startSimulators(config) : undefined;
    const live = sims?.config ?? config;
    let resources: SharedResources | undefined;
    try {
      resources = await SharedResources.create(live);
    } catch (e) {
      await sims?.close();
      await writeJsonAtomic(dir, 'run.json', {
        format: 'daq-run/1',
        status: 'failed',
        reason: (e as Error).message,
        configFile: loaded.file,
      });
      throw e;
    }
    const enabled = (['v2', 'v4'] as const).filter((s) => live[s].enabled);
    const batchMs = Math.max(...enabled.map((s) => live[s].batch_interval_ms));
    // A row may wait batch_interval_ms in its worker and a little in transit: wait twice that for stragglers.
    const bridge = new MeasurementBridge({ latenessMs: 2 * batchMs + 250 }, []);
    const sink = new ScalarFileSink(dir, {
      flushIntervalMs: Math.min(...enabled.map((s) => live[s].storage.flush_interval_ms)),
      storeSubsystems: new Set(enabled.filter((s) => live[s].storage.enabled)),
    });
    bridge.addSink(sink);
    for (const s of enabled) bridge.addSource(s);
    // While the disk is this far behind, V4's ring is not read: the worker feels it (and it is reported).
    const maxBacklog = options.maxBacklogRows ?? 2_000_000;
    const runtime = new DualRuntimeManager(live, resources, { backpressure: () => sink.backlog > maxBacklog });
    runtime.on('measurements', (m, subsystem) => bridge.pushMeasurements(subsystem, subsystem, m.items));
    runtime.on('arrow', (m, subsystem) => bridge.pushArrow(subsystem, subsystem, m.bytes));
    const cameras = new CameraManager(live, { epochOffsetNs: runtime.clock.epochOffsetNs, dir });
    const acq = new Acquisition(dir, live, sims, resources, runtime, bridge, sink, cameras, loaded);
    runtime.on('crash', (c) => acq.crashes.push(c));
    bridge.start();
    await acq.writeRecord();
    try {
      const ready = await runtime.start();
      // Declare every series now, so the data file's dictionaries are complete from its first
      // flush; the first flush waits for this (rows of a subsystem started earlier are held).
      for (const [subsystem, statuses] of Object.entries(ready))
        for (const st of statuses) for (const c of st.channels) bridge.series.id(subsystem, st.id, c.channel, c.unit);
      sink.start();
      await cameras.open();
      cameras.start();
    } catch (e) {
      await acq.stop('failed', (e as Error).message);
      throw e;
    }
    acq.started = performance.now();
    const every = options.recordIntervalMs ?? Math.max(1000, Math.min(...enabled.map((s) => live[s].storage.flush_interval_ms)));
    acq.recordTimer = setInterval(() => void acq.writeRecord().catch(() => undefined), every);
    return acq;
  }

  progress(): Progress {
    const elapsedS = (performance.now() - this.started) / 1000;
    const counts = this.bridge.counts();
    const rows = Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, c.in]));
    const total = Object.values(rows).reduce((a, b) => a + b, 0);
    const subsystems = Object.fromEntries(this.runtime.subsystems.map((s) => [s, this.runtime.supervisor(s)!.state]));
    return {
      elapsedS,
      rows,
      rate: elapsedS > 0 ? total / elapsedS : 0,
      stored: this.sink.rowsFlushed,
      backlog: this.sink.backlog + Object.values(counts).reduce((a, c) => a + c.buffered, 0),
      dropped: this.dropped(),
      late: Object.values(counts).reduce((a, c) => a + c.late, 0),
      subsystems,
      frames: Object.fromEntries(
        this.cameras.reports().map((c) => [c.id, { acquired: c.acquired, stored: c.stored, dropped: c.dropped.total }]),
      ),
    };
  }

  /** Rows the workers' output dropped (ring policies), from their last status. */
  private workerDropped = 0;

  /** Rows lost anywhere on the way to disk (every loss is counted where it happens; this is the sum). */
  dropped(): number {
    return this.sink.stats.rowsDropped + this.workerDropped;
  }

  private async writeRecord(): Promise<void> {
    const r = this.record;
    const stats = this.sink.stats;
    r.streams.scalars = {
      ...stats,
      sources: this.bridge.counts(),
      dropped: this.dropped(),
    };
    const owner = new Map<string, string>();
    for (const s of ['v2', 'v4'] as const)
      if (this.config[s].enabled) for (const i of this.config[s].instruments) owner.set(i.id, `${s}:${i.type}`);
    const status = await this.runtime.status().catch(() => undefined);
    if (status) this.workerDropped = status.subsystems.reduce((n, s) => n + (s.output?.dropped ?? 0), 0);
    r.streams.scalars.dropped = this.dropped();
    r.streams.rings = Object.fromEntries(status?.subsystems.filter((s) => s.ring).map((s) => [s.name, s.ring!]) ?? []);
    const frames = this.cameras.reports();
    if (frames.length > 0) r.streams.frames = Object.fromEntries(frames.map((c) => [c.id, c]));
    const cameraIds = new Set(this.cameras.ids);
    const notRun = new Map(status?.notRun.filter((n) => !cameraIds.has(n.id)).map((n) => [n.id, n.why]) ?? []);
    r.instruments = [...owner].map(([id, st]) => {
      const [subsystem, type] = st.split(':') as [string, string];
      const note = notRun.get(id);
      const camera = frames.find((c) => c.id === id);
      const rows = camera ? camera.stored : (stats.perInstrument[id] ?? 0);
      return {
        id,
        subsystem,
        type,
        rows,
        ...(camera ? { note: `camera: ${camera.stored} frames stored` } : {}),
        ...(note ? { note } : {}),
      };
    });
    r.subsystems = this.runtime.subsystems.map((name) => {
      const sup = this.runtime.supervisor(name)!;
      const prev = r.subsystems.find((s) => s.name === name);
      return {
        name,
        state: sup.state,
        restarts: sup.restarts,
        crashes: [...sup.crashes],
        ...(prev?.stop ? { stop: prev.stop } : {}),
      };
    });
    await writeJsonAtomic(this.dir, 'run.json', r);
  }

  /**
   * Stops in reverse order: the workers (they flush their last batches), the bridge (drained
   * into the sink), the sink (final flush, files closed), then hardware and simulators. Safe to
   * call twice; the second call returns the first one's result.
   */
  stop(status: Exclude<RunStatus, 'running'>, reason?: string): Promise<RunRecord> {
    this.stopping ??= this.stopOnce(status, reason);
    return this.stopping;
  }

  private async stopOnce(status: Exclude<RunStatus, 'running'>, reason?: string): Promise<RunRecord> {
    clearInterval(this.recordTimer);
    let stops: StopReport[] = [];
    const problems: string[] = [];
    // Cameras first: each drains its buffer and ring to disk before anything else stops.
    const cameras = await this.cameras.stop();
    for (const c of cameras) if (c.error) problems.push(`camera ${c.id}: ${c.error}`);
    try {
      stops = await this.runtime.stop();
    } catch (e) {
      problems.push(`stopping the workers: ${(e as Error).message}`);
      await this.runtime.kill();
    }
    this.bridge.drain();
    try {
      await this.sink.close();
    } catch (e) {
      problems.push(`closing the data files: ${(e as Error).message}`);
    }
    const r = this.record;
    r.status = problems.length > 0 && status === 'completed' ? 'failed' : status;
    const why = [reason, ...problems].filter(Boolean).join('; ');
    if (why) r.reason = why;
    r.stoppedAt = new Date().toISOString();
    r.durationS = Math.round((performance.now() - this.started) / 10) / 100;
    await this.writeRecord();
    r.subsystems = r.subsystems.map((s) => ({ ...s, stop: stops.find((x) => x.subsystem === s.name) }));
    await writeJsonAtomic(this.dir, 'run.json', r);
    await this.resources.close();
    await this.sims?.close();
    return r;
  }
}
