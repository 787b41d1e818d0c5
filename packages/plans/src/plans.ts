// The built-in plans. A plan is a description, not code that runs: what it moves, what it
// reads, and the points in order. Knowing every point before anything moves is what lets a
// plan be checked (limits, instruments, capabilities) and timed (points done, ETA), and it is
// enough for count, scans, grids and time series. A custom plan is the same object: write
// `points()` (a generator) and use `chain()` to run plans one after another.

import { DaqError } from '@daq/core';

/** One point: where each motor goes (motor name → value). Detectors are read at every point. */
export interface Point {
  moves: Readonly<Record<string, number>>;
  /** time_series: when to take this point, in ms after the plan's first point. */
  atMs?: number;
}

export interface Plan {
  /** The plan's name as written in plan files (`scan`, `grid_scan`, …). */
  readonly name: string;
  /** Its arguments, as given: stored in the run start document. */
  readonly args: Readonly<Record<string, unknown>>;
  readonly motors: readonly string[];
  readonly detectors: readonly string[];
  /** The points in order; relative plans give offsets from where the motors are at the start. */
  points(): Iterable<Point>;
  /** How many points; undefined when a custom plan cannot say. */
  readonly total: number | undefined;
  /** Moves are offsets from the motors' positions at the start, and the motors go back there at the end. */
  readonly relative?: boolean;
  /** Pause after the moves before reading, in ms (default 0). */
  readonly settleMs?: number;
  /** Readings per detector and point, averaged (default 1). */
  readonly average?: number;
  /** Pause after each point's readings, in ms (count's delay). */
  readonly delayMs?: number;
  /** Frames each camera detector takes per point (default 1). */
  readonly framesPerPoint?: number;
}

export type ScanAxis = {
  motor: string;
  start: number;
  stop: number;
  /** Number of points, ≥ 1 (1: only start). */
  num: number;
};

type Common = {
  detectors: string[];
  settle_ms?: number;
  average?: number;
  frames_per_point?: number;
};

function invalid(message: string, facts: Record<string, unknown> = {}): never {
  throw new DaqError('DAQ_INVALID_ARGUMENT', message, facts);
}

function positiveInteger(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) invalid(`${what} must be a whole number ≥ 1, got ${n}`);
  return n;
}

/** `num` evenly spaced values from start to stop, both included. */
export function linspace(start: number, stop: number, num: number): number[] {
  positiveInteger('num', num);
  if (num === 1) return [start];
  return Array.from({ length: num }, (_, i) => start + ((stop - start) * i) / (num - 1));
}

function common(p: Common) {
  return {
    settleMs: p.settle_ms ?? 0,
    average: positiveInteger('average', p.average ?? 1),
    framesPerPoint: positiveInteger('frames_per_point', p.frames_per_point ?? 1),
  };
}

/** N readings of the detectors, `delay_ms` apart, nothing moves. */
export function count(p: Common & { num?: number; delay_ms?: number }): Plan {
  const num = positiveInteger('num', p.num ?? 1);
  return {
    name: 'count',
    args: { ...p },
    motors: [],
    detectors: p.detectors,
    total: num,
    ...common(p),
    delayMs: p.delay_ms ?? 0,
    *points() {
      for (let i = 0; i < num; i++) yield { moves: {} };
    },
  };
}

/** One motor from start to stop in `num` points. */
export function scan(p: Common & ScanAxis): Plan {
  const values = linspace(p.start, p.stop, p.num);
  return {
    name: 'scan',
    args: { ...p },
    motors: [p.motor],
    detectors: p.detectors,
    total: values.length,
    ...common(p),
    *points() {
      for (const v of values) yield { moves: { [p.motor]: v } };
    },
  };
}

/** scan, relative to where the motor is at the start; the motor goes back there at the end. */
export function relScan(p: Common & ScanAxis): Plan {
  return { ...scan(p), name: 'rel_scan', relative: true };
}

/** One motor through given positions, in the order given. */
export function listScan(p: Common & { motor: string; positions: number[] }): Plan {
  if (!Array.isArray(p.positions) || p.positions.length === 0) invalid('positions must list at least one position');
  return {
    name: 'list_scan',
    args: { ...p },
    motors: [p.motor],
    detectors: p.detectors,
    total: p.positions.length,
    ...common(p),
    *points() {
      for (const v of p.positions) yield { moves: { [p.motor]: v } };
    },
  };
}

