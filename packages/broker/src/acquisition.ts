// A headless acquisition run: simulators (when simulate = true), shared resources, the dual
// runtime, the measurement bridge and the storage sink, started in that order and stopped in
// reverse, with run.json recording what happened. `daq run` is a thin shell around it.

import { DaqError, publishSettings, shadowedInstruments, type DaqConfig, type LoadedConfig } from '@daq/core';
import { PublisherHandle, type PublisherStatus } from './publish-handle.js';
import { SharedResources } from './shared-resources.js';
import { DualRuntimeManager } from './runtime/dual-runtime-manager.js';
import type { CrashReport, StopReport } from './runtime/subsystem-supervisor.js';
import { MeasurementBridge, SHADOW_SUBSYSTEM } from './bridge/measurement-bridge.js';
import { ShadowComparator } from './shadow/shadow-comparator.js';
import { ScalarFileSink } from './storage/scalar-file-sink.js';
import { createRunDirectory, writeJsonAtomic } from './storage/run-directory.js';
import { CameraManager } from './camera/camera-manager.js';
import {
  instrumentRecords,
  newRunRecord,
  rateShortfall,
  rateWarning,
  shadowSummary,
  type RunRecord,
  type RunStatus,
} from './run-record.js';

export type { RunRecord, RunStatus } from './run-record.js';

export interface AcquisitionOptions {
  /** The run directory itself (must be absent or empty); default a new one under data_dir. */
  out?: string;
  /** Rows waiting for the disk beyond which V4's ring is no longer read (backpressure). Default 2 million. */
  maxBacklogRows?: number;
  /** How often run.json is refreshed while running (default: every flush, at least 1 s apart), so a killed run still tells its story. */
  recordIntervalMs?: number;
  /**
   * With `simulate = true`: the simulators started for this configuration (`startSimulators`
   * of @daq/sim, as `daq run` does). The acquisition runs on their configuration and owns them
   * from here on: it closes them when it stops, or when it fails to start.
   */
  simulators?: RunSimulators;
  /** false: do not publish this run even with [application.publish] (benchmarks' baselines). */
  publish?: boolean;
}

/** Simulators a caller started for a run; the acquisition needs their configuration and closes them. */
export interface RunSimulators {
  /** The configuration with every serial_port and resource pointing at a simulator. */
  config: DaqConfig;
  close(): Promise<void>;
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
  /** Instruments polled more than 5 % below their poll_hz (as of run.json's last refresh). */
  short: { instrument: string; requestedHz: number; achievedHz: number }[];
  /** [application.publish]: the publisher's state, what it has acknowledged and how far behind it is. */
  publish?: Pick<PublisherStatus, 'state' | 'acked' | 'lagS' | 'behindS' | 'pendingBytes' | 'error'>;
}

function publishProgress(s: PublisherStatus): NonNullable<Progress['publish']> {
  return {
    state: s.state,
    acked: s.acked,
    behindS: s.behindS,
    pendingBytes: s.pendingBytes,
    ...(s.lagS !== undefined ? { lagS: s.lagS } : {}),
    ...(s.error ? { error: s.error } : {}),
  };
}

export class Acquisition {
  private started = performance.now();
  private recordTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<RunRecord> | undefined;
  readonly record: RunRecord;
  readonly crashes: CrashReport[] = [];
  /** [application.publish]: the publisher's worker, following this run directory. */
  publisher: PublisherHandle | undefined;

  private constructor(
    readonly dir: string,
    readonly config: DaqConfig,
    /** The simulators this run owns (simulate = true). */
    readonly simulators: RunSimulators | undefined,
    readonly resources: SharedResources,
    readonly runtime: DualRuntimeManager,
    readonly bridge: MeasurementBridge,
    readonly sink: ScalarFileSink,
    readonly cameras: CameraManager,
    loaded: LoadedConfig,
    /** Shadow mode: where V4's readings of shadowed instruments are stored, and their comparison with V2. */
    readonly shadow?: { sink: ScalarFileSink; comparator: ShadowComparator },
  ) {
    this.record = newRunRecord(loaded, sink.stats);
  }

