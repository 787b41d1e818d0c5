// The V2 instrument API, kept exactly as the legacy subsystem has it: connect() reads the
// identity, readMeasurements() returns scalar readings, commands are named methods, and
// disconnect() leaves the device safe. V4 drivers never change this API ("zero breaking
// changes to V2"); the host adapts it.

import {
  type ChannelSpec,
  type CommandTable,
  type DriverContext,
  type HostedInstrument,
  type Reading,
  type V2InstrumentConfig,
} from '@daq/core';

export abstract class LegacyInstrument<C extends V2InstrumentConfig = V2InstrumentConfig> implements HostedInstrument {
  readonly id: string;
  readonly type: string;
  readonly pollHz: number;
  abstract readonly commands: CommandTable;

  constructor(
    protected readonly config: C,
    protected readonly context: DriverContext,
  ) {
    this.id = config.id;
    this.type = config.type;
    this.pollHz = config.poll_hz;
  }

  /** Opens the conversation; returns the identity the device reports. */
  abstract connect(): Promise<string>;
  abstract readMeasurements(): Promise<Reading[]>;
  /** The channels readMeasurements() returns (known after connect()). */
  abstract channels(): ChannelSpec[];
  /** Default: nothing to undo. */
  async disconnect(): Promise<void> {}

  initialize(): Promise<string> {
    return this.connect();
  }

  read(): Promise<Reading[]> {
    return this.readMeasurements();
  }

  shutdown(): Promise<void> {
    return this.disconnect();
  }
}
