// The RunEngine: runs a plan point by point through the runtime's command routing, and
// makes its documents. Before anything moves, every motor and detector is resolved and every
// point checked against the motors' limits as the devices report them. Each point: move the
// motors (in parallel), settle, read every detector (averaged), emit one event. It can be
// paused (at the end of the point, or at once, stopping motion), resumed (the interrupted
// point is repeated), stopped (cleanly) and aborted (motion stopped and checked); suspenders
// pause it while a channel is out of bounds. A point that fails follows the plan's policy.

import { DaqError, type Reading } from '@daq/core';
import {
  RunComposer,
  type DataKey,
  type Document,
  type ExitStatus,
  type RunStopDoc,
  type StreamResourceDoc,
} from './documents.js';
import {
  dataKey,
  resolveDetector,
  resolveMotor,
  type CameraDetector,
  type Detector,
  type FrameRange,
  type Limits,
  type Motor,
  type PlanTarget,
} from './devices.js';
import type { Plan, Point } from './plans.js';

/** What to do when a point fails (a timeout, a device error): retry, then skip it or abort. */
export interface FailurePolicy {
  retries: number;
  then: 'skip' | 'abort';
}

/** Pauses the plan while `instrument.channel op value` holds; resumes once it has not for resumeAfterMs. */
export interface Suspender {
  instrument: string;
  channel: string;
  op: '==' | '!=' | '<' | '<=' | '>' | '>=';
  value: number;
  resumeAfterMs: number;
}

export interface Suspension {
  suspender: string;
  /** Epoch seconds. */
  since: number;
  until?: number;
  /** The point that waited. */
  point: number;
}

export interface SkippedPoint {
  point: number;
  moves: Record<string, number>;
  error: string;
}

export interface Progress {
  done: number;
  total: number | undefined;
  /** Seconds left at the pace so far; undefined before the first point or without a total. */
  etaS: number | undefined;
  positions: Record<string, number>;
  state: EngineState;
}

export type EngineState = 'idle' | 'running' | 'pausing' | 'paused' | 'suspended' | 'stopping' | 'aborting' | 'done';

export interface RunOptions {
  /** User metadata for the start document (`--md`, `[application.metadata]`). */
  md?: Record<string, unknown>;
  onFailure?: FailurePolicy;
  suspenders?: Suspender[];
  /** Every document as it is made (the document writer, a live view). */
  onDocument?: (d: Document) => void;
  onProgress?: (p: Progress) => void;
  /** What the start document records of each instrument (identity, configuration read back). */
  snapshot?: (instruments: string[]) => Promise<Record<string, unknown>>;
  /** How often a suspended plan reads the suspender's channel, ms (default 200). */
  suspenderPollMs?: number;
}

