// What a plan moves and reads, resolved from the configuration: motors (an Elliptec mount,
// one ESP300 axis, a MaiTai's wavelength or shutter) and detectors (every channel of an
// instrument, read on demand). Each speaks to its instrument through the runtime's command
// routing, in whichever subsystem runs it: a V2 rotator and a V4 meter in one scan.

import { DaqError, type DaqConfig, type InstrumentConfig, type Reading, type SubsystemName } from '@daq/core';

/** How a plan reaches instruments: the runtime's command routing (DualRuntimeManager.command). */
export interface PlanTarget {
  command(instrument: string, method: string, args?: unknown[]): Promise<unknown>;
  /**
   * Cameras: waits until `count` more frames of `camera` are stored and says where they are
   * (undefined: this target has no cameras, e.g. a runtime without an acquisition).
   */
  frames?(camera: string, count: number): Promise<FrameRange>;
}

/** Frames of one camera stored during a point: indices [start, stop) of its stored frame stream. */
export interface FrameRange {
  start: number;
  stop: number;
  /** The camera's frame files, relative to the run directory, e.g. `frames/camera/`. */
  uri: string;
  height: number;
  width: number;
  /** numpy-style dtype of a pixel, e.g. `<u2`. */
  dtypeNumpy: string;
}

/** A camera read as a detector: N frames per point, referenced from the event, stored in its frame files. */
export interface CameraDetector {
  readonly kind: 'camera';
  readonly name: string;
  readonly instrument: string;
  readonly subsystem: SubsystemName;
}

export interface Limits {
  min: number;
  max: number;
}

/** Something a plan sets and waits for: a position, a wavelength, a shutter. */
export interface Motor {
  /** As written in plans: `rot`, `stage.axis2`, `laser.wavelength`, `laser.shutter`. */
  readonly name: string;
  readonly instrument: string;
  readonly subsystem: SubsystemName;
  readonly unit: string;
  /** Limits known without asking the device (the configuration, the type); refined by deviceLimits(). */
  readonly staticLimits: Limits;
  /** Limits as the device reports them (travel, software limits, tuning range). */
  deviceLimits(target: PlanTarget): Promise<Limits>;
  /** Sets the value and resolves once the device reports it reached (moves ended, tuning done). */
  set(target: PlanTarget, value: number): Promise<void>;
  /** Where it is now. */
  read(target: PlanTarget): Promise<number>;
  /** Stops motion now; undefined when the device cannot be stopped (V2 Elliptec, a laser). */
  stop?(target: PlanTarget): Promise<void>;
}

/** An instrument read as a detector: every channel of one on-demand reading. */
export interface Detector {
  readonly kind?: 'scalar';
  readonly name: string;
  readonly instrument: string;
  readonly subsystem: SubsystemName;
  /** Data keys and units, known from the configuration (channel names of the type). */
  read(target: PlanTarget): Promise<Reading[]>;
}

const UNBOUNDED: Limits = { min: -Infinity, max: Infinity };
/** The widest MaiTai tuning range of any model (the device narrows it). */
const MAITAI_RANGE: Limits = { min: 600, max: 1100 };

function located(config: DaqConfig, id: string): { inst: InstrumentConfig; subsystem: SubsystemName } | undefined {
  for (const subsystem of ['v2', 'v4'] as const) {
    if (!config[subsystem].enabled) continue;
    const inst = config[subsystem].instruments.find((i) => i.id === id);
    if (inst) return { inst, subsystem };
  }
  return undefined;
}

function known(config: DaqConfig): string[] {
  return (['v2', 'v4'] as const).flatMap((s) => (config[s].enabled ? config[s].instruments.map((i) => i.id) : []));
}

