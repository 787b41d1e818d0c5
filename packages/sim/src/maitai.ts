// Spectra-Physics Mai Tai Ti:Sapphire laser: SCPI-style commands with long and short forms,
// case-insensitive, ending CR, LF or both; replies end LF; 9600 8N1 with XON/XOFF.
//
// Sources (M = Mai Tai User's Manual, chapter 6, sections "The RS-232 Serial Port",
// "Command/Query/Response Format", "Typical Command Usage", "Commands and Queries Used by the
// Mai Tai", Tables 6-1/6-2, Figures 6-2/6-3; drivers by repository and path):
// - Line: 8N1, XON/XOFF, never RTS/CTS; 9600 at power-up; SYSTem:COMMunications:SERial:BAUD
//   takes 300/600/1200/4800/19200/38400/57600 and XON/XOFF is used at every rate (M).
//   Flow control here: while it processes a command the laser sends XOFF (0x13), then XON
//   (0x11). A client whose tty has IXON (pyserial xonxoff=True, serialport xon/xoff) never sees
//   those bytes and its tty holds its output meanwhile; a client without flow control sees them
//   in its data, and what it sends while the laser is busy is lost (counted as overrun).
//   That XOFF covers the whole processing time is an assumption (the manual only names the
//   protocol); on by default in profile 'hardware' (`flowControl`).
// - Syntax: commands end CR, LF or both; replies end LF; parameters follow a space; short form
//   = first four letters (three if the fourth is a vowel), long and short forms mixed freely,
//   case-insensitive (M; lower case seen on hardware: easternanemone/rust-daq
//   crates/daq-driver-spectra-physics/src/maitai.rs). `SHUTTER:1` (colon) does nothing
//   (rust-daq docs/archive/MAITAI_SHUTTER_TEST_RESULTS.md). `READ:WAVELENGTH??` is not
//   understood (assumption).
// - Set commands are silent: "will not generate any signals on the RS-232 unless a query
//   command is received first" (M).
// - *IDN?: 4 fields (M); default is the hardware reply logged by rust-daq maitai.rs; the
//   early-model presets use the manual's example.
// - ON: pump on, shutter untouched; READ:PCTW? 0 -> starts ~2 min diode stabilisation, 1-99 ->
//   execution error, 100 -> on (M). After stabilisation the pump stays off until ON is sent
//   again (assumption). OFF: pump off, shutter untouched (M; BaselLaserMouse/LaserControl
//   code/+laserControl/maitai.m closes it first for that reason).
// - WAVelength n: commanded value, also resets RF phase and pump power to factory values;
//   WAVelength? the last accepted command; READ:WAVelength? the actual one, lagging while the
//   motors move (M). Replies `820nm` (rust-daq maitai.rs, hardware). Range per model: early
//   Mai Tai 750-850 or 780-920 nm (M); 690-1040 nm on the unit rust-daq validated
//   (maitai.rs). WAVelength:MIN?/MAX? answer them (M; acq4/acq4 acq4/drivers/MaiTai/maitai.py).
//   Out of range: nothing applied, execution error (Table 6-1 "properly formatted, but could
//   not be executed"; which error is an assumption, no capture exists). Tuning 40 nm/s:
//   assumption (rust-daq's operator docs: "several seconds").
// - SHUTter n / SHUTter?: SHUTter? reads the old state for ~1 s (M).
// - *STB?: 1 emission possible, 2 modelocked (M, *STB? section); not modelocked while tuning
//   (assumption). SYSTem:ERR?: a buffer of codes from Table 6-1 (1 CE, 2 EE, 32 SE, 64 LO,
//   128 AE), text as in Table 6-2 (`130 EE + AE`); the exact separator is an assumption.
// - READ:PCTWarmedup?: `050%` in the manual's early model, `100.00%` on the hardware rust-daq
//   logged. READ:POWer? `3.00W`-style (rust-daq: `3.000W`; BLM strips the `W`).
// - READ:HUMidity? (later heads; acq4 maitai.py, BLM maitai.m; `7.26%` per rust-daq's logs):
//   refused by the early-model presets (not in their manual).
// - MODE PPOWer|PCURrent, MODE? (M: powers up in PPOWer); replies `PPOW`/`PCUR`/`POW` as acq4
//   maitai.py maps them (`POW` = IR power, later heads).
// - PLASer:POWer n (0-5.0 W early model) / ?, PLASer:PCURrent n (0-20.0) / ?, READ:PLASer:
//   POWer?/PCURrent?/SHGS?/DIODe(n):CURRent?/DIODe(n):TEMPerature?, CONTrol:PHAse, CONTrol:
//   MLENable, PLASer:ERRCode?, PLASer:HISTory?/AHISTory? (M). Typical values from M (`75.1%`,
//   `20.5`, `0S`). Status codes of READ:AHIStory? / PLASer:AHISTory? (400 boot, 405 on, 406
//   off, 407-409 mode, 430 moving, 431 stable; pump 1 on, 5 off/ready, 56 watchdog expired),
//   READ:PDITher? (441/442/443) and CONTrol:PDITher from StPeres-Cerebellum/MaiTaiControl
//   driver/maitai.py. POWer? answers the output power on later heads (rust-daq
//   docs/architecture/03_hardware_communication.md, commit eb96352; refused by early models).
// - TIMer:WATChdog n: pump off after n s without a valid command, 0 disables (M); `TIM:WATC?`
//   answers it (BLM maitai.m, micro-manager usage). Power-up value 3 s: the manual's Setup
//   menu (Figure 6-2: "Watchdog Time 3.00") and BLM's "otherwise it will turn off again".
// - SAVe is accepted; nothing survives a new simulator (no persistence).
// - Timing, profile 'hardware': 2000 ms per reply (rust-daq 03_hardware_communication.md,
//   commit eb96352: "2000-3000 ms"); 500 ms per set command (acq4 maitai.py waits 0.5 s after
//   ON/OFF: assumption that this is the processing time). Profile 'fast': 100 ms for both.
// - Power-up state: warm (100 %: the manual's preferred day-to-day "off" keeps the power
//   supply on, the oven warm; assumption), pump off, shutter closed, PPOWer mode.
// - Tuning curve (option `tuningCurve`, off by default: the output is powerW at every
//   wavelength): a Ti:Sapphire laser gives most power near 800 nm and less toward the ends of
//   its range; modelled as a Gaussian of 150 nm standard deviation peaking at 800 nm with
//   powerW (assumption: the shape of the Mai Tai HP's published tuning curves, not their values).
// - The beam (`beamPowerW`, what a power meter in front of the laser sees): the output power
//   while emitting with the shutter open, else zero; it follows the actual wavelength while tuning.

