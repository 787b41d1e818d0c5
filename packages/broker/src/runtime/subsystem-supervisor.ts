// Runs one subsystem (V2 or V4) in its worker thread and watches it: start with a deadline,
// heartbeat, crash detection (exception, process.exit, no heartbeat), restart with backoff,
// and an orderly stop with a deadline after which the thread is terminated.

import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import {
  DaqError,
  createRingBuffer,
  type ArrowBatchMessage,
  type InstrumentConfig,
  type InstrumentStatus,
  type MeasurementBatchMessage,
  type ShutdownReport,
  type SubsystemApi,
  type SubsystemConfig,
  type SubsystemStatus,
  type SubsystemName,
} from '@daq/core';
import type { SharedResources } from '../shared-resources.js';
import { attachWorker, type BrokerEndpoint } from '../rpc/broker-endpoint.js';
import { Comlink, nodeEndpoint } from '../rpc/comlink.js';
import { withDeadline } from './deadline.js';
import { RingConsumer } from './ring-consumer.js';

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'stopping' | 'restarting' | 'failed';

/** How a worker died: it threw, it exited, it stopped answering, or it failed to start. */
export type CrashKind = 'exception' | 'exit' | 'unresponsive' | 'start';

export interface CrashReport {
  subsystem: SubsystemName;
  cause: string;
  kind: CrashKind;
  at: string;
  leasesReleased: number;
  commandsFailed: number;
  /** Calls from the broker to the worker that were failed because it died. */
  callsFailed: number;
  willRestart: boolean;
}

export interface StopReport {
  subsystem: SubsystemName;
  /** True when the worker shut down by itself within the deadline. */
  clean: boolean;
  /** True when the worker had to be terminated (deadline passed or it failed to answer). */
  terminated: boolean;
  elapsedMs: number;
  report?: ShutdownReport;
  error?: string;
  /** Data batches the worker said it sent and the broker received (they must match). */
  batchesSent?: number;
  batchesReceived: number;
}

export interface SupervisorRing {
  bytes: number;
  policy: 'block' | 'drop-newest' | 'drop-oldest';
  blockTimeoutMs: number;
  /** True while the broker's sinks are behind: the ring is not read (backpressure). */
  shouldPause?: () => boolean;
}

export interface SupervisorTimings {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  startTimeoutMs: number;
  shutdownTimeoutMs: number;
  leaseTimeoutMs: number;
  epochOffsetNs: bigint;
}

export interface SupervisorEvents {
  state: [SupervisorState];
  measurements: [MeasurementBatchMessage];
  arrow: [ArrowBatchMessage];
  crash: [CrashReport];
  restart: [{ subsystem: SubsystemName; attempt: number; delayMs: number }];
}

const MAX_BACKOFF_MS = 60_000;

/** Everything about one incarnation of the worker; replaced on restart. */
class Incarnation {
  readonly control: MessagePort;
  readonly api: Comlink.Remote<SubsystemApi>;
  readonly pending = new Set<(e: Error) => void>();
  batchesReceived = 0;
  nextSeq = 0;
  lastPong = performance.now();
  pingInFlight = false;
  exited = false;
  /** Set when the broker itself asked the worker to go (stop), so the exit is not a crash. */
  expectedExit = false;
  released = { leases: 0, commands: 0 };
  /** V4: the ring the worker writes its batches to, and its reader on this thread. */
  ring: RingConsumer | undefined;
  /** Set by the heartbeat when it gives up on the thread. */
  crashKind: CrashKind | undefined;
  crashCause: string | undefined;
  readonly exitedPromise: Promise<number>;

  constructor(
    readonly worker: Worker,
    readonly endpoint: BrokerEndpoint,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.control = port1;
    worker.postMessage({ type: 'daq:control', port: port2 }, [port2]);
    this.api = Comlink.wrap<SubsystemApi>(nodeEndpoint(port1));
    this.exitedPromise = new Promise((resolve) => worker.once('exit', resolve));
  }
}

export class SubsystemSupervisor extends EventEmitter<SupervisorEvents> {
  state: SupervisorState = 'stopped';
  restarts = 0;
  crashes: CrashReport[] = [];
  private current: Incarnation | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastStatus: SubsystemStatus | undefined;
  /** The last incarnation, kept for its ring counters once it ended. */
  private lastRing: Incarnation | undefined;
  /** Data received over the supervisor's life (all incarnations). */
  readonly received: { batches: number; rows: number; gaps: number; errors: number; lastError?: string } = {
    batches: 0,
    rows: 0,
    gaps: 0,
    errors: 0,
  };

