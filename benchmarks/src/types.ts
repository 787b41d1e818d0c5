// What a benchmark file exports and what it reports.

/** Which way a figure improves: `higher` for rates and ratios of speed, `lower` for latencies, jitter, overheads, drops. */
export type Better = 'higher' | 'lower';

/** The figure's own values over the rounds a benchmark measured it in (`value` is taken from them, e.g. their median). */
export interface Spread {
  min: number;
  max: number;
  /** How many rounds. */
  n: number;
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
  /** Anything else worth keeping (percentiles, sample counts, goals). */
  details?: Record<string, unknown>;
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
