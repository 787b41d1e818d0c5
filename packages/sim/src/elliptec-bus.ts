// A Thorlabs Elliptec bus: several ELLx modules at addresses 0-F behind one port, 9600 8N1.
//
// Sources ("manual" = Thorlabs "ELLx OEM/Bare modules protocol manual", Issue 10, Oct 2025, as
// shipped in few-cycle/Thorlabs-Elliptec-Motorized-Stages ellx-modules-protocol-manual.pdf):
// - manual §2.3, §3-5: 9600 8N1 no handshake; header = address 0-F + two lowercase letters,
//   data upper-case hex, big-endian, positions `long` (32-bit two's complement); replies end
//   CR LF; "if the time between each byte is longer than 2 seconds the packet is discarded";
//   "CR can be used to clear the receiving state machine ... or cancel a command not completed";
//   "error must be cleared reading module status" (`gs`: "once read the error value is cleared");
// - manual §7 table + "in": IN layout (type = model number in hex, serial, year, firmware,
//   hardware byte with bit 7 = imperial thread, travel, pulses per measurement unit); ELL16/ELL21
//   65536 pulses/rev, ELL17/ELL20 1024 pulses/mm, ELL15 1000; motors per model (ELL6: one);
// - real IN captures override the manual where they disagree: ELL14 reports 143360 pulses/rev,
//   not the manual's 262144 (rust-daq config/devices/ell14.toml; rust-daq
//   crates/rust-daq/docs/reference/instruments/elliptec_findings.md); sliders report 0 pulses,
//   not the manual example's 00000001, and an ELL9 reports 93 mm (0x5D) of travel, not 31:
//   ELL6K `0IN061060005120170801001F00000000`, ELL9 `0IN091090010620200801005D00000000`
//   (python-microscope/microscope issue 252);
// - manual "ma"/"mr"/"ho"/"fw": the reply is PO with the position when the move is complete,
//   GS on error; "ho" direction byte 0 cw / 1 ccw on rotary stages, "ignored" on others;
//   "gj"/"fw": a jog step of 0 makes ELL14 (and per "st", ELL16/ELL21) move continuously until
//   `st`, which answers GS ("RX AGS09 and/or AGS00"); other commands meanwhile answer busy;
//   "sv": "velocity less than 25% to 45% of max may cause the device to stall. Lowest acceptable
//   velocity to ELL16 and ELL21 is 50%"; "so": home offset; "f1"/"b1"/"f2"/"b2" not for
//   ELL16/ELL21; "i2"/"f2"/"b2"/"s2"/"c2" not for single-motor ELL6; "s1"/"s2"/"c1"/"c2" answer
//   GS00 "when accepted and completed" (c1: "up to 12 seconds"); "om" (ELL14/15/16/17/18/20/21)
//   and "cm" (ELL14/16/17/18/20/21) answer busy while running, GS00 at the end, take "several
//   minutes", and `st` aborts them (not the ELL16/ELL21 optimisation); "sk" GS00; "ca" answers
//   from the new address; "ga" listens to a group address for one move, answers GS00 from it;
//   "ah" (ELL15 only); "BS"/"BO" are sent unprompted for hardware-button moves (not ELL16/ELL21);
//   the slider command list (p. 49) has no "go"/"so", so sliders answer those with GS03;
// - sliders: slot positions in mm (pulses field 0), 31 mm pitch on ELL6/ELL9 (manual §7),
//   19 mm on ELL12 (manual §7); `ma` snaps down to a slot: 00-1E slot 0, 1F-3D slot 1, ...,
//   7C and above out of range (rwpeterson/elliptec elliptec/controller.py); `gp`/`fw`/`bw` report
//   the slot position, e.g. `0fw` -> `0PO0000001F`, `0bw` -> `0PO00000000` (a real ELL6K log
//   quoted in a public MATLAB ELL6K class); `ho` goes to slot 0 (Stuermer/ThorlabsELL9K stage.py, roesel/elliptec slider.py);
//   a slot change takes more than 500 ms on an ELL9 (micro-manager/mmCoreAndDevices
//   DeviceAdapters/ThorlabsElliptecSlider, and its page advising a 2 s timeout);
// - TapyrLabs/tl_elliptec tl_elliptec/bus.py + devices/base.py: `st` does not interrupt a bounded
//   move (confirmed on hardware there); a continuous jog's `fw` ends with a GS00 carrying no
//   position; interim GS09 frames may precede the final reply (firmwareQuirks.interimBusy);
// - AlexShkarin/pyLabLib pylablib/devices/Thorlabs/elliptec.py (tested on ELL14 and ELL18): a move
//   may end with GS02 (mechanical time-out) instead of PO; its move takes the FIRST reply as final,
//   so interim GS09 frames are off by default;
// - ELL18K manual (manualshive): motors are protected by a 2.5 s time-out (the stall's GS02);
// - rwpeterson/elliptec: lowercase hex digits are not accepted; on ELL14 the home offset can only
//   be changed by up to 90 degrees;
// - rust-daq crates/hardware/src/drivers/ell14.rs: short PO replies (`3PO`, `2POF`) from some
//   firmware, and IN replies of 33 data characters from "newer firmware" (no capture confirms
//   either: firmwareQuirks, off by default); default motor info `I1100B85FFFFFFFF00B7008D`
//   is a real ELL14 capture from the same repository's findings.
// Choices where the sources are silent are marked "assumption" below.

