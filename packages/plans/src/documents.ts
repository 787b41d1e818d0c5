// The documents of a plan run, in Bluesky's event-model (v1.24.0 schemas in
// packages/plans/event-model): run start, one event descriptor per stream before its first
// event, events numbered from 1 per stream, run stop with the events per stream. Times are
// epoch seconds (float), uids uuid4. Rules the schemas leave to code are kept here: an event's
// data and timestamps have exactly the descriptor's keys, and a run has one stop.

import { randomUUID } from 'node:crypto';
import { DaqError } from '@daq/core';

export type DocumentName = 'start' | 'descriptor' | 'event' | 'stop' | 'stream_resource' | 'stream_datum';

export type ExitStatus = 'success' | 'abort' | 'fail';

export interface RunStartDoc {
  uid: string;
  time: number;
  scan_id?: number;
  plan_name: string;
  plan_args: Record<string, unknown>;
  motors: string[];
  detectors: string[];
  num_points?: number;
  hints?: { dimensions: [string[], string][] };
  [key: string]: unknown;
}

export interface DataKey {
  source: string;
  dtype: 'number' | 'integer' | 'string' | 'boolean' | 'array';
  shape: number[];
  units?: string | null;
  object_name?: string;
  /** `STREAM:` for data kept outside the events (camera frames), referenced by stream datum. */
  external?: string;
  dtype_numpy?: string;
}

export interface StreamResourceDoc {
  uid: string;
  run_start: string;
  data_key: string;
  mimetype: string;
  uri: string;
  parameters: Record<string, unknown>;
}

export interface StreamDatumDoc {
  uid: string;
  stream_resource: string;
  descriptor: string;
  indices: { start: number; stop: number };
  seq_nums: { start: number; stop: number };
}

export interface DescriptorDoc {
  uid: string;
  run_start: string;
  time: number;
  name: string;
  data_keys: Record<string, DataKey>;
  object_keys: Record<string, string[]>;
  configuration: Record<
    string,
    { data: Record<string, unknown>; timestamps: Record<string, number>; data_keys: Record<string, DataKey> }
  >;
  hints: Record<string, { fields: string[] }>;
}

export interface EventDoc {
  uid: string;
  descriptor: string;
  seq_num: number;
  time: number;
  data: Record<string, unknown>;
  timestamps: Record<string, number>;
  filled: Record<string, boolean>;
}

export interface RunStopDoc {
  uid: string;
  run_start: string;
  time: number;
  exit_status: ExitStatus;
  reason: string;
  num_events: Record<string, number>;
}

export type Document =
  | { name: 'start'; doc: RunStartDoc }
  | { name: 'descriptor'; doc: DescriptorDoc }
  | { name: 'event'; doc: EventDoc }
  | { name: 'stop'; doc: RunStopDoc }
  | { name: 'stream_resource'; doc: StreamResourceDoc }
  | { name: 'stream_datum'; doc: StreamDatumDoc };

const now = () => Date.now() / 1000;

interface Stream {
  descriptor: DescriptorDoc;
  next: number;
  /** The keys an event carries: the descriptor's, less the external (STREAM:) ones. */
  keys: string[];
}

/** Makes the documents of one run in order; `emit` receives each as it is made. */
export class RunComposer {
  readonly start: RunStartDoc;
  private readonly streams = new Map<string, Stream>();
  private stopped: RunStopDoc | undefined;

  constructor(
    start: Omit<RunStartDoc, 'uid' | 'time'>,
    private readonly emit: (d: Document) => void,
  ) {
    this.start = { uid: randomUUID(), time: now(), ...start } as RunStartDoc;
    emit({ name: 'start', doc: this.start });
  }

  /** Declares a stream's data keys (emits its descriptor); an event may follow. */
  descriptor(
    name: string,
    dataKeys: Record<string, DataKey>,
    objectKeys: Record<string, string[]>,
    configuration: DescriptorDoc['configuration'] = {},
  ): DescriptorDoc {
    if (this.streams.has(name)) throw new DaqError('DAQ_INVALID_ARGUMENT', `stream ${name} already has a descriptor`);
    const descriptor: DescriptorDoc = {
      uid: randomUUID(),
      run_start: this.start.uid,
      time: now(),
      name,
      data_keys: dataKeys,
      object_keys: objectKeys,
      configuration,
      hints: Object.fromEntries(Object.entries(objectKeys).map(([obj, keys]) => [obj, { fields: keys }])),
    };
    const keys = Object.entries(dataKeys)
      .filter(([, k]) => !k.external)
      .map(([k]) => k)
      .sort();
    this.streams.set(name, { descriptor, next: 1, keys });
    this.emit({ name: 'descriptor', doc: descriptor });
    return descriptor;
  }

  /** One event of a declared stream; its keys must be exactly the descriptor's. */
  event(stream: string, data: Record<string, unknown>, timestamps: Record<string, number>, time = now()): EventDoc {
    const s = this.streams.get(stream);
    if (!s) throw new DaqError('DAQ_INVALID_ARGUMENT', `stream ${stream} has no descriptor yet`);
    const keys = Object.keys(data).sort();
    if (keys.join() !== s.keys.join() || Object.keys(timestamps).sort().join() !== s.keys.join())
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `an event of stream ${stream} must have the descriptor's keys (${s.keys.join(', ')}), got ${keys.join(', ')}`,
      );
    const doc: EventDoc = {
      uid: randomUUID(),
      descriptor: s.descriptor.uid,
      seq_num: s.next++,
      time,
      data,
      timestamps,
      filled: {},
    };
    this.emit({ name: 'event', doc });
    return doc;
  }

  /** Declares where an external data key's data lives (once per key and run). */
  streamResource(dataKey: string, mimetype: string, uri: string, parameters: Record<string, unknown>): StreamResourceDoc {
    const doc: StreamResourceDoc = { uid: randomUUID(), run_start: this.start.uid, data_key: dataKey, mimetype, uri, parameters };
    this.emit({ name: 'stream_resource', doc });
    return doc;
  }

  /**
   * Which part of a stream resource belongs to the next event of `stream` (call before that
   * event): indices in the resource, half-open, for seq_num [next, next + 1).
   */
  streamDatum(resource: StreamResourceDoc, stream: string, indices: { start: number; stop: number }, n: number): StreamDatumDoc {
    const s = this.streams.get(stream);
    if (!s) throw new DaqError('DAQ_INVALID_ARGUMENT', `stream ${stream} has no descriptor yet`);
    const doc: StreamDatumDoc = {
      uid: `${resource.uid}/${n}`,
      stream_resource: resource.uid,
      descriptor: s.descriptor.uid,
      indices,
      seq_nums: { start: s.next, stop: s.next + 1 },
    };
    this.emit({ name: 'stream_datum', doc });
    return doc;
  }

  /** Events emitted so far per stream. */
  get numEvents(): Record<string, number> {
    return Object.fromEntries([...this.streams].map(([name, s]) => [name, s.next - 1]));
  }

  /** Ends the run (once). */
  stop(exitStatus: ExitStatus, reason = ''): RunStopDoc {
    if (this.stopped)
      throw new DaqError('DAQ_INVALID_ARGUMENT', `run ${this.start.uid} has already stopped (${this.stopped.exit_status})`);
    this.stopped = {
      uid: randomUUID(),
      run_start: this.start.uid,
      time: now(),
      exit_status: exitStatus,
      reason,
      num_events: this.numEvents,
    };
    this.emit({ name: 'stop', doc: this.stopped });
    return this.stopped;
  }
}
