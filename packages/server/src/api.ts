// The contract between the daemon's two threads. The main thread (the broker, which owns the
// hardware) implements DaemonApi and answers the server worker's calls over Comlink; it posts
// each scalar batch, document and preview once to the worker as a ServerEvent, whatever the
// number of clients. Everything here is plain data, so it crosses threads by structured clone.

import type { Measurement } from '@daq/core';

/** A refusal or failure the API reports: the HTTP status, the DaqError code, and its message and facts. */
export interface ApiError {
  status: number;
  code: string;
  message: string;
  facts?: Record<string, unknown>;
}

/** What a main-thread call answers: a value, or an error the worker turns into a JSON response. */
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export type QueueItemState = 'waiting' | 'running' | 'done';

export interface QueueItem {
  id: string;
  /** The plan as added (a plan file's keys: plan, its parameters, on_failure, suspenders, md). */
  plan: Record<string, unknown>;
  /** One line: "scan rot 0→180 (37 points), detectors pm". */
  summary: string;
  addedAt: string;
  state: QueueItemState;
}

export interface HistoryEntry {
  item: QueueItem;
  /** The run start document's uid; absent when the plan failed before starting. */
  uid?: string;
  exitStatus: 'success' | 'abort' | 'fail';
  reason: string;
  events: number;
  skipped: number;
  suspensions: number;
  startedAt: string;
  endedAt: string;
  /** The run's directory, relative to the session directory. */
  dir?: string;
  /** Shadow mode: the verdict of the run's own comparison (its shadow.json). */
  shadow?: { state: string; text: string };
}

/** Pairs of one shadowed channel, in columns: V2's time (epoch s), V2's and V4's values. */
export interface ShadowTraceView {
  t: number[];
  v2: number[];
  v4: number[];
}

/** The live shadow comparison (GET /api/shadow). */
export interface ShadowView {
  /** The shadowed instruments; none when the daemon is not in shadow mode. */
  instruments: string[];
  /** The verdict's tolerance ([v4.shadow] max_rel_diff). */
  maxRelDiff: number;
  /** The newest pair's sequence number (ask again with since = seq). */
  seq: number;
  /** The comparison so far, as shadow.json (with its verdicts); null when not in shadow mode. */
  report: Record<string, unknown> | null;
  /** Per "instrument.channel", the pairs decided after `since`. */
  traces: Record<string, ShadowTraceView>;
}

export interface RunProgressView {
  item: QueueItem;
  uid?: string;
  state: string;
  done: number;
  total: number | null;
  etaS: number | null;
  positions: Record<string, number>;
}

export interface QueueView {
  /** idle: nothing runs; running: items are taken one after the other; stopping: ends after the current item. */
  state: 'idle' | 'running' | 'stopping';
  items: QueueItem[];
  current: RunProgressView | null;
}

export interface InstrumentView {
  id: string;
  subsystem: string;
  type: string;
  state: string;
  identity?: string;
  error?: { code: string; message: string };
  channels: { channel: string; unit: string }[];
  commands: string[];
  /** The serial port or VISA resource it talks through, and who holds it now. */
  port?: { kind: 'serial' | 'visa'; name: string; holder: string | null };
  /** V4's entry for an instrument V2 runs (shadow mode): the same id, its readings labelled v4-shadow. */
  shadow?: boolean;
  /** Cameras: frames taken, stored and lost. */
  frames?: { acquired: number; stored: number; dropped: number };
  /** Held by the running plan (as a motor) or by a command in flight that moves it. */
  busy?: string;
  /** Last readings seen on the live stream (filled in by the server worker). */
  last?: Record<string, { value: number; time: number }>;
}

/** A downscaled camera frame for the live view (pixels uint16, row-major). */
export interface PreviewMessage {
  camera: string;
  /** The size asked for (the preview's longer side is at most this): which clients get it. */
  maxSide: number;
  frameIndex: number;
  timestampNs: string;
  width: number;
  height: number;
  bitDepth: number;
  scale: number;
  min: number;
  max: number;
  mean: number;
  histogram: number[];
  pixels: Uint16Array;
}

export type RunAction = 'pause' | 'resume' | 'stop' | 'abort';

/** What the main thread answers. Each method is one request's worth of work. */
export interface DaemonApi {
  status(): Promise<Record<string, unknown>>;
  instruments(): Promise<InstrumentView[]>;
  command(instrument: string, command: string, args: unknown[]): Promise<ApiResult<unknown>>;
  queue(): Promise<QueueView>;
  queueAdd(plan: Record<string, unknown>): Promise<ApiResult<QueueItem>>;
  queueRemove(item: string): Promise<ApiResult<QueueItem>>;
  queueMove(item: string, to: number): Promise<ApiResult<QueueView>>;
  queueClear(): Promise<ApiResult<{ removed: number }>>;
  queueStart(): Promise<ApiResult<QueueView>>;
  queueStop(): Promise<ApiResult<QueueView>>;
  runControl(action: RunAction, arg?: string): Promise<ApiResult<RunProgressView>>;
  history(): Promise<HistoryEntry[]>;
  /** The directory (absolute) of a finished run, by its uid. */
  runDir(uid: string): Promise<ApiResult<{ dir: string; entry: HistoryEntry }>>;
  /** The shadow comparison so far, and the pairs decided after sequence number `since`. */
  shadow(since: number): Promise<ShadowView>;
  /** The previews wanted of a camera: each size some client asks for, at the fastest rate asked (none: []). */
  setPreviews(camera: string, demand: { maxSide: number; maxHz: number }[]): Promise<ApiResult<null>>;
}

/** What the main thread posts to the server worker, once per batch, document or preview. */
export type ServerEvent =
  | { type: 'measurements'; subsystem: string; items: readonly Measurement[] }
  /** A V4 Arrow IPC batch (SCALAR_SCHEMA); `shadow` names instruments whose V4 rows are shadow readings. */
  | { type: 'arrow'; subsystem: string; bytes: Uint8Array }
  | { type: 'document'; name: string; doc: unknown }
  | { type: 'preview'; preview: PreviewMessage }
  /** The queue or the running plan changed: status subscribers get a fresh status. */
  | { type: 'changed'; what: 'queue' | 'run' | 'instruments' };

/** What the server worker is started with (workerData), besides the two ports. */
export interface ServerWorkerOptions {
  host: string;
  port: number;
  /** Required on every request when set. */
  token?: string;
  /** The setup's name, for the page's title. */
  name: string;
  /** Instruments shadowed by V4 (their V4 rows are labelled v4-shadow on the stream). */
  shadowed: string[];
  /** Channels known at start, for the WebSocket hello. */
  channels: { key: string; instrument: string; channel: string; unit: string; subsystem: string }[];
  /** Cameras whose previews may be subscribed to. */
  cameras: string[];
  /** Per-client bytes waiting beyond which scalar batches are dropped for that client (counted). */
  maxClientBacklogBytes?: number;
  /** Largest request body accepted. */
  bodyLimit?: number;
}

/** Where the worker reports it listens, or why it could not. */
export type ServerReady =
  { type: 'listening'; url: string; host: string; port: number } | { type: 'failed'; message: string; code?: string };