  /** Starts everything; on failure whatever started is stopped again and run.json says why. */
  static async start(loaded: LoadedConfig, options: AcquisitionOptions = {}): Promise<Acquisition> {
    const config = loaded.config;
    const sims = options.simulators;
    if (config.application.simulate && !sims) {
      throw new DaqError(
        'DAQ_CONFIG',
        `${loaded.file}: [application] simulate = true, but no simulators were handed to the acquisition: start them with startSimulators (@daq/sim) and pass them as options.simulators, as daq run does`,
        { file: loaded.file },
      );
    }
    let dir: string;
    try {
      dir = await createRunDirectory({
        dataDir: config.application.data_dir,
        name: config.application.name,
        exact: options.out,
      });
    } catch (e) {
      await sims?.close();
      throw e;
    }
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
    const shadowed = shadowedInstruments(live);
    const bridge = new MeasurementBridge({ latenessMs: 2 * batchMs + 250, shadow: new Set(shadowed.map((i) => i.id)) }, []);
    const flushIntervalMs = Math.min(...enabled.map((s) => live[s].storage.flush_interval_ms));
    const sink = new ScalarFileSink(dir, {
      flushIntervalMs,
      storeSubsystems: new Set(enabled.filter((s) => live[s].storage.enabled)),
      select: new Set(['v2', 'v4']),
    });
    bridge.addSink(sink);
    let shadow: { sink: ScalarFileSink; comparator: ShadowComparator } | undefined;
    if (shadowed.length > 0) {
      const comparator = new ShadowComparator(
        shadowed.map((i) => ({
          id: i.id,
          type: i.type,
          // Two pollers at the same rate are at most half a period apart.
          toleranceMs: live.v4.shadow.tolerance_ms ?? (i.poll_hz > 0 ? 500 / i.poll_hz : 1000),
        })),
        { worst: live.v4.shadow.worst, maxRelDiff: live.v4.shadow.max_rel_diff },
      );
      const only = new Set([SHADOW_SUBSYSTEM]);
      shadow = {
        comparator,
        sink: new ScalarFileSink(dir, {
          flushIntervalMs,
          storeSubsystems: live.v4.storage.enabled ? only : new Set(),
          select: only,
          baseName: 'shadow',
        }),
      };
      bridge.addSink(shadow.sink);
      bridge.addSink(comparator);
    }
    for (const s of enabled) bridge.addSource(s);
    // While the disk is this far behind, V4's ring is not read: the worker feels it (and it is reported).
    const maxBacklog = options.maxBacklogRows ?? 2_000_000;
    const runtime = new DualRuntimeManager(live, resources, {
      backpressure: () => sink.backlog + (shadow?.sink.backlog ?? 0) > maxBacklog,
    });
    runtime.on('measurements', (m, subsystem) => bridge.pushMeasurements(subsystem, subsystem, m.items));
    runtime.on('arrow', (m, subsystem) => bridge.pushArrow(subsystem, subsystem, m.bytes));
    const cameras = new CameraManager(live, { epochOffsetNs: runtime.clock.epochOffsetNs, dir });
    const acq = new Acquisition(dir, live, sims, resources, runtime, bridge, sink, cameras, loaded, shadow);
    // The publisher follows the run directory from its worker thread; it never holds the run up.
    const settings = options.publish === false ? undefined : publishSettings(config);
    if (settings) acq.publisher = PublisherHandle.start(settings, { live: dir, dataDir: config.application.data_dir });
    runtime.on('crash', (c) => acq.crashes.push(c));
    bridge.start();
    try {
      await acq.writeRecord();
      const ready = await runtime.start();
      // Declare every series now, so the data file's dictionaries are complete from its first
      // flush; the first flush waits for this (rows of a subsystem started earlier are held).
      for (const [subsystem, statuses] of Object.entries(ready))
        for (const st of statuses)
          for (const c of st.channels) bridge.series.id(bridge.label(subsystem, st.id), st.id, c.channel, c.unit);
      // A shadow instrument V4 could not start leaves V2 running; the comparison says why.
      for (const f of runtime.supervisor('v4')?.optionalFailed ?? []) {
        const why = f.error?.message ?? 'failed to initialise';
        shadow?.comparator.v4Failed(f.id, why);
        acq.record.warnings.push(`v4.shadow: V4 could not run ${f.id}: ${why}`);
      }
      sink.start();
      shadow?.sink.start();
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
      short: this.record.instruments.flatMap((i) => {
        const r = rateShortfall(i);
        return r ? [{ instrument: `${i.subsystem}.${i.id}`, requestedHz: r.requestedHz, achievedHz: r.achievedHz }] : [];
      }),
      ...(this.publisher ? { publish: publishProgress(this.publisher.status()) } : {}),
    };
  }

  /** The rate warnings in run.json's warnings as of its last refresh, replaced at each one. */
  private rateWarnings: string[] = [];

  /** Rows the workers' output dropped (ring policies), from their last status. */
  private workerDropped = 0;

