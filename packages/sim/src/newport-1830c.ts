// Newport 1830-C optical power meter: single-letter commands (not SCPI), LF-terminated,
// 9600 8N1. From PROTOCOLS.md and the 1830-C manual's command list. Reading: the meter
// powers up with echo on (E1), echoing each command line; that echo is the "one line after
// a set command" seen on hardware. Drivers send E0 first; then set commands are silent.

import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export interface Newport1830COptions extends SerialSimulatorOptions {
  /** True optical power at the detector, in W. */
  powerW?: number;
  wavelengthNm?: number;
}

/** Measurement time per filter setting (F1 slow, F2 medium, F3 fast), in ms. */
const FILTER_MS = { 1: 500, 2: 100, 3: 20 } as const;
/** Above this (W, attenuator off) the detector saturates. */
const SATURATION_W = 0.2;

/** `+.7500E-9`: the 1830-C's Watts format, a leading-dot mantissa. */
export function formatWatts(w: number): string {
  if (w === 0) return '+.0000E+0';
  const sign = w < 0 ? '-' : '+';
  const exp = Math.floor(Math.log10(Math.abs(w))) + 1;
  let mant = Math.round((Math.abs(w) / 10 ** exp) * 10000);
  let e = exp;
  if (mant >= 10000) {
    mant = 1000;
    e += 1;
  }
  return `${sign}.${String(mant).padStart(4, '0')}E${e < 0 ? '-' : '+'}${Math.abs(e)}`;
}

export class Newport1830CSimulator extends SerialSimulator {
  echo = true;
  units: 1 | 2 | 3 | 4 = 1;
  wavelengthNm: number;
  range = 0;
  attenuator = false;
  filter: 1 | 2 | 3 = 2;
  powerW: number;
  /** Added to every reading in W (tests use it to know the expected offset). */
  offsetW = 0;
  private zeroW = 0;
  private refW = 1e-3;
  /** Commands the meter did not understand (it ignores them). */
  unknownCommands = 0;

  constructor(options: Newport1830COptions = {}) {
    super(options, 9600);
    this.powerW = options.powerW ?? 1e-3;
    this.wavelengthNm = options.wavelengthNm ?? 633;
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  private reading(): string {
    const w = (this.attenuator ? this.powerW / 100 : this.powerW) + this.offsetW - this.zeroW;
    if (this.powerW > SATURATION_W * (this.attenuator ? 100 : 1)) return 'SAT';
    if (this.units === 1) return formatWatts(w);
    if (this.units === 2) return (10 * Math.log10(Math.max(w, 1e-15) / 1e-3)).toFixed(2);
    if (this.units === 3) return (10 * Math.log10(Math.max(w, 1e-15) / this.refW)).toFixed(2);
    return (w / this.refW).toFixed(4);
  }

  protected handle(command: string): Reply[] {
    const out: Reply[] = [];
    if (this.echo) out.push({ text: `${command}\n` });
    const c = command.trim().toUpperCase();
    const answer = (text: string, afterMs = 0) => out.push({ text: `${text}\n`, afterMs });
    let m: RegExpExecArray | null;
    if (c === 'D?') answer(this.reading(), FILTER_MS[this.filter]);
    else if (c === 'W?') answer(String(this.wavelengthNm).padStart(4, '0'));
    else if ((m = /^W(\d{1,4})$/.exec(c))) {
      const nm = Number(m[1]);
      if (nm >= 300 && nm <= 1100) this.wavelengthNm = nm;
    } else if (c === 'U?') answer(String(this.units));
    else if ((m = /^U([1-4])$/.exec(c))) {
      if (m[1] === '3' || m[1] === '4') this.refW = this.powerW; // dB and REL are relative to the reading when selected
      this.units = Number(m[1]) as 1 | 2 | 3 | 4;
    } else if (c === 'R?') answer(String(this.range));
    else if ((m = /^R([0-8])$/.exec(c))) this.range = Number(m[1]);
    else if (c === 'A?') answer(this.attenuator ? '1' : '0');
    else if ((m = /^A([01])$/.exec(c))) this.attenuator = m[1] === '1';
    else if (c === 'F?') answer(String(this.filter));
    else if ((m = /^F([1-3])$/.exec(c))) this.filter = Number(m[1]) as 1 | 2 | 3;
    else if (c === 'Z?') answer(this.zeroW ? '1' : '0');
    else if (c === 'Z1') this.zeroW = this.powerW;
    else if (c === 'Z0') this.zeroW = 0;
    else if (c === 'E0') this.echo = false;
    else if (c === 'E1') this.echo = true;
    else this.unknownCommands++;
    return out;
  }
}
