// What a subsystem host needs from a driver, whatever its API generation: start-up with an
// identity read, one poll producing readings, named commands, and an orderly shutdown.

import type { CommandTable } from './command-table.js';
import type { OutputCounts } from './subsystem-api.js';

/**
 * Why a reading has no value: the instrument reported an overload (SCPI 9.9E37, or -9.9E37)
 * or "not a number" (SCPI 9.91E37). Such readings are stored with a null value and the flag,
 * and counted per instrument; they are never stored as numbers.
 */
export type ReadingFlag = 'overload' | 'not-a-number';

/** One reading of one channel; the host stamps it with the shared clock. */
export interface Reading {
  channel: string;
  /** NaN when `flag` is set: the instrument gave no number (stored as null). */
  value: number;
  unit: string;
  /** Set when the instrument answered with a sentinel instead of a value (SCPI 9.9E37 overload, 9.91E37 not a number). */
  flag?: ReadingFlag;
  /** Set by drivers that know when the instrument took the reading; else the host stamps it on arrival. */
  timestampNs?: bigint;
}

export interface ChannelSpec {
  channel: string;
  unit: string;
}

export interface HostedInstrument {
  readonly id: string;
  readonly type: string;
  /** Readings per second; 0: never polled. */
  readonly pollHz: number;
  /** Opens the conversation and reads the identity (Elliptec `in`, `*IDN?`, ...); returns it for status. */
  initialize(): Promise<string>;
  read(): Promise<Reading[]>;
  /** The channels read() produces, known once initialize() has run; storage declares them up front. */
  channels(): ChannelSpec[];
  readonly commands: CommandTable;
  /** Leaves the instrument in a safe state; called once, after polling and commands have stopped. */
  shutdown(): Promise<void>;
  /**
   * What the driver found wrong on the device and put right during the run, counted by kind
   * (e.g. `units-restored`: a meter switched away from W on its front panel, set back). Shown
   * in status, run.json and the run summary so a correction is never silent.
   */
  corrections?(): Record<string, number>;
}

/** Where a host sends readings: the subsystem's own data format (V2 Measurements, V4 Arrow). */
export interface ReadingSink {
  accept(instrument: string, readings: readonly Reading[], stampNs: bigint): void;
  /** Sends whatever is buffered. */
  flush(): void;
  /** Rows accepted, handed on (posted or written to the ring) and dropped so far. */
  counts(): OutputCounts;
}
