// Spectra-Physics MaiTai Ti:Sapphire laser: SCPI-style commands with long and short forms,
// case-insensitive, ending CR, LF or both; replies end LF; 9600 8N1.
//
// Source: the MaiTai user's manual, chapter "The RS-232 Serial Port" (read as the markdown
// conversion found with the search tool): XON/XOFF flow control, 9600 at power-up; commands end
// CR, LF or both, replies LF; "the Mai Tai will not generate any signals on the RS-232 unless a
// query command is received" (set commands are silent); parameters follow a space (so
// `SHUTTER:1` is not understood, as seen on hardware); short form = first four letters, three if
// the fourth is a vowel; ON turns the pump on without opening the shutter and is an execution
// error while READ:PCTWarmedup? is 1-99; SHUTter? reads the old state for ~1 s after SHUTter n;
// WAVelength? returns the commanded value, READ:WAVelength? the actual one, which lags while
// tuning; *STB? bit 0 emission possible, bit 1 modelocked; SYSTem:ERR? pops the error buffer
// (1 CE command error, 2 EE execution error, 32 SE, 64 LO laser on, 128 AE any error);
// TIMer:WATChdog n turns the pump off after n s without a valid command.
// Hardware-observed formats (rust-daq docs, 2025-11): `820nm`, `100.00%`, `POWER?` answered.
// The manual does not refuse ON with the shutter open: that refusal is a driver's safety rule.

import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export interface MaiTaiOptions extends SerialSimulatorOptions {
  /** Commanded and actual wavelength at power-up (default 820 nm). */
  wavelengthNm?: number;
  minNm?: number;
  maxNm?: number;
  /** Output power while emitting (default 3.0 W). */
  powerW?: number;
  /** The laser's time to answer or take any command (default 100 ms). */
  replyMs?: number;
  /** Shutter travel time (default 1000 ms, the manual's "approximately 1 second"). */
  shutterMs?: number;
  /** Tuning speed (default 40 nm/s: assumption, the manual says only that it lags). */
  tuningNmPerS?: number;
  /** Warm-up time from power-up to 100 % (default 0: already warm). */
  warmupMs?: number;
  /** Time from ON until modelocked (default 500 ms: assumption). */
  modelockMs?: number;
  idn?: string;
}

export const MaiTaiErrorBits = { CMD_ERR: 1, EXE_ERR: 2, SYS_ERR: 32, LASER_ON: 64, ANY_ERR: 128 } as const;
const ERROR_NAMES: [number, string][] = [
  [1, 'CE'],
  [2, 'EE'],
  [32, 'SE'],
  [64, 'LO'],
  [128, 'AE'],
];

/** A keyword as the manual writes it: the capitals are the short form. */
function matches(token: string, mnemonic: string): boolean {
  const t = token.toUpperCase();
  const short = mnemonic.replace(/[a-z]/g, '');
  return t === mnemonic.toUpperCase() || t === short;
}

type Handler = (param: string | undefined, at: number) => string | undefined;

export class MaiTaiSimulator extends SerialSimulator {
  readonly minNm: number;
  readonly maxNm: number;
  powerW: number;
  readonly idn: string;
  private readonly replyMs: number;
  private readonly shutterMs: number;
  private readonly tuningNmPerMs: number;
  private readonly warmupMs: number;
  private readonly modelockMs: number;
  private readonly bootAt = performance.now();
  private commandedNm: number;
  private tune = { from: 0, to: 0, t0: 0, t1: 0 };
  private shutter = { from: false, to: false, at: 0 };
  /** When the pump was switched on (undefined: off). */
  private onSince: number | undefined;
  private watchdogS = 0;
  private lastValidAt = performance.now();
  private readonly errors: number[] = [];
  private readonly commands: { path: string[]; query: boolean; run: Handler }[];

