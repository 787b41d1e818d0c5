// What a benchmark file exports and what it reports.

export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  /** This value divided by each baseline's value measured in the same run. */
  vs: Record<string, number>;
  /** Anything else worth keeping (percentiles, sample counts, goals). */
  details?: Record<string, unknown>;
}

export interface BenchContext {
  quick: boolean;
  log(message: string): void;
}

export interface Benchmark {
  subject: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}
