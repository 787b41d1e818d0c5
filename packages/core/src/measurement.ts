// The V2 subsystem's legacy data unit: one scalar reading. V2 sends these to the broker in
// small batches by postMessage (structured clone carries the bigint timestamp as is).

export interface Measurement {
  instrument: string;
  channel: string;
  /** Nanoseconds since the Unix epoch, from the shared clock. */
  timestampNs: bigint;
  value: number;
  unit: string;
  /** Set (and value NaN) when the instrument gave a sentinel instead of a number (see ReadingFlag). */
  flag?: 'overload' | 'not-a-number';
}

/** A batch of V2 measurements as posted by the V2 worker. */
export interface MeasurementBatchMessage {
  type: 'daq:measurements';
  seq: number;
  items: Measurement[];
}

/** A V4 Arrow batch as posted by the V4 worker: one self-contained IPC stream. */
export interface ArrowBatchMessage {
  type: 'daq:arrow';
  seq: number;
  rows: number;
  bytes: Uint8Array;
}