  constructor(options: MaiTaiOptions = {}) {
    super(options, 9600);
    this.minNm = options.minNm ?? 690;
    this.maxNm = options.maxNm ?? 1040;
    this.powerW = options.powerW ?? 3.0;
    this.replyMs = options.replyMs ?? 100;
    this.shutterMs = options.shutterMs ?? 1000;
    this.tuningNmPerMs = (options.tuningNmPerS ?? 40) / 1000;
    this.warmupMs = options.warmupMs ?? 0;
    this.modelockMs = options.modelockMs ?? 500;
    this.idn = options.idn ?? 'Spectra Physics,MaiTai,3227/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057';
    this.commandedNm = options.wavelengthNm ?? 820;
    this.tune = { from: this.commandedNm, to: this.commandedNm, t0: 0, t1: 0 };
    const nm = (x: number) => `${Math.round(x)}nm`;
    this.commands = [
      { path: ['*IDN'], query: true, run: () => this.idn },
      { path: ['*STB'], query: true, run: (_p, at) => String(this.statusByte(at)) },
      { path: ['ON'], query: false, run: (p, at) => this.turnOn(p, at) },
      { path: ['OFF'], query: false, run: (p) => (p === undefined ? void (this.onSince = undefined) : this.fail(1)) },
      { path: ['SHUTter'], query: true, run: (_p, at) => (this.shutterOpenAt(at) ? '1' : '0') },
      { path: ['SHUTter'], query: false, run: (p, at) => this.setShutter(p, at) },
      { path: ['WAVelength'], query: true, run: () => nm(this.commandedNm) },
      { path: ['WAVelength'], query: false, run: (p, at) => this.setWavelength(p, at) },
      { path: ['WAVelength', 'MIN'], query: true, run: () => nm(this.minNm) },
      { path: ['WAVelength', 'MAX'], query: true, run: () => nm(this.maxNm) },
      { path: ['READ', 'WAVelength'], query: true, run: (_p, at) => nm(this.actualNmAt(at)) },
      { path: ['READ', 'POWer'], query: true, run: (_p, at) => this.power(at) },
      { path: ['POWer'], query: true, run: (_p, at) => this.power(at) }, // answered on hardware
      { path: ['READ', 'PCTWarmedup'], query: true, run: (_p, at) => `${this.warmedUpAt(at).toFixed(2)}%` },
      { path: ['SYSTem', 'ERRor'], query: true, run: (_p, at) => this.popError(at) },
      { path: ['TIMer', 'WATChdog'], query: false, run: (p) => this.setWatchdog(p) },
      { path: ['SAVe'], query: false, run: () => undefined },
    ];
  }

  /** Commanded wavelength, nm. */
  get wavelengthNm(): number {
    return this.commandedNm;
  }

  /** Actual wavelength now, nm (lags the commanded one while tuning). */
  get actualWavelengthNm(): number {
    return this.actualNmAt(performance.now());
  }

  get shutterOpen(): boolean {
    return this.shutterOpenAt(performance.now());
  }

  get emission(): boolean {
    return this.emittingAt(performance.now());
  }

