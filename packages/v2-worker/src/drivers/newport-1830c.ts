// V2 Newport 1830-C driver: the legacy API over the shared device client.

import { serialChannelFor, type CommandTable, type Newport1830CConfig, type Reading } from '@daq/core';
import { Newport1830CDevice } from '@daq/protocols';
import { LegacyInstrument } from '../legacy-instrument.js';
import type { V2Driver } from '../driver-registry.js';

export class Newport1830CV2 extends LegacyInstrument<Newport1830CConfig> {
  private readonly device = new Newport1830CDevice(serialChannelFor(this.config, this.context), this.id, this.config.timeout_ms);

  readonly commands: CommandTable = {
    readPower: { params: [], description: 'One power reading in W.', run: async () => this.device.power() },
    setWavelength: {
      params: [{ name: 'nm', type: 'integer', min: 300, max: 1100 }],
      description: 'Calibration wavelength in nm.',
      run: async (nm: number) => this.device.setWavelength(nm),
    },
    getWavelength: { params: [], description: 'Calibration wavelength in nm.', run: async () => this.device.wavelength() },
  };

  async connect(): Promise<string> {
    const nm = await this.device.setup(this.config);
    return `Newport 1830-C at ${this.config.serial_port}, wavelength ${nm} nm, units W (${this.device.describeFound()})`;
  }

  channels() {
    return [{ channel: 'power', unit: 'W' }];
  }

  async readMeasurements(): Promise<Reading[]> {
    return [{ channel: 'power', value: await this.device.power(), unit: 'W' }];
  }

  /** Readings for which the meter was found in other units than W and set back to W. */
  corrections(): Record<string, number> {
    return { 'units-restored': this.device.unitsRestored };
  }
}

/** This driver for the V2 worker, which loads it as @daq/v2-worker/drivers/newport-1830c when the file is present. */
export const v2Driver: V2Driver = {
  type: 'Newport1830C',
  create: (config, context) => new Newport1830CV2(config as Newport1830CConfig, context),
};