export interface RunResult {
  exitStatus: ExitStatus;
  reason: string;
  uid: string;
  events: number;
  skipped: SkippedPoint[];
  suspensions: Suspension[];
  stop: RunStopDoc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A message for the whole plan; every problem is listed, and nothing has moved. */
function planError(problems: string[]): DaqError {
  return new DaqError(
    'DAQ_INVALID_ARGUMENT',
    `the plan cannot run; nothing was moved:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
  );
}

/** Motors and detectors of a plan resolved against the configuration, or every reason they cannot be. */
export function resolvePlan(
  config: Parameters<typeof resolveMotor>[0],
  plan: Pick<Plan, 'motors' | 'detectors'>,
): { motors: Motor[]; detectors: Detector[]; cameras: CameraDetector[]; problems: string[] } {
  const problems: string[] = [];
  const motors: Motor[] = [];
  const detectors: Detector[] = [];
  const cameras: CameraDetector[] = [];
  for (const name of plan.motors) {
    const m = resolveMotor(config, name);
    if (typeof m === 'string') problems.push(`motor ${name}: ${m}`);
    else motors.push(m);
  }
  for (const name of plan.detectors) {
    const d = resolveDetector(config, name);
    if (typeof d === 'string') problems.push(`detector ${name}: ${d}`);
    else if (d.kind === 'camera') cameras.push(d);
    else detectors.push(d);
  }
  if (plan.detectors.length === 0) problems.push('the plan reads no detector: name at least one in detectors');
  return { motors, detectors, cameras, problems };
}

/** Points outside the limits, as messages (at most `max`, then a count). */
export function limitProblems(
  points: Iterable<Point>,
  limits: Map<string, Limits>,
  offsets?: Map<string, number>,
  max = 10,
): string[] {
  const out: string[] = [];
  let more = 0;
  let i = 0;
  for (const p of points) {
    i++;
    for (const [motor, v] of Object.entries(p.moves)) {
      const target = v + (offsets?.get(motor) ?? 0);
      const l = limits.get(motor);
      if (!Number.isFinite(target)) out.push(`point ${i}: ${motor} = ${target} is not a number`);
      else if (l && (target < l.min || target > l.max)) {
        if (out.length < max) out.push(`point ${i}: ${motor} = ${target} is outside its limits ${l.min} to ${l.max}`);
        else more++;
      }
    }
  }
  if (more) out.push(`… and ${more} more points outside the limits`);
  return out;
}

export class RunEngine {
  private state: EngineState = 'idle';
  private pauseMode: 'deferred' | 'immediate' | undefined;
  private endRequest: { status: ExitStatus; reason: string } | undefined;
  private wake: (() => void) | undefined;
  private interrupt: AbortController | undefined;

  constructor(
    private readonly target: PlanTarget,
    private readonly config: Parameters<typeof resolveMotor>[0],
  ) {}

  get currentState(): EngineState {
    return this.state;
  }

  /** Deferred: at the end of the current point. Immediate: stops motion now; resume repeats the point. */
  pause(mode: 'deferred' | 'immediate' = 'deferred'): void {
    if (this.state !== 'running' && this.state !== 'pausing') return;
    this.pauseMode = mode;
    this.state = 'pausing';
    if (mode === 'immediate') this.interrupt?.abort(new Error('paused'));
  }

  resume(): void {
    if (this.state !== 'paused' && this.state !== 'pausing') return;
    this.pauseMode = undefined;
    this.state = 'running';
    this.wake?.();
  }

  /** Ends after the current point; the run's exit status is success. */
  stop(): void {
    this.endRequest ??= { status: 'success', reason: 'stopped by the user' };
    this.state = 'stopping';
    this.wake?.();
  }

  /** Ends now: motion is stopped and checked; the exit status is abort. */
  abort(reason = 'aborted by the user'): void {
    this.endRequest = { status: 'abort', reason };
    this.state = 'aborting';
    this.interrupt?.abort(new Error(reason));
    this.wake?.();
  }

  async run(plan: Plan, options: RunOptions = {}): Promise<RunResult> {
    if (this.state !== 'idle') throw new DaqError('DAQ_INVALID_ARGUMENT', `the engine is ${this.state}; one plan at a time`);
    const { motors, detectors, cameras, problems } = resolvePlan(this.config, plan);
    if (cameras.length && !this.target.frames)
      problems.push(`detector ${cameras[0]!.name}: cameras need a target with frames (run the plan with daq plan run)`);
    if (problems.length) throw planError(problems);
    // Limits as the devices report them, and where the motors are now.
    const limits = new Map<string, Limits>();
    const starts = new Map<string, number>();
    for (const m of motors) {
      const s = m.staticLimits;
      const d = await m.deviceLimits(this.target);
      limits.set(m.name, { min: Math.max(s.min, d.min), max: Math.min(s.max, d.max) });
      starts.set(m.name, await m.read(this.target));
    }
    const offsets = plan.relative ? starts : undefined;
    const bad = limitProblems(plan.points(), limits, offsets);
    if (bad.length) throw planError(bad);

    this.state = 'running';
    const policy = options.onFailure ?? { retries: 0, then: 'abort' };
    const suspenders = options.suspenders ?? [];
    const skipped: SkippedPoint[] = [];
    const suspensions: Suspension[] = [];
    const instruments = [
      ...new Set([
        ...motors.map((m) => m.instrument),
        ...detectors.map((d) => d.instrument),
        ...cameras.map((c) => c.instrument),
      ]),
    ];
    const resources = new Map<string, StreamResourceDoc>();
    const composer = new RunComposer(
      {
        plan_name: plan.name,
        plan_args: plan.args as Record<string, unknown>,
        motors: motors.map((m) => m.name),
        detectors: [...detectors.map((d) => d.name), ...cameras.map((c) => c.name)],
        ...(plan.total !== undefined ? { num_points: plan.total } : {}),
        hints: {
          dimensions: motors.length
            ? motors.map((m) => [[motorKey(m)], 'primary'] as [string[], string])
            : [[['time'], 'primary']],
        },
        ...(options.snapshot ? { instruments: await options.snapshot(instruments) } : {}),
        ...(options.md ?? {}),
      },
      (d) => options.onDocument?.(d),
    );
    const began = performance.now();
    let firstAt: number | undefined;
    let done = 0;
    let described = false;
    let exit: { status: ExitStatus; reason: string } = { status: 'success', reason: '' };
    const positions: Record<string, number> = Object.fromEntries(starts);
    const progress = () =>
      options.onProgress?.({
        done,
        total: plan.total,
        etaS:
          plan.total !== undefined && done > 0 ? (((performance.now() - began) / done) * (plan.total - done)) / 1000 : undefined,
        positions: { ...positions },
        state: this.state,
      });

    try {
      let index = 0;
      for (const point of plan.points()) {
        index++;
        let attempts = 0;
        for (;;) {
          await this.holdWhilePaused();
          if (this.endRequest) break;
          await this.holdWhileSuspended(suspenders, index, suspensions, options.suspenderPollMs ?? 200);
          if (this.endRequest) break;
          if (point.atMs !== undefined) {
            firstAt ??= performance.now() - point.atMs;
            const wait = firstAt + point.atMs - performance.now();
            if (wait > 0) await sleep(wait);
          }
          this.interrupt = new AbortController();
          try {
            const event = await this.takePoint(plan, point, motors, detectors, cameras, offsets, this.interrupt.signal);
            for (const m of motors) positions[m.name] = event.motorValues[m.name]!;
            if (!described) composer.descriptor('primary', event.dataKeys, event.objectKeys);
            described = true;
            // Camera frames: where they are stored (once per camera), then which ones this event has.
            for (const [key, range] of event.frames) {
              let resource = resources.get(key);
              if (!resource) {
                resource = composer.streamResource(key, 'application/vnd.apache.arrow.file', range.uri, {
                  layout: 'the camera frame files in name order; indices count stored frames from the start of the run',
                });
                resources.set(key, resource);
              }
              composer.streamDatum(
                resource,
                'primary',
                { start: range.start, stop: range.stop },
                composer.numEvents.primary ?? 0,
              );
            }
            composer.event('primary', event.data, event.timestamps);
            break;
          } catch (e) {
            if (this.interrupt.signal.aborted) {
              // Paused (immediate) or aborted mid-point: motion was stopped; the point is repeated on resume.
              await this.stopMotors(motors);
              if (this.endRequest) break;
              continue;
            }
            const message = e instanceof Error ? e.message : String(e);
            if (attempts++ < policy.retries) continue;
            if (policy.then === 'skip') {
              skipped.push({ point: index, moves: withOffsets(point.moves, offsets), error: message });
              break;
            }
            exit = { status: 'fail', reason: `point ${index} failed after ${attempts} attempt(s): ${message}` };
            this.endRequest = exit;
            await this.stopMotors(motors);
            break;
          } finally {
            this.interrupt = undefined;
          }
        }
        if (this.endRequest) break;
        done++;
        progress();
        if (plan.delayMs) await sleep(plan.delayMs);
        if (this.pauseMode === 'deferred' && this.currentState === 'pausing') this.state = 'paused';
      }
      if (this.endRequest) exit = this.endRequest;
      if (exit.status === 'abort') {
        const moving = await this.stopMotors(motors);
        if (moving.length) exit.reason += `; still moving after stop: ${moving.join(', ')}`;
      }
      if (plan.relative && exit.status !== 'abort') {
        await Promise.all(motors.map((m) => m.set(this.target, starts.get(m.name)!)));
      }
    } catch (e) {
      exit = { status: 'fail', reason: e instanceof Error ? e.message : String(e) };
      await this.stopMotors(motors).catch(() => []);
    }
    const stop = composer.stop(exit.status, exit.reason);
    this.state = 'done';
    progress();
    return {
      exitStatus: exit.status,
      reason: exit.reason,
      uid: composer.start.uid,
      events: composer.numEvents.primary ?? 0,
      skipped,
      suspensions,
      stop,
    };
  }

  private async takePoint(
    plan: Plan,
    point: Point,
    motors: Motor[],
    detectors: Detector[],
    cameras: CameraDetector[],
    offsets: Map<string, number> | undefined,
    signal: AbortSignal,
  ) {
    const moves = withOffsets(point.moves, offsets);
    await abortable(Promise.all(motors.filter((m) => m.name in moves).map((m) => m.set(this.target, moves[m.name]!))), signal);
    if (plan.settleMs) await abortable(sleep(plan.settleMs), signal);
    const data: Record<string, number> = {};
    const timestamps: Record<string, number> = {};
    const dataKeys: Record<string, DataKey> = {};
    const objectKeys: Record<string, string[]> = {};
    const motorValues: Record<string, number> = {};
    for (const m of motors) {
      const v = await m.read(this.target);
      const key = motorKey(m);
      motorValues[m.name] = v;
      data[key] = v;
      timestamps[key] = Date.now() / 1000;
      dataKeys[key] = {
        source: `${m.subsystem}:${m.name}`,
        dtype: 'number',
        shape: [],
        units: m.unit,
        object_name: m.instrument,
      };
      (objectKeys[m.instrument] ??= []).push(key);
    }
    const perPoint = plan.framesPerPoint ?? 1;
    const [reads, ranges] = await abortable(
      Promise.all([
        Promise.all(detectors.map((d) => averaged(this.target, d, plan.average ?? 1))),
        Promise.all(cameras.map((c) => this.target.frames!(c.instrument, perPoint))),
      ]),
      signal,
    );
    const frames = new Map<string, FrameRange>();
    cameras.forEach((c, i) => {
      const r = ranges[i]!;
      const key = dataKey(c.instrument, 'frames');
      frames.set(key, r);
      dataKeys[key] = {
        source: `${c.subsystem}:${c.instrument}`,
        dtype: 'array',
        shape: [perPoint, r.height, r.width],
        dtype_numpy: r.dtypeNumpy,
        external: 'STREAM:',
        object_name: c.instrument,
      };
      (objectKeys[c.instrument] ??= []).push(key);
    });
    detectors.forEach((d, i) => {
      for (const r of reads[i]!) {
        const key = dataKey(d.instrument, r.channel);
        data[key] = r.value;
        timestamps[key] = Date.now() / 1000;
        dataKeys[key] = {
          source: `${d.subsystem}:${d.instrument}.${r.channel}`,
          dtype: 'number',
          shape: [],
          units: r.unit,
          object_name: d.instrument,
        };
        (objectKeys[d.instrument] ??= []).push(key);
      }
    });
    return { data, timestamps, dataKeys, objectKeys, motorValues, frames };
  }

  private async holdWhilePaused(): Promise<void> {
    while ((this.state === 'paused' || this.state === 'pausing') && !this.endRequest) {
      this.state = 'paused';
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  private async holdWhileSuspended(suspenders: Suspender[], point: number, log: Suspension[], pollMs: number): Promise<void> {
    for (const s of suspenders) {
      if (!(await holds(this.target, s))) continue;
      const entry: Suspension = { suspender: describeSuspender(s), since: Date.now() / 1000, point };
      log.push(entry);
      const previous = this.state;
      this.state = 'suspended';
      let clearSince: number | undefined;
      while (!this.endRequest) {
        await sleep(pollMs);
        if (await holds(this.target, s)) clearSince = undefined;
        else if ((clearSince ??= performance.now()) + s.resumeAfterMs <= performance.now()) break;
      }
      entry.until = Date.now() / 1000;
      if (this.state === 'suspended') this.state = previous;
    }
  }

  /** Stops every motor that can be stopped; returns those still moving 200 ms later. */
  private async stopMotors(motors: Motor[]): Promise<string[]> {
    const stoppable = motors.filter((m) => m.stop);
    await Promise.all(stoppable.map((m) => m.stop!(this.target).catch(() => undefined)));
    const before = await Promise.all(stoppable.map((m) => m.read(this.target).catch(() => NaN)));
    await sleep(200);
    const after = await Promise.all(stoppable.map((m) => m.read(this.target).catch(() => NaN)));
    return stoppable.filter((_, i) => Math.abs(after[i]! - before[i]!) > 1e-9).map((m) => m.name);
  }
}

function withOffsets(moves: Readonly<Record<string, number>>, offsets: Map<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(moves).map(([m, v]) => [m, v + (offsets?.get(m) ?? 0)]));
}

/** The data key of a motor's readback: `rot`, `stage-axis1`, `laser-wavelength`. */
export function motorKey(m: Pick<Motor, 'name'>): string {
  return m.name.replace(/[^A-Za-z0-9_-]/g, '-');
}

function describeSuspender(s: Suspender): string {
  return `${s.instrument}.${s.channel} ${s.op} ${s.value}`;
}

async function holds(target: PlanTarget, s: Suspender): Promise<boolean> {
  const readings = (await target.command(s.instrument, 'read', [])) as Reading[];
  const r = readings.find((x) => x.channel === s.channel);
  if (!r)
    throw new DaqError('DAQ_INVALID_ARGUMENT', `suspender ${describeSuspender(s)}: ${s.instrument} has no channel ${s.channel}`, {
      instrument: s.instrument,
    });
  const v = r.value;
  switch (s.op) {
    case '==':
      return v === s.value;
    case '!=':
      return v !== s.value;
    case '<':
      return v < s.value;
    case '<=':
      return v <= s.value;
    case '>':
      return v > s.value;
    case '>=':
      return v >= s.value;
  }
}

/** N readings of a detector, each channel averaged; a flagged reading (no value) stays NaN. */
async function averaged(target: PlanTarget, d: Detector, n: number): Promise<Reading[]> {
  const first = await d.read(target);
  if (n <= 1) return first;
  const sums = first.map((r) => r.value);
  for (let i = 1; i < n; i++) (await d.read(target)).forEach((r, k) => (sums[k]! += r.value));
  return first.map((r, k) => ({ ...r, value: sums[k]! / n }));
}

/** Rejects as soon as `signal` aborts (the work itself goes on; the caller stops the motors). */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
