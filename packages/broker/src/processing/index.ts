// Frame processing in the broker: per-frame statistics, the worker pool that computes them from
// shared memory, and the `frame_stats` Arrow stream they are stored as.
export { computeFrameStats, checkHistogramArgs, type FrameStats } from './frame-stats.js';
export { framePixels, type FrameStatsTask } from './frame-stats-task.js';
export { ProcessingPool, frameStatsTaskUrl, type ProcessingCounters, type ProcessingPoolOptions } from './processing-pool.js';
export { FRAME_STATS_SCHEMA, FrameStatsBatchBuilder } from './frame-stats-stream.js';
