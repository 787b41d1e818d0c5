// The daemon's view of a shadow comparison: the run's comparator judged by the configured
// tolerance, with the recent pairs it decided (the dashboard's difference plot), and one
// comparison per plan run, over that run's time span only, written as the run's shadow.json.

import { Clock } from '@daq/core';
import type { BridgeSink } from '../bridge/measurement-bridge.js';
import { emptyChunk, type ScalarChunk, type SeriesTable } from '../bridge/series.js';
import { ShadowComparator, type ShadowInstrument, type ShadowPair, type ShadowReport } from './shadow-comparator.js';
import { withVerdicts } from './shadow-verdict.js';

/** Pairs of one channel in columns: V2's time (epoch s), V2's and V4's values; diff = v4 - v2. */
export interface ShadowTrace {
  t: number[];
  v2: number[];
  v4: number[];
}

/** A channel's pairs, bounded: the newest `max` (ring), or the whole run thinned to at most `max` (whole). */
export class PairTrace {
  readonly t: number[] = [];
  readonly v2: number[] = [];
  readonly v4: number[] = [];
  readonly seq: number[] = [];
  private stride = 1;
  private skipped = 0;

  constructor(
    private readonly max: number,
    private readonly mode: 'ring' | 'whole',
  ) {}

  add(p: ShadowPair, seq: number): void {
    if (this.mode === 'whole' && ++this.skipped < this.stride) return;
    this.skipped = 0;
    this.t.push(Number(p.tsNs) / 1e9);
    this.v2.push(p.v2);
    this.v4.push(p.v4);
    this.seq.push(seq);
    if (this.t.length <= this.max) return;
    if (this.mode === 'ring') {
      // Trimmed in steps, not one by one: a splice per pair would be quadratic.
      if (this.t.length > this.max * 1.25) for (const a of [this.t, this.v2, this.v4, this.seq]) a.splice(0, a.length - this.max);
      return;
    }
    for (const a of [this.t, this.v2, this.v4, this.seq]) {
      let j = 0;
      for (let i = 0; i < a.length; i += 2) a[j++] = a[i]!;
      a.length = j;
    }
    this.stride *= 2;
  }

  /** The pairs after sequence number `since`. */
  after(since: number): ShadowTrace {
    let from = this.seq.length;
    while (from > 0 && this.seq[from - 1]! > since) from--;
    return { t: this.t.slice(from), v2: this.v2.slice(from), v4: this.v4.slice(from) };
  }
}

type Traces = Map<string, PairTrace>;

function collect(traces: Traces, max: number, mode: 'ring' | 'whole', next: () => number) {
  return (p: ShadowPair) => {
    const key = `${p.instrument}.${p.channel}`;
    let tr = traces.get(key);
    if (!tr) traces.set(key, (tr = new PairTrace(max, mode)));
    tr.add(p, next());
  };
}

function tracesAfter(traces: Traces, since: number): Record<string, ShadowTrace> {
  const out: Record<string, ShadowTrace> = {};
  for (const [k, tr] of traces) out[k] = tr.after(since);
  return out;
}

/** What GET /api/shadow answers. */
export interface ShadowLiveView {
  /** The shadowed instruments (none: not in shadow mode). */
  instruments: string[];
  maxRelDiff: number;
  /** The newest pair's sequence number: ask with since = this for what comes after. */
  seq: number;
  /** The run's comparison so far (null: not in shadow mode). */
  report: ShadowReport | null;
  /** Per "instrument.channel", the pairs decided after `since` (the newest 2000 at most). */
  traces: Record<string, ShadowTrace>;
}

/** A plan run's comparison: its report, its window and its pairs (the whole run, thinned). */
export type ShadowRunReport = ShadowReport & {
  window: { start: string; end: string };
  traces: Record<string, ShadowTrace>;
};

