// Shadow mode's comparison: V2's readings of an instrument against V4's readings of the same
// instrument (its shadow), channel by channel. Rows arrive from the measurement bridge in
// timestamp order; each reading is paired with the other side's reading nearest in time
// within a tolerance, one to one, and the differences are summed as they go, so memory
// stays bounded however long the run.
//
// Pairing, per channel: take the earliest unconsumed reading x of either side. Its partner
// is the other side's earliest reading y if |y - x| <= tolerance, unless the next reading
// of x's own side is nearer to y (then x stays unmatched and that one gets y). Deciding
// needs everything up to x + 2 × tolerance, so a reading waits until the stream has passed
// that point (or the run ends).

import { DaqError } from '@daq/core';
import type { BridgeSink } from '../bridge/measurement-bridge.js';
import { SHADOW_SUBSYSTEM } from '../bridge/measurement-bridge.js';
import type { ScalarChunk, SeriesTable } from '../bridge/series.js';
import {
  DEFAULT_MAX_REL_DIFF,
  withVerdicts,
  type ChannelVerdictState,
  type ShadowVerdict,
  type UnjudgedReport,
} from './shadow-verdict.js';

export interface ShadowInstrument {
  id: string;
  type: string;
  /** Largest time between paired readings. */
  toleranceMs: number;
}

export interface ShadowMoment {
  timestamp: string;
  /** V2's reading time, ns since the Unix epoch (a string: it does not fit a JSON number). */
  timestampNs: string;
  v2: number;
  v4: number;
  /** v4 - v2. */
  diff: number;
  /** |v4 - v2| / |v2|; null when v2 is 0 and v4 is not. */
  relDiff: number | null;
  /** V4's reading time minus V2's, in ms. */
  dtMs: number;
}

export interface ShadowChannelReport {
  unit: string;
  /** Set when V2 and V4 report the channel in different units (the values are still compared). */
  v4Unit?: string;
  readings: { v2: number; v4: number };
  pairs: number;
  unmatched: { v2: number; v4: number };
  /** Readings taken while the other side was not producing (before its first or after its last reading): not compared. */
  outside: { v2: number; v4: number };
  /** Readings still waiting for a partner (0 once the run has ended). */
  pending: { v2: number; v4: number };
  /** Readings that are not finite numbers (never paired), per side. */
  invalid: { v2: number; v4: number };
  /** Mean of v4 - v2 (the bias), and mean and max of |v4 - v2|; null without pairs. */
  meanDiff: number | null;
  meanAbsDiff: number | null;
  maxAbsDiff: number | null;
  /** Mean and max of |v4 - v2| / |v2| over pairs where it is defined. */
  meanRelDiff: number | null;
  maxRelDiff: number | null;
  /** Pairs where v2 is 0 and v4 is not: no relative difference. */
  relUndefined: number;
  /** Mean |t4 - t2| of the pairs, in ms. */
  meanDtMs: number | null;
  /** The largest absolute differences, largest first. */
  worst: ShadowMoment[];
  /** Against max_rel_diff: see shadow-verdict.ts. */
  verdict: ChannelVerdictState;
}

export interface ShadowInstrumentReport {
  id: string;
  type: string;
  toleranceMs: number;
  pairs: number;
  unmatched: { v2: number; v4: number };
  outside: { v2: number; v4: number };
  /** Largest |v4 - v2| and |v4 - v2| / |v2| over all channels (null without pairs). */
  maxAbsDiff: number | null;
  maxRelDiff: number | null;
  channels: Record<string, ShadowChannelReport>;
  /** Why V4 could not run this instrument, if it could not. */
  v4Error?: string;
  verdict: ShadowVerdict;
}

export interface ShadowReport {
  format: 'daq-shadow/1';
  /** What the numbers mean, for whoever opens the file. */
  about: string;
  /** True once the run has ended and every reading was decided. */
  final: boolean;
  /** The verdict's tolerance: largest |v4 - v2| / |v2| for "V4 agrees" ([v4.shadow] max_rel_diff). */
  maxRelDiff: number;
  /** "V4 agrees", or "V4 differs: see the worst moments (…)", or why neither can be said. */
  verdict: ShadowVerdict;
  instruments: Record<string, ShadowInstrumentReport>;
}

/** One pair as it is decided (the daemon's live difference plot). */
export interface ShadowPair {
  instrument: string;
  channel: string;
  /** V2's reading time, ns since the Unix epoch. */
  tsNs: bigint;
  v2: number;
  v4: number;
  /** V4's reading time minus V2's, ns. */
  dtNs: bigint;
}