  /** Rows lost anywhere on the way to disk (every loss is counted where it happens; this is the sum). */
  dropped(): number {
    return this.sink.stats.rowsDropped + (this.shadow?.sink.stats.rowsDropped ?? 0) + this.workerDropped;
  }

  private async writeRecord(): Promise<void> {
    const r = this.record;
    const stats = this.sink.stats;
    r.streams.scalars = {
      ...stats,
      sources: this.bridge.counts(),
      dropped: this.dropped(),
    };
    const status = await this.runtime.status().catch(() => undefined);
    if (status) this.workerDropped = status.subsystems.reduce((n, s) => n + (s.output?.dropped ?? 0), 0);
    r.streams.scalars.dropped = this.dropped();
    r.streams.rings = Object.fromEntries(status?.subsystems.filter((s) => s.ring).map((s) => [s.name, s.ring!]) ?? []);
    const frames = this.cameras.reports();
    if (frames.length > 0) r.streams.frames = Object.fromEntries(frames.map((c) => [c.id, c]));
    if (this.shadow) {
      const shadowStats = this.shadow.sink.stats;
      r.streams.shadow = shadowStats;
      const report = this.shadow.comparator.report();
      r.shadow = shadowSummary(report);
      await writeJsonAtomic(this.dir, 'shadow.json', report);
    }
    r.instruments = instrumentRecords({
      config: this.config,
      status,
      scalars: stats,
      frames,
      cameraIds: new Set(this.cameras.ids),
      previous: r.instruments,
      shadows: this.shadow ? this.runtime.shadows : [],
      shadowStats: r.streams.shadow,
      shadowReport: r.shadow,
    });
    const rateWarnings = r.instruments.flatMap((i) => rateWarning(i) ?? []);
    r.warnings = [...r.warnings.filter((w) => !this.rateWarnings.includes(w)), ...rateWarnings];
    this.rateWarnings = rateWarnings;
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
    if (this.publisher) r.publish = this.publisher.status();
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

  /**
   * Gives the publisher up to drain_timeout_ms to publish the run's last bytes, then records
   * the outcome in run.json and publishes that too (what is left is caught up by the next daq).
   */
  private async finishPublishing(r: RunRecord): Promise<void> {
    const p = this.publisher!;
    const budget = this.config.application.publish?.drain_timeout_ms ?? 10_000;
    const t0 = performance.now();
    try {
      r.publish = await p.finish(budget);
      await writeJsonAtomic(this.dir, 'run.json', r);
      if (r.publish.live?.complete) await p.finish(Math.max(1000, budget - (performance.now() - t0)));
    } catch (e) {
      r.warnings.push(`publish: ${(e as Error).message}`);
    } finally {
      await p.close();
    }
  }

  private async stopOnce(status: Exclude<RunStatus, 'running'>, reason?: string): Promise<RunRecord> {
    clearInterval(this.recordTimer);
    let stops: StopReport[] = [];
    const problems: string[] = [];
    // A subsystem left failed (crashed past its restart budget) means the run did not do its job.
    for (const name of this.runtime.subsystems) {
      const sup = this.runtime.supervisor(name)!;
      if (sup.state === 'failed')
        problems.push(
          `${name} had failed and was not running at the end (last crash: ${sup.crashes.at(-1)?.cause ?? 'start failed'})`,
        );
    }
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
    this.shadow?.comparator.finish();
    for (const sink of [this.sink, this.shadow?.sink]) {
      try {
        await sink?.close();
      } catch (e) {
        problems.push(`closing the data files: ${(e as Error).message}`);
      }
    }
    const r = this.record;
    r.status = problems.length > 0 && status === 'completed' ? 'failed' : status;
    const why = [reason, ...problems].filter(Boolean).join('; ');
    if (why) r.reason = why;
    r.stoppedAt = new Date().toISOString();
    r.durationS = Math.round((performance.now() - this.started) / 10) / 100;
    try {
      await this.writeRecord();
      r.subsystems = r.subsystems.map((s) => ({ ...s, stop: stops.find((x) => x.subsystem === s.name) }));
      await writeJsonAtomic(this.dir, 'run.json', r);
    } catch (e) {
      // A full or vanished disk at the very end: the caller still gets the record (and prints it).
      r.status = 'failed';
      r.reason = [r.reason, `run.json could not be written to ${this.dir}: ${(e as Error).message}`].filter(Boolean).join('; ');
    } finally {
      await this.resources.close();
      await this.simulators?.close();
    }
    if (this.publisher) await this.finishPublishing(r);
    return r;
  }
}
