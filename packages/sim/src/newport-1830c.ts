// Newport 1830-C optical power meter: one-letter commands (not SCPI), LF-terminated, 9600 8N1.
//
// Sources ([M] = Newport 1830-C user's manual, page numbers as printed; [LANTZ] =
// LabPy/lantz lantz/drivers/newport/powermeter1830c.py, "Source: Instruction Manual (Newport)";
// [INSTR] = mabuchilab/Instrumental instrumental/drivers/powermeters/newport.py; [HJ] = Hayden
// Jones, QuIN Lab, "Newport1830C v 1.0" GPIB driver; [RDAQ] = easternanemone/rust-daq
// crates/rust-daq/docs/reference/instruments/newport_1830c_findings.md, hardware-tested):
// - line: commands and replies end LF [M pg 21]; a CR before the LF is whitespace [M pg 21];
//   one letter, upper or lower case (`Rn or rn`, `Q? or q?`) [M pg 38-39]; decimal integers;
//   whitespace between a command and its parameter is optional [M pg 21]; 9600 8N1, no flow
//   control [LANTZ DEFAULTS, RDAQ].
// - set commands send nothing back [RDAQ "Configuration commands: NO RESPONSE"; every driver
//   writes them without reading]; queries answer one line.
// - echo: E0/E1/E?, RS-232 only [LANTZ]. Echo is OFF at power-up: LANTZ, INSTR and
//   TheFermiSea/pymodaq_plugins_urashg src/pymodaq_plugins_urashg/hardware/urashg/
//   newport1830c_controller.py query U?, W?, D? and parse the reply directly, never sending E0,
//   which fails with echo on; RDAQ "E0/E1 Echo off/on (default: off)". With `echo: true` (a
//   meter left in E1) the received line is sent back, then the reply (assumption: a whole line,
//   ending LF).
// - units U1 W, U2 dB (against the stored reference), U3 dBm, U4 REL [LANTZ values, HJ docstring
//   "1 is W, 2 is dB, 3 is dBm, and 4 is REL", INSTR get_units]; the reference is 1 mW at
//   power-up and S stores the present reading as the reference [INSTR set_units docstring, LANTZ].
// - D? in W: `+.7500E-9` (sign, leading-dot mantissa, exponent) [RDAQ saw `+.75E-9`, `+.11E-9`,
//   `5E-9`]; 4 mantissa digits: assumption. dB/dBm two decimals, REL four: assumption (the
//   manual's D? page was not readable). No text reply (ERR/OVER/UNDER/SAT) is documented anywhere:
//   D? always answers a number. Over range (OL) and saturation (SA) [M pg 7] are reported in the
//   status byte [M pg 38]; READ DONE stays low for such readings [M App. A]. While over
//   range D? gives the range's full scale (the converter clips), while saturated the detector's
//   saturation power (assumption for both). A fixed range reads in steps of 1/20000 of its full
//   scale (assumption), so a weak signal on a high range reads +.0000E+0. dB/dBm of a reading at
//   or below zero is taken at one such step (assumption).
// - Q? status byte [M pg 38, App. A]: 1 parameter error, 2 command error, 4 saturation,
//   8 over range, 16 MAV, 32 busy (auto-ranging, power-up, auto-calibration), 64 service request,
//   128 read done. C clears every bit but MAV [M pg 38]; READ DONE is cleared by D? or C and set
//   by the next reading that is neither over range nor saturated nor taken while busy [M App. A].
//   Error bits stay set until C (the manual names C as what clears them; Q? does not).
//   MAV is not reported over RS-232, where a reply goes out at once (assumption).
// - R0 auto, R1 lowest (highest gain) ... R8, one decade per step [M pg 39, LANTZ, HJ]; "the
//   lowest range for the germanium 818-IR detector is R3" [M pg 39] (R1/R2 refused as a parameter
//   error with that head: assumption). R? gives the range in use, 1-8, also in auto [INSTR
//   get_range]. R1 full scale 2 nW: assumption.
// - A OD3 attenuator in the responsivity (ATTN) [M pg 7, LANTZ, INSTR]: readings keep the true
//   power; the detector saturates and ranges 1000x higher. B beeper, K backlight 0-2, L lockout,
//   G0 hold / G1 run ("no new readings ... nor available on the remote interface bus" [M pg 7]),
//   Z1 subtracts the next reading / Z0 off, O auto-calibration (CAL, busy) [LANTZ, HJ, INSTR].
//   M service request enable register [M App. A figure 10]: 0-255 and M? (assumption).
// - W sets the calibration wavelength in integer nm, padded or not (`W0800` [RDAQ], `W633`
//   [LANTZ, INSTR, HJ]); W? answers four digits (`0800`) [RDAQ]. The range is the detector
//   head's (818-SL 400-1100, 818-IR 780-1800, 818-UV 200-1100 nm: Newport head specifications,
//   not in the manual pages read); a W outside it is ignored and sets the parameter-error bit
//   (assumption: inferred from the status byte's definition).
// - unknown commands are ignored and set the command-error bit [M pg 38]; a bad parameter value
//   is ignored and sets the parameter-error bit [M pg 38].
// - timing, profile 'hardware': a D? answers once a filtered reading is ready: slow 16, medium 4,
//   fast 1 conversions at 32 conversions/s (500 / 125 / 31 ms; filter sizes [LANTZ, INSTR, HJ],
//   conversion rate assumption; RDAQ measured D? under 500 ms); other queries 5 ms (assumption;
//   INSTR probes with Z? under a 100 ms timeout); set commands keep the meter busy 5 ms
//   (assumption; RDAQ waits 20-100 ms after them); O calibrates for 3 s (assumption). Profile
//   'fast' answers at once and calibrates for 50 ms.
// Light: the true optical power at the head is powerW, or comes from `opticalPower` (an optical
// bench: optical-bench.ts, wired by simulator-set.ts), sampled once per command.
// Power-up state: W, auto range, attenuator off, medium filter, echo off, running, zero off,
// 633 nm (wavelength, filter and units are as the front panel left them: start-state options).

