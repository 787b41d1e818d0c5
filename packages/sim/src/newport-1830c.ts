// Newport 1830-C optical power meter: single-letter commands (not SCPI), LF-terminated, 9600 8N1.
//
// Sources (the 1830-C manual itself was not readable here):
// - /work/shared/PROTOCOLS.md (commands, D? formats, 300-1100 nm, filter timing);
// - mabuchilab/Instrumental drivers/powermeters/newport.py (driver for the 1830-C): set
//   commands are plain writes with no reply; R? gives the range in use (1-8) even in auto;
//   Q? status byte (1 parameter error, 2 command error, 4 saturated, 8 over range, 32 busy,
//   128 reading ready); S stores the reference (1 mW at power-up) used by dB and REL; Z1
//   subtracts the next reading as background; G0 holds the display, G1 runs; L lockout;
//   filters: slow 16-reading average, medium 4, fast none;
// - rust-daq docs (hardware-tested): "+.11E-9", "+.75E-9" readings, no reply to A0/A1/F1-F3,
//   E0/E1 echo off/on, B0/B1 beeper.
// The "one line after a set command" seen on hardware is the echo: with echo on (E1) the
// meter sends each received command line back, so a driver's first set command (`E0`)
// returns one line ("E0"); after E0, set commands are silent. Power-up echo is an option
// (default on, which reproduces that observation).

import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export interface Newport1830COptions extends SerialSimulatorOptions {
  /** True optical power at the detector, in W. */
  powerW?: number;
  wavelengthNm?: number;
  /** Echo received command lines (E1); default true. */
  echo?: boolean;
  /** 1 slow, 2 medium, 3 fast (default 2). */
  filter?: 1 | 2 | 3;
  /** The detector saturates above this, in W with the attenuator off (default 0.2 W); A1 raises it 100-fold. */
  saturationW?: number;
}

export type Units = 1 | 2 | 3 | 4;

