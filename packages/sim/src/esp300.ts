// Newport ESP300 three-axis motion controller: `[axis]CC[parameter]` commands ending CR (CR LF
// accepted), several per line joined by `;`, replies ending CR LF, 19200 8N1.
//
// Sources (the ESP300 manual itself was not readable here):
// - /work/shared/PROTOCOLS.md (command set, VE string, MD? meaning, TB? format, x00+code);
// - PyMeasure pymeasure/instruments/newport/esp300.py: the general and axis error tables, TE?
//   read until 0 (an error FIFO), MO?, SL/SR, MD? true when motion is done;
// - EPICS motorNewport drvESP300.cc: "responses are always terminated with CR/LF (manual
//   Sec. 3.4)", axis as one or two digits (`01TP`), TP/MD answered without `?`;
// - VERITAS ESPProtocol.cpp: TE and TB without `?`, TB fields comma separated, `ID?` gives
//   model and serial, OR takes an optional search mode 0-6.
// Choices where the sources are silent are marked "assumption".

import { DaqError } from '@daq/core';
import { SerialSimulator, type FramedCommand, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export interface Esp300AxisOptions {
  position?: number;
  /** VA, units/s (default 5). */
  velocity?: number;
  /** AC and AG, units/s² (default 20). */
  acceleration?: number;
  /** VU (default 25). */
  maxVelocity?: number;
  /** AU (default 100). */
  maxAcceleration?: number;
  /** SL and SR (default -100 and 100). */
  leftLimit?: number;
  rightLimit?: number;
  /** Motor power at power-up (default off, as after switching the controller on). */
  motorOn?: boolean;
  model?: string;
  serial?: string;
}

export interface Esp300Options extends SerialSimulatorOptions {
  /** One to three axes (default three with the defaults above). */
  axes?: Esp300AxisOptions[];
  version?: string;
}

/** General errors (PyMeasure's GeneralError table). */
const GENERAL_ERRORS: Record<number, string> = {
  0: 'NO ERROR DETECTED',
  6: 'COMMAND DOES NOT EXIST',
  7: 'PARAMETER OUT OF RANGE',
  9: 'AXIS NUMBER OUT OF RANGE',
  37: 'AXIS NUMBER MISSING',
  38: 'COMMAND PARAMETER MISSING',
};

/** Axis errors, reported as axis × 100 + code (PyMeasure's AxisError table). */
export const AxisError = {
  PARAMETER_OUT_OF_RANGE: 1,
  POSITIVE_SOFTWARE_LIMIT: 6,
  NEGATIVE_SOFTWARE_LIMIT: 7,
  MAXIMUM_VELOCITY_EXCEEDED: 10,
  MAXIMUM_ACCELERATION_EXCEEDED: 11,
  MOTOR_NOT_ENABLED: 13,
} as const;

const AXIS_MESSAGES: Record<number, string> = {
  1: 'PARAMETER OUT OF RANGE',
  6: 'POSITIVE SOFTWARE LIMIT DETECTED',
  7: 'NEGATIVE SOFTWARE LIMIT DETECTED',
  10: 'MAXIMUM VELOCITY EXCEEDED',
  11: 'MAXIMUM ACCELERATION EXCEEDED',
  13: 'MOTOR NOT ENABLED',
};

/** A stretch of constant acceleration. */
interface Segment {
  t0: number;
  x0: number;
  v0: number;
  a: number;
  dur: number;
}

/** Position over time as constant-acceleration segments (a trapezoidal move, or a stop). */
export class Trajectory {
  private constructor(
    private readonly segments: Segment[],
    private readonly restX: number,
  ) {}

  static at(x: number): Trajectory {
    return new Trajectory([], x);
  }

  /** Rest to rest from x0 to x1 starting at t0: accelerate, cruise at vmax, decelerate. */
  static move(x0: number, x1: number, t0: number, vmax: number, acc: number, dec: number): Trajectory {
    const d = Math.abs(x1 - x0);
    const s = Math.sign(x1 - x0);
    if (d === 0) return Trajectory.at(x1);
    let v = vmax;
    let dc = d - (v * v) / (2 * acc) - (v * v) / (2 * dec);
    if (dc < 0) {
      v = Math.sqrt((2 * d * acc * dec) / (acc + dec)); // never reaches vmax: a triangle
      dc = 0;
    }
    const segs: Segment[] = [];
    let t = t0;
    let x = x0;
    for (const [a, dur] of [
      [s * acc, v / acc],
      [0, dc / v],
      [-s * dec, v / dec],
    ] as const) {
      const v0 = segs.length ? endVelocity(segs[segs.length - 1]!) : 0;
      segs.push({ t0: t, x0: x, v0, a, dur });
      x += v0 * dur + (a * dur * dur) / 2;
      t += dur;
    }
    return new Trajectory(segs, x1);
  }

  /** From the state at t, decelerate to rest with `dec`. */
  stopAt(t: number, dec: number): Trajectory {
    const x = this.positionAt(t);
    const v = this.velocityAt(t);
    if (v === 0) return Trajectory.at(x);
    const seg: Segment = { t0: t, x0: x, v0: v, a: -Math.sign(v) * dec, dur: Math.abs(v) / dec };
    return new Trajectory([seg], x + (v * seg.dur) / 2);
  }

  get endTime(): number {
    const last = this.segments[this.segments.length - 1];
    return last ? last.t0 + last.dur : -Infinity;
  }

  positionAt(t: number): number {
    const seg = this.segmentAt(t);
    if (!seg) return this.restX;
    const dt = t - seg.t0;
    return seg.x0 + seg.v0 * dt + (seg.a * dt * dt) / 2;
  }

  velocityAt(t: number): number {
    const seg = this.segmentAt(t);
    return seg ? seg.v0 + seg.a * (t - seg.t0) : 0;
  }

  private segmentAt(t: number): Segment | undefined {
    if (t >= this.endTime) return undefined;
    return this.segments.find((s) => t < s.t0 + s.dur);
  }
}

function endVelocity(s: Segment): number {
  return s.v0 + s.a * s.dur;
}

/** One axis; times in ms, positions in the axis's units. */
export class Esp300Axis {
  velocity: number;
  acceleration: number;
  deceleration: number;
  maxVelocity: number;
  maxAcceleration: number;
  leftLimit: number;
  rightLimit: number;
  motorOn: boolean;
  target: number;
  readonly model: string;
  readonly serial: string;
  private trajectory: Trajectory;

  constructor(o: Esp300AxisOptions) {
    this.velocity = o.velocity ?? 5;
    this.acceleration = this.deceleration = o.acceleration ?? 20;
    this.maxVelocity = o.maxVelocity ?? 25;
    this.maxAcceleration = o.maxAcceleration ?? 100;
    this.leftLimit = o.leftLimit ?? -100;
    this.rightLimit = o.rightLimit ?? 100;
    this.motorOn = o.motorOn ?? false;
    this.target = o.position ?? 0;
    this.model = o.model ?? 'UTM50PP.1';
    this.serial = o.serial ?? 'B0000001';
    this.trajectory = Trajectory.at(this.target);
  }

  get position(): number {
    return this.positionAt(performance.now());
  }

  positionAt(t: number): number {
    return this.trajectory.positionAt(t);
  }

  /** Units per second. */
  velocityAt(t: number): number {
    return this.trajectory.velocityAt(t) * 1000;
  }

  movingAt(t: number): boolean {
    return t < this.trajectory.endTime;
  }

  /** Starts a move at `at` (from rest where the axis then is: assumption for moves during moves). */
  moveTo(x: number, at: number): number {
    this.target = x;
    // Units per s and per s² against a clock in ms.
    this.trajectory = Trajectory.move(
      this.positionAt(at),
      x,
      at,
      this.velocity / 1000,
      this.acceleration / 1e6,
      this.deceleration / 1e6,
    );
    return Math.max(0, this.trajectory.endTime - at);
  }

  stop(at: number, abrupt = false): void {
    this.trajectory = abrupt ? Trajectory.at(this.positionAt(at)) : this.trajectory.stopAt(at, this.deceleration / 1e6);
    this.target = this.trajectory.positionAt(Infinity);
  }

  /** DH: the current position becomes `x` (the axis is at rest). */
  define(x: number): void {
    this.trajectory = Trajectory.at(x);
    this.target = x;
  }
}

/** Commands whose query needs no `?` (they only read). */
const READ_ONLY = new Set(['TP', 'MD', 'TE', 'TB', 'VE', 'DP', 'ID', 'TV']);

export class Esp300Simulator extends SerialSimulator {
  readonly axes: Esp300Axis[];
  readonly version: string;
  /** Errors not yet read by TE?/TB?, oldest first, as [code, timestamp ms]. */
  private readonly errors: [number, number][] = [];
  private readonly bootAt = performance.now();

  constructor(options: Esp300Options = {}) {
    super(options, 19200);
    const axes = options.axes ?? [{}, {}, {}];
    if (axes.length < 1 || axes.length > 3)
      throw new DaqError('DAQ_INVALID_ARGUMENT', `an ESP300 has one to three axes, got ${axes.length}`);
    this.axes = axes.map((a) => new Esp300Axis(a));
    this.version = options.version ?? 'ESP300 Version 3.04 07/27/01';
  }

  axis(n: number): Esp300Axis {
    const a = this.axes[n - 1];
    if (!a) throw new DaqError('DAQ_INVALID_ARGUMENT', `no axis ${n}: this ESP300 has axes 1-${this.axes.length}`);
    return a;
  }

  /** Errors waiting in the controller's buffer (codes, oldest first). */
  get pendingErrors(): number[] {
    return this.errors.map(([code]) => code);
  }

  protected get replyTerminator(): string {
    return '\r\n';
  }

  /** A command line ends at CR; LF (as in CR LF) is ignored. */
  protected override frame(input: Buffer): { commands: FramedCommand[]; rest: Buffer } {
    const commands: FramedCommand[] = [];
    let start = 0;
    for (let i = 0; i < input.length; i++) {
      if (input[i] !== 0x0d) continue;
      const text = input.toString('latin1', start, i).replace(/\n/g, '');
      if (text) commands.push({ text, end: i + 1 });
      start = i + 1;
    }
    return { commands, rest: input.subarray(start) };
  }

  protected handle(line: string, at: number): Reply[] {
    const out: string[] = [];
    for (const part of line.split(';')) {
      const cmd = part.trim();
      if (cmd) {
        const answer = this.command(cmd, at);
        if (answer !== undefined) out.push(answer);
      }
    }
    // Assumption: each query's answer is its own line, in order.
    return out.map((text) => ({ text: `${text}\r\n`, afterMs: 1 }));
  }

  private error(code: number, at: number): undefined {
    this.errors.push([code, Math.round(at - this.bootAt)]);
    if (this.errors.length > 10) this.errors.shift(); // the buffer keeps the last ten
    return undefined;
  }

  private command(text: string, at: number): string | undefined {
    if (text.toUpperCase() === '*IDN?') return this.version; // answered on hardware (rust-daq findings)
    const m = /^(\d*)\s*([A-Za-z]{2})\s*(.*)$/.exec(text);
    if (!m) return this.error(6, at);
    const axisText = m[1]!;
    const name = m[2]!.toUpperCase();
    const param = m[3]!.trim();
    const query = param === '?' || (param === '' && READ_ONLY.has(name));
    const num = param === '' || param === '?' ? undefined : Number(param);
    if (num !== undefined && !Number.isFinite(num)) return this.error(7, at);

    // Controller-wide commands.
    switch (name) {
      case 'VE':
        return this.version;
      case 'TE': {
        const e = this.errors.shift();
        return String(e ? e[0] : 0);
      }
      case 'TB': {
        const [code, ts] = this.errors.shift() ?? [0, Math.round(at - this.bootAt)];
        return `${code}, ${ts}, ${this.message(code)}`;
      }
      case 'AB':
        for (const a of this.axes) a.stop(at, true);
        return undefined;
    }
    if (name === 'ST' && axisText === '') {
      for (const a of this.axes) a.stop(at);
      return undefined;
    }
    if (!AXIS_COMMANDS.has(name)) return this.error(6, at);
    if (axisText === '') return this.error(37, at);
    const n = Number(axisText);
    const axis = this.axes[n - 1];
    if (!axis) return this.error(9, at);
    const axisError = (code: number) => this.error(n * 100 + code, at);
    const fmt = (x: number) => x.toFixed(5);
    const needParam = () => (num === undefined ? this.error(38, at) : undefined);

    switch (name) {
      case 'MO':
        if (query) return axis.motorOn ? '1' : '0';
        axis.motorOn = true;
        return undefined;
      case 'MF':
        if (axis.movingAt(at)) axis.stop(at, true); // power off stops the axis where it is
        axis.motorOn = false;
        return undefined;
      case 'MD':
        return axis.movingAt(at) ? '0' : '1'; // 1 when motion is done (manual; rust-daq read it inverted)
      case 'TP':
        return fmt(axis.positionAt(at));
      case 'DP':
        return fmt(axis.target);
      case 'TV':
        return fmt(axis.velocityAt(at));
      case 'ID':
        return `${axis.model}, ${axis.serial}`;
      case 'ST':
        axis.stop(at);
        return undefined;
      case 'DH':
        if (axis.movingAt(at)) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        axis.define(num ?? 0);
        return undefined;
      case 'OR':
        if (num !== undefined && !(Number.isInteger(num) && num >= 0 && num <= 6)) return this.error(7, at);
        if (!axis.motorOn) return axisError(AxisError.MOTOR_NOT_ENABLED);
        axis.moveTo(0, at); // home: the search ends where the position reads 0
        return undefined;
      case 'PA':
      case 'PR': {
        if (query) return fmt(axis.target);
        if (num === undefined) return needParam();
        const dest = name === 'PA' ? num : axis.positionAt(at) + num;
        if (!axis.motorOn) return axisError(AxisError.MOTOR_NOT_ENABLED);
        if (dest > axis.rightLimit) return axisError(AxisError.POSITIVE_SOFTWARE_LIMIT);
        if (dest < axis.leftLimit) return axisError(AxisError.NEGATIVE_SOFTWARE_LIMIT);
        axis.moveTo(dest, at);
        return undefined;
      }
      case 'SL':
      case 'SR':
        if (query) return fmt(name === 'SL' ? axis.leftLimit : axis.rightLimit);
        if (num === undefined) return needParam();
        if (name === 'SL') axis.leftLimit = num;
        else axis.rightLimit = num;
        return undefined;
      case 'VA':
      case 'VU':
        if (query) return fmt(name === 'VA' ? axis.velocity : axis.maxVelocity);
        if (num === undefined) return needParam();
        if (num <= 0) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        if (name === 'VA' && num > axis.maxVelocity) return axisError(AxisError.MAXIMUM_VELOCITY_EXCEEDED);
        if (name === 'VA') axis.velocity = num;
        else axis.maxVelocity = num;
        return undefined;
      case 'AC':
      case 'AG':
      case 'AU':
        if (query) return fmt(name === 'AC' ? axis.acceleration : name === 'AG' ? axis.deceleration : axis.maxAcceleration);
        if (num === undefined) return needParam();
        if (num <= 0) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        if (name !== 'AU' && num > axis.maxAcceleration) return axisError(AxisError.MAXIMUM_ACCELERATION_EXCEEDED);
        if (name === 'AC') axis.acceleration = num;
        else if (name === 'AG') axis.deceleration = num;
        else axis.maxAcceleration = num;
        return undefined;
    }
    return this.error(6, at);
  }

  private message(code: number): string {
    if (code < 100) return GENERAL_ERRORS[code] ?? 'UNKNOWN ERROR';
    return AXIS_MESSAGES[code % 100] ?? 'UNKNOWN ERROR';
  }
}

const AXIS_COMMANDS = new Set([
  'MO',
  'MF',
  'MD',
  'TP',
  'DP',
  'TV',
  'ID',
  'ST',
  'DH',
  'OR',
  'PA',
  'PR',
  'SL',
  'SR',
  'VA',
  'VU',
  'AC',
  'AG',
  'AU',
]);
