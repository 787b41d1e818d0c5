// The main thread's side of `daq serve`: it answers the server worker's calls (status,
// instruments, commands, the queue of plans, the running plan) and posts each scalar batch,
// document and camera preview once to the worker. Plans run here, through the runtime's
// command routing, one queue item after the other, each into a directory of its own under
// the session's `plans/`.

import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { stringify } from 'smol-toml';
import { ConfigError, shadowedInstruments } from '@daq/core';
import { RunEngine, RunOutput, checkPlanFile, parsePlanFile, type PlanFile, type Progress, type RunResult } from '@daq/plans';
import type {
  ApiError,
  ApiResult,
  DaemonApi,
  HistoryEntry,
  InstrumentView,
  PreviewMessage,
  QueueItem,
  QueueView,
  RunAction,
  RunProgressView,
  ServerEvent,
  ShadowView,
} from '@daq/server/contract';
import type { Acquisition } from '../acquisition.js';
import { ShadowLive } from '../shadow/shadow-live.js';
import { describePlan, instrumentSnapshot, planTarget } from './plan.js';

/** Commands that never move anything and may be sent while an instrument is busy. */
const ALWAYS_ALLOWED = new Set(['read', 'stop', 'status', 'identify']);

/** The HTTP status for an error's code: what kind of failure the client sees. */
function httpStatus(code: string): number {
  switch (code) {
    case 'DAQ_UNKNOWN_INSTRUMENT':
    case 'DAQ_UNKNOWN_COMMAND':
      return 404;
    case 'DAQ_BUSY':
    case 'DAQ_PORT_BUSY':
      return 409;
    case 'DAQ_INVALID_ARGUMENT':
    case 'DAQ_INSTRUMENT':
    case 'DAQ_CONFIG':
      return 422;
    case 'DAQ_TIMEOUT':
    case 'DAQ_READ_TIMEOUT':
    case 'DAQ_VISA_TIMEOUT':
    case 'DAQ_LEASE_TIMEOUT':
      return 504;
    case 'DAQ_WORKER':
    case 'DAQ_CLOSED':
      return 503;
    default:
      return 500;
  }
}