import { DaqError } from '@daq/core';
import { SerialSimulator, type FramedCommand, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export type ElliptecModel =
  'ELL6' | 'ELL9' | 'ELL12' | 'ELL14' | 'ELL15' | 'ELL16' | 'ELL17' | 'ELL18' | 'ELL20' | 'ELL21' | 'ELL22';

export type ElliptecKind = 'rotary' | 'linear' | 'slider' | 'iris';

/** What each kind of device is, for messages. */
export const KIND_NAMES: Readonly<Record<ElliptecKind, string>> = {
  rotary: 'a rotation mount',
  linear: 'a linear stage',
  slider: 'a slider',
  iris: 'an iris',
};

interface ModelSpec {
  type: number;
  kind: ElliptecKind;
  /** Travel in the IN reply: degrees (rotary) or mm. */
  travel: number;
  /** The IN reply's pulses field: per revolution (rotary), per mm (linear, iris), 0 (sliders). */
  pulses: number;
  rotary: boolean;
  /** Full speed in degrees or mm per second, profile "fast" (assumption). */
  speed: number;
  /** Full speed in profile "hardware" (assumption, see SPEEDS below). */
  hardwareSpeed: number;
  /** Sliders: number of slots and their pitch in mm. */
  slots?: number;
  pitch?: number;
  motors: 1 | 2;
  /** A jog step of 0 moves continuously until `st` (manual: ELL14, ELL16, ELL21). */
  continuousJog: boolean;
  /** `f1`/`b1`/`f2`/`b2` are accepted (manual: not ELL16/ELL21). */
  periodsSettable: boolean;
  /** Sends BS/BO for hardware-button moves (manual: not ELL16/ELL21). */
  buttonMessages: boolean;
  optimize: boolean;
  clean: boolean;
  /** Velocity settings below this percentage stall the motor (manual "sv"). */
  stallBelow: number;
  /** Power-up IN defaults. */
  year: number;
  firmware: string;
}

// Speeds (assumptions: the manual gives none). Fast profile: the speeds the simulator always had
// (360 deg/s, 60 mm/s). Hardware: an ELL14/ELL18 turns once in 1.5 s (drivers allow up to 5 s per
// full turn: rust-daq config/devices/ell14.toml), ELL16/21/22 in 2 s; a linear stage crosses
// 60 mm in 1.2 s (micro-manager's page advises 2 s timeouts for ELL17/ELL20); a slider changes
// slot in ~0.6 s (> the 500 ms micro-manager calls too short for an ELL9); an iris opens in ~1 s.
const rotary = (type: number, pulses: number, extra: Partial<ModelSpec> = {}): ModelSpec => ({
  type,
  kind: 'rotary',
  travel: 360,
  pulses,
  rotary: true,
  speed: 360,
  hardwareSpeed: 240,
  motors: 2,
  continuousJog: false,
  periodsSettable: true,
  buttonMessages: true,
  optimize: true,
  clean: true,
  stallBelow: 25,
  year: 2023,
  firmware: '17',
  ...extra,
});
const linear = (type: number, travel: number): ModelSpec => ({
  ...rotary(type, 1024),
  kind: 'linear',
  travel,
  rotary: false,
  speed: 60,
  hardwareSpeed: 50,
});
const slider = (type: number, slots: number, pitch: number, extra: Partial<ModelSpec> = {}): ModelSpec => ({
  ...rotary(type, 0),
  kind: 'slider',
  travel: (slots - 1) * pitch,
  rotary: false,
  speed: 310,
  hardwareSpeed: 50,
  slots,
  pitch,
  optimize: false,
  clean: false,
  stallBelow: 0, // assumption: velocity does not apply to sliders (manual "sv")
  ...extra,
});

const MODELS: Record<ElliptecModel, ModelSpec> = {
  ELL6: slider(0x06, 2, 31, { motors: 1, year: 2017, firmware: '08' }),
  ELL9: slider(0x09, 4, 31, { year: 2020, firmware: '08' }),
  // Assumption: 6 slots at 19 mm, travel field 5 x 19 = 95 by analogy with the ELL9's 93.
  ELL12: slider(0x0c, 6, 19),
  ELL14: rotary(0x0e, 143360, { continuousJog: true }),
  // Assumption: Ø10.5 mm reported as 10 (a whole-mm field), 1000 pulses/mm; home is wide open.
  ELL15: { ...linear(0x0f, 10), kind: 'iris', pulses: 1000, speed: 100, hardwareSpeed: 10, clean: false },
  ELL16: rotary(0x10, 65536, {
    continuousJog: true,
    periodsSettable: false,
    buttonMessages: false,
    stallBelow: 50,
    hardwareSpeed: 180,
  }),
  ELL17: linear(0x11, 28),
  // Assumption: like the ELL14 (the manual gives both 262144, which real ELL14s contradict).
  ELL18: rotary(0x12, 143360),
  ELL20: linear(0x14, 60),
  ELL21: rotary(0x15, 65536, {
    continuousJog: true,
    periodsSettable: false,
    buttonMessages: false,
    stallBelow: 50,
    hardwareSpeed: 180,
  }),
  // Assumption: not in Issue 10's table; type 22 = 0x16 by the model-number rule, like an ELL21.
  ELL22: rotary(0x16, 65536, { periodsSettable: false, buttonMessages: false, stallBelow: 50, hardwareSpeed: 180 }),
};

/** GS status codes (manual "gs" table). */
export const ElliptecStatus = {
  OK: 0x00,
  COMMUNICATION_TIMEOUT: 0x01,
  MECHANICAL_TIMEOUT: 0x02,
  COMMAND_ERROR: 0x03,
  VALUE_OUT_OF_RANGE: 0x04,
  MODULE_ISOLATED: 0x05,
  MODULE_OUT_OF_ISOLATION: 0x06,
  BUSY: 0x09,
  OUT_OF_RANGE: 0x0c,
} as const;

/** Replies reported from some firmware or units; all off by default (real captures show neither). */
export interface ElliptecFirmwareQuirks {
  /**
   * PO positions without leading zeros (rust-daq ell14.rs: `2POF`): "trim" sends `3PO0` at 0,
   * "empty" sends `3PO` at 0. Negative positions keep their 8 digits.
   */
  shortPosition?: 'trim' | 'empty';
  /** Characters appended to the IN data (rust-daq's "newer firmware: 33 data chars"), e.g. "000". */
  infoSuffix?: string;
  /** A GS09 frame as soon as a bounded move starts, before its final PO (tl_elliptec bus.py). */
  interimBusy?: boolean;
}

export interface ElliptecDeviceOptions {
  /** 0-9 or A-F. */
  address: string;
  model?: ElliptecModel;
  /** Eight characters. */
  serial?: string;
  year?: number;
  /** Two characters, as the IN reply shows them. */
  firmware?: string;
  /** Hardware release (0-127); the IN byte's bit 7 is the thread (set: imperial). */
  hardwareRelease?: number;
  imperial?: boolean;
  /** Initial position in pulses (sliders: mm, e.g. 31 for slot 1). */
  position?: number;
  /** Sliders: initial slot (0-based); overrides `position`. */
  slot?: number;
  /** Full speed in degrees or mm per second (default per model and profile). */
  speed?: number;
  /** Velocity setting in percent (`gv`), default 100. */
  velocity?: number;
  /** Jog step in pulses (`gj`); default 1 degree or 1 mm (sliders: the pitch). 0 = continuous. */
  jogStep?: number;
  /** Home offset in pulses (`go`); default 1 degree or 1 mm (assumption: the manual asks > 0.7 deg / 0.5 mm). */
  homeOffset?: number;
  /** Velocity settings below this percentage stall (GS02); default per model (manual "sv"). */
  stallBelowPercent?: number;
  /** Overrides the bus's `firmwareQuirks` for this device. */
  firmwareQuirks?: ElliptecFirmwareQuirks;
}

export interface ElliptecBusOptions extends SerialSimulatorOptions {
  devices: ElliptecDeviceOptions[];
  /** Time a device takes to answer a command, in ms (default 2; profile "hardware": 15). */
  responseMs?: number;
  /** Quirks every device on the bus shows (see ElliptecFirmwareQuirks). */
  firmwareQuirks?: ElliptecFirmwareQuirks;
}

/** A move: linear in time from `from` at t0 to `to` at t1 (unwrapped pulses). */
interface Motion {
  from: number;
  to: number;
  t0: number;
  /** Infinity for a continuous jog. */
  t1: number;
  /** Pulses per ms, signed (continuous jogs). */
  velocity: number;
  /** A continuous jog, which `st` ends. */
  jog: boolean;
}

/** A long operation (frequency search, current scan, optimisation, cleaning): busy until `until`. */
interface Process {
  command: string;
  until: number;
  timer?: NodeJS.Timeout;
}

interface ResolvedDeviceOptions {
  address: string;
  model: ElliptecModel;
  serial: string;
  year: number;
  firmware: string;
  hardwareRelease: number;
  imperial: boolean;
  position: number;
  speed: number;
  velocity?: number;
  jogStep?: number;
  homeOffset?: number;
  stallBelowPercent?: number;
  firmwareQuirks?: ElliptecFirmwareQuirks;
}

interface MotorInfo {
  current: number;
  forward: number;
  backward: number;
}

/** Factory motor periods (real ELL14 `I1100B85FFFFFFFF00B7008D`; motor 2 assumed alike). */
const FACTORY_MOTOR: MotorInfo = { current: 0x0b85, forward: 0x00b7, backward: 0x008d };

/** One device on the bus; positions are in pulses (sliders: mm). */
export class ElliptecDevice {
  readonly spec: ModelSpec;
  readonly model: ElliptecModel;
  address: string;
  jogStep: number;
  homeOffset: number;
  velocityPercent: number;
  stallBelowPercent: number;
  quirks: ElliptecFirmwareQuirks;
  /** The last error, reported (then cleared) by `gs`. */
  status: number = ElliptecStatus.OK;
  /** `ga`: a group address the device also listens to, until `groupUntil` (the end of a move). */
  group: string | undefined;
  groupUntil: number | undefined;
  /** `is`: the device ignores everything until then. */
  isolatedUntil = 0;
  /** ELL15 `ah`. */
  autoHoming = true;
  process: Process | undefined;
  readonly motors: [MotorInfo, MotorInfo] = [{ ...FACTORY_MOTOR }, { ...FACTORY_MOTOR }];
  private motion: Motion;

  constructor(readonly options: ResolvedDeviceOptions) {
    this.model = options.model;
    this.spec = MODELS[options.model];
    this.address = options.address;
    this.quirks = options.firmwareQuirks ?? {};
    this.velocityPercent = options.velocity ?? 100;
    this.stallBelowPercent = options.stallBelowPercent ?? this.spec.stallBelow;
    // Assumption: factory jog step 1 degree or 1 mm; a slider's is its pitch.
    this.jogStep = options.jogStep ?? this.spec.pitch ?? Math.round(this.pulsesPerUnit);
    this.homeOffset = options.homeOffset ?? (this.spec.kind === 'slider' ? 0 : Math.round(this.pulsesPerUnit));
    this.motion = { from: options.position, to: options.position, t0: 0, t1: 0, velocity: 0, jog: false };
  }

  get kind(): ElliptecKind {
    return this.spec.kind;
  }

  /** Pulses per degree or per mm (sliders: 1, positions are mm). */
  get pulsesPerUnit(): number {
    if (this.spec.kind === 'slider') return 1;
    return this.spec.rotary ? this.spec.pulses / this.spec.travel : this.spec.pulses;
  }

  /** Pulses in a full revolution or the full travel. */
  get range(): number {
    if (this.spec.kind === 'slider') return this.spec.travel;
    return this.spec.rotary ? this.spec.pulses : this.spec.travel * this.spec.pulses;
  }

  /** The current position (pulses). */
  get position(): number {
    return this.positionAt(performance.now());
  }

  get moving(): boolean {
    return this.movingAt(performance.now());
  }

  /** Sliders: the slot the device is at (or passing), 0-based. */
  get slot(): number {
    return this.slotOf(this.position);
  }

  slotOf(position: number): number {
    return Math.floor(position / this.spec.pitch!);
  }

  positionAt(t: number): number {
    const m = this.motion;
    let p: number;
    if (t >= m.t1) p = m.to;
    else if (m.t1 === Infinity) p = m.from + m.velocity * (t - m.t0);
    else p = m.from + ((m.to - m.from) * (t - m.t0)) / (m.t1 - m.t0);
    const pulses = Math.round(p);
    return this.spec.rotary ? this.wrap(pulses) : pulses;
  }

  movingAt(t: number): boolean {
    return t < this.motion.t1;
  }

  /**
   * A rotary mount's angle at `t` (performance.now() time) in degrees, 0 to < 360: the position
   * it reports (`gp`, also mid-move, without the V4 reading offset) divided by its pulses per
   * degree. What turns an optic it holds. Refused for linear stages, sliders and irises.
   */
  angleDegAt(t: number = performance.now()): number {
    if (!this.spec.rotary)
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `the ${this.model} at address ${this.address} is ${KIND_NAMES[this.kind]}, not a rotation mount`,
      );
    return this.positionAt(t) / this.pulsesPerUnit;
  }

  /** A continuous jog is under way at `t`. */
  joggingAt(t: number): boolean {
    return this.motion.jog && this.movingAt(t);
  }

  /** A long operation (s1, c1, om, cm...) is under way at `t`. */
  processAt(t: number): Process | undefined {
    if (this.process && t >= this.process.until) this.process = undefined;
    return this.process;
  }

  /** Listens to `address` at `t` through a `ga` group. */
  listensAt(address: string, t: number): boolean {
    if (this.group !== undefined && this.groupUntil !== undefined && t >= this.groupUntil) {
      this.group = this.groupUntil = undefined;
    }
    return this.group === address;
  }

  /** The velocity setting stalls the motor. */
  get stalls(): boolean {
    return this.velocityPercent < this.stallBelowPercent;
  }

  /** Pulses per ms at the current velocity setting (sliders ignore it: assumption). */
  private get pulsesPerMs(): number {
    const pct = this.spec.kind === 'slider' ? 100 : Math.max(this.velocityPercent, 1);
    return (this.options.speed * this.pulsesPerUnit * pct) / 100 / 1000;
  }

  /**
   * Starts a bounded move to `target` (pulses, unwrapped for rotary mounts) at time `at`;
   * returns its duration in ms, or undefined when a linear stage cannot get there.
   * `speedFactor` scales the speed (homing), `extraMs` adds time (the home search).
   */
  moveTo(target: number, at: number, speedFactor = 1, extraMs = 0): number | undefined {
    if (!this.spec.rotary && (target < 0 || target > this.range)) return undefined;
    const from = this.positionAt(at);
    // A rotary mount turns through `target - from` pulses and reports positions within one turn.
    const ms = Math.abs(target - from) / (this.pulsesPerMs * speedFactor) + extraMs;
    this.motion = { from, to: target, t0: at, t1: at + ms, velocity: 0, jog: false };
    return ms;
  }

  /** The motor stalls where it is for `ms` (busy meanwhile). */
  stall(at: number, ms: number): void {
    const here = this.positionAt(at);
    this.motion = { from: here, to: here, t0: at, t1: at + ms, velocity: 0, jog: false };
  }

  /** A continuous jog (jog step 0) in direction `sign` until `st`. */
  jog(sign: 1 | -1, at: number): void {
    const from = this.positionAt(at);
    const velocity = sign * this.pulsesPerMs;
    if (this.spec.rotary) this.motion = { from, to: from, t0: at, t1: Infinity, velocity, jog: true };
    else {
      // A linear device stops by itself at the end of its travel.
      const to = sign > 0 ? this.range : 0;
      this.motion = { from, to, t0: at, t1: at + Math.abs(to - from) / this.pulsesPerMs, velocity, jog: true };
    }
  }

  /** Stops where the device is at `at`. */
  stop(at: number): void {
    const here = this.positionAt(at);
    this.motion = { from: here, to: here, t0: at, t1: at, velocity: 0, jog: false };
  }

  identity(): string {
    const o = this.options;
    const hw = (o.imperial ? 0x80 : 0) | (o.hardwareRelease & 0x7f);
    return `IN${hex(this.spec.type, 2)}${o.serial}${String(o.year).padStart(4, '0')}${o.firmware}${hex(hw, 2)}${hex(this.spec.travel, 4)}${hex32(this.spec.pulses)}${this.quirks.infoSuffix ?? ''}`;
  }

  /** A position as this device's firmware writes it after PO. */
  positionText(p: number): string {
    const q = this.quirks.shortPosition;
    if (!q || p < 0) return hex32(p);
    if (p === 0 && q === 'empty') return '';
    return p.toString(16).toUpperCase();
  }

  private wrap(p: number): number {
    return ((p % this.range) + this.range) % this.range;
  }
}

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(width, '0').slice(-width);
}

