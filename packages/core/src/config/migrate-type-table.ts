// The V2 -> V4 type table: per type, its report label, field renames, what to check after
// migrating and why unset fields are fine; plus the look-ups built on it (field map, guide link).

import { DaqError } from '../errors.js';
import { instrumentTypeSpec } from './instrument-types.js';

/** How one V2 type becomes its V4 type; from comparing packages/v2-worker and v4-worker drivers. */
export interface TypeMigration {
  /** Report label: "serial adapter", "power meter", "laser". */
  kind: string;
  compatibility: string;
  /** V2 field → V4 field where the names differ (none today; every other field keeps its name). */
  renames: Readonly<Record<string, string>>;
  /** What to check after migrating: the behavioural differences of the two drivers. */
  check: string;
  /** Why leaving an optional field without default unset is fine, per field. */
  notSet: Readonly<Record<string, string>>;
}

export const TYPE_MIGRATIONS: Readonly<Record<string, TypeMigration>> = {
  Elliptec: {
    kind: 'serial adapter',
    compatibility: 'fully compatible',
    renames: {},
    check:
      'same channel (position, in the unit the device reports). Commands: getPosition is now position, getStatus is gone; new: waitSettled, limits, stop; an absolute move beyond a linear stage travel is refused before anything is sent.',
    notSet: {},
  },
  Newport1830C: {
    kind: 'power meter',
    compatibility: 'fully compatible',
    renames: {},
    check: 'same channel (power, W). Commands: readPower is now power, getWavelength is now wavelength; new: setAttenuator.',
    notSet: {
      wavelength_nm: 'the meter is left as it is',
      filter: 'the meter keeps its filter',
      attenuator: 'the attenuator is left as it is',
    },
  },
  MaiTai: {
    kind: 'laser',
    compatibility: 'fully compatible',
    renames: {},
    check:
      'same channels (wavelength nm, power W, shutter). Commands: readWavelength is now wavelength, readPower is now power; new: shutter, emission.',
    notSet: { wavelength_nm: 'the laser is left as it is' },
  },
};

export const NOT_SET_ANY: Readonly<Record<string, string>> = { sim: 'no simulator faults (used with simulate = true only)' };

/** Section of docs/migration.md for a type (headings are the type names). */
export function migrationGuideLink(type: string): string {
  return `docs/migration.md#${type.toLowerCase()}`;
}

/** The migration rules of a type, if it has both a V2 and a V4 driver (a test keeps the table complete). */
export function typeMigration(type: string): TypeMigration | undefined {
  if (!instrumentTypeSpec('v2', type) || !instrumentTypeSpec('v4', type)) return undefined;
  return TYPE_MIGRATIONS[type];
}

/** The V2 → V4 field names of a type that has both drivers; throws if a target is not a V4 field. */
export function migrationFieldMap(type: string): Record<string, string> {
  const rules = typeMigration(type);
  if (!rules) throw new DaqError('DAQ_INVALID_ARGUMENT', `${type} has no V4 driver to migrate to`, {});
  const v4 = instrumentTypeSpec('v4', type)!;
  const map: Record<string, string> = { id: 'id', type: 'type' };
  for (const field of Object.keys(instrumentTypeSpec('v2', type)!.fields)) {
    const target = rules.renames[field] ?? field;
    if (!(target in v4.fields))
      throw new DaqError('DAQ_CONFIG', `the migration table maps ${type}.${field} to ${target}, which V4 does not have`, {});
    map[field] = target;
  }
  return map;
}

/**
 * Retiring V2: the V2 types that have a V4 driver are deprecated, and later removed from V2, in
 * batches (issue 17's roadmap). A type is in at most one batch; a V2 type without a V4 driver
 * (MockPower, simulation only) is in none: it is part of the V2 package and goes when V2 goes.
 * A test keeps this table consistent with the drivers and TYPE_MIGRATIONS; docs/migration.md has
 * a section per batch (`#batch-N`) with its removal procedure.
 */
export interface RetirementBatch {
  batch: number;
  /** What the batch holds, in words: "Newport 1830-C and Elliptec". */
  title: string;
  /** The V2 instrument types it deprecates (each has a V4 driver). */
  types: readonly string[];
  /** Set by the removal procedure once the batch's V2 driver files are deleted from this repository. */
  removed?: boolean;
}

export const RETIREMENT_BATCHES: readonly RetirementBatch[] = [
  { batch: 1, title: 'Newport 1830-C and Elliptec', types: ['Newport1830C', 'Elliptec'] },
  { batch: 2, title: 'MaiTai', types: ['MaiTai'] },
];

/**
 * The module of each V2 type's driver: packages/v2-worker/src/drivers/<module>.ts, exported by
 * the V2 package as `@daq/v2-worker/drivers/<module>`. The V2 worker loads the modules that are
 * present and the broker checks which are, so removing a batch's files leaves a working V2 for
 * the other types.
 */
export const V2_DRIVER_MODULES: Readonly<Record<string, string>> = {
  Elliptec: 'elliptec',
  Newport1830C: 'newport-1830c',
  MaiTai: 'maitai',
  MockPower: 'mock-power',
};

/** The batch that deprecates a V2 type, if any. */
export function retirementBatchOf(type: string): RetirementBatch | undefined {
  return RETIREMENT_BATCHES.find((b) => b.types.includes(type));
}

/** Section of docs/migration.md for a batch: its removal procedure. */
export function batchGuideLink(batch: number): string {
  return `docs/migration.md#batch-${batch}`;
}
