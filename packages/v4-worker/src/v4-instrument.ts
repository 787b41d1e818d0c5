// What every V4 driver shares: its identity in the config, its poll rate, and an axis check.

import {
  DaqError,
  type ChannelSpec,
  type CommandTable,
  type DriverContext,
  type HostedInstrument,
  type Reading,
  type V4InstrumentConfig,
} from '@daq/core';

export abstract class V4Instrument<C extends V4InstrumentConfig = V4InstrumentConfig> implements HostedInstrument {
  readonly id: string;
  readonly type: string;
  abstract readonly pollHz: number;
  abstract readonly commands: CommandTable;

  constructor(
    protected readonly config: C,
    protected readonly context: DriverContext,
  ) {
    this.id = config.id;
    this.type = config.type;
  }

  abstract initialize(): Promise<string>;
  abstract read(): Promise<Reading[]>;
  abstract channels(): ChannelSpec[];
  async shutdown(): Promise<void> {}

  /** The axis a motion call means: the first configured one by default; others are refused. */
  protected axisOf(axes: readonly number[], axis: number | undefined): number {
    const a = axis ?? axes[0]!;
    if (!axes.includes(a))
      throw new DaqError('DAQ_INVALID_ARGUMENT', `${this.id} has no axis ${a}; configured axes: ${axes.join(', ')}`, {
        instrument: this.id,
      });
    return a;
  }
}