import { DaqError } from '@daq/core';
import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export type Units = 1 | 2 | 3 | 4;
export type Filter = 1 | 2 | 3;
export type Detector = '818-SL' | '818-IR' | '818-UV';

/** Calibrated wavelength range and lowest signal range of each detector head. */
export const DETECTORS: Readonly<Record<Detector, { minNm: number; maxNm: number; lowestRange: number; powerUpNm: number }>> = {
  '818-SL': { minNm: 400, maxNm: 1100, lowestRange: 1, powerUpNm: 633 },
  '818-IR': { minNm: 780, maxNm: 1800, lowestRange: 3, powerUpNm: 1064 },
  '818-UV': { minNm: 200, maxNm: 1100, lowestRange: 1, powerUpNm: 633 },
};

export interface Newport1830COptions extends SerialSimulatorOptions {
  /** True optical power at the detector (in front of the attenuator, if fitted), in W. */
  powerW?: number;
  /**
   * The true optical power at time `at` (performance.now() time), in W, from whatever lights
   * the head (an optical bench): evaluated once per command the meter handles, replacing powerW.
   */
  opticalPower?: (at: number) => number;
  /** Detector head (default '818-SL'): decides the wavelengths W accepts and the lowest range. */
  detector?: Detector;
  /** Calibration wavelength at start, nm (default the head's: 633, IR head 1064); must lie in the detector's range. */
  wavelengthNm?: number;
  /** Echo received command lines (E1) at start; default false, as the meter powers up. */
  echo?: boolean;
  /** 1 W, 2 dB, 3 dBm, 4 REL (default 1), e.g. a meter left in dBm from the front panel. */
  units?: Units;
  /** 0 auto (default), 1-8 a fixed range. */
  range?: number;
  /** Attenuator in the responsivity (A1) at start; default false. */
  attenuator?: boolean;
  /** 1 slow, 2 medium, 3 fast (default 2). */
  filter?: Filter;
  /** The detector saturates above this, in W with the attenuator off (default 0.2 W); A1 raises it 1000-fold. */
  saturationW?: number;
  /** Auto-calibration (O) time in ms (default 3000 with profile 'hardware', 50 with 'fast'). */
  autoCalMs?: number;
}

/** Time for one filtered reading in ms: 16, 4 and 1 conversions at 32/s (profile 'hardware'). */
export const FILTER_MS = { 1: 500, 2: 125, 3: 31.25 } as const;
/** Reply time of a query other than D?, and busy time of a set command (profile 'hardware'). */
export const COMMAND_MS = 5;
/** Full scale of range 1; each range up is ten times more (assumption: R1 2 nW ... R8 20 mW). */
const RANGE1_FULL_SCALE_W = 2e-9;
/** Steps of a fixed range's full scale (assumption). */
const COUNTS = 20000;
/** The OD3 attenuator [M pg 7]. */
const ATTENUATION = 1000;