function apiError(e: unknown): ApiError {
  if (e instanceof ConfigError)
    return {
      status: 422,
      code: 'DAQ_CONFIG',
      message: e.diagnostics.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`).join('; '),
      facts: { problems: e.diagnostics.map((d) => ({ path: d.path, message: d.message })) },
    };
  const err = e as { code?: string; message?: string; facts?: Record<string, unknown> };
  const code = typeof err.code === 'string' && err.code.startsWith('DAQ_') ? err.code : 'DAQ_API';
  return {
    status: httpStatus(code),
    code,
    message: err.message ?? String(e),
    facts: jsonSafe(err.facts ?? {}) as Record<string, unknown>,
  };
}

const fail = (
  status: number,
  code: string,
  message: string,
  facts?: Record<string, unknown>,
): { ok: false; error: ApiError } => ({
  ok: false,
  error: { status, code, message, facts },
});
const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

/** Plain JSON: bigints as strings, typed arrays as arrays, Errors as their messages. */
export function jsonSafe(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x: unknown) =>
      typeof x === 'bigint'
        ? x.toString()
        : ArrayBuffer.isView(x) && !(x instanceof DataView)
          ? Array.from(x as unknown as ArrayLike<number>)
          : x instanceof Error
            ? x.message
            : x,
    ) ?? 'null',
  );
}

interface Current {
  item: QueueItem;
  engine: RunEngine;
  /** The instruments the plan moves (its motors' instrument ids): held until it ends. */
  moves: ReadonlySet<string>;
  progress: Progress | undefined;
  uid?: string;
}

export interface DaemonOptions {
  /** Where the worker's events go (scalar batches, documents, previews, changes). */
  events: MessagePort;
  log: (line: string) => void;
}

export class Daemon implements DaemonApi {
  private items: QueueItem[] = [];
  private state: QueueView['state'] = 'idle';
  private current: Current | undefined;
  private readonly done: (HistoryEntry & { absDir?: string })[] = [];
  private nextItem = 1;
  /** Commands from the API in flight per instrument (a second one waits for none: it is refused). */
  private readonly inFlight = new Map<string, { command: string; since: number }>();
  /** Per camera, the preview subscriptions by "maxSide@maxHz". */
  private readonly previewSubs = new Map<string, Map<string, () => void>>();
  private runner: Promise<void> | undefined;
  private closed = false;
  readonly counts = { batchesPosted: 0, documentsPosted: 0, previewsPosted: 0 };
  /** Shadow mode: the live comparison and each plan run's own. */
  private readonly shadowLive: ShadowLive | undefined;

  constructor(
    private readonly acq: Acquisition,
    private readonly o: DaemonOptions,
  ) {
    const sh = acq.config.v4.shadow;
    if (acq.shadow) {
      this.shadowLive = new ShadowLive(acq.shadow.comparator, { maxRelDiff: sh.max_rel_diff, worst: sh.worst });
      acq.bridge.addSink(this.shadowLive);
    }
    acq.runtime.on('measurements', (m, subsystem) => this.post({ type: 'measurements', subsystem, items: m.items }));
    acq.runtime.on('arrow', (m, subsystem) => {
      // A copy: the batch may be a view on a ring slot that is reused once this returns.
      const bytes = m.bytes.slice();
      this.post({ type: 'arrow', subsystem, bytes }, [bytes.buffer as ArrayBuffer]);
    });
  }

  private post(e: ServerEvent, transfer: ArrayBuffer[] = []): void {
    if (this.closed) return;
    if (e.type === 'measurements' || e.type === 'arrow') this.counts.batchesPosted++;
    else if (e.type === 'document') this.counts.documentsPosted++;
    else if (e.type === 'preview') this.counts.previewsPosted++;
    this.o.events.postMessage(e, transfer);
  }

  private changed(what: 'queue' | 'run'): void {
    this.post({ type: 'changed', what });
  }

  async status(): Promise<Record<string, unknown>> {
    const runtime = await this.acq.runtime.status();
    const acquisition = this.acq.progress();
    const cameras = this.acq.cameras.reports();
    const frames = cameras.reduce((n, c) => n + c.dropped.total, 0);
    return jsonSafe({
      session: { dir: this.acq.dir, config: this.acq.record.configFile },
      // What the run lost (rows on the way to disk, camera frames): 0 is the promise.
      drops: { rows: acquisition.dropped, frames, total: acquisition.dropped + frames },
      acquisition,
      subsystems: runtime.subsystems,
      notRun: runtime.notRun,
      serial: runtime.serial,
      visa: runtime.visa,
      cameras,
      crashes: this.acq.crashes,
      queue: { state: this.state, waiting: this.items.length, current: this.currentView() },
      daemon: { ...this.counts },
    }) as Record<string, unknown>;
  }

  async instruments(): Promise<InstrumentView[]> {
    const runtime = await this.acq.runtime.status();
    const configured = [...this.acq.config.v2.instruments, ...this.acq.config.v4.instruments];
    const planMotors = this.current?.moves ?? new Set<string>();
    const out: InstrumentView[] = [];
    const shadowed = new Set(shadowedInstruments(this.acq.config).map((i) => i.id));
    for (const sub of runtime.subsystems)
      for (const i of sub.instruments) {
        const c = configured.find((x) => x.id === i.id) as { serial_port?: string; resource?: string } | undefined;
        let port: InstrumentView['port'];
        if (c?.serial_port) {
          const p = runtime.serial.find((s) => s.path === c.serial_port);
          port = { kind: 'serial', name: c.serial_port, holder: p?.owner ?? null };
        } else if (c?.resource) {
          const v = runtime.visa.find((s) => s.resource === c.resource);
          port = { kind: 'visa', name: c.resource, holder: v?.inFlight ?? null };
        }
        const f = this.inFlight.get(i.id);
        out.push({
          id: i.id,
          subsystem: sub.name,
          type: i.type,
          state: i.state,
          identity: i.identity,
          error: i.error,
          channels: i.channels,
          commands: i.accepts,
          port,
          // Shadow mode: V4 runs this instrument beside V2, which owns it; its readings are v4-shadow.
          shadow: sub.name === 'v4' && shadowed.has(i.id) ? true : undefined,
          busy: planMotors.has(i.id)
            ? `a motor of the running plan (${this.current!.item.summary})`
            : f
              ? `${f.command} from the API, for ${((performance.now() - f.since) / 1000).toFixed(1)} s`
              : undefined,
        });
      }
    for (const c of this.acq.cameras.reports())
      out.push({
        id: c.id,
        subsystem: 'camera',
        type: 'PVCAMInstrument',
        state: c.state,
        // What the camera said of itself when it opened, as the other instruments' identity.
        identity: c.sensor
          ? `${c.sensor.name}${c.source === 'sim' ? ' (simulated)' : ''}${c.geometry ? `, ${c.geometry.width}×${c.geometry.height}, ${c.geometry.bitDepth} bit` : ''}`
          : undefined,
        error: c.error ? { code: 'DAQ_CAMERA', message: c.error } : undefined,
        channels: [],
        commands: [],
        frames: { acquired: c.acquired, stored: c.stored, dropped: c.dropped.total },
      });
    return jsonSafe(out) as InstrumentView[];
  }

  async command(instrument: string, command: string, args: unknown[]): Promise<ApiResult<unknown>> {
    if (!this.acq.runtime.ownerOf(instrument)) {
      const known = [...this.acq.config.v2.instruments, ...this.acq.config.v4.instruments].map((i) => i.id);
      return fail(404, 'DAQ_UNKNOWN_INSTRUMENT', `no instrument ${JSON.stringify(instrument)}; known: ${known.join(', ')}`, {
        instrument,
      });
    }
    if (!ALWAYS_ALLOWED.has(command)) {
      if (this.current?.moves.has(instrument))
        return fail(
          409,
          'DAQ_BUSY',
          `${instrument} is a motor of the running plan (${this.current.item.summary}); pause, stop or abort the plan first (POST /api/run/pause)`,
          { instrument, item: this.current.item.id },
        );
      const f = this.inFlight.get(instrument);
      if (f)
        return fail(
          409,
          'DAQ_BUSY',
          `${instrument} is busy with ${f.command} (sent ${((performance.now() - f.since) / 1000).toFixed(1)} s ago through the API); wait for it, or send stop`,
          { instrument, state: f.command },
        );
      this.inFlight.set(instrument, { command, since: performance.now() });
    }
    try {
      return ok(jsonSafe(await this.acq.runtime.command(instrument, command, args)) ?? null);
    } catch (e) {
      return { ok: false, error: apiError(e) };
    } finally {
      if (!ALWAYS_ALLOWED.has(command)) this.inFlight.delete(instrument);
    }
  }

  private currentView(): RunProgressView | null {
    const c = this.current;
    if (!c) return null;
    return {
      item: c.item,
      uid: c.uid,
      state: c.engine.currentState,
      done: c.progress?.done ?? 0,
      total: c.progress?.total ?? null,
      etaS: c.progress?.etaS ?? null,
      positions: c.progress?.positions ?? {},
    };
  }

  async queue(): Promise<QueueView> {
    return jsonSafe({ state: this.state, items: this.items, current: this.currentView() }) as QueueView;
  }

  /** A plan as a request gives it, parsed and checked by the same code as a plan file. */
  private parse(plan: Record<string, unknown>): PlanFile {
    const pf = parsePlanFile(stringify(plan), 'the request');
    const problems = checkPlanFile(pf, this.acq.config);
    if (problems.length) throw new ConfigError(problems);
    return pf;
  }

  async queueAdd(plan: Record<string, unknown>): Promise<ApiResult<QueueItem>> {
    let pf: PlanFile;
    try {
      pf = this.parse(plan);
    } catch (e) {
      return { ok: false, error: apiError(e) };
    }
    const item: QueueItem = {
      id: `q${this.nextItem++}`,
      plan,
      summary: describePlan(pf),
      addedAt: new Date().toISOString(),
      state: 'waiting',
    };
    this.items.push(item);
    this.changed('queue');
    return ok(item);
  }

  private find(id: string): number | ApiResult<never> {
    const i = this.items.findIndex((x) => x.id === id);
    if (i >= 0) return i;
    if (this.current?.item.id === id)
      return fail(409, 'DAQ_BUSY', `queue item ${id} is running; stop or abort it through /api/run`, { item: id });
    return fail(
      404,
      'DAQ_API',
      `no waiting queue item ${JSON.stringify(id)}; waiting: ${this.items.map((x) => x.id).join(', ') || 'none'}`,
      {
        status: 404,
        item: id,
      },
    );
  }

  async queueRemove(id: string): Promise<ApiResult<QueueItem>> {
    const i = this.find(id);
    if (typeof i !== 'number') return i;
    const [item] = this.items.splice(i, 1);
    this.changed('queue');
    return ok(item!);
  }

  async queueMove(id: string, to: number): Promise<ApiResult<QueueView>> {
    const i = this.find(id);
    if (typeof i !== 'number') return i;
    const [item] = this.items.splice(i, 1);
    this.items.splice(Math.min(to, this.items.length), 0, item!);
    this.changed('queue');
    return ok(await this.queue());
  }

  async queueClear(): Promise<ApiResult<{ removed: number }>> {
    const removed = this.items.length;
    this.items = [];
    this.changed('queue');
    return ok({ removed });
  }

  async queueStart(): Promise<ApiResult<QueueView>> {
    if (this.closed) return fail(503, 'DAQ_CLOSED', 'the daemon is stopping');
    if (this.state !== 'idle') return fail(409, 'DAQ_BUSY', `the queue is already ${this.state}`, { state: this.state });
    if (this.items.length === 0)
      return fail(409, 'DAQ_BUSY', 'the queue is empty: add a plan first (POST /api/queue)', { state: 'idle' });
    this.state = 'running';
    this.runner = this.runQueue().finally(() => {
      this.runner = undefined;
    });
    this.changed('queue');
    return ok(await this.queue());
  }

  async queueStop(): Promise<ApiResult<QueueView>> {
    if (this.state !== 'running') return fail(409, 'DAQ_BUSY', `the queue is ${this.state}, not running`, { state: this.state });
    this.state = 'stopping';
    this.changed('queue');
    return ok(await this.queue());
  }

  async runControl(action: RunAction, arg?: string): Promise<ApiResult<RunProgressView>> {
    const c = this.current;
    if (!c) return fail(409, 'DAQ_BUSY', `no plan is running, so there is nothing to ${action}`, { state: this.state });
    try {
      if (action === 'pause') c.engine.pause(arg === 'immediate' ? 'immediate' : 'deferred');
      else if (action === 'resume') c.engine.resume();
      else if (action === 'stop') c.engine.stop();
      else c.engine.abort(arg || 'aborted through the API');
    } catch (e) {
      const err = apiError(e);
      return { ok: false, error: { ...err, status: err.status === 500 ? 409 : err.status } };
    }
    this.changed('run');
    return ok(this.currentView()!);
  }

  async history(): Promise<HistoryEntry[]> {
    return jsonSafe(this.done.map(({ absDir: _absDir, ...h }) => h)) as HistoryEntry[];
  }

  async runDir(uid: string): Promise<ApiResult<{ dir: string; entry: HistoryEntry }>> {
    const h = this.done.find((x) => x.uid === uid);
    if (!h?.absDir)
      return fail(404, 'DAQ_API', `no finished run ${JSON.stringify(uid)}; GET /api/history lists them`, { status: 404, uid });
    const { absDir, ...entry } = h;
    return ok({ dir: absDir, entry: jsonSafe(entry) as HistoryEntry });
  }

  async shadow(since: number): Promise<ShadowView> {
    if (!this.shadowLive)
      return { instruments: [], maxRelDiff: this.acq.config.v4.shadow.max_rel_diff, seq: 0, report: null, traces: {} };
    return jsonSafe(this.shadowLive.view(since)) as ShadowView;
  }

  async setPreviews(camera: string, demand: { maxSide: number; maxHz: number }[]): Promise<ApiResult<null>> {
    const subs = this.previewSubs.get(camera) ?? new Map<string, () => void>();
    this.previewSubs.set(camera, subs);
    const wanted = new Map(demand.map((d) => [`${d.maxSide}@${d.maxHz}`, d]));
    for (const [k, off] of subs)
      if (!wanted.has(k)) {
        off();
        subs.delete(k);
      }
    if (this.closed) return ok(null);
    try {
      for (const [k, d] of wanted)
        if (!subs.has(k))
          subs.set(
            k,
            this.acq.cameras.previews(camera, d, (p) => {
              const preview: PreviewMessage = { ...p, maxSide: d.maxSide, timestampNs: String(p.timestampNs) };
              this.post({ type: 'preview', preview }, [p.pixels.buffer as ArrayBuffer]);
            }),
          );
      return ok(null);
    } catch (e) {
      return { ok: false, error: apiError(e) };
    }
  }

  private async runQueue(): Promise<void> {
    while (this.state === 'running' && this.items.length > 0 && !this.closed) {
      const item = this.items.shift()!;
      item.state = 'running';
      await this.runItem(item);
    }
    this.state = 'idle';
    this.changed('queue');
  }

  private async runItem(item: QueueItem): Promise<void> {
    const startedAt = new Date().toISOString();
    const entry = (
      r: Partial<RunResult> & Pick<RunResult, 'exitStatus' | 'reason'>,
      absDir?: string,
    ): HistoryEntry & { absDir?: string } => ({
      item: { ...item, state: 'done' },
      uid: r.uid,
      exitStatus: r.exitStatus,
      reason: r.reason,
      events: r.events ?? 0,
      skipped: r.skipped?.length ?? 0,
      suspensions: r.suspensions?.length ?? 0,
      startedAt,
      endedAt: new Date().toISOString(),
      dir: absDir ? relative(this.acq.dir, absDir) : undefined,
      absDir,
    });
    let pf: PlanFile;
    try {
      // Checked again: the configuration's limits hold, and the instruments may have changed.
      pf = this.parse(item.plan);
    } catch (e) {
      this.done.push(entry({ exitStatus: 'fail', reason: apiError(e).message }));
      return;
    }
    const dir = join(this.acq.dir, 'plans', `${String(this.done.length + 1).padStart(3, '0')}-${pf.plan.name}`);
    await mkdir(dir, { recursive: true });
    const output = new RunOutput(dir);
    const engine = new RunEngine(planTarget(this.acq), this.acq.config);
    const current: Current = {
      item,
      engine,
      moves: new Set(pf.plan.motors.map((m) => m.split('.')[0]!)),
      progress: undefined,
    };
    this.current = current;
    this.changed('run');
    const shadow = this.shadowLive?.window();
    let result: RunResult | undefined;
    let error: string | undefined;
    try {
      result = await engine.run(pf.plan, {
        md: { ...this.acq.config.application.metadata, ...pf.md, config_file: this.acq.record.configFile, queue_item: item.id },
        onFailure: pf.onFailure,
        suspenders: pf.suspenders,
        onDocument: (d) => {
          output.accept(d);
          if (d.name === 'start') current.uid = d.doc.uid;
          this.post({ type: 'document', name: d.name, doc: jsonSafe(d.doc) });
        },
        onProgress: (p) => {
          current.progress = p;
          this.changed('run');
        },
        snapshot: instrumentSnapshot(this.acq),
      });
    } catch (e) {
      error = (e as Error).message;
      this.o.log(`daq serve: ${item.id} (${item.summary}) failed: ${error}`);
    }
    this.current = undefined;
    const h = entry(result ?? { exitStatus: 'fail', reason: error ?? 'the plan did not start', uid: current.uid }, dir);
    if (shadow) {
      // The comparison over this run's span, beside its documents (the history shows it once written).
      const report = await shadow.end();
      await writeFile(join(dir, 'shadow.json'), `${JSON.stringify(report, null, 2)}\n`);
      h.shadow = { state: report.verdict.state, text: report.verdict.text };
    }
    // The same record as `daq plan run` writes (daq inspect reads it), plus the queue item.
    const record = {
      format: 'daq-plan/1',
      uid: h.uid,
      plan: pf.plan.name,
      args: pf.plan.args,
      queueItem: item.id,
      points: pf.plan.total,
      events: h.events,
      exitStatus: h.exitStatus,
      reason: h.reason,
      skipped: result?.skipped ?? [],
      suspensions: result?.suspensions ?? [],
      startedAt: h.startedAt,
      endedAt: h.endedAt,
      files: output.counts.files,
      ...(h.shadow ? { shadow: h.shadow.text } : {}),
    };
    await writeFile(join(dir, 'plan.json'), `${JSON.stringify(jsonSafe(record), null, 2)}\n`);
    this.done.push(h);
    this.changed('run');
  }

  /** Ends the queue: the running plan is aborted (motion stopped), waiting items are kept in the record. */
  async close(reason: string): Promise<void> {
    if (this.closed) return;
    this.state = this.state === 'idle' ? 'idle' : 'stopping';
    this.current?.engine.abort(reason);
    await this.runner;
    this.closed = true;
    for (const subs of this.previewSubs.values()) for (const off of subs.values()) off();
    this.previewSubs.clear();
  }

  /** What the session did, for run.json. */
  summary(): { history: HistoryEntry[]; waiting: number } {
    return { history: this.done.map(({ absDir: _a, ...h }) => h), waiting: this.items.length };
  }
}
