// The V2 subsystem: the legacy drivers on the shared host, emitting Measurement batches.

import { DaqError, SubsystemHost, type BrokerApi, type InstrumentFactory, type PostToBroker } from '@daq/core';
import { ElliptecV2 } from './drivers/elliptec.js';
import { MaiTaiV2 } from './drivers/maitai.js';
import { MockPowerV2 } from './drivers/mock-power.js';
import { Newport1830CV2 } from './drivers/newport-1830c.js';
import { MeasurementSink } from './measurement-sink.js';

export const createV2Instrument: InstrumentFactory = (config, context) => {
  switch (config.type) {
    case 'Elliptec':
      return new ElliptecV2(config, context);
    case 'Newport1830C':
      return new Newport1830CV2(config, context);
    case 'MaiTai':
      return new MaiTaiV2(config, context);
    case 'MockPower':
      return new MockPowerV2(config, context);
    default:
      throw new DaqError('DAQ_CONFIG', `V2 has no driver for ${config.type} (instrument ${config.id}); configure it under [v4]`, {
        instrument: config.id,
      });
  }
};

export function createV2Subsystem(broker: BrokerApi, post: PostToBroker): SubsystemHost {
  return new SubsystemHost(
    'v2',
    broker,
    createV2Instrument,
    (init) => new MeasurementSink(post, init.batchRows, init.batchIntervalMs),
  );
}