interface Reading {
  ts: bigint;
  value: number;
}

/** A side's readings not yet decided, oldest first. */
class Queue {
  private items: Reading[] = [];
  private head = 0;
  /** The newest reading already decided (a later arrival older than it is too late to pair). */
  decidedUntil = -(2n ** 63n);

  get length(): number {
    return this.items.length - this.head;
  }

  at(i: number): Reading | undefined {
    return this.items[this.head + i];
  }

  /** Adds a reading in time order; false if it is older than what was already decided. */
  push(r: Reading): boolean {
    if (r.ts < this.decidedUntil) return false;
    const last = this.items[this.items.length - 1];
    if (this.length === 0 || !last || last.ts <= r.ts) {
      this.items.push(r);
      return true;
    }
    let i = this.items.length;
    while (i > this.head && this.items[i - 1]!.ts > r.ts) i--;
    this.items.splice(i, 0, r);
    return true;
  }

  shift(): Reading {
    const r = this.items[this.head++]!;
    this.decidedUntil = r.ts;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return r;
  }
}

const V2 = 0;
const V4 = 1;

class ChannelMatcher {
  readonly queues = [new Queue(), new Queue()] as const;
  readonly readings = [0, 0];
  readonly unmatched = [0, 0];
  readonly outside = [0, 0];
  /** Unmatched readings after the other side's last one so far: outside if it never reads again, else unmatched. */
  private readonly trailing = [0, 0];
  readonly invalid = [0, 0];
  /** First and last reading time per side (the span it produced in). */
  private readonly first: (bigint | undefined)[] = [undefined, undefined];
  private readonly last: (bigint | undefined)[] = [undefined, undefined];
  /** Units each side reports the channel in. */
  readonly units: (string | undefined)[] = [undefined, undefined];
  pairs = 0;
  sumDiff = 0;
  sumAbs = 0;
  maxAbs = 0;
  sumRel = 0;
  relPairs = 0;
  maxRel = 0;
  relUndefined = 0;
  sumDtNs = 0;
  readonly worst: ShadowMoment[] = [];

  constructor(
    private readonly toleranceNs: bigint,
    private readonly keepWorst: number,
    private readonly paired: (v2: Reading, v4: Reading) => void,
  ) {}

  add(side: number, ts: bigint, value: number): void {
    this.readings[side]!++;
    this.first[side] ??= ts;
    // The other side's trailing misses were inside this side's span after all.
    this.unmatched[1 - side]! += this.trailing[1 - side]!;
    this.trailing[1 - side] = 0;
    if (this.last[side] === undefined || ts > this.last[side]!) this.last[side] = ts;
    if (!Number.isFinite(value)) {
      this.invalid[side]!++;
      return;
    }
    if (!this.queues[side]!.push({ ts, value })) this.unmatched[side]!++; // arrived after its moment was decided
  }

  /** Decides every reading that can be decided with the stream at `watermark` (all of them when final). */
  settle(watermark: bigint, final: boolean): void {
    this.decide(watermark, final);
    if (!final) return;
    // The run is over: misses after the other side's last reading were taken while it was not running.
    for (const side of [V2, V4]) {
      this.outside[side]! += this.trailing[side]!;
      this.trailing[side] = 0;
    }
  }

  private decide(watermark: bigint, final: boolean): void {
    const tol = this.toleranceNs;
    for (;;) {
      const a = this.queues[V2].at(0);
      const b = this.queues[V4].at(0);
      if (!a && !b) return;
      const side = !b || (a && a.ts <= b.ts) ? V2 : V4;
      const other = 1 - side;
      const x = this.queues[side]!.at(0)!;
      if (!final && watermark < x.ts + 2n * tol) return;
      const y = this.queues[other]!.at(0);
      if (y && y.ts - x.ts <= tol) {
        const next = this.queues[side]!.at(1);
        const gap = y.ts - x.ts;
        if (next && abs(next.ts - y.ts) < gap) {
          this.noPartner(side, this.queues[side]!.shift());
          continue;
        }
        this.queues[side]!.shift();
        this.queues[other]!.shift();
        if (side === V2) this.pair(x, y);
        else this.pair(y, x);
        continue;
      }
      this.noPartner(side, this.queues[side]!.shift());
    }
  }

  /** A reading without partner: unmatched, or outside the other side's span (it was not running). */
  private noPartner(side: number, x: Reading): void {
    const other = 1 - side;
    const first = this.first[other];
    const last = this.last[other];
    const before = first === undefined || x.ts < first - this.toleranceNs;
    if (before) this.outside[side]!++;
    else if (last !== undefined && x.ts > last + this.toleranceNs) this.trailing[side]!++;
    else this.unmatched[side]!++;
  }