/**
 * Several motors on a grid: the first axis is the outer (slowest) loop. With `snake`, every
 * inner axis runs back and forth instead of returning to its start at each outer step.
 */
export function gridScan(p: Common & { axes: ScanAxis[]; snake?: boolean }): Plan {
  if (!Array.isArray(p.axes) || p.axes.length === 0) invalid('a grid needs at least one axis');
  const motors = p.axes.map((a) => a.motor);
  const dup = motors.find((m, i) => motors.indexOf(m) !== i);
  if (dup) invalid(`motor ${dup} appears on two axes of the grid`);
  const values = p.axes.map((a) => linspace(a.start, a.stop, a.num));
  return {
    name: 'grid_scan',
    args: { ...p },
    motors,
    detectors: p.detectors,
    total: values.reduce((n, v) => n * v.length, 1),
    ...common(p),
    *points() {
      const index = values.map(() => 0);
      const total = values.reduce((n, v) => n * v.length, 1);
      for (let k = 0; k < total; k++) {
        // Mixed-radix digits of k, innermost axis last; snaking reverses an axis on odd passes.
        let rest = k;
        for (let a = values.length - 1; a >= 0; a--) {
          const n = values[a]!.length;
          index[a] = rest % n;
          rest = Math.floor(rest / n);
        }
        const moves: Record<string, number> = {};
        let pass = 0;
        for (let a = 0; a < values.length; a++) {
          const n = values[a]!.length;
          const i = p.snake && pass % 2 === 1 ? n - 1 - index[a]! : index[a]!;
          moves[motors[a]!] = values[a]![i]!;
          pass = pass * n + index[a]!;
        }
        yield { moves };
      }
    },
  };
}

/** Readings at `rate_hz` for `duration_s`, on a fixed schedule (late points are taken at once, not skipped). */
export function timeSeries(p: Common & { rate_hz: number; duration_s: number }): Plan {
  if (!(p.rate_hz > 0)) invalid(`rate_hz must be > 0, got ${p.rate_hz}`);
  if (!(p.duration_s > 0)) invalid(`duration_s must be > 0, got ${p.duration_s}`);
  const num = Math.max(1, Math.floor(p.duration_s * p.rate_hz));
  const periodMs = 1000 / p.rate_hz;
  return {
    name: 'time_series',
    args: { ...p },
    motors: [],
    detectors: p.detectors,
    total: num,
    ...common(p),
    *points() {
      for (let i = 0; i < num; i++) yield { moves: {}, atMs: i * periodMs };
    },
  };
}

/** Plans run one after another as one plan (one run, one stream). */
export function chain(name: string, ...plans: Plan[]): Plan {
  const motors = [...new Set(plans.flatMap((p) => p.motors))];
  const detectors = [...new Set(plans.flatMap((p) => p.detectors))];
  const totals = plans.map((p) => p.total);
  return {
    name,
    args: { plans: plans.map((p) => ({ name: p.name, args: p.args })) },
    motors,
    detectors,
    total: totals.every((t) => t !== undefined) ? totals.reduce((a, b) => a! + b!, 0) : undefined,
    *points() {
      for (const p of plans) yield* p.points();
    },
  };
}

/** The built-in plans by the name plan files use, with their parameters (for `daq plan list`). */
export const BUILTIN_PLANS = {
  count: { make: count, params: 'detectors, num = 1, delay_ms = 0', does: 'N readings of the detectors; nothing moves' },
  scan: { make: scan, params: 'detectors, motor, start, stop, num', does: 'one motor from start to stop in num points' },
  rel_scan: {
    make: relScan,
    params: 'detectors, motor, start, stop, num',
    does: 'scan relative to the start position; returns there at the end',
  },
  list_scan: { make: listScan, params: 'detectors, motor, positions', does: 'one motor through the positions given' },
  grid_scan: {
    make: gridScan,
    params: 'detectors, axes = [{ motor, start, stop, num }, …], snake = false',
    does: 'several motors on a grid, first axis outermost; snake runs inner axes back and forth',
  },
  time_series: { make: timeSeries, params: 'detectors, rate_hz, duration_s', does: 'readings at a fixed rate for a duration' },
} as const;

export type BuiltinPlanName = keyof typeof BUILTIN_PLANS;
