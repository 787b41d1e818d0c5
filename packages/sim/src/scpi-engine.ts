// A simulated SCPI DC voltmeter (IEEE 488.2 common commands, SCPI-99 error queue), independent
// of any transport: one program message (a line, terminator removed) in, one reply line or none out.

/** `*IDN?` answers `maker,model,serial,firmware`. */
export interface ScpiIdentity {
  maker: string;
  model: string;
  serial: string;
  firmware: string;
}

export interface ScpiEngineOptions {
  identity?: Partial<ScpiIdentity>;
  /** How long one measurement takes (ms); 0 measures at once. Default 2. */
  measurementMs?: number;
  /** The simulated input in volts. Default 1.23456789. */
  value?: number;
  /** Added to every reading (a zero offset of the meter), so tests can tell value from reading. Default 0. */
  offset?: number;
  /** Error queue length, including the one slot that holds -350 "Queue overflow" (SCPI-99). Default 20. */
  errorQueueLength?: number;
}

export interface ScpiError {
  code: number;
  message: string;
}

export interface ScpiCounters {
  /** Program message units received (`A;B` counts two), valid or not. */
  commands: number;
  /** Reply lines produced. */
  replies: number;
  /** Errors raised (queued or lost to overflow). */
  errors: number;
  measurements: number;
}

export const DEFAULT_IDENTITY: ScpiIdentity = {
  maker: 'DAQ Simulators',
  model: 'SCPI-DMM',
  serial: 'SIM0001',
  firmware: '1.0',
};

/** The reply line to one program message (no terminator), or undefined when it produces none. */
export type ScpiReply = string | undefined;

/** Ranges of the simulated meter (V); a reading beyond 120 % of a fixed range is an overload. */
const RANGES = [0.1, 1, 10, 100, 1000] as const;
const MAX_RANGE = 1000;
/** SCPI's "overload" / not-a-number reading. */
const OVERLOAD = 9.9e37;

// IEEE 488.2 Standard Event Status Register bits.
const ESR_OPC = 0x01;
const ESR_QYE = 0x04;
const ESR_DDE = 0x08;
const ESR_EXE = 0x10;
const ESR_CME = 0x20;

const ERRORS = {
  dataType: { code: -104, message: 'Data type error' },
  paramNotAllowed: { code: -108, message: 'Parameter not allowed' },
  missingParam: { code: -109, message: 'Missing parameter' },
  undefinedHeader: { code: -113, message: 'Undefined header' },
  outOfRange: { code: -222, message: 'Data out of range' },
  staleData: { code: -230, message: 'Data corrupt or stale' },
  queueOverflow: { code: -350, message: 'Queue overflow' },
} as const satisfies Record<string, ScpiError>;

