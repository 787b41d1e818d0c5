// Runs V2 and V4 side by side: starts V2 then V4 (those enabled), stops them in reverse,
// supervises both, routes commands to the subsystem that owns an instrument, and reports
// the status of everything (subsystems, instruments, leases, queues).

import { EventEmitter } from 'node:events';
import {
  Clock,
  DaqError,
  didYouMean,
  shadowedInstruments,
  type ArrowBatchMessage,
  type DaqConfig,
  type InstrumentConfig,
  type InstrumentStatus,
  type MeasurementBatchMessage,
  type OutputCounts,
  type SubsystemName,
} from '@daq/core';
import type { SharedResources } from '../shared-resources.js';
import { entryUrl } from '../entry-points.js';
import { SubsystemSupervisor, type CrashReport, type StopReport, type SupervisorState } from './subsystem-supervisor.js';

export type { SubsystemName } from '@daq/core';

export interface DualRuntimeOptions {
  /** Worker entry files (tests substitute their own). */
  workerUrls?: Partial<Record<SubsystemName, URL>>;
  clock?: Clock;
  /** True while the consumers of the data are behind: V4's ring is then not read, so V4 feels backpressure. */
  backpressure?: () => boolean;
}

export interface RuntimeEvents {
  /** A V2 batch of scalar measurements. */
  measurements: [MeasurementBatchMessage, SubsystemName];
  /** A V4 Arrow batch (one self-contained IPC stream). */
  arrow: [ArrowBatchMessage, SubsystemName];
  crash: [CrashReport];
  restart: [{ subsystem: SubsystemName; attempt: number; delayMs: number }];
  state: [{ subsystem: SubsystemName; state: SupervisorState }];
}

export interface SubsystemReport {
  name: SubsystemName;
  state: SupervisorState;
  threadId?: number;
  restarts: number;
  crashes: CrashReport[];
  leasesHeld: number;
  instruments: InstrumentStatus[];
  /** Data batches and rows received, sequence gaps, and batches a listener could not use (errors). */
  received: SubsystemSupervisor['received'];
  /** V4's SharedArrayBuffer ring: records and bytes written, read and dropped, high-water mark, pauses. */
  ring?: SubsystemSupervisor['ring'];
  output?: OutputCounts;
}

export interface RuntimeStatus {
  subsystems: SubsystemReport[];
  /** Configured instruments no worker runs (cameras until their workers exist). */
  notRun: { id: string; type: string; why: string }[];
  serial: ReturnType<SharedResources['status']>['serial'];
  visa: ReturnType<SharedResources['status']>['visa'];
}

const isCamera = (i: InstrumentConfig) => i.type === 'PVCAMInstrument';

export class DualRuntimeManager extends EventEmitter<RuntimeEvents> implements AsyncDisposable {
  readonly clock: Clock;
  private readonly supervisors = new Map<SubsystemName, SubsystemSupervisor>();
  private readonly owner = new Map<string, SubsystemName>();
  private readonly notRun: RuntimeStatus['notRun'] = [];
  /** Order of start and stop events, for status and tests. */
  readonly history: string[] = [];
  private started = false;
  /** V2 instruments V4 shadows ([v4.shadow]): V4 runs them too; their V4 readings are flagged as shadow. */
  readonly shadows: InstrumentConfig[];

  get shadowIds(): ReadonlySet<string> {
    return new Set(this.shadows.map((i) => i.id));
  }

  constructor(
    readonly config: DaqConfig,
    readonly resources: SharedResources,
    options: DualRuntimeOptions = {},
  ) {
    super();
    this.clock = options.clock ?? new Clock();
    const b = config.broker;
    // Shadow mode: V4 also runs the listed V2 instruments, with V2's settings and ids.
    this.shadows = shadowedInstruments(config);
    for (const name of ['v2', 'v4'] as const) {
      const section = config[name];
      if (!section.enabled) continue;
      const own = name === 'v4' ? [...(section.instruments as InstrumentConfig[]), ...this.shadows] : section.instruments;
      const instruments = (own as InstrumentConfig[]).filter((i) => {
        if (!isCamera(i)) return true;
        this.notRun.push({
          id: i.id,
          type: i.type,
          why: 'a camera runs in its own camera worker, started by the acquisition (daq run), not in the V4 instrument worker',
        });
        return false;
      });
      for (const i of section.instruments as InstrumentConfig[]) this.owner.set(i.id, name);
      // Resolved only for an enabled subsystem: V2 may be absent from this installation.
      const url = options.workerUrls?.[name] ?? entryUrl(name === 'v2' ? 'v2Worker' : 'v4Worker');
      const sup = new SubsystemSupervisor(
        name,
        url,
        section as DaqConfig['v2'] & DaqConfig['v4'],
        instruments,
        resources,
        {
          heartbeatIntervalMs: b.heartbeat_interval_ms,
          heartbeatTimeoutMs: b.heartbeat_timeout_ms,
          startTimeoutMs: b.start_timeout_ms,
          shutdownTimeoutMs: b.shutdown_timeout_ms,
          leaseTimeoutMs: b.serial_lease_timeout_ms,
          epochOffsetNs: this.clock.epochOffsetNs,
        },
        name === 'v4'
          ? {
              bytes: config.v4.ring_bytes,
              policy: config.v4.ring_policy,
              blockTimeoutMs: config.v4.ring_block_timeout_ms,
              shouldPause: options.backpressure,
            }
          : undefined,
        name === 'v4' ? this.shadowIds : undefined,
      );
      sup.on('measurements', (m) => this.emit('measurements', m, name));
      sup.on('arrow', (m) => this.emit('arrow', m, name));
      sup.on('crash', (c) => {
        this.history.push(`${name}:crashed`);
        this.emit('crash', c);
      });
      sup.on('restart', (r) => this.emit('restart', r));
      sup.on('state', (state) => this.emit('state', { subsystem: name, state }));
      this.supervisors.set(name, sup);
    }
  }