  private pair(v2: Reading, v4: Reading): void {
    const diff = v4.value - v2.value;
    const a = Math.abs(diff);
    const rel = v2.value !== 0 ? a / Math.abs(v2.value) : a === 0 ? 0 : null;
    this.pairs++;
    this.sumDiff += diff;
    this.sumAbs += a;
    this.maxAbs = Math.max(this.maxAbs, a);
    if (rel === null) this.relUndefined++;
    else {
      this.sumRel += rel;
      this.relPairs++;
      this.maxRel = Math.max(this.maxRel, rel);
    }
    const dtNs = v4.ts - v2.ts;
    this.sumDtNs += Math.abs(Number(dtNs));
    this.paired(v2, v4);
    if (this.keepWorst === 0) return;
    const w = this.worst;
    if (w.length === this.keepWorst && a <= Math.abs(w[w.length - 1]!.diff)) return;
    const moment: ShadowMoment = {
      timestamp: new Date(Number(v2.ts / 1_000_000n)).toISOString(),
      timestampNs: v2.ts.toString(),
      v2: v2.value,
      v4: v4.value,
      diff,
      relDiff: rel,
      dtMs: Number(dtNs) / 1e6,
    };
    let i = w.length;
    while (i > 0 && Math.abs(w[i - 1]!.diff) < a) i--;
    w.splice(i, 0, moment);
    if (w.length > this.keepWorst) w.pop();
  }

  report(): Omit<ShadowChannelReport, 'verdict'> {
    const n = this.pairs;
    const [u2, u4] = this.units;
    return {
      unit: u2 ?? u4 ?? '',
      ...(u2 !== undefined && u4 !== undefined && u2 !== u4 ? { v4Unit: u4 } : {}),
      readings: { v2: this.readings[V2]!, v4: this.readings[V4]! },
      pairs: n,
      unmatched: { v2: this.unmatched[V2]! + this.trailing[V2]!, v4: this.unmatched[V4]! + this.trailing[V4]! },
      outside: { v2: this.outside[V2]!, v4: this.outside[V4]! },
      pending: { v2: this.queues[V2].length, v4: this.queues[V4].length },
      invalid: { v2: this.invalid[V2]!, v4: this.invalid[V4]! },
      meanDiff: n ? this.sumDiff / n : null,
      meanAbsDiff: n ? this.sumAbs / n : null,
      maxAbsDiff: n ? this.maxAbs : null,
      meanRelDiff: this.relPairs ? this.sumRel / this.relPairs : null,
      maxRelDiff: this.relPairs ? this.maxRel : null,
      relUndefined: this.relUndefined,
      meanDtMs: n ? this.sumDtNs / n / 1e6 : null,
      worst: this.worst.map((m) => ({ ...m })),
    };
  }
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

export interface ShadowComparatorOptions {
  /** Worst moments kept per channel (default 5). */
  worst?: number;
  /** The verdict's tolerance ([v4.shadow] max_rel_diff; default 0.01). */
  maxRelDiff?: number;
}

/** A bridge sink: compares V2's and V4's readings of the shadowed instruments. */
export class ShadowComparator implements BridgeSink {
  private readonly instruments = new Map<string, ShadowInstrument>();
  private readonly matchers = new Map<string, Map<string, ChannelMatcher>>();
  /** Per series id: where its rows go (undefined: not yet looked at; null: not a shadowed series). */
  private route: ({ matcher: ChannelMatcher; side: number } | null)[] = [];
  private watermark = -(2n ** 63n);
  private finished = false;
  private readonly v4Errors = new Map<string, string>();
  private readonly keepWorst: number;
  private readonly maxRelDiff: number;
  private readonly pairListeners = new Set<(p: ShadowPair) => void>();

  constructor(instruments: readonly ShadowInstrument[], options: ShadowComparatorOptions = {}) {
    this.keepWorst = options.worst ?? 5;
    this.maxRelDiff = options.maxRelDiff ?? DEFAULT_MAX_REL_DIFF;
    for (const i of instruments) {
      if (!(i.toleranceMs > 0) || !Number.isFinite(i.toleranceMs))
        throw new DaqError(
          'DAQ_INVALID_ARGUMENT',
          `shadow tolerance of ${i.id} must be a positive number of ms, got ${i.toleranceMs}`,
          {
            instrument: i.id,
          },
        );
      this.instruments.set(i.id, i);
      this.matchers.set(i.id, new Map());
    }
  }