/** `+1.23456789E+00`: sign, nine significant digits, a signed two-digit exponent. */
export function formatScpiNumber(x: number): string {
  if (!Number.isFinite(x)) return '+9.90000000E+37';
  const [mantissa, exponent] = Math.abs(x).toExponential(8).split('e') as [string, string];
  const e = Number(exponent);
  return `${x < 0 ? '-' : '+'}${mantissa}E${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

interface Node {
  long: string;
  short: string;
  optional: boolean;
}

interface Command {
  nodes: Node[];
  query: boolean;
  run(params: string[]): Promise<string | undefined> | string | undefined;
}

/** Compiles `MEASure[:SCALar]:VOLTage[:DC]?`: capitals are the short form, brackets are optional nodes. */
function compile(pattern: string): Omit<Command, 'run'> {
  const query = pattern.endsWith('?');
  const body = (query ? pattern.slice(0, -1) : pattern).replace(/^:/, '').replaceAll('[:', ':[');
  const nodes = body.split(':').map((part) => {
    const optional = part.startsWith('[');
    const name = part.replace(/[[\]]/g, '');
    return { long: name.toUpperCase(), short: name.replace(/[a-z]/g, ''), optional };
  });
  return { nodes, query };
}

function matches(nodes: Node[], tokens: string[], i = 0, j = 0): boolean {
  if (j === nodes.length) return i === tokens.length;
  const node = nodes[j]!;
  const t = tokens[i]?.toUpperCase();
  if (t !== undefined && (t === node.long || t === node.short) && matches(nodes, tokens, i + 1, j + 1)) return true;
  return node.optional && matches(nodes, tokens, i, j + 1);
}

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let quote = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Thrown inside a command to queue an error and produce no reply. */
class CommandError extends Error {
  constructor(readonly error: ScpiError) {
    super(error.message);
  }
}

export class ScpiEngine {
  readonly identity: ScpiIdentity;
  readonly counters: ScpiCounters = { commands: 0, replies: 0, errors: 0, measurements: 0 };
  measurementMs: number;
  /** The simulated input (V). */
  value: number;
  /** The meter's zero offset (V), added to every reading. */
  offset: number;
  private readonly queueLength: number;
  private readonly errors: ScpiError[] = [];
  private esr = 0;
  private ese = 0;
  private sre = 0;
  /** Configured range in volts, or undefined for autorange. */
  private range: number | undefined;
  private lastReading: number | undefined;
  /** Replies already produced in the message being executed (the 488.2 output queue, for MAV). */
  private pendingReplies = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private closed = false;
  private readonly commands: Command[];

  constructor(options: ScpiEngineOptions = {}) {
    this.identity = { ...DEFAULT_IDENTITY, ...options.identity };
    this.measurementMs = options.measurementMs ?? 2;
    this.value = options.value ?? 1.23456789;
    this.offset = options.offset ?? 0;
    this.queueLength = Math.max(2, options.errorQueueLength ?? 20);
    this.commands = this.commandTable();
  }

  /** Sets the simulated input (and optionally the meter's offset); readings are `value + offset`. */
  setValue(value: number, offset = this.offset): void {
    this.value = value;
    this.offset = offset;
  }

  /** What a measurement returns now, as a number. */
  get expectedReading(): number {
    const reading = this.value + this.offset;
    const range = this.range ?? RANGES.find((r) => Math.abs(reading) <= r) ?? MAX_RANGE;
    return Math.abs(reading) > range * 1.2 ? OVERLOAD : reading;
  }

  /** What a measurement returns now, formatted as the meter sends it. */
  get expectedReply(): string {
    return formatScpiNumber(this.expectedReading);
  }

  /** A copy of the error queue, oldest first. */
  get errorQueue(): ScpiError[] {
    return this.errors.map((e) => ({ ...e }));
  }

  /**
   * Executes one program message (`;`-separated units, terminator already removed) after the
   * messages before it, as an instrument does one thing at a time. Resolves to the reply line
   * (query answers joined by `;`, no terminator), or undefined when nothing is to be sent.
   */
  execute(message: string): Promise<ScpiReply> {
    const run = this.tail.then(() => this.run(message));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Stops pending measurements; later messages get no reply. */
  close(): void {
    this.closed = true;
    for (const [timer, resolve] of this.timers) {
      clearTimeout(timer);
      resolve();
    }
    this.timers.clear();
  }

  private async run(message: string): Promise<string | undefined> {
    if (this.closed) return undefined;
    const replies: string[] = [];
    this.pendingReplies = 0;
    let path: string[] = [];
    for (const raw of splitOutsideQuotes(message.replace(/\r$/, ''), ';')) {
      const unit = raw.trim();
      if (unit === '') continue;
      this.counters.commands++;
      const m = /^(\S+)\s*(.*)$/s.exec(unit)!;
      const header = m[1]!;
      const params = m[2]!.trim() === '' ? [] : splitOutsideQuotes(m[2]!, ',').map((p) => p.trim());
      try {
        const found = this.resolve(header, path);
        if (!found) throw new CommandError(ERRORS.undefinedHeader);
        if (!header.startsWith('*')) path = found.tokens.slice(0, -1);
        const reply = await found.command.run(params);
        if (this.closed) return undefined;
        if (reply !== undefined) {
          replies.push(reply);
          this.pendingReplies++;
        }
      } catch (e) {
        if (!(e instanceof CommandError)) throw e;
        this.raise(e.error);
      }
    }
    this.pendingReplies = 0;
    if (replies.length === 0) return undefined;
    this.counters.replies++;
    return replies.join(';');
  }

  /**
   * Finds the command for `header` as SCPI-99 (Volume 1, 6.2.4) says: the first header of a
   * message starts at the root; after `;` a header without a leading `:` continues at the
   * level of the previous command's last node (`SENS:VOLT:RANG 10;NPLC 1` is
   * `SENS:VOLT:NPLC 1`); a leading `:` goes back to the root; common (`*`) commands neither
   * use nor change that level. So `CONF:VOLT:DC;READ?` is `CONF:VOLT:READ?`, an undefined
   * header (-113), exactly as on a strict meter: write `CONF:VOLT:DC;:READ?`.
   */
  private resolve(header: string, path: string[]): { command: Command; tokens: string[] } | undefined {
    const query = header.endsWith('?');
    const bare = query ? header.slice(0, -1) : header;
    let tokens: string[];
    if (bare.startsWith('*')) tokens = [bare];
    else {
      const absolute = bare.startsWith(':');
      const own = (absolute ? bare.slice(1) : bare).split(':');
      if (own.some((t) => !/^[A-Za-z][A-Za-z0-9_]*$/.test(t))) return undefined;
      tokens = absolute ? own : [...path, ...own];
    }
    const command = this.commands.find((c) => c.query === query && matches(c.nodes, tokens));
    return command ? { command, tokens } : undefined;
  }

  /** Queues an error (SCPI-99: when full, the newest error becomes -350) and sets its ESR bit. */
  private raise(error: ScpiError): void {
    this.counters.errors++;
    const c = error.code;
    if (c <= -100 && c > -200) this.esr |= ESR_CME;
    else if (c <= -200 && c > -300) this.esr |= ESR_EXE;
    else if (c <= -300 && c > -400) this.esr |= ESR_DDE;
    else if (c <= -400 && c > -500) this.esr |= ESR_QYE;
    if (this.errors.length < this.queueLength - 1) this.errors.push({ ...error });
    else if (this.errors.length === this.queueLength - 1) this.errors.push({ ...ERRORS.queueOverflow });
  }

  private stb(): number {
    let stb = 0;
    if (this.errors.length > 0) stb |= 0x04; // EAV: error/event queue not empty (SCPI)
    if (this.pendingReplies > 0) stb |= 0x10; // MAV: a reply waits in the output queue
    if (this.esr & this.ese) stb |= 0x20; // ESB
    if (stb & this.sre & ~0x40) stb |= 0x40; // MSS
    return stb;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }

  private async measure(): Promise<string> {
    await this.sleep(this.measurementMs);
    this.counters.measurements++;
    this.lastReading = this.expectedReading;
    return formatScpiNumber(this.lastReading);
  }

  private configure(params: string[]): void {
    if (params.length > 2) throw new CommandError(ERRORS.paramNotAllowed);
    const [range, resolution] = params;
    if (resolution !== undefined) numberOrKeyword(resolution, 0, Infinity); // validated, not modelled
    if (range === undefined) {
      this.range = undefined;
      return;
    }
    const r = numberOrKeyword(range, 0, MAX_RANGE);
    if (r === 'AUTO' || r === 'DEF') this.range = undefined;
    else if (r === 'MIN') this.range = RANGES[0];
    else if (r === 'MAX') this.range = MAX_RANGE;
    else this.range = RANGES.find((x) => r <= x);
  }

  private commandTable(): Command[] {
    const noParams = (params: string[]) => {
      if (params.length > 0) throw new CommandError(ERRORS.paramNotAllowed);
    };
    /** A setter of one number within [min, max] (default: a 488.2 register, an integer 0-255). */
    const register =
      (set: (n: number) => void, min = 0, max = 255, integer = true) =>
      (params: string[]): undefined => {
        if (params.length === 0) throw new CommandError(ERRORS.missingParam);
        if (params.length > 1) throw new CommandError(ERRORS.paramNotAllowed);
        const n = numberOrKeyword(params[0]!, min, max);
        if (typeof n !== 'number') throw new CommandError(ERRORS.dataType);
        set(integer ? Math.round(n) : n);
        return undefined;
      };
    const query =
      (fn: () => string) =>
      (params: string[]): string => {
        noParams(params);
        return fn();
      };
    const action =
      (fn: () => void) =>
      (params: string[]): undefined => {
        noParams(params);
        fn();
        return undefined;
      };
    const table: [string, Command['run']][] = [
      ['*IDN?', query(() => `${this.identity.maker},${this.identity.model},${this.identity.serial},${this.identity.firmware}`)],
      [
        '*RST',
        action(() => {
          // 488.2: *RST resets the device settings, not the status registers or the error queue.
          this.range = undefined;
          this.lastReading = undefined;
        }),
      ],
      [
        '*CLS',
        action(() => {
          this.errors.length = 0;
          this.esr = 0;
        }),
      ],
      ['*OPC', action(() => (this.esr |= ESR_OPC))],
      ['*OPC?', query(() => '1')], // commands run one at a time, so all earlier ones are complete
      ['*WAI', action(() => undefined)],
      ['*TST?', query(() => '0')],
      [
        '*ESR?',
        query(() => {
          const v = this.esr;
          this.esr = 0; // reading the event register clears it
          return String(v);
        }),
      ],
      ['*ESE', register((n) => (this.ese = n))],
      ['*ESE?', query(() => String(this.ese))],
      ['*SRE', register((n) => (this.sre = n & ~0x40))], // bit 6 cannot be enabled (488.2)
      ['*SRE?', query(() => String(this.sre))],
      ['*STB?', query(() => String(this.stb()))],
      [
        'SYSTem:ERRor[:NEXT]?',
        query(() => {
          const e = this.errors.shift();
          return e ? `${e.code},"${e.message}"` : '0,"No error"';
        }),
      ],
      ['SYSTem:ERRor:COUNt?', query(() => String(this.errors.length))],
      ['SYSTem:VERSion?', query(() => '1999.0')],
      // Simulator-only commands, so a client in another process can set what the meter sees.
      ['SIMulation:VALue', register((n) => (this.value = n), -2 * MAX_RANGE, 2 * MAX_RANGE, false)],
      ['SIMulation:VALue?', query(() => formatScpiNumber(this.value))],
      ['SIMulation:OFFSet', register((n) => (this.offset = n), -MAX_RANGE, MAX_RANGE, false)],
      ['SIMulation:OFFSet?', query(() => formatScpiNumber(this.offset))],
      [
        'MEASure[:SCALar]:VOLTage[:DC]?',
        (params) => {
          this.configure(params);
          return this.measure();
        },
      ],
      [
        'CONFigure[:SCALar]:VOLTage[:DC]',
        (params) => {
          this.configure(params);
          return undefined;
        },
      ],
      ['READ?', (params) => (noParams(params), this.measure())],
      ['INITiate[:IMMediate]', (params) => (noParams(params), this.measure().then(() => undefined))],
      [
        'FETCh?',
        query(() => {
          if (this.lastReading === undefined) throw new CommandError(ERRORS.staleData);
          return formatScpiNumber(this.lastReading);
        }),
      ],
    ];
    return table.map(([pattern, run]) => ({ ...compile(pattern), run }));
  }
}

/** A numeric parameter within [min, max], or one of SCPI's MIN/MAX/DEF/AUTO keywords. */
function numberOrKeyword(text: string, min: number, max: number): number | 'MIN' | 'MAX' | 'DEF' | 'AUTO' {
  const upper = text.toUpperCase();
  for (const [long, short] of [
    ['MINIMUM', 'MIN'],
    ['MAXIMUM', 'MAX'],
    ['DEFAULT', 'DEF'],
    ['AUTO', 'AUTO'],
  ] as const) {
    if (upper === long || upper === short) return short;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(E[+-]?\d+)?$/i.test(text)) throw new CommandError(ERRORS.dataType);
  const n = Number(text);
  if (n < min || n > max) throw new CommandError(ERRORS.outOfRange);
  return n;
}