/** Status byte bits [M pg 38]. */
export const StatusBits = {
  PARAM_ERROR: 1,
  COMMAND_ERROR: 2,
  SATURATED: 4,
  OVER_RANGE: 8,
  MAV: 16,
  BUSY: 32,
  SERVICE_REQUEST: 64,
  READ_DONE: 128,
  /** Same bit as READ_DONE (older name). */
  READY_READING: 128,
} as const;

/** `+.7500E-9`: the 1830-C's Watts format, sign, leading-dot 4-digit mantissa, exponent. */
export function formatWatts(w: number): string {
  if (w === 0) return '+.0000E+0';
  const sign = w < 0 ? '-' : '+';
  let exp = Math.floor(Math.log10(Math.abs(w))) + 1;
  let mant = Math.round((Math.abs(w) / 10 ** exp) * 10000);
  if (mant >= 10000) {
    mant = 1000;
    exp += 1;
  }
  return `${sign}.${String(mant).padStart(4, '0')}E${exp < 0 ? '-' : '+'}${Math.abs(exp)}`;
}

function fullScale(range: number): number {
  return RANGE1_FULL_SCALE_W * 10 ** (range - 1);
}

function invalid(message: string): never {
  throw new DaqError('DAQ_INVALID_ARGUMENT', `Newport1830CSimulator: ${message}`);
}

export class Newport1830CSimulator extends SerialSimulator {
  readonly detector: Detector;
  echo: boolean;
  units: Units;
  wavelengthNm: number;
  /** 0 auto, 1-8 fixed. */
  range: number;
  attenuator: boolean;
  filter: Filter;
  beeper = true;
  lockout = false;
  /** Keypad/display backlight 0 off, 1 medium, 2 high. */
  backlight = 1;
  /** Service request enable register (M). */
  serviceRequestEnable = 0;
  /** G0 holds the display; D? then repeats the held reading. */
  hold = false;
  /** True optical power at the detector, in W (tests set it and know the expected reading). */
  powerW: number;
  /** When set, powerW follows it: sampled once at each command, so one reading is consistent. */
  opticalPower: ((at: number) => number) | undefined;
  /** The meter reads powerW × gain + offsetW (calibration error a test wants to see). */
  gain = 1;
  offsetW = 0;
  saturationW: number;
  readonly autoCalMs: number;
  /** Commands the meter did not understand (it ignores them and sets status bit 2). */
  unknownCommands = 0;
  private referenceW = 1e-3;
  private zeroW: number | undefined;
  private zeroPending = false;
  private heldW = 0;
  private holdSince = 0;
  private errorBits = 0;
  /** When READ DONE was last cleared (D? delivered a reading, or C). */
  private readTakenAt = Number.NEGATIVE_INFINITY;
  private calibratingUntil = Number.NEGATIVE_INFINITY;

  constructor(options: Newport1830COptions = {}) {
    super(options, 9600);
    this.detector = options.detector ?? '818-SL';
    const head = DETECTORS[this.detector];
    if (!head) invalid(`unknown detector "${String(options.detector)}": one of ${Object.keys(DETECTORS).join(', ')}`);
    this.powerW = options.powerW ?? 1e-3;
    this.opticalPower = options.opticalPower;
    this.wavelengthNm = options.wavelengthNm ?? head.powerUpNm;
    if (!Number.isInteger(this.wavelengthNm) || this.wavelengthNm < head.minNm || this.wavelengthNm > head.maxNm)
      invalid(`wavelength ${this.wavelengthNm} nm is outside the ${this.detector} head's ${head.minNm}-${head.maxNm} nm`);
    this.echo = options.echo ?? false;
    this.units = options.units ?? 1;
    if (![1, 2, 3, 4].includes(this.units)) invalid(`units must be 1-4, got ${this.units}`);
    this.range = options.range ?? 0;
    if (!Number.isInteger(this.range) || this.range < 0 || this.range > 8 || (this.range > 0 && this.range < head.lowestRange))
      invalid(`range must be 0 or ${head.lowestRange}-8 with the ${this.detector} head, got ${this.range}`);
    this.attenuator = options.attenuator ?? false;
    this.filter = options.filter ?? 2;
    if (![1, 2, 3].includes(this.filter)) invalid(`filter must be 1-3, got ${this.filter}`);
    this.saturationW = options.saturationW ?? 0.2;
    this.autoCalMs = options.autoCalMs ?? (this.profile === 'hardware' ? 3000 : 50);
  }

  /** Sets the true optical power (and optionally the meter's gain and offset). */
  setPower(powerW: number, calibration: { gain?: number; offsetW?: number } = {}): void {
    this.powerW = powerW;
    if (calibration.gain !== undefined) this.gain = calibration.gain;
    if (calibration.offsetW !== undefined) this.offsetW = calibration.offsetW;
  }

