// V4 instrument traits: small typed capabilities (after ophyd-async's Movable, Readable, ...).
// A driver implements the traits it really has; each trait also names the commands the
// broker can route to it, so `command("stage", "moveAbs", [12.5, 2])` reaches the same method.

import type { CommandTable } from '@daq/core';

export interface PowerMeter {
  /** One reading in W. */
  power(): Promise<number>;
  wavelength(): Promise<number>;
  setWavelength(nm: number): Promise<void>;
}

export interface AxisLimits {
  min: number;
  max: number;
}

export interface MotionController {
  readonly axes: readonly number[];
  /** Unit of every position (e.g. "deg", "mm"). */
  readonly unit: string;
  /** Moves and returns the position reached (or commanded, for controllers that do not wait). */
  moveAbs(position: number, axis?: number): Promise<number>;
  moveRel(distance: number, axis?: number): Promise<number>;
  home(axis?: number): Promise<number>;
  position(axis?: number): Promise<number>;
  /** Waits until the axis stops; returns where it stopped. */
  waitSettled(axis?: number, timeoutMs?: number): Promise<number>;
  limits(axis?: number): Promise<AxisLimits>;
  stop(axis?: number): Promise<void>;
}

export interface Laser {
  wavelength(): Promise<number>;
  setWavelength(nm: number): Promise<void>;
  /** Output power in W. */
  power(): Promise<number>;
  shutter(): Promise<boolean>;
  setShutter(open: boolean): Promise<boolean>;
}

export interface ScpiInstrument {
  query(command: string): Promise<string>;
  write(command: string): Promise<void>;
  /** `*IDN?`, read once per device and shared with every user of it. */
  identify(): Promise<string>;
  /** Pops the error queue (`SYST:ERR?`) until it reports no error. */
  errors(): Promise<string[]>;
}

const axisParam = { name: 'axis', type: 'integer', min: 1, max: 3, optional: true } as const;

export function powerMeterCommands(p: PowerMeter): CommandTable {
  return {
    power: { params: [], description: 'One reading in W.', run: () => p.power() },
    wavelength: { params: [], description: 'Calibration wavelength in nm.', run: () => p.wavelength() },
    setWavelength: {
      params: [{ name: 'nm', type: 'integer', min: 1, max: 100000 }],
      description: 'Sets the calibration wavelength in nm.',
      run: (nm: number) => p.setWavelength(nm),
    },
  };
}

export function motionCommands(m: MotionController): CommandTable {
  return {
    moveAbs: {
      params: [{ name: 'position', type: 'number' }, axisParam],
      description: 'Moves to a position (in the unit of `position`); returns the position reached.',
      run: (position: number, axis?: number) => m.moveAbs(position, axis),
    },
    moveRel: {
      params: [{ name: 'distance', type: 'number' }, axisParam],
      description: 'Moves by a distance; returns the position reached.',
      run: (distance: number, axis?: number) => m.moveRel(distance, axis),
    },
    home: { params: [axisParam], description: 'Homes the axis.', run: (axis?: number) => m.home(axis) },
    position: { params: [axisParam], description: 'Current position.', run: (axis?: number) => m.position(axis) },
    waitSettled: {
      params: [axisParam, { name: 'timeoutMs', type: 'number', min: 0, max: 600000, optional: true }],
      description: 'Waits until the axis stops; returns where.',
      run: (axis?: number, timeoutMs?: number) => m.waitSettled(axis, timeoutMs),
    },
    limits: { params: [axisParam], description: 'Travel limits {min, max}.', run: (axis?: number) => m.limits(axis) },
    stop: { params: [axisParam], description: 'Stops motion.', run: (axis?: number) => m.stop(axis) },
  };
}

export function laserCommands(l: Laser, minNm: number, maxNm: number): CommandTable {
  return {
    wavelength: { params: [], description: 'Actual wavelength in nm.', run: () => l.wavelength() },
    setWavelength: {
      params: [{ name: 'nm', type: 'integer', min: minNm, max: maxNm }],
      description: 'Commands a wavelength in nm.',
      run: (nm: number) => l.setWavelength(nm),
    },
    power: { params: [], description: 'Output power in W.', run: () => l.power() },
    shutter: { params: [], description: 'true when the shutter is open.', run: () => l.shutter() },
    setShutter: {
      params: [{ name: 'open', type: 'boolean' }],
      description: 'Opens or closes the shutter; returns the state read back.',
      run: (open: boolean) => l.setShutter(open),
    },
  };
}

export function scpiCommands(s: ScpiInstrument): CommandTable {
  const cmd = { name: 'command', type: 'string' } as const;
  return {
    query: { params: [cmd], description: 'Sends a query and returns the reply.', run: (c: string) => s.query(c) },
    write: { params: [cmd], description: 'Sends a command without reading a reply.', run: (c: string) => s.write(c) },
    identify: { params: [], description: '*IDN? (cached).', run: () => s.identify() },
    errors: { params: [], description: 'Pops the error queue.', run: () => s.errors() },
  };
}
