// Which V2 drivers this installation has. Each V2 type's driver is a module of its own
// (src/drivers/<module>.ts, exported as @daq/v2-worker/drivers/<module>; core's
// V2_DRIVER_MODULES names them) that exports `v2Driver`. Nothing imports a driver module
// statically on the way to the V2 worker: it loads the modules present, so removing a retirement
// batch's driver files (docs/migration.md#deprecation-batches) leaves V2 working for the other types.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DaqError,
  V2_DRIVER_MODULES,
  batchGuideLink,
  retirementBatchOf,
  type DriverContext,
  type HostedInstrument,
  type InstrumentConfig,
  type InstrumentFactory,
} from '@daq/core';

/** What a driver module exports as `v2Driver`. */
export interface V2Driver {
  type: string;
  create(config: InstrumentConfig, context: DriverContext): HostedInstrument;
}

/** The specifier of a V2 type's driver module. */
export function v2DriverSpecifier(type: string): string | undefined {
  const module = V2_DRIVER_MODULES[type];
  return module === undefined ? undefined : `@daq/v2-worker/drivers/${module}`;
}

/** Imports the driver module of every V2 type whose file is present (a removed one is skipped). */
export async function loadV2Drivers(): Promise<V2Driver[]> {
  const drivers: V2Driver[] = [];
  for (const type of Object.keys(V2_DRIVER_MODULES)) {
    const specifier = v2DriverSpecifier(type)!;
    if (!existsSync(fileURLToPath(import.meta.resolve(specifier)))) continue;
    const { v2Driver } = (await import(specifier)) as { v2Driver?: V2Driver };
    if (v2Driver?.type !== type)
      throw new DaqError('DAQ_WORKER', `${specifier} does not export the V2 driver of ${type} as v2Driver`, { subsystem: 'v2' });
    drivers.push(v2Driver);
  }
  return drivers;
}

/** An instrument factory over the given drivers; a V2 type whose driver is absent says so. */
export function v2InstrumentFactory(drivers: readonly V2Driver[]): InstrumentFactory {
  const byType = new Map(drivers.map((d) => [d.type, d]));
  return (config, context) => {
    const driver = byType.get(config.type);
    if (driver) return driver.create(config, context);
    const batch = retirementBatchOf(config.type);
    const message =
      config.type in V2_DRIVER_MODULES
        ? `this installation's V2 has no ${config.type} driver${batch ? ` (removed with batch ${batch.batch}, ${batchGuideLink(batch.batch)})` : ''} (instrument ${config.id}); migrate it to V4 with daq migrate`
        : `V2 has no driver for ${config.type} (instrument ${config.id}); configure it under [v4]`;
    throw new DaqError('DAQ_CONFIG', message, { instrument: config.id });
  };
}