/** 32-bit two's complement as 8 uppercase hex digits (positions, offsets, steps). */
export function hex32(n: number): string {
  return hex(n, 8);
}

/** Inverse of hex32. */
export function parseHex32(text: string): number {
  return parseInt(text, 16) | 0;
}

/** Data characters after the two command letters (manual command structures); others carry none. */
const DATA_LEN: Record<string, number> = {
  ma: 8,
  mr: 8,
  sj: 8,
  so: 8,
  ho: 1,
  sv: 2,
  ca: 1,
  ga: 1,
  ah: 1,
  is: 2,
  f1: 4,
  b1: 4,
  f2: 4,
  b2: 4,
};
const ADDRESS = /^[0-9A-F]$/;
/** The manual's inter-byte timeout: a packet left incomplete this long is discarded. */
const INTER_BYTE_TIMEOUT_MS = 2000;
/** Motor protection time-out (ELL18K manual): a stalled move gives up after this long. */
const STALL_MS = 2500;
/** Profile "hardware": homing searches at half the move speed plus a settle (assumption). */
const HOME_SPEED_FACTOR = 0.5;
const HOME_SEARCH_MS = 300;
/**
 * Long operations, ms [fast, hardware]: frequency search 5-10 s (rust-daq ell14.rs), current
 * scan "up to 12 seconds" (manual "c1"), optimise/clean "several minutes" (manual: 3 min assumed).
 */
