// V4 Newport 1830-C driver: a PowerMeter over the shared device client.

import { serialChannelFor, type Newport1830CConfig, type Reading } from '@daq/core';
import { Newport1830CDevice } from '@daq/protocols';
import { powerMeterCommands, type PowerMeter } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class Newport1830CMeter extends V4Instrument<Newport1830CConfig> implements PowerMeter {
  private readonly device = new Newport1830CDevice(serialChannelFor(this.config, this.context), this.id, this.config.timeout_ms);
  readonly commands = {
    ...powerMeterCommands(this),
    setAttenuator: {
      params: [{ name: 'on', type: 'boolean' as const }],
      description: 'Attenuator on or off.',
      run: (on: boolean) => this.device.setAttenuator(on),
    },
  };

  async initialize(): Promise<string> {
    const nm = await this.device.setup(this.config);
    return `Newport 1830-C at ${this.config.serial_port}, ${nm} nm, units W (${this.device.describeFound()})`;
  }

  channels() {
    return [{ channel: 'power', unit: 'W' }];
  }

  async read(): Promise<Reading[]> {
    return [{ channel: 'power', value: await this.device.power(), unit: 'W' }];
  }

  power(): Promise<number> {
    return this.device.power();
  }

  wavelength(): Promise<number> {
    return this.device.wavelength();
  }

  setWavelength(nm: number): Promise<void> {
    return this.device.setWavelength(nm);
  }

  /** Readings for which the meter was found in other units than W and set back to W. */
  corrections(): Record<string, number> {
    return { 'units-restored': this.device.unitsRestored };
  }
}