  get subsystems(): SubsystemName[] {
    return [...this.supervisors.keys()];
  }

  supervisor(name: SubsystemName): SubsystemSupervisor | undefined {
    return this.supervisors.get(name);
  }

  /**
   * Starts V2, then V4; each is ready once its instruments are initialised. If one fails, the
   * ones already started are stopped again and the error says which instruments failed.
   */
  async start(): Promise<Record<SubsystemName, InstrumentStatus[]>> {
    if (this.started) throw new DaqError('DAQ_INVALID_ARGUMENT', 'the runtime is already started');
    this.started = true;
    const out = {} as Record<SubsystemName, InstrumentStatus[]>;
    const up: SubsystemSupervisor[] = [];
    for (const sup of this.supervisors.values()) {
      this.history.push(`${sup.name}:starting`);
      try {
        out[sup.name] = await sup.start();
      } catch (e) {
        this.history.push(`${sup.name}:failed`);
        for (const s of up.reverse()) {
          this.history.push(`${s.name}:stopping`);
          await s.stop();
          this.history.push(`${s.name}:stopped`);
        }
        this.started = false;
        throw e;
      }
      this.history.push(`${sup.name}:ready`);
      up.push(sup);
    }
    return out;
  }

  /** Stops V4, then V2, each within shutdown_timeout_ms (terminated and reported past it). */
  async stop(): Promise<StopReport[]> {
    const reports: StopReport[] = [];
    for (const sup of [...this.supervisors.values()].reverse()) {
      this.history.push(`${sup.name}:stopping`);
      reports.push(await sup.stop());
      this.history.push(`${sup.name}:stopped`);
    }
    this.started = false;
    return reports;
  }

  /** Runs an instrument's command in the subsystem that owns it, e.g. ("elliptec1", "moveAbs", [45]). */
  command(instrument: string, method: string, args: unknown[] = []): Promise<unknown> {
    const name = typeof instrument === 'string' ? this.owner.get(instrument) : undefined;
    if (!name) {
      const known = [...this.owner.keys()];
      return Promise.reject(
        new DaqError(
          'DAQ_UNKNOWN_INSTRUMENT',
          `no instrument ${JSON.stringify(instrument)} is configured${typeof instrument === 'string' ? didYouMean(instrument, known) : ''}; known: ${known.join(', ') || 'none'}`,
          { instrument: String(instrument) },
        ),
      );
    }
    const skipped = this.notRun.find((n) => n.id === instrument);
    if (skipped)
      return Promise.reject(new DaqError('DAQ_WORKER', `${instrument} is not running: ${skipped.why}`, { instrument }));
    return this.supervisors.get(name)!.command(instrument, method, args);
  }

  /** Which subsystem owns an instrument id. */
  ownerOf(instrument: string): SubsystemName | undefined {
    return this.owner.get(instrument);
  }

  async status(): Promise<RuntimeStatus> {
    const subsystems: SubsystemReport[] = [];
    for (const sup of this.supervisors.values()) {
      const s = await sup.status();
      subsystems.push({
        name: sup.name,
        state: sup.state,
        threadId: sup.threadId,
        restarts: sup.restarts,
        crashes: [...sup.crashes],
        leasesHeld: sup.leasesHeld,
        instruments: s?.instruments ?? [],
        received: { ...sup.received },
        ring: sup.ring,
        output: s?.output,
      });
    }
    const { serial, visa } = this.resources.status();
    return { subsystems, notRun: [...this.notRun], serial, visa };
  }

  /** Terminates every worker at once (a second Ctrl-C, test teardown). */
  async kill(): Promise<void> {
    for (const sup of [...this.supervisors.values()].reverse()) await sup.kill();
    this.started = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