const PROCESS_MS: Record<string, [number, number]> = {
  s1: [50, 6000],
  s2: [50, 6000],
  c1: [50, 12000],
  c2: [50, 12000],
  om: [300, 180000],
  cm: [300, 180000],
};

export class ElliptecBusSimulator extends SerialSimulator {
  private readonly byAddress = new Map<string, ElliptecDevice>();
  private readonly responseMs: number;
  /** Bytes skipped while looking for an address (bus noise, lowercase addresses). */
  garbageBytes = 0;
  /** Packets discarded incomplete (CR/LF or the 2 s inter-byte timeout). */
  discardedPackets = 0;

  constructor(options: ElliptecBusOptions) {
    super(options, 9600);
    const hardware = this.profile === 'hardware';
    // Assumption: a query is answered within a few ms (fast) or ~15 ms (hardware: drivers with
    // 0.2-0.5 s query timeouts work on real buses).
    this.responseMs = options.responseMs ?? (hardware ? 15 : 2);
    for (const d of options.devices) {
      const address = d.address.toUpperCase();
      if (!ADDRESS.test(address))
        throw new DaqError('DAQ_INVALID_ARGUMENT', `Elliptec address must be one of 0-9 or A-F, got "${d.address}"`);
      if (this.byAddress.has(address))
        throw new DaqError('DAQ_INVALID_ARGUMENT', `two Elliptec devices at address ${address}: give each its own address`);
      const model = d.model ?? 'ELL14';
      const spec = MODELS[model];
      if (!spec)
        throw new DaqError('DAQ_INVALID_ARGUMENT', `unknown Elliptec model "${model}": one of ${Object.keys(MODELS).join(', ')}`);
      if (d.slot !== undefined && (spec.kind !== 'slider' || !(d.slot >= 0 && d.slot < spec.slots!)))
        throw new DaqError('DAQ_INVALID_ARGUMENT', `${model} has no slot ${d.slot}`);
      const device = new ElliptecDevice({
        address,
        model,
        serial: (d.serial ?? `1140051${address}`).padStart(8, '0').slice(-8),
        year: d.year ?? spec.year,
        firmware: (d.firmware ?? spec.firmware).padStart(2, '0').slice(-2),
        hardwareRelease: d.hardwareRelease ?? 1,
        imperial: d.imperial ?? false,
        speed: d.speed ?? (hardware ? spec.hardwareSpeed : spec.speed),
        position: d.slot !== undefined ? d.slot * spec.pitch! : (d.position ?? 0),
        velocity: d.velocity,
        jogStep: d.jogStep,
        homeOffset: d.homeOffset,
        stallBelowPercent: d.stallBelowPercent,
        firmwareQuirks: { ...options.firmwareQuirks, ...d.firmwareQuirks },
      });
      this.byAddress.set(address, device);
    }
  }

