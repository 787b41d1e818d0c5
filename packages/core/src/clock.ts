// The one clock: int64 nanoseconds since the Unix epoch, read from the monotonic
// process.hrtime.bigint() (shared by every thread of the process) plus an epoch offset that
// the broker fixes once and hands to every worker, so timestamps from all threads compare.

/** The offset that turns process.hrtime.bigint() into Unix-epoch nanoseconds; fix it once per process. */
export function createEpochOffsetNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

export class Clock {
  constructor(readonly epochOffsetNs: bigint = createEpochOffsetNs()) {}

  /** Now, in nanoseconds since the Unix epoch, monotonic within the process. */
  nowNs(): bigint {
    return process.hrtime.bigint() + this.epochOffsetNs;
  }
}
