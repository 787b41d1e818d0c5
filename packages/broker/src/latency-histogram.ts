// Latency distributions on Node's built-in HDR histogram (perf_hooks): recorded in
// microseconds, reported in milliseconds.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface Distribution {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A latency distribution recorded in microseconds, reported in milliseconds. */
export class LatencyHistogram {
  private readonly h: RecordableHistogram = createHistogram();

  recordMs(ms: number): void {
    this.h.record(Math.max(1, Math.round(ms * 1000)));
  }

  summary(): Distribution {
    const n = this.h.count;
    const ms = (us: number) => (n === 0 ? 0 : Math.round(us) / 1000);
    return {
      count: n,
      meanMs: n === 0 ? 0 : Math.round(this.h.mean) / 1000,
      p50Ms: ms(this.h.percentile(50)),
      p90Ms: ms(this.h.percentile(90)),
      p99Ms: ms(this.h.percentile(99)),
      maxMs: ms(this.h.max),
    };
  }
}
