// Single-producer single-consumer rings of variable-size records over a SharedArrayBuffer: a producer
// thread writes records in place (reserve → fill → commit), the consumer reads them zero-copy.
export { createRingBuffer, ringCounters, type RingCounters } from './ring-layout.js';
export { RingWriter, type RingPolicy, type RingWriterOptions } from './ring-writer.js';
export { RingReader, type RingReaderOptions } from './ring-reader.js';
export { copyBytes } from './copy-bytes.js';
