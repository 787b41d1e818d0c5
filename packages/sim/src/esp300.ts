// Newport ESP300 three-axis motion controller: `[axis]CC[parameter]` commands ending CR (CR LF
// accepted), several per line joined by `;`, replies ending CR LF, 19200 8N1.
//
// Sources (manual = ESP300 Motion Controller/Driver User's Manual, Newport 2002, Section 3):
// - manual §3.2.1 / §3.4: 19200 8N1, RTS/CTS handshake; a line ends with CR and nothing is
//   evaluated before it; replies always end CR LF; `xxAAnn` syntax, blanks ignored, `;` joins
//   commands, `,` separates parameters; a missing axis is error 37, a non-existent one error 9.
// - manual §3.1 ("Unless instructed otherwise, the ESP controller executes commands in the order
//   received without waiting for completion"; example `1PA+30; 1WS; 2PR-10`): WS holds every later
//   command, queries included, until the axis stops. The optional WS parameter is a delay in ms
//   (PyMeasure pymeasure/instruments/newport/esp300.py `wait_for_stop` sends `WS<ms>`); WS without
//   an axis waits for all axes (assumption, from "wait for motion stop" with no axis).
// - manual SN page: units 0 encoder count .. 11 microradian; a label only (values are not
//   converted); nn missing is error 38, out of range "xx2" printed, taken as x01 PARAMETER OUT OF
//   RANGE (the error table's number).
// - manual TE / TB pages: a 10-deep error FIFO read once, TB `code, timestamp, MESSAGE`, the
//   timestamp in 400 µs servo ticks since reset; TE only the code; 0 when empty.
// - manual PH page: `PH` answers two hex words (`18000404H, 4H`); second word bits 8-10 = axis
//   1-3 index, 16/17 digital inputs A/B. The first word's map is EPICS motorNewport
//   newportApp/src/drvESP300.cc: bit n-1 = axis n + limit, bit n-1+8 = axis n - limit, second
//   word bit n-1 = axis n home signal. "High" taken as "switch active" (assumption: ZH polarity);
//   the home signal is high on the positive side of the home switch (assumption, as the
//   Picomotor 8743 manual describes its home signal).
// - manual TS page: one ASCII character, bits 0-2 axis 1-3 in motion, bit 4 motor power on of at
//   least one axis; the example `P` (0x50) shows bit 6 set, so the character is 0x40 | bits.
//   TX page: bit 1 a wait command executing, bit 4 a trajectory executing, same 0x40 base.
// - manual ID page: `1ID?` -> `TS50DC.5, SN1263` (model, serial).
// - manual MV page: `3MV?` -> `0` "motion is in progress" (same meaning as MD?: 1 = done).
// - manual ZS page: configuration words are hex, `0F25H` or `123` (read as hex), replies hex+H.
// - newportESP 1.1 (brezodani/NewportESP_Python newportESP-1.1/newportESP.py, quoting the
//   manual's OR page): OR modes 0 zero position count, 1 home and index, 2 home only,
//   3 + limit, 4 - limit, 5 + limit and index, 6 - limit and index; no mode = the OM mode; at the
//   end the position is reset to the SH value; OR to an axis that is not enabled is error x20
//   HOMING ABORTED. Also `DH?`, `BA?`, `SU?`, `MT±`, `MV±` as that driver sends them.
// - PyMeasure esp300.py: the general and axis error tables (numbers and texts), TE? read until 0,
//   MO?, SL/SR, SN 0-11, OR 0-6, DH without a value = 0; MD? true when done.
// - EPICS motorNewport drvESP300.cc: "The ESP300 does not respond for 2 to 5 seconds after
//   hitting a travel limit" (its serial timeout is 5 s): commands received during that time are
//   answered when it ends. Two-digit axis numbers (`01TP?`); `VE?`, `ZB?` (bit 8 encoder
//   feedback, bit 9 stepper closed loop), `FR?`, `QS?`, `SU?`, `ZH?`, `PH`, `TB?` polled; the axis
//   count found by `nnST` until error 9.
// - Instrumental mabuchilab/Instrumental instrumental/drivers/motion/esp300.py: the per-axis
//   parameters it reads and writes with `{axis}{CMD}?` (QM motor type 0-4, QS, FR, FE, VU, AU,
//   OH, OL, OM, SH, JH, JW, KP/KI/KD ...): stored and read back here.
// - rust-daq (easternanemone/rust-daq crates/rust-daq/docs/reference/instruments/newport_1830c_findings.md,
//   esp300.rs): `ESP300 Version 3.04 07/27/01` from hardware, also for `*IDN?`; units answer with
//   and without RTS/CTS, so a client without it is served (and counted, see flowControl).
// Assumptions (no source): reply latency (1 ms fast, 5 ms hardware); the silence after a limit
// (0 ms fast, 4000 ms hardware, inside EPICS's 2-5 s); hardware limit switches at ±25 units for a
// linear stage (the default UTM50PP.1 has 50 mm of travel) and none for an angular one; home
// switch at 0; OM default 1; OH/OL defaults; motion stops abruptly at a limit switch and the motor
// stays on; a home search or MT ending on a limit switch raises no limit error; homing in the
// hardware profile = approach at OH, back off and return at OL; the defaults of FR, QS, SU, QM, ZB,
// ZH, ZS, ZA, FE and the other stored parameters; number formats (5 decimals).

