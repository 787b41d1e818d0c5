/** The bounds every stress run is held to (see the bounds section of test/stress.test.ts for why). */
export const BOUNDS = {
  /** A client's share of a port's grants vs. the mean of its peers. */
  shareMin: 0.75,
  shareMax: 1.25,
  /** Per grant ahead in the queue: the line's settle (50 ms + 20 byte times) and the flush. */
  handoverMs: 150,
  /** Event-loop delays on a loaded 2-core machine. */
  slackMs: 500,
  heapGrowthMB: 24,
  /** A VISA session reconnecting at the moment of a sample holds two sockets for an instant. */
  handleGrowth: 2,
} as const;