  /** Every device, by its current address. */
  get devices(): ReadonlyMap<string, ElliptecDevice> {
    return this.byAddress;
  }

  device(address: string): ElliptecDevice {
    const d = this.byAddress.get(address.toUpperCase());
    if (!d) throw new DaqError('DAQ_INVALID_ARGUMENT', `no Elliptec device at address ${address} on this bus`);
    return d;
  }

  /** The angle in degrees of the rotation mount at `address` at time `at` (see ElliptecDevice.angleDegAt). */
  angleDeg(address: string, at: number = performance.now()): number {
    return this.device(address).angleDegAt(at);
  }

  /**
   * Someone presses the device's FWD or BWD button: it jogs (sliders: one slot), sends BS09
   * while moving and BO with the position when done (manual "BS"/"BO"; assumption: the status
   * sent while moving is busy). ELL16/ELL21 move but send neither.
   */
  pressButton(address: string, button: 'fw' | 'bw'): void {
    const dev = this.device(address);
    const at = performance.now();
    if (dev.movingAt(at) || dev.processAt(at)) return;
    const sign = button === 'fw' ? 1 : -1;
    const target =
      dev.kind === 'slider' ? (dev.slotOf(dev.positionAt(at)) + sign) * dev.spec.pitch! : dev.positionAt(at) + sign * dev.jogStep;
    if (dev.kind === 'slider' && (target < 0 || target > dev.range)) return;
    const ms = dev.moveTo(target, at);
    if (ms === undefined || !dev.spec.buttonMessages) return;
    this.sendLater({ text: `${dev.address}BS${hex(ElliptecStatus.BUSY, 2)}\r\n`, background: true });
    this.sendLater({ text: `${dev.address}BO${hex32(dev.positionAt(at + ms))}\r\n`, afterMs: ms, background: true });
  }