  constructor(
    readonly name: SubsystemName,
    private readonly workerUrl: URL,
    private readonly config: SubsystemConfig<InstrumentConfig>,
    private readonly instruments: InstrumentConfig[],
    private readonly resources: SharedResources,
    private readonly timings: SupervisorTimings,
    private readonly ringOptions?: SupervisorRing,
    /** Instruments whose failure to initialise does not stop the subsystem (shadow instruments). */
    private readonly optional: ReadonlySet<string> = new Set(),
  ) {
    super();
  }

  /** Optional instruments that failed to initialise at the last start, with their errors. */
  optionalFailed: InstrumentStatus[] = [];

  private setState(s: SupervisorState): void {
    this.state = s;
    this.emit('state', s);
  }

  get threadId(): number | undefined {
    return this.current && !this.current.exited ? this.current.worker.threadId : undefined;
  }

  /** The current V4 ring's counters (records and bytes written, read, dropped; backpressure pauses). */
  get ring(): ReturnType<RingConsumer['counters']> | undefined {
    return (this.current ?? this.lastRing)?.ring?.counters();
  }

  get leasesHeld(): number {
    return this.current && !this.current.exited ? this.current.endpoint.leasesHeld : 0;
  }

  /** Spawns the worker, initialises its instruments and starts polling. Throws if any instrument fails. */
  async start(): Promise<InstrumentStatus[]> {
    if (this.state === 'running' || this.state === 'starting')
      throw new DaqError('DAQ_INVALID_ARGUMENT', `${this.name} is already ${this.state}`);
    this.setState('starting');
    const inc = this.spawn();
    try {
      const statuses = await this.call(
        inc,
        (api) =>
          api.init({
            instruments: this.instruments,
            epochOffsetNs: this.timings.epochOffsetNs,
            leaseTimeoutMs: this.timings.leaseTimeoutMs,
            batchRows: this.config.batch_rows,
            batchIntervalMs: this.config.batch_interval_ms,
            ring: inc.ring && {
              sab: inc.ring.sab,
              policy: this.ringOptions!.policy,
              blockTimeoutMs: this.ringOptions!.blockTimeoutMs,
            },
          }),
        `starting ${this.name} (initialising ${this.instruments.length} instruments)`,
        this.timings.startTimeoutMs,
      );
      // The heartbeat starts once the thread serves calls (loading it can take a while); until
      // then start_timeout_ms bounds the wait.
      this.startHeartbeat(inc);
      this.optionalFailed = statuses.filter((s) => s.state === 'failed' && this.optional.has(s.id));
      const failed = statuses.filter((s) => s.state === 'failed' && !this.optional.has(s.id));
      if (failed.length > 0)
        throw new DaqError(
          'DAQ_INSTRUMENT',
          `${this.name}: ${failed.length} of ${statuses.length} instruments failed to initialise:\n${failed
            .map((s) => `  - ${s.id} (${s.type}): ${s.error?.message}`)
            .join('\n')}`,
          { subsystem: this.name, instruments: failed.map((s) => s.id) },
        );
      await this.call(inc, (api) => api.startPolling(), `starting ${this.name} polling`, this.timings.startTimeoutMs);
      this.setState('running');
      return statuses;
    } catch (e) {
      await this.terminate(inc);
      if (this.current === inc) this.current = undefined;
      this.setState('failed');
      throw e;
    }
  }

  private spawn(): Incarnation {
    const worker = new Worker(this.workerUrl, { workerData: { subsystem: this.name } });
    const endpoint = attachWorker(worker, this.name, this.resources, (released) => {
      inc.released = released;
    });
    const inc = new Incarnation(worker, endpoint);
    this.current = inc;
    this.lastRing = inc;
    if (this.ringOptions) {
      inc.ring = new RingConsumer(createRingBuffer(this.ringOptions.bytes, this.name), (r) => this.onRingRecord(inc, r), {
        shouldPause: this.ringOptions.shouldPause,
        name: this.name,
      });
      inc.ring.start();
    }
    worker.on('message', (m: MeasurementBatchMessage | ArrowBatchMessage) => this.onData(inc, m));
    let exception: Error | undefined;
    worker.on('error', (e) => {
      exception = e;
    });
    worker.once('exit', (code) => {
      inc.exited = true;
      // Whatever the worker wrote before it went is still in the ring: read it all.
      void inc.ring?.finish();
      this.stopHeartbeat(inc);
      inc.control.close();
      const kind = inc.crashKind ?? (exception ? 'exception' : 'exit');
      const cause =
        inc.crashCause ??
        (exception ? `uncaught ${exception.name}: ${exception.message}` : `the worker thread exited with code ${code}`);
      const why = inc.expectedExit
        ? new DaqError('DAQ_WORKER', `the ${this.name} worker was stopped`, { subsystem: this.name })
        : new DaqError('DAQ_WORKER', `the ${this.name} worker died: ${cause}`, { subsystem: this.name, cause: kind });
      const calls = inc.pending.size;
      for (const reject of inc.pending) reject(why);
      inc.pending.clear();
      if (!inc.expectedExit) this.onCrash(inc, kind, cause, calls);
    });
    return inc;
  }