  /** Errors waiting for SYSTem:ERR?, oldest first. */
  get pendingErrors(): number[] {
    return [...this.errors];
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  protected override commandTimeMs(): number {
    return this.replyMs;
  }

  protected handle(line: string, at: number): Reply[] {
    this.applyWatchdog(at);
    const text = line.trim();
    const space = text.search(/\s/);
    const header = space < 0 ? text : text.slice(0, space);
    const param = space < 0 ? undefined : text.slice(space).trim() || undefined;
    const query = header.endsWith('?');
    const tokens = (query ? header.slice(0, -1) : header).split(':');
    const cmd = this.commands.find(
      (c) => c.query === query && c.path.length === tokens.length && c.path.every((m, i) => matches(tokens[i]!, m)),
    );
    if (!cmd || (query && param !== undefined)) {
      this.fail(MaiTaiErrorBits.CMD_ERR);
      return [];
    }
    this.lastValidAt = at;
    const answer = cmd.run(param, at);
    return answer === undefined ? [] : [{ text: `${answer}\n`, afterMs: this.replyMs }];
  }

  private fail(bit: number): undefined {
    this.errors.push(bit);
    if (this.errors.length > 16) this.errors.shift();
    return undefined;
  }

  private popError(at: number): string {
    const on = this.emittingAt(at) ? MaiTaiErrorBits.LASER_ON : 0;
    const err = this.errors.shift();
    const value = on | (err === undefined ? 0 : err | MaiTaiErrorBits.ANY_ERR);
    const names = ERROR_NAMES.filter(([bit]) => value & bit).map(([, n]) => n);
    return names.length ? `${value} ${names.join(' + ')}` : '0';
  }

  private warmedUpAt(at: number): number {
    return this.warmupMs <= 0 ? 100 : Math.min(100, ((at - this.bootAt) / this.warmupMs) * 100);
  }

  private turnOn(param: string | undefined, at: number): undefined {
    if (param !== undefined) return this.fail(MaiTaiErrorBits.CMD_ERR);
    if (this.warmedUpAt(at) < 100) return this.fail(MaiTaiErrorBits.EXE_ERR);
    if (this.onSince === undefined) this.onSince = at;
    return undefined;
  }

  private emittingAt(at: number): boolean {
    if (this.onSince === undefined || at < this.onSince) return false;
    return !(this.watchdogS > 0 && at - this.lastValidAt > this.watchdogS * 1000);
  }

  private applyWatchdog(at: number): void {
    if (this.onSince !== undefined && !this.emittingAt(at) && at >= this.onSince) this.onSince = undefined;
  }

  private statusByte(at: number): number {
    const emitting = this.emittingAt(at);
    const tuning = at < this.tune.t1;
    const locked = emitting && !tuning && at - this.onSince! >= this.modelockMs;
    return (emitting ? 1 : 0) | (locked ? 2 : 0);
  }

  /** Output power as READ:POWer? reports it: measured inside the laser, before the shutter. */
  private power(at: number): string {
    return `${(this.emittingAt(at) ? this.powerW + this.readingOffset : 0).toFixed(2)}W`;
  }

  private shutterOpenAt(at: number): boolean {
    return at >= this.shutter.at + this.shutterMs ? this.shutter.to : this.shutter.from;
  }

  private setShutter(param: string | undefined, at: number): undefined {
    if (param !== '0' && param !== '1') return this.fail(param === undefined ? MaiTaiErrorBits.CMD_ERR : MaiTaiErrorBits.EXE_ERR);
    const open = param === '1';
    if (open !== this.shutter.to) this.shutter = { from: this.shutterOpenAt(at), to: open, at };
    return undefined;
  }

  private actualNmAt(at: number): number {
    const t = this.tune;
    if (at >= t.t1) return t.to;
    return t.from + ((t.to - t.from) * (at - t.t0)) / (t.t1 - t.t0);
  }

  private setWavelength(param: string | undefined, at: number): undefined {
    const nm = param === undefined ? NaN : Number(param);
    if (!Number.isFinite(nm)) return this.fail(MaiTaiErrorBits.CMD_ERR);
    if (nm < this.minNm || nm > this.maxNm) return this.fail(MaiTaiErrorBits.EXE_ERR);
    const from = this.actualNmAt(at);
    this.commandedNm = nm;
    this.tune = { from, to: nm, t0: at, t1: at + Math.abs(nm - from) / this.tuningNmPerMs };
    return undefined;
  }

  private setWatchdog(param: string | undefined): undefined {
    const s = param === undefined ? NaN : Number(param);
    if (!(s >= 0)) return this.fail(param === undefined ? MaiTaiErrorBits.CMD_ERR : MaiTaiErrorBits.EXE_ERR);
    this.watchdogS = s;
    return undefined;
  }
}