  override async close(): Promise<void> {
    for (const d of this.byAddress.values()) if (d.process?.timer) clearTimeout(d.process.timer);
    await super.close();
  }

  protected get replyTerminator(): string {
    return '\r\n';
  }

  protected override get partialTimeoutMs(): number {
    return INTER_BYTE_TIMEOUT_MS;
  }

  protected override onPartialTimeout(rest: Buffer): void {
    this.discardedPackets++;
    const dev = this.byAddress.get(String.fromCharCode(rest[0] ?? 0));
    if (dev) dev.status = ElliptecStatus.COMMUNICATION_TIMEOUT;
  }

  /**
   * No terminator: a packet is an address, two letters and the command's fixed number of data
   * characters. CR or LF between packets is ignored; inside one it discards the packet.
   */
  protected override frame(input: Buffer): { commands: FramedCommand[]; rest: Buffer } {
    const commands: FramedCommand[] = [];
    let i = 0;
    scan: while (i < input.length) {
      const first = String.fromCharCode(input[i]!);
      if (first === '\r' || first === '\n') {
        i++;
        continue;
      }
      if (!ADDRESS.test(first)) {
        this.garbageBytes++;
        i++;
        continue;
      }
      const known = Math.min(input.length, i + 3);
      for (let k = i + 1; k < known; k++) {
        if (input[k] === 0x0d || input[k] === 0x0a) {
          this.discardedPackets++;
          i = k + 1;
          continue scan;
        }
      }
      if (known < i + 3) break;
      const need = 3 + (DATA_LEN[input.toString('latin1', i + 1, i + 3)] ?? 0);
      const end = Math.min(input.length, i + need);
      for (let k = i + 3; k < end; k++) {
        if (input[k] === 0x0d || input[k] === 0x0a) {
          this.discardedPackets++;
          i = k + 1;
          continue scan;
        }
      }
      if (end < i + need) break;
      commands.push({ text: input.toString('latin1', i, end), end });
      i = end;
    }
    return { commands, rest: input.subarray(i) };
  }

  protected handle(command: string, at: number): Reply[] {
    const target = command[0]!;
    // The device at that address and those listening to it as a `ga` group; on a shared bus
    // their answers are "handled with a priority: address 0 first" (manual "ga").
    const devices = [...this.byAddress.values()]
      .filter((d) => d.address === target || d.listensAt(target, at))
      .sort((a, b) => a.address.localeCompare(b.address));
    return devices.flatMap((d) => this.handleDevice(d, command, at, d.address !== target));
  }

  private processMs(command: string): number {
    const [fast, hardware] = PROCESS_MS[command]!;
    return this.profile === 'hardware' ? hardware : fast;
  }

