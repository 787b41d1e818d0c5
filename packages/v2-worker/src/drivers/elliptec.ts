// V2 Elliptec driver: the legacy API (connect, readMeasurements, named commands) over one
// device on a shared RS-485 bus.

import { serialChannelFor, type CommandTable, type ElliptecConfig, type Reading } from '@daq/core';
import { ElliptecDevice } from '@daq/protocols';
import { LegacyInstrument } from '../legacy-instrument.js';
import type { V2Driver } from '../driver-registry.js';

export class ElliptecV2 extends LegacyInstrument<ElliptecConfig> {
  private readonly device = new ElliptecDevice(serialChannelFor(this.config, this.context), this.config.address, this.id, {
    replyTimeoutMs: this.config.timeout_ms,
    moveTimeoutMs: this.config.move_timeout_ms,
  });

  readonly commands: CommandTable = {
    moveAbs: {
      params: [{ name: 'position', type: 'number' }],
      description: 'Move to an absolute position (degrees or mm); returns the position reached.',
      run: async (position: number) => this.device.move('absolute', position),
    },
    moveRel: {
      params: [{ name: 'distance', type: 'number' }],
      description: 'Move by a distance (degrees or mm); returns the position reached.',
      run: async (distance: number) => this.device.move('relative', distance),
    },
    home: { params: [], description: 'Home the device; returns the position reached.', run: async () => this.device.home() },
    getPosition: { params: [], description: 'Current position.', run: async () => this.device.position() },
    getStatus: { params: [], description: 'Status code and its meaning.', run: async () => this.device.status() },
  };

  async connect(): Promise<string> {
    await this.device.identify();
    return this.device.describe();
  }

  channels() {
    return [{ channel: 'position', unit: this.device.identity.unit }];
  }

  async readMeasurements(): Promise<Reading[]> {
    return [{ channel: 'position', value: await this.device.position(), unit: this.device.identity.unit }];
  }
}

/** This driver for the V2 worker, which loads it as @daq/v2-worker/drivers/elliptec when the file is present. */
export const v2Driver: V2Driver = {
  type: 'Elliptec',
  create: (config, context) => new ElliptecV2(config as ElliptecConfig, context),
};
