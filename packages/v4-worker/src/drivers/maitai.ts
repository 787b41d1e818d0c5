// V4 MaiTai driver: a Laser over the shared device client.

import { serialChannelFor, type MaiTaiConfig, type Reading } from '@daq/core';
import { MAITAI_CHANNELS, MAITAI_ANY_MAX_NM, MAITAI_ANY_MIN_NM, MaiTaiDevice } from '@daq/protocols';
import { laserCommands, type Laser } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class MaiTaiLaser extends V4Instrument<MaiTaiConfig> implements Laser {
  private readonly device = new MaiTaiDevice(serialChannelFor(this.config, this.context), this.id, this.config.timeout_ms);
  readonly commands = {
    // Any MaiTai model; the driver then checks the range this laser reports.
    ...laserCommands(this, MAITAI_ANY_MIN_NM, MAITAI_ANY_MAX_NM),
    emission: { params: [], description: 'true while the laser emits (status byte bit 0).', run: () => this.device.emission() },
  };

  initialize(): Promise<string> {
    return this.device.start(this.config.wavelength_nm);
  }

  channels() {
    return MAITAI_CHANNELS;
  }

  read(): Promise<Reading[]> {
    return this.device.readings();
  }

  wavelength(): Promise<number> {
    return this.device.wavelength();
  }

  setWavelength(nm: number): Promise<void> {
    return this.device.setWavelength(nm);
  }

  power(): Promise<number> {
    return this.device.power();
  }

  shutter(): Promise<boolean> {
    return this.device.shutter();
  }

  setShutter(open: boolean): Promise<boolean> {
    return this.device.setShutter(open);
  }
}
