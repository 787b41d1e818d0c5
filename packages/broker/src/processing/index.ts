// Frame processing in the broker: per-frame statistics and live-view previews, the worker pool
// that computes them from shared memory, and the `frame_stats` Arrow stream they are stored as.
export { computeFrameStats, checkHistogramArgs, statsFromCounts, type FrameStats } from './frame-stats.js';
export { computeFramePreview, previewScale, PREVIEW_BINS, type FramePreview } from './frame-preview.js';
export { framePixels, type FrameStatsTask, type FramePreviewTask, type FramePreviewResult } from './frame-stats-task.js';
export { ProcessingPool, frameStatsTaskUrl, type ProcessingCounters, type ProcessingPoolOptions } from './processing-pool.js';
export { FRAME_STATS_SCHEMA, FrameStatsBatchBuilder } from './frame-stats-stream.js';
