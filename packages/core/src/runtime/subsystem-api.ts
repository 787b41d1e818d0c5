// The control interface between the DualRuntimeManager (main thread) and a subsystem worker
// (V2 or V4), carried by Comlink on a channel of its own. Data does not travel here: V2
// posts Measurement batches and V4 Arrow batches on the worker's parentPort.

import type { InstrumentConfig } from '../config/types.js';

export type InstrumentState = 'created' | 'initialising' | 'ready' | 'polling' | 'failing' | 'failed' | 'stopped';
export type SubsystemState = 'created' | 'initialising' | 'ready' | 'running' | 'stopping' | 'stopped';

export interface InstrumentStatus {
  id: string;
  type: string;
  state: InstrumentState;
  pollHz: number;
  /** What the instrument said about itself at start-up. */
  identity?: string;
  /** The last error (init, poll or command), with its code. */
  error?: { code: string; message: string };
  polls: number;
  pollErrors: number;
  /** Polls that started late because the previous one overran its period. */
  overruns: number;
  /** Seconds the instrument has been polled (0 before polling starts; stops growing when polling stops). */
  pollingS: number;
  /**
   * Polls its poll_hz asked for in `pollingS` that did not happen, because polls took longer than
   * the period (the worker, the line or the instrument could not keep up): ⌊pollingS × pollHz⌋ − polls, at least 0.
   */
  missedPolls: number;
  /**
   * Polls per second achieved: (polls − 1) over the time from the first poll's start to the last
   * one's, or over `pollingS` less one period when that is longer (a poll that hangs); 0 before two polls.
   */
  achievedHz: number;
  readings: number;
  commands: number;
  commandErrors: number;
  /** Polls and commands waiting or running for this instrument. */
  queue: number;
  /** Command names the instrument accepts. */
  accepts: string[];
  /** What read() produces (after initialisation). */
  channels: { channel: string; unit: string }[];
  /** What the driver put right on the device, by kind (HostedInstrument.corrections); absent when nothing. */
  corrections?: Record<string, number>;
}

export interface OutputCounts {
  /** Readings accepted from drivers. */
  accepted: number;
  /** Readings posted to the broker. */
  delivered: number;
  batches: number;
  /** Readings (and their batches) dropped by the output ring's policy; counted, never silent. */
  dropped: number;
  droppedBatches: number;
}

export interface SubsystemStatus {
  name: string;
  state: SubsystemState;
  instruments: InstrumentStatus[];
  output: OutputCounts;
}

export interface SubsystemInit {
  instruments: InstrumentConfig[];
  /** From the broker's clock, so every thread stamps on one time base. */
  epochOffsetNs: bigint;
  leaseTimeoutMs: number;
  /** V4: cut an Arrow batch at this many rows ... */
  batchRows: number;
  /** ... or when the oldest buffered row is this old (V2 uses it for its measurement batches too). */
  batchIntervalMs: number;
  /** V4: the SharedArrayBuffer ring its batches go to (else they are posted). */
  ring?: { sab: SharedArrayBuffer; policy: 'block' | 'drop-newest' | 'drop-oldest'; blockTimeoutMs: number };
}

export interface ShutdownReport {
  instruments: { id: string; ok: boolean; error?: string }[];
  /** Commands that were still queued or running when shutdown began and how they ended. */
  commandsFinished: number;
  commandsFailed: number;
  output: OutputCounts;
}

export interface SubsystemApi {
  /** Builds the drivers and initialises every instrument (identity read); failures are per instrument. */
  init(init: SubsystemInit): Promise<InstrumentStatus[]>;
  startPolling(): Promise<void>;
  stopPolling(): Promise<void>;
  /** Runs a named command of one instrument, e.g. ("elliptec1", "moveAbs", [45]). */
  command(instrument: string, method: string, args: unknown[]): Promise<unknown>;
  status(): Promise<SubsystemStatus>;
  /** Stops polling, lets queued commands finish, shuts the drivers down, flushes the output. */
  shutdown(): Promise<ShutdownReport>;
  /** Heartbeat: answers with the worker's hrtime, proving its event loop turns. */
  ping(): Promise<bigint>;
}
