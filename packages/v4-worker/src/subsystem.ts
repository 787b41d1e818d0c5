// The V4 subsystem: trait drivers on the shared host, emitting Arrow record batches.
// Cameras do not run here: each gets a camera worker of its own (camera/camera-worker.ts),
// whose frames come through core's FrameSource.

import { DaqError, SubsystemHost, type BrokerApi, type InstrumentFactory, type PostToBroker } from '@daq/core';
import { ElliptecMotion } from './drivers/elliptec.js';
import { Esp300Motion } from './drivers/esp300.js';
import { MaiTaiLaser } from './drivers/maitai.js';
import { Newport1830CMeter } from './drivers/newport-1830c.js';
import { ScpiDevice } from './drivers/scpi.js';
import { ArrowSink } from './arrow-sink.js';

export const createV4Instrument: InstrumentFactory = (config, context) => {
  switch (config.type) {
    case 'Elliptec':
      return new ElliptecMotion(config, context);
    case 'Newport1830C':
      return new Newport1830CMeter(config, context);
    case 'MaiTai':
      return new MaiTaiLaser(config, context);
    case 'ESP300':
      return new Esp300Motion(config, context);
    case 'ScpiInstrument':
      return new ScpiDevice(config, context);
    default:
      throw new DaqError(
        'DAQ_CONFIG',
        `the V4 worker has no driver for ${config.type} (instrument ${config.id})${config.type === 'PVCAMInstrument' ? '; cameras run in camera workers' : ''}`,
        { instrument: config.id },
      );
  }
};

export function createV4Subsystem(broker: BrokerApi, post: PostToBroker): SubsystemHost {
  return new SubsystemHost(
    'v4',
    broker,
    createV4Instrument,
    (init) => new ArrowSink(post, init.batchRows, init.batchIntervalMs, init.ring),
  );
}
