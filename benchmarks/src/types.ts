// What a benchmark file exports and what it reports.

/** Which way a figure improves: `higher` for rates and ratios of speed, `lower` for latencies, jitter, overheads, drops. */
export type Better = 'higher' | 'lower';

/** The figure's own values over the rounds a benchmark measured it in (`value` is taken from them, e.g. their median). */
export interface Spread {
  min: number;
  max: number;
  /** 10th and 90th percentiles of the rounds (set by `summarize`; older results have only min/max). */
  p10?: number;
  p90?: number;
  /** How many rounds. */
  n: number;
}

/** A goal the figure is judged against (on its median where it is measured in rounds), shown beside it in latest.md. */
export interface Goal {
  /** What is asked, in the figure's own terms, e.g. `vs.direct <= 1.3` or `value >= 1,500,000 measurements/s`. */
  text: string;
  /** Whether this run met it. */
  met: boolean;
}

export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  /**
   * Which way this figure improves, read by `--compare`. Every benchmark sets it (a test checks
   * each result in benchmarks/src); it is optional only so that results files written before it
   * existed still load.
   */
  better?: Better;
  /** Set where the benchmark measures the figure in two or more rounds: `--compare` takes it as the figure's noise. */
  spread?: Spread;
  /** This value divided by each baseline's value measured in the same run. */
  vs: Record<string, number>;
  /** The goals this figure is judged against (issue 18: each figure beside its goal in latest.md). */
  goals?: Goal[];
  /** Anything else worth keeping (percentiles, sample counts). */
  details?: Record<string, unknown>;
}

/** The p-th percentile (0..100) of `xs`, by linear interpolation between closest ranks; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = ((s.length - 1) * p) / 100;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

export const median = (xs: readonly number[]): number => percentile(xs, 50);

/** A figure measured in rounds: its median (the value judged) and its spread (min, p10, p90, max). */
export function summarize(rounds: readonly number[]): { value: number; spread: Spread | undefined } {
  const spread = spreadOf(rounds);
  return {
    value: median(rounds),
    spread: spread && { ...spread, p10: percentile(rounds, 10), p90: percentile(rounds, 90) },
  };
}

/**
 * Runs the steps `rounds` times, interleaved (baseline and subject alternate, and the order flips
 * every round so neither always runs first on a warm cache), and returns each step's values.
 */
export async function interleave<K extends string>(
  rounds: number,
  steps: Record<K, () => Promise<number> | number>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(steps) as K[];
  const out = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? names : [...names].reverse()) out[k].push(await steps[k]());
  }
  return out;
}

/** The spread of a figure's per-round values; undefined with fewer than two rounds (one round has no spread). */
export function spreadOf(rounds: readonly number[]): Spread | undefined {
  const xs = rounds.filter((x) => Number.isFinite(x));
  if (xs.length < 2) return undefined;
  return { min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

export interface BenchContext {
  quick: boolean;
  log(message: string): void;
}

export interface Benchmark {
  subject: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}
