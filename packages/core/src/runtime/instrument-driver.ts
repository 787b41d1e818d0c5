// What every driver shares, V2 and V4 alike: the instrument's config and the host's context,
// and the identity (id, type) and poll rate the host reads from them. The V2 legacy API
// (LegacyInstrument) and the V4 traits (V4Instrument) are built on top of it.

import type { InstrumentConfig } from '../config/types.js';
import type { CommandTable } from './command-table.js';
import type { ChannelSpec, HostedInstrument, Reading } from './instrument.js';
import type { DriverContext } from './subsystem-host.js';

/** The configured poll rate; 0 (never polled) for an instrument configured without one. */
function configuredPollHz(config: InstrumentConfig): number {
  return 'poll_hz' in config ? config.poll_hz : 0;
}

export abstract class InstrumentDriver<C extends InstrumentConfig = InstrumentConfig> implements HostedInstrument {
  readonly id: string;
  readonly type: string;
  abstract readonly commands: CommandTable;

  /** `pollHz`: the configured poll_hz unless the driver knows better (e.g. nothing to poll). */
  constructor(
    protected readonly config: C,
    protected readonly context: DriverContext,
    readonly pollHz: number = configuredPollHz(config),
  ) {
    this.id = config.id;
    this.type = config.type;
  }

  abstract initialize(): Promise<string>;
  abstract read(): Promise<Reading[]>;
  abstract channels(): ChannelSpec[];
  /** Default: nothing to undo. */
  async shutdown(): Promise<void> {}
}
