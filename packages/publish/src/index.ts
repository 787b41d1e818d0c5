export * from './protocol.js';
export * from './transport.js';
export { NatsPublisher, NatsCollector, connectError, publishError, type NatsOptions } from './nats.js';
export { RunFollower, STATE_FILE, REMOTE_FILES, wholeIpcPrefix, type PublishState } from './follower.js';
export { Publisher, type PublisherStatus, type PublisherState, type PublisherOptions } from './publisher.js';
export type { PublisherWorkerData } from './worker.js';
export { Collector, type CollectorOptions, type CollectorCounts } from './collector.js';
export { listRuns, type RunListing } from './runs.js';