  private handleDevice(dev: ElliptecDevice, command: string, at: number, viaGroup: boolean): Reply[] {
    if (dev.isolatedUntil > at) return []; // isolated: it answers nothing (manual "is")
    if (dev.isolatedUntil > 0) {
      dev.isolatedUntil = 0;
      dev.status = ElliptecStatus.MODULE_OUT_OF_ISOLATION; // assumption: reported once by gs
    }
    const cmd = command.slice(1, 3);
    const data = command.slice(3);
    const addr = dev.address;
    const spec = dev.spec;
    const reply = (text: string, afterMs = this.responseMs): Reply[] => [{ text: `${addr}${text}\r\n`, afterMs }];
    const status = (code: number) => reply(`GS${hex(code, 2)}`);
    const fail = (code: number) => {
      dev.status = code;
      return status(code);
    };
    const unsupported = () => fail(ElliptecStatus.COMMAND_ERROR);
    const hardware = this.profile === 'hardware';

    // A continuous jog, an optimisation or cleaning answers everything but `st` with busy
    // (manual "fw": "otherwise the device will reply with status Busy"; "cm": "will reply busy").
    const process = dev.processAt(at);
    if ((process || dev.joggingAt(at)) && cmd !== 'st') return status(ElliptecStatus.BUSY);

    const busy = dev.movingAt(at);
    const move = (targetPos: number, home = false): Reply[] => {
      if (busy) return fail(ElliptecStatus.BUSY);
      if (dev.stalls) {
        // The motor does not move at this velocity; its protection gives up (GS02).
        dev.stall(at, hardware ? STALL_MS : 0);
        dev.status = ElliptecStatus.MECHANICAL_TIMEOUT;
        return [
          {
            text: `${addr}GS${hex(ElliptecStatus.MECHANICAL_TIMEOUT, 2)}\r\n`,
            afterMs: this.responseMs + (hardware ? STALL_MS : 0),
            background: true,
          },
        ];
      }
      const slow = home && hardware && spec.kind !== 'slider';
      const ms = dev.moveTo(targetPos, at, slow ? HOME_SPEED_FACTOR : 1, slow ? HOME_SEARCH_MS : 0);
      // Assumption: a device refuses a target beyond its travel with GS0C and stays put.
      if (ms === undefined) return fail(ElliptecStatus.OUT_OF_RANGE);
      if (viaGroup) dev.groupUntil = at + ms; // back to its own address once the move is done
      const out: Reply[] = [];
      if (dev.quirks.interimBusy)
        out.push({ text: `${addr}GS${hex(ElliptecStatus.BUSY, 2)}\r\n`, afterMs: this.responseMs, background: true });
      out.push({
        text: `${addr}PO${dev.positionText(dev.positionAt(at + ms))}\r\n`,
        afterMs: this.responseMs + ms,
        background: true,
      });
      return out;
    };
    /** Sliders: the slot a position value selects, or undefined beyond the last (rwpeterson map). */
    const slotMove = (value: number): Reply[] => {
      const slot = value < 0 ? -1 : dev.slotOf(value);
      if (slot < 0 || slot >= spec.slots!) {
        if (busy) return fail(ElliptecStatus.BUSY);
        return fail(ElliptecStatus.OUT_OF_RANGE); // assumption: GS0C, like a stage beyond its travel
      }
      return move(slot * spec.pitch!);
    };
    /** A long operation answered when done: queued, cannot be stopped. */
    const longProcess = (): Reply[] => {
      if (busy) return fail(ElliptecStatus.BUSY);
      const ms = this.processMs(cmd);
      dev.process = { command: cmd, until: at + ms };
      return [{ text: `${addr}GS00\r\n`, afterMs: this.responseMs + ms, background: true }];
    };
    const motor = cmd.endsWith('2') ? 2 : 1;
    const motorExists = motor === 1 || spec.motors === 2;
    // Data must be uppercase hex (rwpeterson/elliptec: a-f are not accepted).
    const hexData = (len: number) => new RegExp(`^[0-9A-F]{${len}}$`).test(data);
    const slider = spec.kind === 'slider';

    switch (cmd) {
      case 'in':
        return reply(dev.identity());
      case 'gs': {
        if (busy) return status(ElliptecStatus.BUSY);
        const code = dev.status;
        dev.status = ElliptecStatus.OK; // reading the status clears it
        return status(code);
      }
      case 'gp':
        return reply(`PO${dev.positionText(dev.positionAt(at) + Math.round(this.readingOffset))}`);
      case 'ma':
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        return slider ? slotMove(parseHex32(data)) : move(parseHex32(data));
      case 'mr':
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        return slider ? slotMove(dev.positionAt(at) + parseHex32(data)) : move(dev.positionAt(at) + parseHex32(data));
      case 'ho': {
        if (slider) return move(0); // slot 0
        // "For other stages, byte 3 is ignored."
        if (spec.rotary && data !== '0' && data !== '1') return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        // Home reads position 0; a rotary mount gets there turning cw (0: down) or ccw (1: up).
        if (spec.kind === 'iris') return move(dev.range, true); // assumption: an iris homes wide open
        return move(spec.rotary && data === '1' && dev.positionAt(at) !== 0 ? dev.range : 0, true);
      }
      case 'fw':
      case 'bw': {
        const sign = cmd === 'fw' ? 1 : -1;
        if (busy) return fail(ElliptecStatus.BUSY);
        if (slider) {
          const slot = dev.slotOf(dev.positionAt(at)) + sign;
          // Assumption: past the first or last slot the slider stays and answers GS0C.
          if (slot < 0 || slot >= spec.slots!) return fail(ElliptecStatus.OUT_OF_RANGE);
          return move(slot * spec.pitch!);
        }
        if (dev.jogStep !== 0 || !spec.continuousJog) {
          // Assumption: a jog step of 0 on a model without continuous motion is a move of 0.
          return move(dev.positionAt(at) + sign * dev.jogStep);
        }
        if (dev.stalls) return move(dev.positionAt(at)); // the stall path
        dev.jog(sign, at);
        // The move is incomplete: a status message (manual "fw"); GS00 comes with `st`.
        return status(ElliptecStatus.BUSY);
      }
      case 'st':
        if (dev.joggingAt(at)) {
          dev.stop(at);
          return status(ElliptecStatus.OK);
        }
        if (process && (process.command === 'om' || process.command === 'cm')) {
          // ELL16/ELL21: "the optimization process must not be interrupted".
          if (process.command === 'om' && (dev.model === 'ELL16' || dev.model === 'ELL21')) return status(ElliptecStatus.BUSY);
          if (process.timer) clearTimeout(process.timer);
          dev.process = undefined;
          return status(ElliptecStatus.OK);
        }
        // Bounded moves and frequency searches run to the end (tl_elliptec, hardware-confirmed).
        return status(busy || process ? ElliptecStatus.BUSY : ElliptecStatus.OK);
      case 'gj':
        return reply(`GJ${hex32(dev.jogStep)}`);
      case 'sj':
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        if (!slider) dev.jogStep = parseHex32(data); // assumption: a slider always jogs one slot
        return status(ElliptecStatus.OK);
      case 'go':
        if (slider) return unsupported();
        return reply(`HO${hex32(dev.homeOffset)}`);
      case 'so': {
        if (slider) return unsupported();
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        const offset = parseHex32(data);
        // rwpeterson/elliptec: an ELL14's offset can be changed by up to 90 degrees.
        if (spec.rotary && Math.abs(offset) > 90 * dev.pulsesPerUnit) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.homeOffset = offset;
        return status(ElliptecStatus.OK);
      }
      case 'gv':
        return reply(`GV${hex(dev.velocityPercent, 2)}`);
      case 'sv': {
        const pct = hexData(2) ? parseInt(data, 16) : NaN;
        if (!(pct >= 0 && pct <= 100)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.velocityPercent = pct;
        return status(ElliptecStatus.OK);
      }
      case 'ca': {
        if (!ADDRESS.test(data) || (data !== addr && this.byAddress.has(data))) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        this.byAddress.delete(addr);
        dev.address = data;
        this.byAddress.set(data, dev);
        return [{ text: `${data}GS00\r\n`, afterMs: this.responseMs }]; // answered from the new address
      }
      case 'ga':
        if (!ADDRESS.test(data)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.group = data === addr ? undefined : data;
        dev.groupUntil = undefined;
        return [{ text: `${data}GS00\r\n`, afterMs: this.responseMs }]; // "reply 0gs00 from the new address"
      case 'us':
      case 'sk':
        return status(ElliptecStatus.OK); // settings are kept anyway; the frequency search is not simulated
      case 'i1':
      case 'i2': {
        if (!motorExists) return unsupported();
        const m = dev.motors[motor - 1]!;
        // loop (1 = on), motor state (1 = energised: while moving), current, ramps (FFFF: undefined), periods
        return reply(`I${motor}1${busy ? 1 : 0}${hex(m.current, 4)}FFFFFFFF${hex(m.forward, 4)}${hex(m.backward, 4)}`);
      }
      case 'f1':
      case 'b1':
      case 'f2':
      case 'b2': {
        if (!motorExists || !spec.periodsSettable) return unsupported();
        if (!hexData(4)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        const m = dev.motors[motor - 1]!;
        const key = cmd[0] === 'f' ? 'forward' : 'backward';
        // "send 8FFF to restore the factory setting"; the top bit is a flag (manual "f1").
        m[key] = data === '8FFF' ? FACTORY_MOTOR[key] : parseInt(data, 16) & 0x7fff;
        return status(ElliptecStatus.OK);
      }
      case 's1':
      case 's2':
      case 'c1':
      case 'c2':
        if (!motorExists) return unsupported();
        return longProcess();
      case 'om':
      case 'cm': {
        if (!(cmd === 'om' ? spec.optimize : spec.clean)) return unsupported();
        if (busy) return fail(ElliptecStatus.BUSY);
        const ms = this.processMs(cmd);
        const proc: Process = { command: cmd, until: at + ms };
        // Busy now, "no errors" at the end unless `st` aborts it first.
        proc.timer = setTimeout(
          () => {
            if (dev.process !== proc) return;
            dev.process = undefined;
            this.sendLater({ text: `${dev.address}GS00\r\n`, background: true });
          },
          Math.max(0, at + ms - performance.now()),
        );
        dev.process = proc;
        return status(ElliptecStatus.BUSY);
      }
      case 'is': {
        if (!hexData(2)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        const minutes = parseInt(data, 16);
        if (minutes === 0) return status(ElliptecStatus.OK); // assumption
        dev.isolatedUntil = at + minutes * 60_000;
        return []; // "it will not reply for the specified time period"
      }
      case 'ah': {
        if (spec.kind !== 'iris') return unsupported();
        if (data !== '0' && data !== '1') return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.autoHoming = data === '1';
        // "If the move is complete, the device will send the home position" (assumption: ah1 homes now).
        return dev.autoHoming ? move(dev.range, true) : reply(`PO${dev.positionText(dev.positionAt(at))}`);
      }
      default:
        return unsupported();
    }
  }
}
