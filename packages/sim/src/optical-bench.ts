// A simulated optical bench: the simulators connected as on a real table, so an experiment run
// in simulate mode has physics to find. A Newport 1830-C's `sim.light` table names the MaiTai
// whose beam reaches its head and the Elliptec rotation mount holding a polarizer in that beam:
//
//   P = P_source(t) · transmission · cos²(θ(t) − axis) + P_leak,  times (1 + noise · z)
//
// P_source is the laser's beam (its output power at its actual wavelength while it emits with
// the shutter open, else zero) or a constant `source_w`; θ the angle the mount reports at t, also
// mid-move (Malus's law for an ideal linear polarizer in a linearly polarised beam: the MaiTai's
// output is linearly polarised); P_leak stray light and background, which stay when the shutter
// closes; z a standard Gaussian draw from a seeded generator (repeatable readings). The meter
// turns P into its reading in its own units, range and head (over-range and saturation included).
//
// The simulators stay independent: each exposes what a neighbour on the table could see
// (MaiTaiSimulator.beamPowerW, ElliptecDevice.angleDegAt) and the meter takes a function
// (Newport1830CSimulator.opticalPower); this module and simulator-set.ts join them by the ids in
// the configuration.

import {
  DaqError,
  didYouMean,
  mulberry32,
  type DaqConfig,
  type ElliptecConfig,
  type InstrumentConfig,
  type MaiTaiConfig,
  type Newport1830CConfig,
  type SimLightConfig,
} from '@daq/core';

export interface OpticalPathOptions {
  /** Power of the source at time `at` (performance.now() time), in W. */
  source: (at: number) => number;
  /** Angle of the polarizer's mount at `at`, in degrees; unset: no polarizer in the beam. */
  angleDeg?: (at: number) => number;
  /** The polarizer's transmission axis, degrees of the mount's angle (default 0). */
  axisDeg?: number;
  /** Fraction of the source reaching the detector with the polarizer aligned (default 1). */
  transmission?: number;
  /** Stray light reaching the detector whatever the source and polarizer do, W (default 0). */
  leakW?: number;
  /** Relative standard deviation of the Gaussian noise on each sample (default 0). */
  noise?: number;
  /** Seed of the noise (default 1). */
  seed?: number;
}

/** Malus's law: the fraction of linearly polarised light an ideal polarizer at `angleDeg` passes. */
export function malus(angleDeg: number, axisDeg: number): number {
  return Math.cos(((angleDeg - axisDeg) * Math.PI) / 180) ** 2;
}

/** Standard Gaussian draws (Box-Muller) from a uniform [0, 1) generator. */
export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** The power in W reaching the detector at time `at`: one fresh noise draw per call. */
export function opticalPath(options: OpticalPathOptions): (at: number) => number {
  const { source, angleDeg, axisDeg = 0, transmission = 1, leakW = 0, noise = 0 } = options;
  const z = gaussian(mulberry32(options.seed ?? 1));
  return (at) => {
    const polarizer = angleDeg ? malus(angleDeg(at), axisDeg) : 1;
    const p = source(at) * transmission * polarizer + leakW;
    return noise > 0 ? p * (1 + noise * z()) : p;
  };
}

/** One meter on a bench, with the instruments its `sim.light` names (checked). */
export interface BenchPlan {
  meter: Newport1830CConfig;
  light: SimLightConfig;
  /** The noise seed: light.seed, else the meter's sim.seed. */
  seed: number;
  laser?: MaiTaiConfig;
  polarizer?: ElliptecConfig;
}

function ofType<T extends InstrumentConfig['type']>(
  config: DaqConfig,
  simulated: readonly InstrumentConfig[],
  meter: Newport1830CConfig,
  key: 'laser' | 'polarizer',
  id: string,
  type: T,
  what: string,
): Extract<InstrumentConfig, { type: T }> {
  const where = `${meter.id}: sim.light.${key} = "${id}"`;
  const candidates = simulated.filter((i) => i.type === type).map((i) => i.id);
  const choices = candidates.length
    ? `(${type} instruments configured: ${candidates.join(', ')})`
    : `(no ${type} is configured in an enabled subsystem)`;
  const found = simulated.find((i) => i.id === id);
  if (!found) {
    const elsewhere = (['v2', 'v4'] as const).find(
      (s) => !config[s].enabled && (config[s].instruments as InstrumentConfig[]).some((i) => i.id === id),
    );
    throw new DaqError(
      'DAQ_CONFIG',
      elsewhere
        ? `${where} is in [${elsewhere}], which is disabled, so it has no simulator: name ${what} of an enabled subsystem ${choices}`
        : `${where} names no instrument${didYouMean(id, candidates)}: it must be the id of ${what} ${choices}`,
      { instrument: meter.id },
    );
  }
  if (found.type !== type)
    throw new DaqError('DAQ_CONFIG', `${where} is an instrument of type ${found.type}: it must be the id of ${what} ${choices}`, {
      instrument: meter.id,
    });
  return found as Extract<InstrumentConfig, { type: T }>;
}

/**
 * The benches of a configuration: every simulated Newport1830C with `sim.light` (one per serial
 * line: a meter configured in V2 and V4 is one meter, the first light table counts), its laser
 * and polarizer checked to exist among the simulated instruments with the right types.
 */
export function planBenches(config: DaqConfig, simulated: readonly InstrumentConfig[]): BenchPlan[] {
  const plans: BenchPlan[] = [];
  const ports = new Set<string>();
  for (const meter of simulated) {
    if (meter.type !== 'Newport1830C' || !meter.sim?.light || ports.has(meter.serial_port)) continue;
    ports.add(meter.serial_port);
    const light = meter.sim.light;
    plans.push({
      meter,
      light,
      seed: light.seed ?? meter.sim.seed ?? 1,
      laser:
        light.laser === undefined
          ? undefined
          : ofType(config, simulated, meter, 'laser', light.laser, 'MaiTai', 'a MaiTai laser'),
      polarizer:
        light.polarizer === undefined
          ? undefined
          : ofType(config, simulated, meter, 'polarizer', light.polarizer, 'Elliptec', 'an Elliptec rotation mount'),
    });
  }
  return plans;
}