  get ids(): string[] {
    return [...this.instruments.keys()];
  }

  /** Calls `listener` with every pair as it is decided; returns the function that stops it. */
  onPair(listener: (p: ShadowPair) => void): () => void {
    this.pairListeners.add(listener);
    return () => this.pairListeners.delete(listener);
  }

  /** Records that V4 could not run a shadowed instrument (shown in the report). */
  v4Failed(id: string, why: string): void {
    this.v4Errors.set(id, why);
  }

  private routeOf(s: number, table: SeriesTable): { matcher: ChannelMatcher; side: number } | null {
    let r = this.route[s];
    if (r !== undefined) return r;
    const k = table.keys[s]!;
    const inst = this.instruments.get(k.instrument);
    const side = k.subsystem === 'v2' ? V2 : k.subsystem === SHADOW_SUBSYSTEM ? V4 : -1;
    if (!inst || side < 0) r = null;
    else {
      const channels = this.matchers.get(inst.id)!;
      let m = channels.get(k.channel);
      if (!m) {
        const channel = k.channel;
        m = new ChannelMatcher(BigInt(Math.round(inst.toleranceMs * 1e6)), this.keepWorst, (a, b) => {
          if (this.pairListeners.size === 0) return;
          const p: ShadowPair = { instrument: inst.id, channel, tsNs: a.ts, v2: a.value, v4: b.value, dtNs: b.ts - a.ts };
          for (const l of this.pairListeners) l(p);
        });
        channels.set(k.channel, m);
      }
      // A unit change makes a new series: the first one seen per side names the channel's unit.
      m.units[side] ??= k.unit;
      r = { matcher: m, side };
    }
    this.route[s] = r;
    return r;
  }

  write(chunk: ScalarChunk, table: SeriesTable): void {
    if (this.finished) return;
    let touched = false;
    for (let i = 0; i < chunk.length; i++) {
      const ts = chunk.ts[i]!;
      if (ts > this.watermark) this.watermark = ts;
      const r = this.routeOf(chunk.series[i]!, table);
      if (!r) continue;
      r.matcher.add(r.side, ts, chunk.value[i]!);
      touched = true;
    }
    if (touched || chunk.length > 0) for (const m of this.allMatchers()) m.settle(this.watermark, false);
  }

  private *allMatchers(): Generator<ChannelMatcher> {
    for (const channels of this.matchers.values()) yield* channels.values();
  }

  /** The run has ended: every waiting reading is decided. */
  finish(): void {
    for (const m of this.allMatchers()) m.settle(this.watermark, true);
    this.finished = true;
  }

  report(): ShadowReport {
    const instruments: UnjudgedReport['instruments'] = {};
    for (const [id, inst] of this.instruments) {
      const channels = Object.fromEntries([...this.matchers.get(id)!].map(([c, m]) => [c, m.report()]));
      const list = Object.values(channels);
      const maxOf = (f: (c: (typeof list)[number]) => number | null) =>
        list.reduce<number | null>((best, c) => {
          const v = f(c);
          return v === null ? best : best === null ? v : Math.max(best, v);
        }, null);
      const error = this.v4Errors.get(id);
      instruments[id] = {
        id,
        type: inst.type,
        toleranceMs: inst.toleranceMs,
        pairs: list.reduce((n, c) => n + c.pairs, 0),
        unmatched: {
          v2: list.reduce((n, c) => n + c.unmatched.v2, 0),
          v4: list.reduce((n, c) => n + c.unmatched.v4, 0),
        },
        outside: {
          v2: list.reduce((n, c) => n + c.outside.v2, 0),
          v4: list.reduce((n, c) => n + c.outside.v4, 0),
        },
        maxAbsDiff: maxOf((c) => c.maxAbsDiff),
        maxRelDiff: maxOf((c) => c.maxRelDiff),
        channels,
        ...(error ? { v4Error: error } : {}),
      };
    }
    return withVerdicts(
      {
        format: 'daq-shadow/1',
        about:
          "V2's readings (the ones used, in scalars.arrows) against V4's readings of the same instrument (shadow.arrows), per channel. Each reading is paired with the other side's nearest in time within toleranceMs; diff = v4 - v2, relDiff = |v4 - v2| / |v2|; unmatched readings found no partner; outside readings were taken while the other side was not producing (before its first or after its last reading) and are not compared.",
        final: this.finished,
        instruments,
      },
      this.maxRelDiff,
    );
  }
}