/** Time for one reading with each filter, in ms (assumption: 32 conversions/s, averaged 16, 4, 1). */
export const FILTER_MS = { 1: 500, 2: 125, 3: 31.25 } as const;
/** Full scale of range 1; each range up is ten times more (assumption: R1 2 nW ... R8 20 mW). */
const RANGE1_FULL_SCALE_W = 2e-9;
/** Status byte bits (Instrumental's newport.py). */
export const StatusBits = {
  PARAM_ERROR: 1,
  COMMAND_ERROR: 2,
  SATURATED: 4,
  OVER_RANGE: 8,
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

export class Newport1830CSimulator extends SerialSimulator {
  echo: boolean;
  units: Units = 1;
  wavelengthNm: number;
  /** 0 auto, 1-8 fixed. */
  range = 0;
  attenuator = false;
  filter: 1 | 2 | 3;
  beeper = true;
  lockout = false;
  /** G0 holds the display; D? then repeats the held reading. */
  hold = false;
  /** True optical power at the detector, in W (tests set it and know the expected reading). */
  powerW: number;
  /** The meter reads powerW × gain + offsetW (calibration error a test wants to see). */
  gain = 1;
  offsetW = 0;
  saturationW: number;
  /** Commands the meter did not understand (it ignores them and sets status bit 2). */
  unknownCommands = 0;
  private referenceW = 1e-3;
  private zeroW: number | undefined;
  private zeroPending = false;
  private heldW = 0;
  private errorBits = 0;

  constructor(options: Newport1830COptions = {}) {
    super(options, 9600);
    this.powerW = options.powerW ?? 1e-3;
    this.wavelengthNm = options.wavelengthNm ?? 633;
    this.echo = options.echo ?? true;
    this.filter = options.filter ?? 2;
    this.saturationW = options.saturationW ?? 0.2;
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

  /** The range the meter is on: fixed, or the lowest one that holds the reading. */
  get rangeInUse(): number {
    if (this.range > 0) return this.range;
    const w = Math.abs(this.measuredW);
    for (let r = 1; r < 8; r++) if (w <= fullScale(r)) return r;
    return 8;
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  /** The meter's terminator is LF; a CR before it is tolerated. */
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

  private saturated(): boolean {
    return this.powerW > this.saturationW * (this.attenuator ? 100 : 1);
  }

  private reading(): string {
    if (this.saturated()) return 'SAT';
    const w = this.measuredW + this.readingOffset;
    if (this.range > 0) {
      if (Math.abs(w) > fullScale(this.range)) return 'OVER';
      if (Math.abs(w) < fullScale(this.range) / 20000) return 'UNDER'; // below one display count
    }
    if (this.units === 1) return formatWatts(w);
    if (this.units === 4) return (w / this.referenceW).toFixed(4);
    if (w <= 0) return 'ERR'; // no logarithm of a non-positive power
    return (10 * Math.log10(w / (this.units === 2 ? 1e-3 : this.referenceW))).toFixed(2);
  }

  private statusByte(): number {
    let s = this.errorBits | StatusBits.READY_READING;
    if (this.saturated()) s |= StatusBits.SATURATED;
    if (this.range > 0 && Math.abs(this.measuredW) > fullScale(this.range)) s |= StatusBits.OVER_RANGE;
    this.errorBits = 0; // reading the status byte clears its error bits (assumption)
    return s;
  }

  protected handle(line: string, _at: number): Reply[] {
    const out: Reply[] = [];
    if (this.echo) out.push({ text: `${line}\n` });
    const c = line.trim().toUpperCase();
    const answer = (text: string | number, afterMs = 0) => out.push({ text: `${text}\n`, afterMs });
    const flag = (on: boolean) => (on ? 1 : 0);
    const badParam = () => (this.errorBits |= StatusBits.PARAM_ERROR);
    const m = /^([A-Z])(\?|\d*)$/.exec(c);
    const letter = m?.[1];
    const arg = m?.[2] ?? '';
    const value = Number(arg);
    const query = arg === '?';
    switch (letter) {
      case 'D':
        if (query) answer(this.reading(), FILTER_MS[this.filter]);
        else break;
        return out;
      case 'W':
        if (query) answer(String(this.wavelengthNm).padStart(4, '0'));
        else if (arg !== '' && value >= 300 && value <= 1100) this.wavelengthNm = value;
        else badParam();
        return out;
      case 'U':
        if (query) answer(this.units);
        else if (value >= 1 && value <= 4 && arg.length === 1) this.units = value as Units;
        else badParam();
        return out;
      case 'R':
        if (query) answer(this.rangeInUse);
        else if (arg.length === 1 && value >= 0 && value <= 8) this.range = value;
        else badParam();
        return out;
      case 'F':
        if (query) answer(this.filter);
        else if (arg.length === 1 && value >= 1 && value <= 3) this.filter = value as 1 | 2 | 3;
        else badParam();
        return out;
      case 'A':
      case 'B':
      case 'E':
      case 'G':
      case 'L':
      case 'Z':
        if (query) answer(flag(this.binary(letter)));
        else if (arg === '0' || arg === '1') this.setBinary(letter, arg === '1');
        else badParam();
        return out;
      case 'S':
        if (arg !== '') break;
        this.referenceW = this.measuredW; // S stores the reference for dB and REL
        return out;
      case 'Q':
        if (!query) break;
        answer(this.statusByte());
        return out;
    }
    this.unknownCommands++;
    this.errorBits |= StatusBits.COMMAND_ERROR;
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

  private setBinary(letter: string, on: boolean): void {
    if (letter === 'A') this.attenuator = on;
    else if (letter === 'B') this.beeper = on;
    else if (letter === 'E') this.echo = on;
    else if (letter === 'L') this.lockout = on;
    else if (letter === 'G') {
      if (!on && !this.hold) this.heldW = this.measuredW;
      this.hold = !on;
    } else {
      // Z1: the next reading becomes the background subtracted from all later ones.
      this.zeroPending = on;
      this.zeroW = undefined;
    }
  }
}

function fullScale(range: number): number {
  return RANGE1_FULL_SCALE_W * 10 ** (range - 1);
}