import { DaqError } from '@daq/core';
import { SerialSimulator, type FramedCommand, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

/** SN codes (manual SN page). */
export const ESP300_UNITS = [
  'encoder count',
  'motor step',
  'millimeter',
  'micrometer',
  'inches',
  'milli-inches',
  'micro-inches',
  'degree',
  'gradian',
  'radian',
  'milliradian',
  'microradian',
] as const;

const isAngular = (units: number) => units >= 7;

export interface Esp300AxisOptions {
  /** Position counter at start (default 0); the stage is physically there too. */
  position?: number;
  /** VA, units/s (default 5). */
  velocity?: number;
  /** AC and AG, units/s² (default 20). */
  acceleration?: number;
  /** VU (default 25). */
  maxVelocity?: number;
  /** AU (default 100). */
  maxAcceleration?: number;
  /** SL and SR software limits (default -100 and 100). */
  leftLimit?: number;
  rightLimit?: number;
  /** Motor power at start (default off, as after switching the controller on). */
  motorOn?: boolean;
  model?: string;
  serial?: string;
  /** SN units code 0-11 (default 2, millimeter; 7 = degree for a rotation stage). */
  units?: number;
  /**
   * Hardware limit switches (where the stage physically stops), in units, in the frame of the
   * start position. Default ±25 for linear units, none (±Infinity) for angular units.
   */
  travel?: { min: number; max: number };
  /** Where the home switch is, same frame as `travel` (default 0). */
  homeSwitch?: number;
  /** OM, the home search mode used by OR without a mode (default 1). */
  homeMode?: number;
  /** OH, home search high speed (default VA / 2). */
  homeVelocity?: number;
  /** OL, home search low speed (default OH / 5). */
  homeLowVelocity?: number;
  /** SH, the position the counter takes at the end of a home search (default 0). */
  homePreset?: number;
}

export interface Esp300Options extends SerialSimulatorOptions {
  /** One to three axes (default three with the defaults above). */
  axes?: Esp300AxisOptions[];
  version?: string;
  /** Error codes already in the buffer at start (oldest first, e.g. [104, 7]). */
  errors?: number[];
  /** How long the controller is silent after a stage hits a limit switch (default 0 fast, 4000 hardware). */
  limitSilenceMs?: number;
  /** Time from taking a query to its reply being ready (default 1 ms fast, 5 ms hardware). */
  replyMs?: number;
}

/** General errors 0-99 (PyMeasure's GeneralError table; ESP301 table in InstrumentKit). */
const GENERAL_ERRORS: Record<number, string> = {
  0: 'NO ERROR DETECTED',
  1: 'PCI COMMUNICATION TIME-OUT',
  4: 'EMERGENCY STOP ACTIVATED',
  6: 'COMMAND DOES NOT EXIST',
  7: 'PARAMETER OUT OF RANGE',
  8: 'CABLE INTERLOCK ERROR',
  9: 'AXIS NUMBER OUT OF RANGE',
  13: 'GROUP NUMBER MISSING',
  14: 'GROUP NUMBER OUT OF RANGE',
  15: 'GROUP NUMBER NOT ASSIGNED',
  16: 'GROUP NUMBER ALREADY ASSIGNED',
  17: 'GROUP AXIS OUT OF RANGE',
  18: 'GROUP AXIS ALREADY ASSIGNED',
  19: 'GROUP AXIS DUPLICATED',
  20: 'DATA ACQUISITION IS BUSY',
  21: 'DATA ACQUISITION SETUP ERROR',
  22: 'DATA ACQUISITION NOT ENABLED',
  23: 'SERVO CYCLE (400 µS) TICK FAILURE',
  25: 'DOWNLOAD IN PROGRESS',
  26: 'STORED PROGRAM NOT STARTED',
  27: 'COMMAND NOT ALLOWED',
  28: 'STORED PROGRAM FLASH AREA FULL',
  29: 'GROUP PARAMETER MISSING',
  30: 'GROUP PARAMETER OUT OF RANGE',
  31: 'GROUP MAXIMUM VELOCITY EXCEEDED',
  32: 'GROUP MAXIMUM ACCELERATION EXCEEDED',
  33: 'GROUP MAXIMUM DECELERATION EXCEEDED',
  34: 'GROUP MOVE NOT ALLOWED DURING MOTION',
  35: 'PROGRAM NOT FOUND',
  37: 'AXIS NUMBER MISSING',
  38: 'COMMAND PARAMETER MISSING',
  39: 'PROGRAM LABEL NOT FOUND',
  40: 'LAST COMMAND CANNOT BE REPEATED',
  41: 'MAX NUMBER OF LABELS PER PROGRAM EXCEEDED',
};

/** Axis errors, reported as axis × 100 + code (PyMeasure's AxisError table). */
export const AxisError = {
  MOTOR_TYPE_NOT_DEFINED: 0,
  PARAMETER_OUT_OF_RANGE: 1,
  AMPLIFIER_FAULT: 2,
  FOLLOWING_ERROR: 3,
  POSITIVE_HARDWARE_LIMIT: 4,
  NEGATIVE_HARDWARE_LIMIT: 5,
  POSITIVE_SOFTWARE_LIMIT: 6,
  NEGATIVE_SOFTWARE_LIMIT: 7,
  MOTOR_NOT_CONNECTED: 8,
  FEEDBACK_FAULT: 9,
  MAXIMUM_VELOCITY_EXCEEDED: 10,
  MAXIMUM_ACCELERATION_EXCEEDED: 11,
  MOTOR_NOT_ENABLED: 13,
  HOMING_ABORTED: 20,
  COMMAND_NOT_ALLOWED_DURING_HOMING: 30,
} as const;

const AXIS_MESSAGES: Record<number, string> = {
  0: 'MOTOR TYPE NOT DEFINED',
  1: 'PARAMETER OUT OF RANGE',
  2: 'AMPLIFIER FAULT DETECTED',
  3: 'FOLLOWING ERROR THRESHOLD EXCEEDED',
  4: 'POSITIVE HARDWARE LIMIT DETECTED',
  5: 'NEGATIVE HARDWARE LIMIT DETECTED',
  6: 'POSITIVE SOFTWARE LIMIT DETECTED',
  7: 'NEGATIVE SOFTWARE LIMIT DETECTED',
  8: 'MOTOR / STAGE NOT CONNECTED',
  9: 'FEEDBACK SIGNAL FAULT DETECTED',
  10: 'MAXIMUM VELOCITY EXCEEDED',
  11: 'MAXIMUM ACCELERATION EXCEEDED',
  13: 'MOTOR NOT ENABLED',
  15: 'MAXIMUM JERK EXCEEDED',
  16: 'MAXIMUM DAC OFFSET EXCEEDED',
  17: 'ESP CRITICAL SETTINGS ARE PROTECTED',
  18: 'ESP STAGE DEVICE ERROR',
  19: 'ESP STAGE DATA INVALID',
  20: 'HOMING ABORTED',
  21: 'MOTOR CURRENT NOT DEFINED',
  22: 'UNIDRIVE COMMUNICATIONS ERROR',
  23: 'UNIDRIVE NOT DETECTED',
  24: 'SPEED OUT OF RANGE',
  25: 'INVALID TRAJECTORY MASTER AXIS',
  26: 'PARAMETER CHARGE NOT ALLOWED',
  27: 'INVALID TRAJECTORY MODE FOR HOMING',
  28: 'INVALID ENCODER STEP RATIO',
  29: 'DIGITAL I/O INTERLOCK DETECTED',
  30: 'COMMAND NOT ALLOWED DURING HOMING',
  31: 'COMMAND NOT ALLOWED DUE TO GROUP',
  32: 'INVALID TRAJECTORY MODE FOR MOVING',
};

/** The text TB? gives for an error code. */
export function esp300ErrorMessage(code: number): string {
  if (code < 100) return GENERAL_ERRORS[code] ?? 'UNKNOWN ERROR';
  return AXIS_MESSAGES[code % 100] ?? 'UNKNOWN ERROR';
}

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

  /** This trajectory until t, then at rest where it was at t (an abrupt stop, e.g. at a limit switch). */
  cutAt(t: number): Trajectory {
    const x = this.positionAt(t);
    const segs = this.segments.filter((s) => s.t0 < t).map((s) => ({ ...s, dur: Math.min(s.dur, t - s.t0) }));
    return new Trajectory(segs, x);
  }

  /** This trajectory, then `next` (which must start where and when this one ends). */
  then(next: Trajectory): Trajectory {
    return new Trajectory([...this.segments, ...next.segments], next.restX);
  }

  /** The same motion with its final rest position replaced (the counter reset at the end of a home search). */
  restingAt(x: number): Trajectory {
    return new Trajectory(this.segments, x);
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

  /**
   * The first time from `from` at which a monotonic motion reaches `x` going in direction `dir`,
   * or undefined if it never does.
   */
  reachTime(x: number, dir: 1 | -1, from: number): number | undefined {
    const beyond = (t: number) => dir * (this.positionAt(t) - x) >= -1e-12;
    if (beyond(from)) return from;
    const end = Math.max(from, this.endTime);
    if (!beyond(end)) return undefined;
    let lo = from;
    let hi = end;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (beyond(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  private segmentAt(t: number): Segment | undefined {
    if (t >= this.endTime) return undefined;
    return this.segments.find((s) => t < s.t0 + s.dur);
  }
}

function endVelocity(s: Segment): number {
  return s.v0 + s.a * s.dur;
}

/** A stage running into a limit switch: when, and which error (x04 / x05). */
export interface LimitHit {
  at: number;
  code: 4 | 5;
}

/**
 * One axis; times in ms, positions in the axis's units. The stage moves in a physical frame
 * (where the limit and home switches are); the position counter is that minus an offset which
 * DH and the end of a home search change.
 */
export class Esp300Axis {
  velocity: number;
  acceleration: number;
  deceleration: number;
  maxVelocity: number;
  maxAcceleration: number;
  leftLimit: number;
  rightLimit: number;
  motorOn: boolean;
  /** Where the counter will read when the current motion ends. */
  target: number;
  units: number;
  homeMode: number;
  homeVelocity: number;
  homeLowVelocity: number;
  homePreset: number;
  /** The last DH value (DH?), or SH after a home search. */
  definedHome = 0;
  readonly travel: { min: number; max: number };
  readonly homeSwitch: number;
  readonly model: string;
  readonly serial: string;
  /** Other stored parameters (FR, QS, ZB ...), read back as set. */
  readonly params = new Map<string, number>();
  /** A limit switch the current motion will run into (fired by the controller when its time comes). */
  limitHit: LimitHit | undefined;
  /** The current motion is a home search: it ends at `at` with the counter at the SH value. */
  homing: { at: number } | undefined;
  private trajectory: Trajectory;
  private offset = 0;
  private offsetChange: { at: number; offset: number } | undefined;

  constructor(o: Esp300AxisOptions) {
    this.units = o.units ?? 2;
    if (!Number.isInteger(this.units) || this.units < 0 || this.units > 11)
      throw new DaqError('DAQ_INVALID_ARGUMENT', `ESP300 units are codes 0-11, got ${o.units}`);
    this.velocity = o.velocity ?? 5;
    this.acceleration = this.deceleration = o.acceleration ?? 20;
    this.maxVelocity = o.maxVelocity ?? 25;
    this.maxAcceleration = o.maxAcceleration ?? 100;
    this.leftLimit = o.leftLimit ?? -100;
    this.rightLimit = o.rightLimit ?? 100;
    this.motorOn = o.motorOn ?? false;
    this.target = o.position ?? 0;
    this.model = o.model ?? (isAngular(this.units) ? 'URS100BPP' : 'UTM50PP.1');
    this.serial = o.serial ?? 'B0000001';
    this.travel = o.travel ?? (isAngular(this.units) ? { min: -Infinity, max: Infinity } : { min: -25, max: 25 });
    if (!(this.travel.min < this.travel.max) || this.target < this.travel.min || this.target > this.travel.max)
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `ESP300 axis: position ${this.target} is outside the travel ${this.travel.min}..${this.travel.max}`,
      );
    this.homeSwitch = o.homeSwitch ?? 0;
    this.homeMode = o.homeMode ?? 1;
    this.homeVelocity = o.homeVelocity ?? this.velocity / 2;
    this.homeLowVelocity = o.homeLowVelocity ?? this.homeVelocity / 5;
    this.homePreset = o.homePreset ?? 0;
    this.trajectory = Trajectory.at(this.target);
  }

  get position(): number {
    return this.positionAt(performance.now());
  }

  /** The position counter (TP) at t. */
  positionAt(t: number): number {
    return this.physicalAt(t) - this.offsetAt(t);
  }

  /** Where the stage is, in the frame of the limit and home switches. */
  physicalAt(t: number): number {
    return this.trajectory.positionAt(t);
  }

  /** Units per second. */
  velocityAt(t: number): number {
    return this.trajectory.velocityAt(t) * 1000;
  }

  movingAt(t: number): boolean {
    return t < this.trajectory.endTime;
  }

  /** When the current motion ends (or ended). */
  get motionEnd(): number {
    return this.trajectory.endTime;
  }

  /** On the + / - limit switch, and the home signal, at t (PH). */
  switchesAt(t: number): { plus: boolean; minus: boolean; home: boolean } {
    const x = this.physicalAt(t);
    return { plus: x >= this.travel.max - 1e-9, minus: x <= this.travel.min + 1e-9, home: x >= this.homeSwitch };
  }

  /** Starts a move of the counter to x at `at` (from rest where the axis then is: assumption for moves during moves). */
  moveTo(x: number, at: number): number {
    this.target = x;
    const offset = this.offsetAt(at);
    this.plan(this.trapezoid(this.physicalAt(at), x + offset, at, this.velocity), at, true);
    return Math.max(0, this.trajectory.endTime - at);
  }

  /** MV± / MT±: toward a limit switch (or far away without one); `raise` = a limit error when it is reached. */
  moveToward(dir: 1 | -1, at: number, raise: boolean): void {
    const limit = dir > 0 ? this.travel.max : this.travel.min;
    const dest = Number.isFinite(limit) ? limit : this.physicalAt(at) + dir * 1e9;
    this.plan(this.trapezoid(this.physicalAt(at), dest, at, this.velocity), at, raise);
    this.target = this.positionAt(Infinity);
  }

  /** A home search in `mode` (0-6); false when the stage has no switch of that kind. */
  home(mode: number, at: number, hardware: boolean): boolean {
    const from = this.physicalAt(at);
    const offset = this.offsetAt(at);
    const dest = mode === 0 ? offset : mode <= 2 ? this.homeSwitch : mode === 3 || mode === 5 ? this.travel.max : this.travel.min;
    if (!Number.isFinite(dest)) return false;
    let traj: Trajectory;
    if (!hardware) {
      traj = this.trapezoid(from, dest, at, this.velocity);
    } else {
      // Approach at OH, back off and come back onto the edge at OL (half a second at OL: assumption).
      const dir = mode === 3 || mode === 5 ? 1 : mode === 4 || mode === 6 ? -1 : dest >= from ? 1 : -1;
      const backoff = this.homeLowVelocity * 0.5;
      traj = this.trapezoid(from, dest, at, this.homeVelocity);
      const t1 = Math.max(at, traj.endTime);
      const away = this.trapezoid(dest, dest - dir * backoff, t1, this.homeLowVelocity);
      const back = this.trapezoid(dest - dir * backoff, dest, Math.max(t1, away.endTime), this.homeLowVelocity);
      traj = traj.then(away).then(back);
    }
    this.plan(traj, at, false);
    const end = Math.max(at, this.trajectory.endTime);
    this.offsetChange = { at: end, offset: dest - this.homePreset };
    this.homing = { at: end };
    this.target = this.definedHome = this.homePreset;
    return true;
  }

  stop(at: number, abrupt = false): void {
    this.cancelHoming(at);
    this.plan(abrupt ? Trajectory.at(this.physicalAt(at)) : this.trajectory.stopAt(at, this.deceleration / 1e6), at, true);
    this.target = this.positionAt(Infinity);
  }

  /** DH: the current position becomes `x` (the axis is at rest). */
  define(x: number, at = performance.now()): void {
    this.cancelHoming(at);
    this.offset = this.physicalAt(at) - x;
    this.target = this.definedHome = x;
  }

  private offsetAt(t: number): number {
    return this.offsetChange && t >= this.offsetChange.at ? this.offsetChange.offset : this.offset;
  }

  /** A home search cut short keeps the old counter. */
  private cancelHoming(at: number): void {
    this.offset = this.offsetAt(at);
    this.offsetChange = undefined;
    this.homing = undefined;
  }

  private trapezoid(from: number, to: number, at: number, v: number): Trajectory {
    // Units per s and per s² against a clock in ms.
    return Trajectory.move(from, to, at, v / 1000, this.acceleration / 1e6, this.deceleration / 1e6);
  }

  /** Takes `traj` from `at`, cut where it runs into a limit switch when `checkLimits`. */
  private plan(traj: Trajectory, at: number, checkLimits: boolean): void {
    this.cancelHoming(at);
    this.limitHit = undefined;
    this.trajectory = traj;
    if (!checkLimits) return;
    const start = traj.positionAt(at);
    const end = traj.positionAt(Infinity);
    if (end === start) return;
    const dir = end > start ? 1 : -1;
    const limit = dir > 0 ? this.travel.max : this.travel.min;
    if (!Number.isFinite(limit)) return;
    const hit = traj.reachTime(limit, dir, at);
    if (hit === undefined) return;
    this.trajectory = traj.cutAt(hit);
    this.limitHit = { at: hit, code: dir > 0 ? 4 : 5 };
  }
}

/** Commands whose bare form (no `?`) reads. */
const READ_ONLY = new Set(['TP', 'MD', 'TE', 'TB', 'VE', 'DP', 'ID', 'TV', 'PH', 'TS', 'TX', 'XM']);

type ParamKind = 'float' | 'int' | 'hex';
/**
 * Stored per-axis parameters answered as set (Instrumental / EPICS read them); defaults are
 * assumptions for a stepper stage without encoder (UTM50PP.1: 1 µm full step, 10 microsteps).
 */
const STORED: Record<string, { kind: ParamKind; value: number; min?: number; max?: number }> = {
  AE: { kind: 'float', value: 200, min: 0 },
  AF: { kind: 'float', value: 0 },
  BA: { kind: 'float', value: 0, min: 0 },
  CL: { kind: 'int', value: 0, min: 0 },
  CO: { kind: 'float', value: 0 },
  DB: { kind: 'int', value: 0, min: 0 },
  FE: { kind: 'float', value: 0.1, min: 0 },
  FR: { kind: 'float', value: 0.001, min: 0 },
  GR: { kind: 'float', value: 1 },
  JH: { kind: 'float', value: 10, min: 0 },
  JK: { kind: 'float', value: 1000, min: 0 },
  JW: { kind: 'float', value: 1, min: 0 },
  KD: { kind: 'float', value: 0, min: 0 },
  KI: { kind: 'float', value: 0, min: 0 },
  KP: { kind: 'float', value: 0, min: 0 },
  KS: { kind: 'float', value: 0, min: 0 },
  QG: { kind: 'float', value: 0, min: 0 },
  QI: { kind: 'float', value: 0.5, min: 0 },
  QM: { kind: 'int', value: 3, min: 0, max: 4 },
  QS: { kind: 'int', value: 10, min: 1 },
  QT: { kind: 'float', value: 0, min: 0 },
  QV: { kind: 'float', value: 24, min: 0 },
  SI: { kind: 'int', value: 1, min: 0 },
  SK: { kind: 'float', value: 0 },
  SS: { kind: 'int', value: 0, min: 0 },
  SU: { kind: 'float', value: 0.0001, min: 0 },
  TJ: { kind: 'int', value: 1, min: 1, max: 6 },
  VB: { kind: 'float', value: 0, min: 0 },
  VF: { kind: 'float', value: 0 },
  ZA: { kind: 'hex', value: 0x4c1, min: 0, max: 0xffff },
  ZB: { kind: 'hex', value: 0x0, min: 0, max: 0xffff },
  ZE: { kind: 'hex', value: 0x3, min: 0, max: 0xffff },
  ZF: { kind: 'hex', value: 0x3, min: 0, max: 0xffff },
  ZH: { kind: 'hex', value: 0x5, min: 0, max: 0xffff },
  ZS: { kind: 'hex', value: 0x5, min: 0, max: 0xffff },
};

/** Commands that take no parameter and only acknowledge by doing nothing visible here. */
const ACCEPTED_AXIS = new Set(['UF', 'QD']);

const AXIS_COMMANDS = new Set([
  'MO',
  'MF',
  'MD',
  'MV',
  'MT',
  'TP',
  'DP',
  'TV',
  'ID',
  'ST',
  'DH',
  'OR',
  'OM',
  'OH',
  'OL',
  'SH',
  'PA',
  'PR',
  'SL',
  'SR',
  'SN',
  'VA',
  'VU',
  'AC',
  'AG',
  'AU',
  'WS',
  ...ACCEPTED_AXIS,
  ...Object.keys(STORED),
]);

const hex = (n: number) => `${n.toString(16).toUpperCase()}H`;

interface Line {
  /** Instrument time, advanced by WS and by the silence after a limit. */
  t: number;
  replies: { text: string; at: number }[];
}

export class Esp300Simulator extends SerialSimulator {
  readonly axes: Esp300Axis[];
  readonly version: string;
  readonly limitSilenceMs: number;
  readonly replyMs: number;
  /** Command lines received with and without RTS/CTS set by the client (the manual asks for it). */
  readonly flowControl = { rtscts: 0, none: 0 };
  /** Errors not yet read by TE?/TB?, oldest first, as [code, instrument time ms]. */
  private readonly errors: [number, number][] = [];
  private readonly bootAt = performance.now();
  /** Instrument time the controller has reached (WS and limit silences move it ahead of the line). */
  private clock = 0;
  /** The controller answers nothing before this (after a stage hit a limit switch). */
  private silentUntil = -Infinity;
  /** A WS is holding the command buffer until this time (TX bit 1). */
  private waitingUntil = -Infinity;

  constructor(options: Esp300Options = {}) {
    super(options, 19200);
    const axes = options.axes ?? [{}, {}, {}];
    if (axes.length < 1 || axes.length > 3)
      throw new DaqError('DAQ_INVALID_ARGUMENT', `an ESP300 has one to three axes, got ${axes.length}`);
    this.axes = axes.map((a) => new Esp300Axis(a));
    for (const a of this.axes) for (const [k, p] of Object.entries(STORED)) a.params.set(k, p.value);
    this.version = options.version ?? 'ESP300 Version 3.04 07/27/01';
    const hardware = this.profile === 'hardware';
    this.limitSilenceMs = options.limitSilenceMs ?? (hardware ? 4000 : 0);
    this.replyMs = options.replyMs ?? (hardware ? 5 : 1);
    for (const code of options.errors ?? []) this.pushError(code, this.bootAt);
  }

  axis(n: number): Esp300Axis {
    const a = this.axes[n - 1];
    if (!a) throw new DaqError('DAQ_INVALID_ARGUMENT', `no axis ${n}: this ESP300 has axes 1-${this.axes.length}`);
    return a;
  }

  /** Errors waiting in the controller's buffer (codes, oldest first). */
  get pendingErrors(): number[] {
    this.fireLimits(performance.now());
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

  protected handle(text: string, at: number): Reply[] {
    const fc = this.clientFlowControl();
    if (fc) this.flowControl[fc.rtscts ? 'rtscts' : 'none']++;
    const line: Line = { t: Math.max(at, this.clock), replies: [] };
    for (const part of text.split(';')) {
      const cmd = part.trim();
      if (!cmd) continue;
      line.t = this.settle(line.t);
      const answer = this.command(cmd, line);
      if (answer !== undefined) line.replies.push({ text: answer, at: line.t });
    }
    this.clock = line.t;
    // Each query's answer is its own line, in order (assumption), ready when the controller reached it.
    return line.replies.map((r) => ({ text: `${r.text}\r\n`, afterMs: r.at - at + this.replyMs }));
  }

  /** Fires the limit switches reached by t; returns when the controller can take a command. */
  private settle(t: number): number {
    for (;;) {
      this.fireLimits(t);
      if (t >= this.silentUntil) return t;
      t = this.silentUntil;
    }
  }

  private fireLimits(t: number): void {
    const due = this.axes
      .map((axis, i) => ({ axis, n: i + 1, hit: axis.limitHit }))
      .filter((e): e is { axis: Esp300Axis; n: number; hit: LimitHit } => e.hit !== undefined && e.hit.at <= t)
      .sort((a, b) => a.hit.at - b.hit.at);
    for (const { axis, n, hit } of due) {
      axis.limitHit = undefined;
      this.pushError(n * 100 + hit.code, hit.at);
      this.silentUntil = Math.max(this.silentUntil, hit.at + this.limitSilenceMs);
    }
  }

  private pushError(code: number, at: number): undefined {
    this.errors.push([code, at]);
    if (this.errors.length > 10) this.errors.shift(); // the buffer keeps the last ten
    return undefined;
  }

  /** Servo ticks (400 µs) since power-up, as TB? stamps errors. */
  private ticks(at: number): number {
    return Math.max(0, Math.round((at - this.bootAt) / 0.4));
  }

  private command(text: string, line: Line): string | undefined {
    const at = line.t;
    const error = (code: number) => this.pushError(code, at);
    if (text.toUpperCase() === '*IDN?') return this.version; // answered on hardware (rust-daq findings)
    const m = /^(\d*)\s*([A-Za-z]{2})\s*(.*)$/.exec(text);
    if (!m) return error(6);
    const axisText = m[1]!;
    const name = m[2]!.toUpperCase();
    const param = m[3]!.trim();
    const query = param === '?' || (param === '' && READ_ONLY.has(name));
    const kind = STORED[name]?.kind;
    let num: number | undefined;
    if (param !== '' && param !== '?' && !(name === 'MV' || name === 'MT')) {
      num = kind === 'hex' ? parseHex(param) : Number(param);
      if (!Number.isFinite(num)) return error(7);
    }

    // Controller-wide commands.
    switch (name) {
      case 'VE':
        return this.version;
      case 'TE': {
        const e = this.errors.shift();
        return String(e ? e[0] : 0);
      }
      case 'TB': {
        const [code, ts] = this.errors.shift() ?? [0, at];
        return `${code}, ${this.ticks(ts)}, ${esp300ErrorMessage(code)}`;
      }
      case 'AB':
        for (const a of this.axes) a.stop(at, true);
        return undefined;
      case 'PH': {
        let w1 = 0;
        let w2 = 0;
        this.axes.forEach((a, i) => {
          const s = a.switchesAt(at);
          if (s.plus) w1 |= 1 << i;
          if (s.minus) w1 |= 1 << (i + 8);
          if (s.home) w2 |= 1 << i;
        });
        return `${hex(w1)}, ${hex(w2)}`;
      }
      case 'TS': {
        let bits = 0;
        this.axes.forEach((a, i) => {
          if (a.movingAt(at)) bits |= 1 << i;
        });
        if (this.axes.some((a) => a.motorOn)) bits |= 0x10;
        return String.fromCharCode(0x40 | bits);
      }
      case 'TX': {
        const moving = this.axes.some((a) => a.movingAt(at));
        return String.fromCharCode(0x40 | (moving ? 0x10 : 0) | (at < this.waitingUntil ? 0x02 : 0));
      }
    }
    if (axisText === '' && (name === 'ST' || name === 'WS')) {
      if (name === 'ST') for (const a of this.axes) a.stop(at);
      else this.waitFor(this.axes, num, line);
      return undefined;
    }
    if (!AXIS_COMMANDS.has(name)) return error(6);
    if (axisText === '') return error(37);
    const n = Number(axisText);
    const axis = this.axes[n - 1];
    if (!axis) return error(9);
    const axisError = (code: number) => error(n * 100 + code);
    const fmt = (x: number) => x.toFixed(5);
    const missing = num === undefined && !query;

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
        return fmt(axis.positionAt(at)); // the desired (setpoint) position: a perfect servo follows it
      case 'TV':
        return fmt(axis.velocityAt(at));
      case 'ID':
        return `${axis.model}, ${axis.serial}`;
      case 'ST':
        axis.stop(at);
        return undefined;
      case 'WS':
        if (num !== undefined && num < 0) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        this.waitFor([axis], num, line);
        return undefined;
      case 'MV':
      case 'MT': {
        if (param === '?') return axis.movingAt(at) ? '0' : '1'; // manual MV page: 3MV? -> 0 while moving
        if (param !== '+' && param !== '-') return param === '' ? error(38) : error(7);
        if (!axis.motorOn) return axisError(AxisError.MOTOR_NOT_ENABLED);
        // MV runs until ST or a limit switch (an error); MT looks for the switch (assumption: no error).
        axis.moveToward(param === '+' ? 1 : -1, at, name === 'MV');
        return undefined;
      }
      case 'DH':
        if (query) return fmt(axis.definedHome);
        if (axis.movingAt(at)) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        axis.define(num ?? 0, at);
        return undefined;
      case 'OR': {
        const mode = num ?? axis.homeMode;
        if (param === '?') return error(7);
        if (!(Number.isInteger(mode) && mode >= 0 && mode <= 6)) return error(7);
        if (!axis.motorOn) return axisError(AxisError.HOMING_ABORTED); // manual OR page (newportESP)
        if (!axis.home(mode, at, this.profile === 'hardware')) return axisError(AxisError.HOMING_ABORTED);
        return undefined;
      }
      case 'PA':
      case 'PR': {
        if (query) return fmt(axis.target);
        if (num === undefined) return error(38);
        const dest = name === 'PA' ? num : axis.positionAt(at) + num;
        if (!axis.motorOn) return axisError(AxisError.MOTOR_NOT_ENABLED);
        if (axis.homing && axis.movingAt(at)) return axisError(AxisError.COMMAND_NOT_ALLOWED_DURING_HOMING);
        if (dest > axis.rightLimit) return axisError(AxisError.POSITIVE_SOFTWARE_LIMIT);
        if (dest < axis.leftLimit) return axisError(AxisError.NEGATIVE_SOFTWARE_LIMIT);
        axis.moveTo(dest, at);
        return undefined;
      }
      case 'SN':
        if (query) return String(axis.units);
        if (missing) return error(38);
        if (!(Number.isInteger(num) && num! >= 0 && num! <= 11)) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        axis.units = num!; // a label only: nothing is converted (manual SN page)
        return undefined;
      case 'OM':
        if (query) return String(axis.homeMode);
        if (missing) return error(38);
        if (!(Number.isInteger(num) && num! >= 0 && num! <= 6)) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        axis.homeMode = num!;
        return undefined;
      case 'SH':
        if (query) return fmt(axis.homePreset);
        if (missing) return error(38);
        axis.homePreset = num!;
        return undefined;
      case 'SL':
      case 'SR':
        if (query) return fmt(name === 'SL' ? axis.leftLimit : axis.rightLimit);
        if (missing) return error(38);
        if (name === 'SL') axis.leftLimit = num!;
        else axis.rightLimit = num!;
        return undefined;
      case 'VA':
      case 'VU':
      case 'OH':
      case 'OL': {
        const field = ({ VA: 'velocity', VU: 'maxVelocity', OH: 'homeVelocity', OL: 'homeLowVelocity' } as const)[name];
        if (query) return fmt(axis[field]);
        if (missing) return error(38);
        if (num! <= 0) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        if (name !== 'VU' && num! > axis.maxVelocity) return axisError(AxisError.MAXIMUM_VELOCITY_EXCEEDED);
        axis[field] = num!;
        return undefined;
      }
      case 'AC':
      case 'AG':
      case 'AU':
        if (query) return fmt(name === 'AC' ? axis.acceleration : name === 'AG' ? axis.deceleration : axis.maxAcceleration);
        if (missing) return error(38);
        if (num! <= 0) return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
        if (name !== 'AU' && num! > axis.maxAcceleration) return axisError(AxisError.MAXIMUM_ACCELERATION_EXCEEDED);
        if (name === 'AC') axis.acceleration = num!;
        else if (name === 'AG') axis.deceleration = num!;
        else axis.maxAcceleration = num!;
        return undefined;
    }
    if (ACCEPTED_AXIS.has(name)) return undefined;
    const p = STORED[name];
    if (p) {
      const value = axis.params.get(name)!;
      if (query) return p.kind === 'hex' ? hex(value) : p.kind === 'int' ? String(value) : fmt(value);
      if (missing) return error(38);
      const v = num!;
      if (
        (p.kind !== 'float' && !Number.isInteger(v)) ||
        (p.min !== undefined && v < p.min) ||
        (p.max !== undefined && v > p.max)
      )
        return axisError(AxisError.PARAMETER_OUT_OF_RANGE);
      axis.params.set(name, v);
      return undefined;
    }
    return error(6);
  }

  /** WS: later commands wait until every axis in `axes` has stopped, then `delayMs` more. */
  private waitFor(axes: Esp300Axis[], delayMs: number | undefined, line: Line): void {
    const end = Math.max(line.t, ...axes.map((a) => a.motionEnd)) + (delayMs ?? 0);
    this.waitingUntil = end;
    line.t = end;
  }
}

/** A configuration word: hex with or without a trailing H (`0F25H`, `123`), per the manual's ZS page. */
function parseHex(text: string): number {
  const m = /^([0-9][0-9A-Fa-f]*)[Hh]?$/.exec(text);
  return m ? parseInt(m[1]!, 16) : NaN;
}