  /** A ring record: Uint32 rows, Uint32 sequence, then one Arrow IPC stream (a view into the ring). */
  private onRingRecord(inc: Incarnation, record: Uint8Array): void {
    const header = new DataView(record.buffer, record.byteOffset, 8);
    this.onData(inc, {
      type: 'daq:arrow',
      rows: header.getUint32(0, true),
      seq: header.getUint32(4, true),
      bytes: record.subarray(8),
    });
  }

  private onData(inc: Incarnation, m: MeasurementBatchMessage | ArrowBatchMessage): void {
    if (m?.type !== 'daq:measurements' && m?.type !== 'daq:arrow') return;
    // A sequence number past the next expected one means batches were dropped (a ring policy).
    if (m.seq !== inc.nextSeq) this.received.gaps++;
    inc.nextSeq = m.seq + 1;
    inc.batchesReceived++;
    this.received.batches++;
    // A listener that cannot use a batch (malformed data) must not take the broker down: count it.
    try {
      if (m.type === 'daq:measurements') {
        this.received.rows += m.items.length;
        this.emit('measurements', m);
      } else {
        this.received.rows += m.rows;
        this.emit('arrow', m);
      }
    } catch (e) {
      this.received.errors++;
      this.received.lastError = e instanceof Error ? e.message : String(e);
    }
  }

  /** Runs a control call; rejects if the worker dies first or the deadline passes. */
  private call<T>(
    inc: Incarnation,
    fn: (api: Comlink.Remote<SubsystemApi>) => Promise<T>,
    what: string,
    ms?: number,
  ): Promise<T> {
    if (inc.exited)
      return Promise.reject(new DaqError('DAQ_WORKER', `the ${this.name} worker is not running`, { subsystem: this.name }));
    let reject!: (e: Error) => void;
    const died = new Promise<never>((_, r) => (reject = r));
    inc.pending.add(reject);
    const raced = Promise.race([fn(inc.api), died]);
    const bounded = ms === undefined ? raced : withDeadline(raced, ms, what, { subsystem: this.name });
    return bounded.finally(() => inc.pending.delete(reject));
  }

  private startHeartbeat(inc: Incarnation): void {
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.timings;
    inc.lastPong = performance.now();
    this.heartbeat = setInterval(() => {
      if (inc.exited) return;
      const silentMs = performance.now() - inc.lastPong;
      if (silentMs > heartbeatTimeoutMs) {
        this.stopHeartbeat(inc);
        inc.crashKind = 'unresponsive';
        inc.crashCause = `no heartbeat answer for ${Math.round(silentMs)} ms (limit heartbeat_timeout_ms = ${heartbeatTimeoutMs}); the thread was terminated`;
        void inc.worker.terminate();
        return;
      }
      if (inc.pingInFlight) return;
      inc.pingInFlight = true;
      this.call(inc, (api) => api.ping(), 'heartbeat').then(
        () => {
          inc.pingInFlight = false;
          inc.lastPong = performance.now();
        },
        () => {
          inc.pingInFlight = false;
        },
      );
    }, heartbeatIntervalMs);
  }

