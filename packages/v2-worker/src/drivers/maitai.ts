// V2 MaiTai driver: the legacy API over the shared device client.

import {
  MAITAI_CHANNELS,
  MAITAI_MAX_NM,
  MAITAI_MIN_NM,
  MaiTaiDevice,
  SerialChannel,
  type CommandTable,
  type DriverContext,
  type MaiTaiConfig,
  type Reading,
} from '@daq/core';
import { LegacyInstrument } from '../legacy-instrument.js';

export class MaiTaiV2 extends LegacyInstrument<MaiTaiConfig> {
  private readonly device: MaiTaiDevice;

  constructor(config: MaiTaiConfig, context: DriverContext) {
    super(config, context);
    const channel = new SerialChannel(context.broker, config.serial_port, {
      instrument: config.id,
      timeoutMs: context.leaseTimeoutMs,
    });
    this.device = new MaiTaiDevice(channel, config.id, config.timeout_ms);
  }

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

  async connect(): Promise<string> {
    const idn = await this.device.identify();
    const found = await this.device.describeState();
    if (this.config.wavelength_nm !== undefined) await this.device.setWavelength(this.config.wavelength_nm);
    return `${idn} (${found})`;
  }

  channels() {
    return MAITAI_CHANNELS;
  }

  async readMeasurements(): Promise<Reading[]> {
    return [
      { channel: 'wavelength', value: await this.device.wavelength(), unit: 'nm' },
      { channel: 'power', value: await this.device.power(), unit: 'W' },
      { channel: 'shutter', value: Number(await this.device.shutter()), unit: '' },
    ];
  }
}
