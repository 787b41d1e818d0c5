// The V2 subsystem: the legacy drivers on the shared host, emitting Measurement batches.

import { SubsystemHost, type BrokerApi, type InstrumentFactory, type PostToBroker } from '@daq/core';
import { loadV2Drivers, v2InstrumentFactory } from './driver-registry.js';
import { MeasurementSink } from './measurement-sink.js';

/** A V2 instrument, by the drivers this installation has (all four unless a retirement batch was removed). */
export const createV2Instrument: InstrumentFactory = v2InstrumentFactory(await loadV2Drivers());

export function createV2Subsystem(broker: BrokerApi, post: PostToBroker): SubsystemHost {
  return new SubsystemHost(
    'v2',
    broker,
    createV2Instrument,
    (init) => new MeasurementSink(post, init.batchRows, init.batchIntervalMs),
  );
}
