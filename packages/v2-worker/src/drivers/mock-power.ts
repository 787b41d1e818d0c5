// V2 MockPower: a power meter without hardware, for trying the runtime out. Readings are the
// configured mean with Gaussian noise from a seeded generator, so runs are repeatable.

import { mulberry32, type CommandTable, type DriverContext, type MockPowerConfig, type Reading } from '@daq/core';
import { LegacyInstrument } from '../legacy-instrument.js';
import type { V2Driver } from '../driver-registry.js';

export class MockPowerV2 extends LegacyInstrument<MockPowerConfig> {
  private readonly uniform: () => number;
  private mean: number;

  constructor(config: MockPowerConfig, context: DriverContext) {
    super(config, context);
    this.mean = config.power_w;
    this.uniform = mulberry32([...config.id].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
  }

  readonly commands: CommandTable = {
    readPower: { params: [], description: 'One reading in W.', run: async () => this.sample() },
    setPower: {
      params: [{ name: 'watts', type: 'number', min: 0 }],
      description: 'Changes the mean reading (for trying things out).',
      run: async (watts: number) => {
        this.mean = watts;
      },
    },
  };

  private sample(): number {
    // Box-Muller.
    const z = Math.sqrt(-2 * Math.log(1 - this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
    return this.mean * (1 + this.config.noise * z);
  }

  async connect(): Promise<string> {
    return `MockPower (simulated, ${this.mean} W ± ${this.config.noise * 100}%)`;
  }

  channels() {
    return [{ channel: 'power', unit: 'W' }];
  }

  async readMeasurements(): Promise<Reading[]> {
    return [{ channel: 'power', value: this.sample(), unit: 'W' }];
  }
}

/** This driver for the V2 worker, which loads it as @daq/v2-worker/drivers/mock-power when the file is present. */
export const v2Driver: V2Driver = {
  type: 'MockPower',
  create: (config, context) => new MockPowerV2(config as MockPowerConfig, context),
};
