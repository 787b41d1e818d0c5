// V2 MaiTai driver: the legacy API over the shared device client.

import { serialChannelFor, type CommandTable, type MaiTaiConfig, type Reading } from '@daq/core';
import { MAITAI_CHANNELS, MAITAI_MAX_NM, MAITAI_MIN_NM, MaiTaiDevice } from '@daq/protocols';
import { LegacyInstrument } from '../legacy-instrument.js';
import type { V2Driver } from '../driver-registry.js';

export class MaiTaiV2 extends LegacyInstrument<MaiTaiConfig> {
  private readonly device = new MaiTaiDevice(serialChannelFor(this.config, this.context), this.id, this.config.timeout_ms);

  readonly commands: CommandTable = {
    setWavelength: {
      params: [{ name: 'nm', type: 'integer', min: MAITAI_MIN_NM, max: MAITAI_MAX_NM }],
      description: 'Commanded wavelength in nm; the laser tunes towards it over seconds.',
      run: async (nm: number) => this.device.setWavelength(nm),
    },
    setShutter: {
      params: [{ name: 'open', type: 'boolean' }],
      description: 'Opens (true) or closes (false) the shutter; returns the state read back.',
      run: async (open: boolean) => this.device.setShutter(open),
    },
    readWavelength: { params: [], description: 'Actual wavelength in nm.', run: async () => this.device.wavelength() },
    readPower: { params: [], description: 'Output power in W.', run: async () => this.device.power() },
  };

  connect(): Promise<string> {
    return this.device.start(this.config.wavelength_nm);
  }

  channels() {
    return MAITAI_CHANNELS;
  }

  readMeasurements(): Promise<Reading[]> {
    return this.device.readings();
  }
}

/** This driver for the V2 worker, which loads it as @daq/v2-worker/drivers/maitai when the file is present. */
export const v2Driver: V2Driver = { type: 'MaiTai', create: (config, context) => new MaiTaiV2(config as MaiTaiConfig, context) };