  private stopHeartbeat(inc: Incarnation): void {
    if (this.current === inc || inc.exited) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  private onCrash(inc: Incarnation, kind: CrashKind, cause: string, callsFailed: number): void {
    if (this.current === inc) this.current = undefined;
    // A death during start() is reported by start() itself (its init call fails with the cause).
    if (this.state === 'starting') return;
    this.afterFailure({
      subsystem: this.name,
      cause,
      kind,
      at: new Date().toISOString(),
      leasesReleased: inc.released.leases,
      commandsFailed: inc.released.commands,
      callsFailed,
      willRestart: false,
    });
  }

  /** Records a crash (or a failed restart) and restarts with backoff while the budget lasts. */
  private afterFailure(report: CrashReport): void {
    const canRestart = this.config.restart === 'on-failure' && this.restarts < this.config.max_restarts;
    report.willRestart = canRestart;
    this.crashes.push(report);
    this.emit('crash', report);
    if (!canRestart) {
      this.setState('failed');
      return;
    }
    const delayMs = Math.min(this.config.restart_backoff_ms * 2 ** this.restarts, MAX_BACKOFF_MS);
    this.restarts++;
    this.setState('restarting');
    this.emit('restart', { subsystem: this.name, attempt: this.restarts, delayMs });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start().catch((e: unknown) =>
        this.afterFailure({
          subsystem: this.name,
          cause: `restart failed: ${e instanceof Error ? e.message : String(e)}`,
          kind: 'start',
          at: new Date().toISOString(),
          leasesReleased: 0,
          commandsFailed: 0,
          callsFailed: 0,
          willRestart: false,
        }),
      );
    }, delayMs);
  }

  /** Routes a command to the worker. */
  command(instrument: string, method: string, args: unknown[]): Promise<unknown> {
    const inc = this.current;
    if (this.state !== 'running' || !inc) {
      const last = this.crashes.at(-1);
      return Promise.reject(
        new DaqError(
          'DAQ_WORKER',
          `${instrument}.${method} was not run: the ${this.name} subsystem is ${this.state}${last ? ` (last crash: ${last.cause})` : ''}`,
          { subsystem: this.name, instrument },
        ),
      );
    }
    return this.call(inc, (api) => api.command(instrument, method, args), `${instrument}.${method}`);
  }

  /** The worker's own status, or the last one known when it cannot answer within `timeoutMs`. */
  async status(timeoutMs = 1000): Promise<SubsystemStatus | undefined> {
    const inc = this.current;
    if (inc && !inc.exited) {
      try {
        this.lastStatus = await this.call(inc, (api) => api.status(), `${this.name} status`, timeoutMs);
      } catch {
        // Keep the last known status; the heartbeat decides whether the worker is dead.
      }
    }
    return this.lastStatus;
  }

  /**
   * Stops polling, lets queued commands finish, shuts the drivers down and waits for the last
   * data batch, all within shutdown_timeout_ms; then ends the thread (terminating it when the
   * deadline passed). Leases are released when the thread exits.
   */
  async stop(): Promise<StopReport> {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const inc = this.current;
    const started = performance.now();
    if (!inc || inc.exited) {
      if (this.state !== 'failed') this.setState('stopped');
      return { subsystem: this.name, clean: true, terminated: false, elapsedMs: 0, batchesReceived: 0 };
    }
    this.setState('stopping');
    inc.expectedExit = true;
    const deadline = this.timings.shutdownTimeoutMs;
    let report: ShutdownReport | undefined;
    let error: string | undefined;
    try {
      report = await this.call(inc, (api) => api.shutdown(), `stopping ${this.name}`, deadline);
      this.lastStatus = await this.call(inc, (api) => api.status(), `${this.name} status`, 1000).catch(() => this.lastStatus);
      // Data travels on another port than the reply: wait until every batch sent has arrived.
      const left = Math.max(0, deadline - (performance.now() - started));
      await withDeadline(this.waitForBatches(inc, report.output.batches), left, `${this.name} final data`);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    // The thread may take what is left of the deadline to end by itself (at least 500 ms): on a
    // loaded machine a clean exit can take longer than a fixed grace, and terminating it then
    // would report a clean stop as a forced one.
    const grace = Math.max(500, deadline - (performance.now() - started));
    const terminated = await this.terminate(inc, report !== undefined && error === undefined, grace);
    this.stopHeartbeat(inc);
    if (this.current === inc) this.current = undefined;
    this.setState('stopped');
    return {
      subsystem: this.name,
      clean: error === undefined,
      terminated,
      elapsedMs: Math.round(performance.now() - started),
      report,
      error,
      batchesSent: report?.output.batches,
      batchesReceived: inc.batchesReceived,
    };
  }

  /** Until every batch the worker sent has arrived (postMessage) or its ring is empty (read or dropped by policy). */
  private async waitForBatches(inc: Incarnation, n: number): Promise<void> {
    const done = () => (inc.ring ? inc.ring.counters().bytesInUse === 0 : inc.batchesReceived >= n);
    while (!done()) await new Promise((r) => setTimeout(r, 5));
  }

  /** Ends the thread; returns true when it had to be terminated rather than closed. */
  private async terminate(inc: Incarnation, graceful = false, graceMs = 500): Promise<boolean> {
    inc.expectedExit = true;
    this.stopHeartbeat(inc);
    if (inc.exited) return false;
    inc.api[Comlink.releaseProxy]();
    if (graceful) {
      // The subsystem has shut down: closing its ports lets the thread end by itself.
      inc.control.close();
      inc.endpoint.close(`${this.name} stopped`);
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        inc.exitedPromise.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (ended) return false;
    }
    await inc.worker.terminate();
    return true;
  }

  /** Ends the thread now, whatever it is doing (for Ctrl-C twice and test teardown). */
  async kill(): Promise<void> {
    clearTimeout(this.restartTimer);
    const inc = this.current;
    if (inc) await this.terminate(inc);
    this.current = undefined;
    this.setState('stopped');
  }
}