  /** What the meter measures now, in W (zero subtracted, held if G0). */
  get measuredW(): number {
    if (this.hold) return this.heldW;
    const raw = this.powerW * this.gain + this.offsetW;
    if (this.zeroPending) {
      this.zeroW = raw;
      this.zeroPending = false;
    }
    return raw - (this.zeroW ?? 0);
  }

  /** Power at the photodiode, in W (after the attenuator). */
  private get detectorW(): number {
    return Math.abs(this.measuredW) / (this.attenuator ? ATTENUATION : 1);
  }

  /** The range the meter is on: fixed, or the lowest one that holds the reading. */
  get rangeInUse(): number {
    if (this.range > 0) return this.range;
    const w = this.detectorW;
    for (let r = DETECTORS[this.detector].lowestRange; r < 8; r++) if (w <= fullScale(r)) return r;
    return 8;
  }

  get saturated(): boolean {
    return this.powerW / (this.attenuator ? ATTENUATION : 1) > this.saturationW;
  }

  get overRange(): boolean {
    return this.detectorW > fullScale(this.rangeInUse);
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  /** The meter's terminator is LF; a CR before it is whitespace. */
  protected override frame(input: Buffer): { commands: { text: string; end: number }[]; rest: Buffer } {
    const commands: { text: string; end: number }[] = [];
    let start = 0;
    for (let i = 0; i < input.length; i++) {
      if (input[i] !== 0x0a) continue;
      commands.push({ text: input.toString('latin1', start, i).replace(/\r$/, ''), end: i + 1 });
      start = i + 1;
    }
    return { commands, rest: input.subarray(start) };
  }

  protected override commandTimeMs(command: string): number {
    if (this.profile !== 'hardware') return 0;
    return /\?\s*$/.test(command) ? 0 : COMMAND_MS; // queries take their time in the reply
  }

  /** The reading D? answers, in W (offset for V4 included), before the unit conversion. */
  private readingW(): number {
    const att = this.attenuator ? ATTENUATION : 1;
    let w = this.measuredW + this.readingOffset;
    const range = this.rangeInUse;
    if (this.saturated) w = Math.sign(w || 1) * Math.min(Math.abs(w), this.saturationW * att);
    if (this.overRange) w = Math.sign(w) * fullScale(range) * att; // the converter clips
    if (this.range > 0) {
      const step = (fullScale(range) * att) / COUNTS;
      w = Math.round(w / step) * step;
    }
    return w;
  }

  private reading(): string {
    const w = this.readingW();
    if (this.units === 1) return formatWatts(w);
    if (this.units === 4) return (w / this.referenceW).toFixed(4);
    const floor = (fullScale(this.rangeInUse) * (this.attenuator ? ATTENUATION : 1)) / COUNTS;
    const p = Math.max(w, floor); // no logarithm of a non-positive reading: one step
    return (10 * Math.log10(p / (this.units === 3 ? 1e-3 : this.referenceW))).toFixed(2);
  }

  private busy(at: number): boolean {
    return at < this.calibratingUntil;
  }

  /** Time between readings: the filtered reading's time (profile 'hardware'), else none. */
  private get readingIntervalMs(): number {
    return this.profile === 'hardware' ? FILTER_MS[this.filter] : 0;
  }

  private statusByte(at: number): number {
    let s = this.errorBits;
    const busy = this.busy(at);
    if (busy) s |= StatusBits.BUSY;
    if (this.saturated) s |= StatusBits.SATURATED;
    if (this.overRange) s |= StatusBits.OVER_RANGE;
    // READ DONE: a reading taken since D? or C cleared it; none are taken while held or
    // calibrating, and the first comes one reading time after either.
    const since = Math.max(this.readTakenAt, this.calibratingUntil);
    const until = this.hold ? this.holdSince : at;
    const interval = this.readingIntervalMs;
    const taken = interval > 0 ? since + interval <= until : !this.hold || since < until;
    if (taken && !busy && !(s & (StatusBits.SATURATED | StatusBits.OVER_RANGE))) s |= StatusBits.READ_DONE;
    return s;
  }

  protected handle(line: string, at: number): Reply[] {
    // The light on the head when the meter takes this command (a reading, the status byte's
    // over-range and saturation bits, a zero or hold all see the same power).
    if (this.opticalPower) this.powerW = this.opticalPower(at);
    const out: Reply[] = [];
    if (this.echo) out.push({ text: `${line}\n` });
    const hardware = this.profile === 'hardware';
    const answer = (text: string | number, afterMs = hardware ? COMMAND_MS : 0) => out.push({ text: `${text}\n`, afterMs });
    const badParam = () => (this.errorBits |= StatusBits.PARAM_ERROR);
    const badCommand = () => {
      this.unknownCommands++;
      this.errorBits |= StatusBits.COMMAND_ERROR;
    };
    // Whitespace (any control character or space) is optional between a command and its parameter.
    const c = line.replace(/[\x00-\x20]+/g, '').toUpperCase();
    const m = /^([A-Z])(\?|[0-9]*)$/.exec(c);
    if (!m) {
      badCommand();
      return out;
    }
    const letter = m[1]!;
    const arg = m[2]!;
    const query = arg === '?';
    const value = arg === '' || query ? Number.NaN : Number(arg);
    const oneOf = (...allowed: number[]) => allowed.includes(value);
    switch (letter) {
      case 'D': {
        if (!query) {
          badCommand();
          return out;
        }
        let afterMs = 0;
        if (hardware) {
          // A new filtered reading (after a calibration, once it ends); a held one at once.
          afterMs = this.hold ? COMMAND_MS : Math.max(0, this.calibratingUntil - at) + FILTER_MS[this.filter];
        } else if (this.busy(at)) {
          afterMs = this.calibratingUntil - at;
        }
        answer(this.reading(), afterMs);
        this.readTakenAt = at + afterMs; // D? clears READ DONE
        return out;
      }
      case 'W':
        if (query) answer(String(this.wavelengthNm).padStart(4, '0'));
        else {
          const head = DETECTORS[this.detector];
          if (arg !== '' && arg.length <= 5 && value >= head.minNm && value <= head.maxNm) this.wavelengthNm = value;
          else badParam();
        }
        return out;
      case 'U':
        if (query) answer(this.units);
        else if (oneOf(1, 2, 3, 4)) this.units = value as Units;
        else badParam();
        return out;
      case 'R':
        if (query) answer(this.rangeInUse);
        else if (value === 0 || (value >= DETECTORS[this.detector].lowestRange && value <= 8)) this.range = value;
        else badParam();
        return out;
      case 'F':
        if (query) answer(this.filter);
        else if (oneOf(1, 2, 3)) this.filter = value as Filter;
        else badParam();
        return out;
      case 'K':
        if (query) answer(this.backlight);
        else if (oneOf(0, 1, 2)) this.backlight = value;
        else badParam();
        return out;
      case 'M':
        if (query) answer(this.serviceRequestEnable);
        else if (Number.isInteger(value) && value >= 0 && value <= 255) this.serviceRequestEnable = value;
        else badParam();
        return out;
      case 'A':
      case 'B':
      case 'E':
      case 'G':
      case 'L':
      case 'Z':
        if (query) answer(this.binary(letter) ? 1 : 0);
        else if (oneOf(0, 1)) this.setBinary(letter, value === 1, at);
        else badParam();
        return out;
      case 'S':
        if (arg !== '') {
          badCommand();
          return out;
        }
        this.referenceW = this.readingW(); // S stores the present reading as the reference for dB and REL
        return out;
      case 'C':
        if (arg !== '') {
          badCommand();
          return out;
        }
        this.errorBits = 0; // C clears every bit but MAV; a new reading sets READ DONE again
        this.readTakenAt = at;
        return out;
      case 'O':
        if (arg !== '') {
          badCommand();
          return out;
        }
        this.calibratingUntil = at + this.autoCalMs;
        return out;
      case 'Q':
        if (!query) {
          badCommand();
          return out;
        }
        answer(this.statusByte(at));
        return out;
    }
    badCommand();
    return out;
  }

  private binary(letter: string): boolean {
    if (letter === 'A') return this.attenuator;
    if (letter === 'B') return this.beeper;
    if (letter === 'E') return this.echo;
    if (letter === 'G') return !this.hold;
    if (letter === 'L') return this.lockout;
    return this.zeroW !== undefined || this.zeroPending;
  }

  private setBinary(letter: string, on: boolean, at: number): void {
    if (letter === 'A') this.attenuator = on;
    else if (letter === 'B') this.beeper = on;
    else if (letter === 'E') this.echo = on;
    else if (letter === 'L') this.lockout = on;
    else if (letter === 'G') {
      if (!on && !this.hold) {
        this.heldW = this.measuredW;
        this.holdSince = at;
      }
      this.hold = !on;
    } else {
      // Z1: the next reading becomes the background subtracted from all later ones.
      this.zeroPending = on;
      this.zeroW = undefined;
    }
  }
}
