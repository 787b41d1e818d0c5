// The V2 instrument API, kept exactly as the legacy subsystem has it: connect() reads the
// identity, readMeasurements() returns scalar readings, commands are named methods, and
// disconnect() leaves the device safe. V4 drivers never change this API (no breaking change
// to V2); the host adapts it.

import { InstrumentDriver, type Reading, type V2InstrumentConfig } from '@daq/core';

export abstract class LegacyInstrument<C extends V2InstrumentConfig = V2InstrumentConfig> extends InstrumentDriver<C> {
  /** Opens the conversation; returns the identity the device reports. */
  abstract connect(): Promise<string>;
  /** The readings of one poll; channels() names them (known after connect()). */
  abstract readMeasurements(): Promise<Reading[]>;
  /** Default: nothing to undo. */
  async disconnect(): Promise<void> {}

  initialize(): Promise<string> {
    return this.connect();
  }

  read(): Promise<Reading[]> {
    return this.readMeasurements();
  }

  override shutdown(): Promise<void> {
    return this.disconnect();
  }
}
