// Heap and handle samples taken through a run (two of them right after a full garbage
// collection: at the end of warm-up and just before the deadline), and the leak figures and
// checks drawn from those two.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BOUNDS } from './bounds.js';
import type { CheckList } from './check-list.js';
import { MB, round, sum } from './numbers.js';
import type { StressSettings } from './scenario.js';

export interface Sample {
  tMs: number;
  heapUsedMB: number;
  rssMB: number;
  externalMB: number;
  handles: number;
  byType: Record<string, number>;
  /** Taken right after a full garbage collection. */
  gc: boolean;
}

export interface LeakFigures {
  heapGrowthMB: number;
  handleGrowth: number;
  handlesWarm: Record<string, number>;
  handlesEnd: Record<string, number>;
}

let gcFn: (() => void) | undefined;
function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

function sample(t0: number, gc: boolean): Sample {
  if (gc) fullGc();
  const m = process.memoryUsage();
  const byType: Record<string, number> = {};
  const info = process.getActiveResourcesInfo();
  for (const r of info) byType[r] = (byType[r] ?? 0) + 1;
  return {
    tMs: Math.round(performance.now() - t0),
    heapUsedMB: round(m.heapUsed / MB, 2),
    rssMB: round(m.rss / MB, 1),
    externalMB: round(m.external / MB, 2),
    handles: info.length,
    byType,
    gc,
  };
}

/**
 * Handles that stay open as long as their owner lives: not timers and immediates (they come
 * and go with traffic), nor message ports (trouble workers come and go by design; that every
 * worker exits is checked on its own).
 */
const TRANSIENT = new Set(['Timeout', 'Immediate', 'MessagePort']);
const lasting = (byType: Record<string, number>) =>
  sum(
    Object.entries(byType)
      .filter(([k]) => !TRANSIENT.has(k))
      .map(([, n]) => n),
  );

export class Sampler {
  readonly samples: Sample[];
  /** The samples after a full GC, at the end of warm-up and near the deadline, once taken. */
  gcWarm: Sample | undefined;
  gcEnd: Sample | undefined;
  readonly #interval: NodeJS.Timeout;
  readonly #warmTimer: NodeJS.Timeout;
  readonly #endTimer: NodeJS.Timeout;

  /** Starts sampling at `t0` (performance.now()), every sampleEveryMs. */
  constructor(
    readonly t0: number,
    o: StressSettings,
  ) {
    this.samples = [sample(t0, false)];
    this.#interval = setInterval(() => this.samples.push(sample(t0, false)), o.sampleEveryMs);
    this.#warmTimer = setTimeout(() => this.samples.push((this.gcWarm = sample(t0, true))), o.warmupMs);
    this.#endTimer = setTimeout(
      () => this.samples.push((this.gcEnd = sample(t0, true))),
      Math.max(o.warmupMs + 500, o.seconds * 1000 - 500),
    );
  }

  /** No more samples after a full GC (the clients are done). */
  stopGcSamples(): void {
    clearTimeout(this.#warmTimer);
    clearTimeout(this.#endTimer);
  }

  stop(): void {
    clearInterval(this.#interval);
  }

  /** Growth between the GC samples (or, lacking them, the second and the last sample). */
  leak(): LeakFigures {
    const warm = this.gcWarm ?? this.samples[Math.min(this.samples.length - 1, 1)]!;
    const end = this.gcEnd ?? this.samples[this.samples.length - 1]!;
    return {
      heapGrowthMB: round(end.heapUsedMB - warm.heapUsedMB, 2),
      handleGrowth: lasting(end.byType) - lasting(warm.byType),
      handlesWarm: warm.byType,
      handlesEnd: end.byType,
    };
  }

  checkLeak(c: CheckList, leak: LeakFigures): void {
    c.check(
      'heap growth after warm-up bounded',
      !!this.gcWarm && !!this.gcEnd && leak.heapGrowthMB <= BOUNDS.heapGrowthMB,
      `${leak.heapGrowthMB} MB (bound ${BOUNDS.heapGrowthMB} MB)`,
    );
    c.check(
      'handle growth after warm-up bounded',
      leak.handleGrowth <= BOUNDS.handleGrowth,
      `${leak.handleGrowth} (bound ${BOUNDS.handleGrowth})`,
    );
  }
}