import { DaqError } from '@daq/core';
import { byteTimeMs, SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

/** Tuning range and identity of a Mai Tai version. */
export type MaiTaiModel = 'HP' | 'early-750-850' | 'early-780-920';

export interface MaiTaiOptions extends SerialSimulatorOptions {
  /**
   * Which Mai Tai: 'HP' (default: 690-1040 nm, the hardware replies rust-daq logged) or an early
   * model from the manual (750-850 or 780-920 nm, manual's *IDN? and `050%` formats, no
   * READ:HUM? or POWer?). minNm/maxNm/idn override the preset.
   */
  model?: MaiTaiModel;
  /** Commanded and actual wavelength at start (default 820 nm, or the middle of an early range). */
  wavelengthNm?: number;
  minNm?: number;
  maxNm?: number;
  /** Output power while emitting (default 3.0 W; 1.5 W for the early models, rated 0-2 W); with tuningCurve, at its peak. */
  powerW?: number;
  /** The output power follows a Ti:Sapphire tuning curve (peak powerW at 800 nm) instead of powerW everywhere (default false). */
  tuningCurve?: boolean;
  /** The laser's time to answer a query (default 100 ms; 'hardware' 2000 ms). */
  replyMs?: number;
  /** How long a set command keeps the laser busy (default replyMs; 'hardware' 500 ms). */
  setMs?: number;
  /** Shutter travel time (default 1000 ms, the manual's "approximately 1 second"). */
  shutterMs?: number;
  /** Tuning speed (default 40 nm/s: assumption, the manual says only that it lags). */
  tuningNmPerS?: number;
  /** READ:PCTWarmedup? at start, 0-100 (default 100). Between 1 and 99 it climbs on its own; 0 waits for ON. */
  warmupPercent?: number;
  /** Time for a full 0-100 % warm-up (default 120000 ms: the manual's "approximately 2 minutes"). */
  warmupMs?: number;
  /** Time from ON until modelocked (default 500 ms: assumption). */
  modelockMs?: number;
  /** Start with the pump on and modelocked (needs warmupPercent 100; the watchdog, 3 s by default, still runs). */
  emission?: boolean;
  /** Start with the shutter open. */
  shutterOpen?: boolean;
  /** Watchdog at start, s (default 3, 0 disables). */
  watchdogS?: number;
  /** Pump mode at start (default 'PPOW', as the manual says it always powers up). */
  mode?: 'PPOW' | 'PCUR' | 'POW';
  /** Cavity humidity READ:HUM? reports, % (default 7.26). */
  humidityPct?: number;
  /** Send XOFF/XON around each command and lose input sent while busy (default: profile 'hardware'). */
  flowControl?: boolean;
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
export const XON = 0x11;
export const XOFF = 0x13;
const BAUD_RATES = [300, 600, 1200, 4800, 9600, 19200, 38400, 57600];
/** The tuning curve (assumption, see the header): Gaussian around this peak with this standard deviation. */
export const TUNING_PEAK_NM = 800;
const TUNING_SIGMA_NM = 150;

/** Fraction of the peak output power at `nm` on the tuning curve (1 at TUNING_PEAK_NM). */
export function tuningFraction(nm: number): number {
  return Math.exp(-0.5 * ((nm - TUNING_PEAK_NM) / TUNING_SIGMA_NM) ** 2);
}

interface Preset {
  minNm: number;
  maxNm: number;
  idn: string;
  powerW: number;
  pumpW: number;
  pumpMaxW: number;
  early: boolean;
}
const PRESETS: Record<MaiTaiModel, Preset> = {
  HP: {
    minNm: 690,
    maxNm: 1040,
    idn: 'Spectra Physics,MaiTai,3227/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057',
    powerW: 3.0,
    pumpW: 13.43, // PLASer:POWer? as rust-daq logged it
    pumpMaxW: 20, // assumption
    early: false,
  },
  'early-750-850': {
    minNm: 750,
    maxNm: 850,
    idn: 'Spectra-Physics, MaiTai, xxx, 0453-8620A/5.10/J40-4420H',
    powerW: 1.5,
    pumpW: 3.6, // Figure 6-2
    pumpMaxW: 5.0,
    early: true,
  },
  'early-780-920': {
    minNm: 780,
    maxNm: 920,
    idn: 'Spectra-Physics, MaiTai, xxx, 0453-8620A/5.10/J40-4420H',
    powerW: 1.5,
    pumpW: 3.6,
    pumpMaxW: 5.0,
    early: true,
  },
};

/**
 * A header keyword against a mnemonic as the manual writes it (capitals = short form); a
 * mnemonic ending `#` takes a diode number 1 or 2. Returns the number (or 0) on a match.
 */
function matches(token: string, mnemonic: string): number | undefined {
  const t = token.toUpperCase();
  let suffix = 0;
  let word = t;
  if (mnemonic.endsWith('#')) {
    const m = /^(.*?)([12])$/.exec(t);
    if (!m) return undefined;
    word = m[1]!;
    suffix = Number(m[2]);
    mnemonic = mnemonic.slice(0, -1);
  }
  const short = mnemonic.replace(/[a-z]/g, '');
  return word === mnemonic.toUpperCase() || word === short ? suffix : undefined;
}

type Handler = (param: string | undefined, at: number, n: number) => string | undefined;
interface Command {
  path: string[][];
  query: boolean;
  run: Handler;
}

export class MaiTaiSimulator extends SerialSimulator {
  readonly model: MaiTaiModel;
  readonly minNm: number;
  readonly maxNm: number;
  powerW: number;
  /** The output power follows tuningFraction() (peak powerW). */
  readonly tuningCurve: boolean;
  readonly idn: string;
  humidityPct: number;
  private readonly early: boolean;
  private readonly replyMs: number;
  private readonly setMs: number;
  private readonly shutterMs: number;
  private readonly tuningNmPerMs: number;
  private readonly warmupMs: number;
  private readonly modelockMs: number;
  private readonly flowControl: boolean;
  private readonly factoryPumpW: number;
  private readonly pumpMaxW: number;
  private commandedNm: number;
  private tune = { from: 0, to: 0, t0: 0, t1: 0 };
  private shutter = { from: false, to: false, at: -Infinity };
  /** When the pump was switched on (undefined: off). */
  private onSince: number | undefined;
  private warm: { pct0: number; t0: number; running: boolean };
  private watchdogS: number;
  private lastValidAt = performance.now();
  private mode: 'PPOW' | 'PCUR' | 'POW';
  private pumpW: number;
  private pumpCurrentPct = 0;
  private rfPhase = 50;
  private mlEnable = true;
  private pDither = true;
  private readonly errors: number[] = [];
  private headHistory: { code: number; at: number }[] = [];
  private pumpHistory: { code: number; at: number }[] = [];
  private readonly commands: Command[];
  // Flow control and overrun (see the header).
  private busyUntil = 0;
  private wireFreeAt = 0;
  private keptRest: Buffer = Buffer.alloc(0);
  /** The command being received: has it any bytes yet, and were some lost? */
  private segment = { data: false, lost: false };
  private xoffActive = false;
  private xoffEnd = 0;
  private readonly flowTimers = new Set<NodeJS.Timeout>();
  private readonly flowStats = { xoffSent: 0, overrunBytes: 0, overrunCommands: 0 };

  constructor(options: MaiTaiOptions = {}) {
    super(options, 9600);
    const hardware = this.profile === 'hardware';
    this.model = options.model ?? 'HP';
    const preset = PRESETS[this.model];
    if (!preset) throw new DaqError('DAQ_INVALID_ARGUMENT', `MaiTai model must be one of ${Object.keys(PRESETS).join(', ')}`);
    this.early = preset.early;
    this.minNm = options.minNm ?? preset.minNm;
    this.maxNm = options.maxNm ?? preset.maxNm;
    this.powerW = options.powerW ?? preset.powerW;
    this.tuningCurve = options.tuningCurve ?? false;
    this.idn = options.idn ?? preset.idn;
    this.humidityPct = options.humidityPct ?? 7.26;
    this.replyMs = options.replyMs ?? (hardware ? 2000 : 100);
    this.setMs = options.setMs ?? (hardware ? 500 : this.replyMs);
    this.shutterMs = options.shutterMs ?? 1000;
    this.tuningNmPerMs = (options.tuningNmPerS ?? 40) / 1000;
    this.warmupMs = options.warmupMs ?? 120_000;
    this.modelockMs = options.modelockMs ?? 500;
    this.flowControl = options.flowControl ?? hardware;
    this.factoryPumpW = preset.pumpW;
    this.pumpMaxW = preset.pumpMaxW;
    this.pumpW = preset.pumpW;
    this.mode = options.mode ?? 'PPOW';
    this.watchdogS = options.watchdogS ?? 3;
    this.commandedNm =
      options.wavelengthNm ?? (this.minNm <= 820 && 820 <= this.maxNm ? 820 : Math.round((this.minNm + this.maxNm) / 2));
    if (!(this.commandedNm >= this.minNm && this.commandedNm <= this.maxNm))
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `MaiTai wavelength ${this.commandedNm} nm is outside ${this.minNm}-${this.maxNm} nm`,
      );
    this.tune = { from: this.commandedNm, to: this.commandedNm, t0: 0, t1: 0 };
    const now = performance.now();
    const pct = options.warmupPercent ?? 100;
    if (!(pct >= 0 && pct <= 100)) throw new DaqError('DAQ_INVALID_ARGUMENT', `MaiTai warmupPercent must be 0-100, got ${pct}`);
    this.warm = { pct0: pct, t0: now, running: pct > 0 && pct < 100 };
    if (options.shutterOpen) this.shutter = { from: true, to: true, at: -Infinity };
    this.headHistory.push({ code: 400, at: now });
    this.pumpHistory.push({ code: 5, at: now });
    if (options.emission) {
      if (pct < 100) throw new DaqError('DAQ_INVALID_ARGUMENT', 'a MaiTai can only emit when warmed up (warmupPercent 100)');
      this.onSince = -Infinity;
      this.headHistory.push({ code: 405, at: now });
      this.pumpHistory.push({ code: this.mode === 'PCUR' ? 2 : 1, at: now });
    }

    const nm = (x: number) => `${Math.round(x)}nm`;
    const w = (x: number) => `${x.toFixed(2)}W`;
    const cmd = (path: string, query: boolean, run: Handler): Command => ({
      path: path.split(':').map((p) => p.split('|')),
      query,
      run,
    });
    const laterHeads = (c: Command): Command[] => (this.early ? [] : [c]);
    this.commands = [
      cmd('*IDN', true, () => this.idn),
      cmd('*STB', true, (_p, at) => String(this.statusByte(at))),
      cmd('ON', false, (p, at) => this.turnOn(p, at)),
      cmd('OFF', false, (p, at) => this.turnOff(p, at)),
      cmd('MODE', true, () => this.mode),
      cmd('MODE', false, (p, at) => this.setMode(p, at)),
      cmd('CONTrol:PHAse|PHASe', true, () => this.rfPhase.toFixed(2)),
      cmd('CONTrol:PHAse|PHASe', false, (p) => this.setNumber(p, 0, 100, (v) => (this.rfPhase = v))),
      cmd('CONTrol:MLENable', true, (_p, at) => (this.mlEnable && this.emittingAt(at) ? '1' : '0')),
      cmd('CONTrol:MLENable', false, (p) => this.setFlag(p, (v) => (this.mlEnable = v))),
      cmd('CONTrol:PDITher', false, (p) => this.setFlag(p, (v) => (this.pDither = v))),
      cmd('READ:PDITher', true, (_p, at) => (!this.pDither ? '441' : this.outputW(at) > 0.15 ? '443' : '442')),
      cmd('PLASer:ERRCode', true, () => '0'),
      cmd('PLASer:HISTory', true, (_p, at) => this.history(this.pumpHistory, at)),
      cmd('PLASer:AHIStory', true, (_p, at) => this.history(this.pumpHistory, at)),
      cmd('READ:AHIStory', true, (_p, at) => this.history(this.headHistory, at)),
      cmd('PLASer:PCURrent', true, () => this.pumpCurrentPct.toFixed(1)),
      cmd('PLASer:PCURrent', false, (p) => this.setNumber(p, 0, 20, (v) => (this.pumpCurrentPct = v))),
      cmd('PLASer:POWer', true, () => w(this.pumpW)),
      cmd('PLASer:POWer', false, (p) => this.setNumber(p, 0, this.pumpMaxW, (v) => (this.pumpW = v))),
      cmd('READ:PCTWarmedup', true, (_p, at) => this.pctText(this.warmedUpAt(at))),
      cmd('READ:PLASer:POWer', true, (_p, at) => w(this.emittingAt(at) ? this.pumpW : 0)),
      cmd('READ:PLASer:PCURrent', true, (_p, at) => `${(this.emittingAt(at) ? this.pumpPctOn() : 0).toFixed(1)}%`),
      cmd('READ:PLASer:SHGStatus', true, (_p, at) => (this.warmedUpAt(at) >= 100 ? '0S' : '1S')),
      cmd('READ:PLASer:DIODe#:CURRent', true, (_p, at) => `${(this.emittingAt(at) ? this.pumpPctOn() : 0).toFixed(1)}%`),
      cmd('READ:PLASer:DIODe#:TEMPerature', true, (_p, _at, n) => (n === 1 ? '20.5' : '20.7')),
      cmd('READ:POWer', true, (_p, at) => w(this.outputW(at) + (this.emittingAt(at) ? this.readingOffset : 0))),
      cmd('READ:WAVelength', true, (_p, at) => nm(this.actualNmAt(at))),
      ...laterHeads(cmd('READ:HUMidity', true, () => `${this.humidityPct.toFixed(2)}%`)),
      ...laterHeads(cmd('POWer', true, (_p, at) => w(this.outputW(at) + (this.emittingAt(at) ? this.readingOffset : 0)))),
      cmd('SAVe', false, (p) => (p === undefined ? undefined : this.fail(MaiTaiErrorBits.CMD_ERR))),
      cmd('SHUTter', true, (_p, at) => (this.shutterOpenAt(at) ? '1' : '0')),
      cmd('SHUTter', false, (p, at) => this.setShutter(p, at)),
      cmd('SYSTem:COMMunications:SERial:BAUD', false, (p) => this.setBaud(p)),
      cmd('SYSTem:ERRor', true, (_p, at) => this.popError(at)),
      cmd('TIMer:WATChdog', true, () => this.watchdogS.toFixed(2)),
      cmd('TIMer:WATChdog', false, (p) => this.setNumber(p, 0, Infinity, (v) => (this.watchdogS = v))),
      cmd('WAVelength', true, () => nm(this.commandedNm)),
      cmd('WAVelength', false, (p, at) => this.setWavelength(p, at)),
      cmd('WAVelength:MIN', true, () => nm(this.minNm)),
      cmd('WAVelength:MAX', true, () => nm(this.maxNm)),
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

  /**
   * Power of the beam leaving the laser at `at` (performance.now() time), in W: the output power
   * at the actual wavelength (lagging while tuning) while emitting with the shutter open, else 0.
   * What a power meter in front of the laser measures; the V4 reading offset does not apply.
   */
  beamPowerW(at: number = performance.now()): number {
    return this.shutterOpenAt(at) ? this.outputW(at) : 0;
  }

  /** READ:PCTWarmedup? now, 0-100. */
  get warmupPercent(): number {
    return this.warmedUpAt(performance.now());
  }

  /** Errors waiting for SYSTem:ERR?, oldest first. */
  get pendingErrors(): number[] {
    return [...this.errors];
  }

  /** XOFFs sent; input bytes and commands lost because they came while the laser was busy (no XON/XOFF on the client). */
  get flowCounters(): { xoffSent: number; overrunBytes: number; overrunCommands: number } {
    return { ...this.flowStats };
  }

  /** Commands lost to overrun (sent by a client without XON/XOFF while the laser was busy). */
  get overrunCommands(): number {
    return this.flowStats.overrunCommands;
  }

  override disconnect(): void {
    for (const t of this.flowTimers) clearTimeout(t);
    this.flowTimers.clear();
    this.xoffActive = false;
    this.keptRest = Buffer.alloc(0);
    this.segment = { data: false, lost: false };
    super.disconnect();
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  protected override commandTimeMs(command: string): number {
    return this.busyMs(command);
  }

  /**
   * Frames CR/LF-terminated commands like the base class, but as the laser's UART: XON/XOFF
   * bytes from the host are flow control, not data (assumption: the laser ignores them), and
   * with flow control on, bytes arriving while the laser is busy are lost unless the client's
   * tty honours XOFF.
   */
  protected override frame(input: Buffer): { commands: { text: string; end: number }[]; rest: Buffer } {
    const kept = this.keptRest;
    const earlier = input.length >= kept.length && input.subarray(0, kept.length).equals(kept) ? kept.length : 0;
    const now = performance.now();
    const wireStart = Math.max(now, this.wireFreeAt);
    this.wireFreeAt = wireStart + byteTimeMs(input.length - earlier, this.baudRate);
    const drops = this.flowControl && this.clientFlowControl()?.xonxoff !== true;
    const commands: { text: string; end: number }[] = [];
    let current = input.toString('latin1', 0, earlier);
    for (let i = earlier; i < input.length; i++) {
      const b = input[i]!;
      const t = wireStart + byteTimeMs(i - earlier + 1, this.baudRate);
      if (b === XON || b === XOFF) continue;
      const terminator = b === 0x0d || b === 0x0a;
      const lost = drops && t < this.busyUntil;
      if (lost) {
        this.flowStats.overrunBytes++;
        this.segment.lost = true;
      }
      if (!terminator) {
        this.segment.data = true;
        if (!lost) current += String.fromCharCode(b);
        continue;
      }
      // A command with lost bytes is lost; what reached the laser of it is garbage it still reads.
      if (this.segment.lost && this.segment.data) this.flowStats.overrunCommands++;
      this.segment = { data: false, lost: false };
      if (lost || !current.length) continue;
      commands.push({ text: current, end: i + 1 });
      this.busyUntil = Math.max(t, this.busyUntil) + this.busyMs(current);
      current = '';
    }
    this.keptRest = Buffer.from(current, 'latin1');
    return { commands, rest: this.keptRest };
  }

  protected handle(line: string, at: number): Reply[] {
    this.applyWatchdog(at);
    if (this.flowControl) this.holdInput(at, at + this.busyMs(line));
    const text = line.trim();
    const space = text.search(/\s/);
    const header = space < 0 ? text : text.slice(0, space);
    const param = space < 0 ? undefined : text.slice(space).trim() || undefined;
    const query = header.endsWith('?');
    const tokens = (query ? header.slice(0, -1) : header).split(':');
    let n = 0;
    const cmd = this.commands.find(
      (c) =>
        c.query === query &&
        c.path.length === tokens.length &&
        c.path.every((alternatives, i) => {
          for (const m of alternatives) {
            const found = matches(tokens[i]!, m);
            if (found !== undefined) {
              if (found) n = found;
              return true;
            }
          }
          return false;
        }),
    );
    if (!cmd || (query && param !== undefined)) {
      this.fail(MaiTaiErrorBits.CMD_ERR);
      return [];
    }
    this.lastValidAt = at;
    const answer = cmd.run(param, at, n);
    return answer === undefined ? [] : [{ text: `${answer}\n`, afterMs: this.replyMs }];
  }

  private busyMs(command: string): number {
    const header = command.trim().split(/\s/, 1)[0] ?? '';
    return header.endsWith('?') ? this.replyMs : this.setMs;
  }

  /** XOFF when processing starts at `from`, XON when the laser is free again at `until`. */
  private holdInput(from: number, until: number): void {
    this.xoffEnd = Math.max(this.xoffEnd, until);
    this.at(from, () => {
      if (this.xoffActive) return;
      this.xoffActive = true;
      this.flowStats.xoffSent++;
      this.writeFlowByte(XOFF);
    });
    // A timer set while the event loop was busy can fire before `until` by the wall clock (it
    // counts from the loop's cached time): too early, it waits again rather than leaving the
    // client stopped for good.
    const release = () => {
      if (!this.xoffActive) return;
      if (performance.now() < this.xoffEnd - 1) return this.at(this.xoffEnd, release);
      this.xoffActive = false;
      this.writeFlowByte(XON);
    };
    this.at(until, release);
  }

  private at(when: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.flowTimers.delete(timer);
        fn();
      },
      Math.max(0, when - performance.now()),
    );
    this.flowTimers.add(timer);
  }

  /**
   * Sends a flow-control byte at once, ahead of queued replies and without faults, as a UART
   * does.
   */
  private writeFlowByte(byte: number): void {
    this.writeNow(Uint8Array.of(byte));
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
    const names = ERROR_NAMES.filter(([bit]) => value & bit).map(([, name]) => name);
    return names.length ? `${value} ${names.join(' + ')}` : '0';
  }

  private setNumber(param: string | undefined, min: number, max: number, apply: (v: number) => void): undefined {
    const v = param === undefined ? NaN : Number(param);
    if (!Number.isFinite(v)) return this.fail(MaiTaiErrorBits.CMD_ERR);
    if (v < min || v > max) return this.fail(MaiTaiErrorBits.EXE_ERR);
    apply(v);
    return undefined;
  }

  private setFlag(param: string | undefined, apply: (v: boolean) => void): undefined {
    if (param !== '0' && param !== '1') return this.fail(param === undefined ? MaiTaiErrorBits.CMD_ERR : MaiTaiErrorBits.EXE_ERR);
    apply(param === '1');
    return undefined;
  }

  private setBaud(param: string | undefined): undefined {
    const rate = param === undefined ? NaN : Number(param);
    if (!Number.isInteger(rate)) return this.fail(MaiTaiErrorBits.CMD_ERR);
    if (!BAUD_RATES.includes(rate)) return this.fail(MaiTaiErrorBits.EXE_ERR);
    // The laser answers at the new rate from now on.
    this.setBaudRate(rate);
    return undefined;
  }

  private setMode(param: string | undefined, at: number): undefined {
    if (param === undefined) return this.fail(MaiTaiErrorBits.CMD_ERR);
    const modes: [string, 'PPOW' | 'PCUR' | 'POW', number][] = [
      ['PPOWer', 'PPOW', 408],
      ['PCURrent', 'PCUR', 407],
      ...(this.early ? [] : ([['POWer', 'POW', 409]] as [string, 'PPOW' | 'PCUR' | 'POW', number][])),
    ];
    const found = modes.find(([m]) => matches(param, m) !== undefined);
    if (!found) return this.fail(MaiTaiErrorBits.EXE_ERR);
    this.mode = found[1];
    this.headHistory.push({ code: found[2], at });
    return undefined;
  }

  private pctText(pct: number): string {
    return this.early ? `${String(Math.floor(pct)).padStart(3, '0')}%` : `${pct.toFixed(2)}%`;
  }

  private warmedUpAt(at: number): number {
    const w = this.warm;
    if (!w.running) return w.pct0;
    return Math.min(100, w.pct0 + ((at - w.t0) / this.warmupMs) * 100);
  }

  private turnOn(param: string | undefined, at: number): undefined {
    if (param !== undefined) return this.fail(MaiTaiErrorBits.CMD_ERR);
    const pct = this.warmedUpAt(at);
    if (pct <= 0) {
      this.warm = { pct0: 0, t0: at, running: true }; // diode temperature stabilisation
      return undefined;
    }
    if (pct < 100) return this.fail(MaiTaiErrorBits.EXE_ERR);
    if (this.onSince === undefined) {
      this.onSince = at;
      this.headHistory.push({ code: 405, at });
      this.pumpHistory.push({ code: this.mode === 'PCUR' ? 2 : 1, at });
    }
    return undefined;
  }

  private turnOff(param: string | undefined, at: number): undefined {
    if (param !== undefined) return this.fail(MaiTaiErrorBits.CMD_ERR);
    if (this.onSince !== undefined) {
      this.onSince = undefined;
      this.headHistory.push({ code: 406, at });
      this.pumpHistory.push({ code: 5, at });
    }
    return undefined;
  }

  private emittingAt(at: number): boolean {
    if (this.onSince === undefined || at < this.onSince) return false;
    return !(this.watchdogS > 0 && at - this.lastValidAt > this.watchdogS * 1000);
  }

  private applyWatchdog(at: number): void {
    if (this.onSince !== undefined && !this.emittingAt(at) && at >= this.onSince) {
      this.onSince = undefined;
      const expired = this.lastValidAt + this.watchdogS * 1000;
      this.pumpHistory.push({ code: 56, at: expired });
      this.headHistory.push({ code: 406, at: expired });
    }
  }

  private statusByte(at: number): number {
    const emitting = this.emittingAt(at);
    const tuning = at < this.tune.t1;
    const locked = emitting && this.mlEnable && !tuning && at - this.onSince! >= this.modelockMs;
    return (emitting ? 1 : 0) | (locked ? 2 : 0);
  }

  /** Output power as READ:POWer? reports it: measured inside the laser, before the shutter. */
  private outputW(at: number): number {
    if (!this.emittingAt(at)) return 0;
    return this.tuningCurve ? this.powerW * tuningFraction(this.actualNmAt(at)) : this.powerW;
  }

  /** Diode current while on, % of full (the manual's example 75.1 %, or the commanded one in PCUR mode). */
  private pumpPctOn(): number {
    return this.mode === 'PCUR' ? this.pumpCurrentPct : 75.1;
  }

  /** 16 status codes, most recent first, as three digits (the manual's Info menu shows `001 003 ...`). */
  private history(list: { code: number; at: number }[], at: number): string {
    const codes = list
      .filter((e) => e.at <= at)
      .sort((a, b) => b.at - a.at)
      .slice(0, 16)
      .map((e) => e.code);
    while (codes.length < 16) codes.push(0);
    if (list.length > 64) list.splice(0, list.length - 64);
    return codes.map((c) => String(c).padStart(3, '0')).join(' ');
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
    // WAVelength also resets the RF phase and the pump power to factory values (manual).
    this.rfPhase = 50;
    this.pumpW = this.factoryPumpW;
    this.headHistory = this.headHistory.filter((e) => !(e.code === 431 && e.at > at));
    this.headHistory.push({ code: 430, at });
    this.headHistory.push({ code: 431, at: this.tune.t1 });
    return undefined;
  }
}