/** Resolves a motor name, or says why it cannot be one. */
export function resolveMotor(config: DaqConfig, name: string): Motor | string {
  const [id, part, ...rest] = name.split('.');
  const found = located(config, id!);
  if (!found) return `no instrument "${id}" is configured (configured: ${known(config).join(', ') || 'none'})`;
  const { inst, subsystem } = found;
  const v4 = subsystem === 'v4';
  if (rest.length) return `"${name}" has too many parts: write <instrument> or <instrument>.<axis>`;
  switch (inst.type) {
    case 'Elliptec': {
      if (part !== undefined) return `${id} is an Elliptec device with one axis: write "${id}", not "${name}"`;
      return {
        name,
        instrument: inst.id,
        subsystem,
        unit: 'deg, mm or slot',
        staticLimits: UNBOUNDED,
        deviceLimits: async (t) => (v4 ? ((await t.command(inst.id, 'limits', [])) as Limits) : UNBOUNDED),
        set: async (t, value) => void (await t.command(inst.id, 'moveAbs', [value])),
        read: async (t) => Number(await t.command(inst.id, v4 ? 'position' : 'getPosition', [])),
        ...(v4 ? { stop: async (t: PlanTarget) => void (await t.command(inst.id, 'stop', [])) } : {}),
      };
    }
    case 'ESP300': {
      const axis = /^axis([1-3])$/.exec(part ?? '')?.[1];
      if (!axis) return `${id} is an ESP300: name one of its axes, e.g. "${id}.axis${inst.axes[0]}"`;
      const n = Number(axis);
      if (!inst.axes.includes(n)) return `${id} has no axis ${n}; configured axes: ${inst.axes.join(', ')}`;
      return {
        name,
        instrument: inst.id,
        subsystem,
        unit: 'axis units',
        staticLimits: UNBOUNDED,
        deviceLimits: async (t) => (await t.command(inst.id, 'limits', [n])) as Limits,
        set: async (t, value) => {
          await t.command(inst.id, 'moveAbs', [value, n]);
          await t.command(inst.id, 'waitSettled', [n]);
        },
        read: async (t) => Number(await t.command(inst.id, 'position', [n])),
        stop: async (t) => void (await t.command(inst.id, 'stop', [n])),
      };
    }
    case 'MaiTai': {
      if (part === 'wavelength')
        return {
          name,
          instrument: inst.id,
          subsystem,
          unit: 'nm',
          staticLimits: MAITAI_RANGE,
          deviceLimits: async () => MAITAI_RANGE,
          set: async (t, value) => {
            await t.command(inst.id, 'setWavelength', [Math.round(value)]);
            await settleWavelength(t, inst.id, v4, Math.round(value));
          },
          read: async (t) => Number(await t.command(inst.id, v4 ? 'wavelength' : 'readWavelength', [])),
        };
      if (part === 'shutter')
        return {
          name,
          instrument: inst.id,
          subsystem,
          unit: '1 open, 0 closed',
          staticLimits: { min: 0, max: 1 },
          deviceLimits: async () => ({ min: 0, max: 1 }),
          set: async (t, value) => void (await t.command(inst.id, 'setShutter', [value >= 0.5])),
          read: async (t) =>
            ((await t.command(inst.id, 'read', [])) as Reading[]).find((r) => r.channel === 'shutter')?.value ?? NaN,
        };
      return `${id} is a MaiTai: move "${id}.wavelength" or "${id}.shutter"`;
    }
    case 'ScpiInstrument': {
      const m = inst.motor;
      if (!m)
        return `${id} is a SCPI instrument without a motor table: add motor = { set = "SOUR:VOLT {value}", read = "SOUR:VOLT?" } to move it`;
      if (part !== undefined) return `${id} is a SCPI motor with one value: write "${id}", not "${name}"`;
      const limits = { min: m.min ?? -Infinity, max: m.max ?? Infinity };
      return {
        name,
        instrument: inst.id,
        subsystem,
        unit: m.unit,
        staticLimits: limits,
        deviceLimits: async () => limits,
        set: async (t, value) => {
          await t.command(inst.id, 'write', [m.set.replaceAll('{value}', String(value))]);
          if (m.opc) await t.command(inst.id, 'query', ['*OPC?']);
        },
        read: async (t) => {
          const reply = String(await t.command(inst.id, 'query', [m.read])).trim();
          const v = Number(reply);
          if (!Number.isFinite(v))
            throw new DaqError('DAQ_INSTRUMENT', `${inst.id}: ${m.read} answered ${JSON.stringify(reply)}, not a number`, {
              instrument: inst.id,
              command: m.read,
              reply,
            });
          return v;
        },
      };
    }
    default:
      return `${id} is a ${inst.type}, which a plan cannot move (motors: Elliptec, ESP300 axes, MaiTai wavelength and shutter, SCPI instruments with a motor table)`;
  }
}

/** A laser tunes over seconds: wait until the actual wavelength is within 1 nm of the target. */
async function settleWavelength(t: PlanTarget, id: string, v4: boolean, nm: number, timeoutMs = 30_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const now = Number(await t.command(id, v4 ? 'wavelength' : 'readWavelength', []));
    if (Math.abs(now - nm) <= 1) return;
    if (performance.now() > end)
      throw new DaqError('DAQ_TIMEOUT', `${id}: still at ${now} nm ${timeoutMs} ms after tuning to ${nm} nm`, { instrument: id });
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves a detector name (an instrument id), or says why it cannot be one. */
export function resolveDetector(config: DaqConfig, name: string): Detector | CameraDetector | string {
  const found = located(config, name);
  if (!found) return `no instrument "${name}" is configured (configured: ${known(config).join(', ') || 'none'})`;
  if (found.inst.type === 'PVCAMInstrument')
    return { kind: 'camera', name, instrument: found.inst.id, subsystem: found.subsystem };
  if (found.inst.type === 'ScpiInstrument' && !found.inst.poll_query)
    return `${name} has no poll_query, so it has no channel to read: set poll_query (e.g. "MEAS:VOLT:DC?")`;
  return {
    name,
    instrument: found.inst.id,
    subsystem: found.subsystem,
    read: async (t) => (await t.command(found.inst.id, 'read', [])) as Reading[],
  };
}

/** A stored data key for an instrument's channel: `pm-power`; only letters, digits, `_` and `-`. */
export function dataKey(instrument: string, channel: string): string {
  return `${instrument}-${channel}`.replace(/[^A-Za-z0-9_-]/g, '_');
}
