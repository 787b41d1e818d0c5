// V4 MaiTai driver: a Laser over the shared device client.

import {
  MAITAI_CHANNELS,
  MAITAI_ANY_MAX_NM,
  MAITAI_ANY_MIN_NM,
  MaiTaiDevice,
  SerialChannel,
  type DriverContext,
  type MaiTaiConfig,
  type Reading,
} from '@daq/core';
import { laserCommands, type Laser } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class MaiTaiLaser extends V4Instrument<MaiTaiConfig> implements Laser {
  readonly pollHz: number;
  private readonly device: MaiTaiDevice;
  readonly commands;

  constructor(config: MaiTaiConfig, context: DriverContext) {
    super(config, context);
    this.pollHz = config.poll_hz;
    const channel = new SerialChannel(context.broker, config.serial_port, {
      instrument: config.id,
      timeoutMs: context.leaseTimeoutMs,
    });
    this.device = new MaiTaiDevice(channel, config.id, config.timeout_ms);
    this.commands = {
      // Any MaiTai model; the driver then checks the range this laser reports.
      ...laserCommands(this, MAITAI_ANY_MIN_NM, MAITAI_ANY_MAX_NM),
      emission: { params: [], description: 'true while the laser emits (status byte bit 0).', run: () => this.device.emission() },
    };
  }

  async initialize(): Promise<string> {
    const idn = await this.device.identify();
    const found = await this.device.describeState();
    if (this.config.wavelength_nm !== undefined) await this.device.setWavelength(this.config.wavelength_nm);
    return `${idn} (${found})`;
  }

  channels() {
    return MAITAI_CHANNELS;
  }

  async read(): Promise<Reading[]> {
    return [
      { channel: 'wavelength', value: await this.device.wavelength(), unit: 'nm' },
      { channel: 'power', value: await this.device.power(), unit: 'W' },
      { channel: 'shutter', value: Number(await this.device.shutter()), unit: '' },
    ];
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