export interface ShadowLiveOptions {
  maxRelDiff: number;
  worst: number;
  /** Pairs kept per channel for the live plot, and for a plan run's report (default 2000). */
  keepPairs?: number;
  /** Longest wait, after a plan run ends, for the stream to pass its end (default 5000 ms). */
  settleTimeoutMs?: number;
  clock?: Clock;
}

/** One plan run's comparison: rows of its time span go to a comparator of its own. */
export class ShadowWindow {
  private readonly comparator: ShadowComparator;
  private readonly traces: Traces = new Map();
  private readonly startNs: bigint;
  private endNs: bigint | undefined;
  private passedEnd: (() => void) | undefined;

  constructor(
    instruments: readonly ShadowInstrument[],
    private readonly o: Required<ShadowLiveOptions>,
    private readonly ended: (w: ShadowWindow) => void,
  ) {
    this.comparator = new ShadowComparator(instruments, { worst: o.worst, maxRelDiff: o.maxRelDiff });
    let seq = 0;
    this.comparator.onPair(collect(this.traces, o.keepPairs, 'whole', () => ++seq));
    this.startNs = o.clock.nowNs();
  }

  /** The rows of the run's span go on to its comparator. */
  write(chunk: ScalarChunk, table: SeriesTable): void {
    const end = this.endNs ?? 2n ** 63n - 1n;
    const inside = emptyChunk(chunk.length);
    let passed = false;
    for (let i = 0; i < chunk.length; i++) {
      const ts = chunk.ts[i]!;
      if (ts > end) passed = true;
      if (ts < this.startNs || ts > end) continue;
      const n = inside.length++;
      inside.ts[n] = ts;
      inside.value[n] = chunk.value[i]!;
      inside.series[n] = chunk.series[i]!;
    }
    if (inside.length) this.comparator.write(inside, table);
    if (passed) this.passedEnd?.();
  }

  /** The run has ended: once the stream has passed its end (or after the timeout), its report. */
  async end(): Promise<ShadowRunReport> {
    this.endNs = this.o.clock.nowNs();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.passedEnd = resolve;
      timer = setTimeout(resolve, this.o.settleTimeoutMs);
    });
    clearTimeout(timer);
    this.ended(this);
    this.comparator.finish();
    const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
    return {
      ...this.comparator.report(),
      window: { start: iso(this.startNs), end: iso(this.endNs) },
      traces: tracesAfter(this.traces, 0),
    };
  }
}

/** The daemon's shadow comparison: live, and per plan run. A bridge sink (for the plan runs' windows). */
export class ShadowLive implements BridgeSink {
  private readonly traces: Traces = new Map();
  private seq = 0;
  private readonly windows = new Set<ShadowWindow>();
  private readonly instruments: ShadowInstrument[];
  private readonly o: Required<ShadowLiveOptions>;

  constructor(
    /** The run's comparator (the one that writes the session's shadow.json). */
    private readonly comparator: ShadowComparator,
    options: ShadowLiveOptions,
  ) {
    this.o = { keepPairs: 2000, settleTimeoutMs: 5000, clock: new Clock(), ...options };
    this.instruments = Object.values(comparator.report().instruments).map((i) => ({
      id: i.id,
      type: i.type,
      toleranceMs: i.toleranceMs,
    }));
    comparator.onPair(collect(this.traces, this.o.keepPairs, 'ring', () => ++this.seq));
  }

  view(since: number): ShadowLiveView {
    return {
      instruments: this.instruments.map((i) => i.id),
      maxRelDiff: this.o.maxRelDiff,
      seq: this.seq,
      // Judged by the configured tolerance whatever the comparator was built with.
      report: withVerdicts(this.comparator.report(), this.o.maxRelDiff),
      traces: tracesAfter(this.traces, since),
    };
  }

  /** A plan run begins: its comparison until `end()`. */
  window(): ShadowWindow {
    const w = new ShadowWindow(this.instruments, this.o, (x) => this.windows.delete(x));
    this.windows.add(w);
    return w;
  }

  write(chunk: ScalarChunk, table: SeriesTable): void {
    for (const w of this.windows) w.write(chunk, table);
  }
}
