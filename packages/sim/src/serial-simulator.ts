// Base of every serial instrument simulator: owns the pty, frames bytes into commands, runs
// them one at a time in instrument time, and sends replies one at a time at the line's speed.
//
// Timing model (a pty ignores baud rate, so it is added here; 8N1 = 10 bits per byte):
// - a command is complete when its last byte would have arrived on the wire;
// - the instrument processes commands in order; a reply is ready after the instrument's own
//   time (measurement, motion) plus any fault delay; until a reply is ready the instrument
//   is busy and does not start the next command, unless the reply is a `background` one
//   (e.g. the end of a move, while the instrument keeps answering);
// - the line carries one reply at a time, earliest ready first, and the client sees it only
//   when its last byte has been sent.

import { DaqError } from '@daq/core';
import { FaultInjector, type FaultSettings, type OneShotFault } from './faults.js';
import { Pty, pointLink, removeLink } from './pty.js';

export interface SerialSimulatorOptions {
  /** The instrument's line speed; a client opening the port at another speed is not understood. */
  baudRate?: number;
  faults?: Partial<FaultSettings>;
  /** A stable symlink to the current pty (survives disconnect/reconnect, like /dev/serial/by-id). */
  linkPath?: string;
  /** Ignore input when the client's port speed differs from the instrument's (default true). */
  strictBaud?: boolean;
  /** Added to the measured quantity of replies served while a V4 client holds the line (`sim.v4_offset`). */
  v4Offset?: number;
  /**
   * Timing: "fast" (default) answers as quickly as the line allows, for quick tests;
   * "hardware" gives the response, move, settle and stall times reported for the real device
   * (`sim = { profile = "hardware" }`), so drivers' default timeouts are tried for real.
   */
  profile?: SimProfile;
}

export type SimProfile = 'fast' | 'hardware';

export interface Reply {
  /** The bytes to send, terminator included. */
  text: string;
  /** Instrument time from the start of processing until the reply is ready, in ms. */
  afterMs?: number;
  /** The instrument keeps processing commands until this reply is due (e.g. a move's end). */
  background?: boolean;
}

/** A command found in the input, and the index just past its last byte. */
export interface FramedCommand {
  text: string;
  end: number;
}

export interface SimulatorCounters {
  /** Commands framed and processed. */
  commands: number;
  /** Replies written to the line (after faults). */
  replies: number;
  /** Replies the fault injector decided on, with its verdicts. */
  decided: number;
  dropped: number;
  corrupted: number;
  late: number;
  /** Bytes discarded because the client's port speed did not match the instrument's. */
  framingErrors: number;
  /** Reply bytes lost because nobody read the port and the pty's buffer was full. */
  overflowBytes: number;
  /** Times the pty was created (1 + reconnects). */
  connects: number;
}

/** 8N1: a start bit, 8 data bits and a stop bit per byte. */
export function byteTimeMs(bytes: number, baudRate: number): number {
  return (bytes * 10 * 1000) / baudRate;
}

interface Outgoing {
  readyAt: number;
  seq: number;
  bytes: Buffer;
}

export abstract class SerialSimulator implements AsyncDisposable {
  readonly faults: FaultInjector;
  private rate: number;
  private readonly linkPath: string | undefined;
  private readonly strictBaud: boolean;
  private pty: Pty | undefined;
  private closed = false;
  private input: Buffer = Buffer.alloc(0);
  /** When the last byte received so far finished arriving on the simulated wire. */
  private inputFreeAt = 0;
  /** When the instrument may start processing the next command. */
  private deviceFreeAt = 0;
  private readonly outgoing: Outgoing[] = [];
  private seq = 0;
  /** When the reply now on the wire (if any) has been fully sent. */
  private lineFreeAt = 0;
  private sending: NodeJS.Timeout | undefined;
  private waiting: NodeJS.Timeout | undefined;
  private partialTimer: NodeJS.Timeout | undefined;
  private readonly stats = { commands: 0, replies: 0, framingErrors: 0, overflowBytes: 0, connects: 0 };
  /**
   * Who holds the line now, as the broker's lease owner (`v2:pm1`, `v4:pm1`). A pty cannot
   * tell clients apart; in simulate mode the broker says who it granted the port to.
   */
  client: string | undefined;
  /** Added to readings served while a V4 client holds the line: a known V2/V4 difference for shadow mode to find. */
  v4Offset: number;
  readonly profile: SimProfile;

  constructor(options: SerialSimulatorOptions, defaultBaud: number) {
    this.rate = options.baudRate ?? defaultBaud;
    this.faults = new FaultInjector(options.faults);
    this.linkPath = options.linkPath;
    this.strictBaud = options.strictBaud ?? true;
    this.v4Offset = options.v4Offset ?? 0;
    this.profile = options.profile ?? 'fast';
  }

  /** The line speed the device runs at now: replies are paced by it and a client at another speed gets framing errors. */
  get baudRate(): number {
    return this.rate;
  }

  /** The device switches its UART to another speed (a baud-rate command), from the next byte on. */
  protected setBaudRate(rate: number): void {
    this.rate = rate;
  }

  /**
   * Writes bytes at once, ahead of queued replies and without faults, as a UART sends a
   * flow-control character; nothing is written while no client is connected.
   */
  protected writeNow(bytes: Uint8Array): void {
    this.pty?.write(bytes);
  }

  /** The client's flow control settings (termios of its end of the line), undefined while disconnected. */
  protected clientFlowControl(): { xonxoff: boolean; rtscts: boolean } | undefined {
    return this.pty?.clientFlowControl();
  }

  /** What to add to the measured quantity of the reply being made now (see v4Offset). */
  protected get readingOffset(): number {
    return this.client?.startsWith('v4:') ? this.v4Offset : 0;
  }

  /** The path a client opens: the stable link if one was asked for, else /dev/pts/N. */
  get path(): string {
    if (this.linkPath) return this.linkPath;
    if (!this.pty) throw new DaqError('DAQ_CLOSED', 'simulator not started (or disconnected): call start() or reconnect()');
    return this.pty.path;
  }

  /** The current /dev/pts/N, undefined while disconnected. */
  get ptyPath(): string | undefined {
    return this.pty?.path;
  }

  get connected(): boolean {
    return this.pty !== undefined;
  }

  get counters(): SimulatorCounters {
    const f = this.faults.counts;
    return { ...this.stats, decided: f.replies, dropped: f.dropped, corrupted: f.corrupted, late: f.late };
  }

  /** Creates the pty (and link); resolves to the path clients open. */
  async start(): Promise<string> {
    if (this.closed) throw new DaqError('DAQ_CLOSED', 'simulator closed: create a new one');
    if (!this.pty) this.connect();
    return this.path;
  }

  /** The device disappears: the pty closes (clients get an error and a close) and the link goes. */
  disconnect(): void {
    this.cancelIo();
    this.pty?.close();
    this.pty = undefined;
    if (this.linkPath) removeLink(this.linkPath);
  }

  /** The device comes back on a new pty with its state kept; the link (if any) points at it. */
  reconnect(): string {
    if (this.closed) throw new DaqError('DAQ_CLOSED', 'simulator closed: create a new one');
    this.disconnect();
    this.connect();
    return this.path;
  }

  /** Applies `fault` to the next reply the instrument produces. */
  injectOnce(fault: OneShotFault): void {
    this.faults.once(fault);
  }

  /** Releases the pty, the link and every timer. */
  async close(): Promise<void> {
    this.closed = true;
    this.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Splits input into whole commands; by default a command ends at CR and/or LF. */
  protected frame(input: Buffer): { commands: FramedCommand[]; rest: Buffer } {
    const commands: FramedCommand[] = [];
    let start = 0;
    for (let i = 0; i < input.length; i++) {
      if (input[i] === 0x0d || input[i] === 0x0a) {
        if (i > start) commands.push({ text: input.toString('latin1', start, i), end: i + 1 });
        start = i + 1;
      }
    }
    return { commands, rest: input.subarray(start) };
  }

  /**
   * The instrument: processes one command at instrument time `at` (performance.now() ms,
   * possibly a little ahead of now) and returns its replies, terminators included.
   */
  protected abstract handle(command: string, at: number): Reply[];

  /** The terminator a corrupted reply keeps. */
  protected abstract get replyTerminator(): string;

  /** How long the instrument is busy with a command that sends nothing (default 0). */
  protected commandTimeMs(_command: string): number {
    return 0;
  }

  /** Incomplete input older than this is handed to `onPartialTimeout` (default: never). */
  protected get partialTimeoutMs(): number | undefined {
    return undefined;
  }

  /** Called with input left incomplete for `partialTimeoutMs`; the input is then discarded. */
  protected onPartialTimeout(_rest: Buffer): void {}

  private connect(): void {
    this.pty = Pty.open((chunk) => this.onInput(chunk), { baudRate: this.baudRate });
    this.stats.connects++;
    this.input = Buffer.alloc(0);
    if (this.linkPath) pointLink(this.linkPath, this.pty.path);
  }

  private onInput(chunk: Buffer): void {
    const now = performance.now();
    const clientBaud = this.pty?.clientBaudRate();
    if (this.strictBaud && clientBaud !== undefined && clientBaud !== this.baudRate) {
      // At the wrong speed the instrument's UART sees only framing errors.
      this.stats.framingErrors += chunk.length;
      return;
    }
    const earlier = this.input.length;
    this.input = earlier ? Buffer.concat([this.input, chunk]) : Buffer.from(chunk);
    const wireStart = Math.max(now, this.inputFreeAt);
    this.inputFreeAt = wireStart + byteTimeMs(chunk.length, this.baudRate);
    const { commands, rest } = this.frame(this.input);
    this.input = Buffer.from(rest);
    for (const c of commands) {
      const arrived = wireStart + byteTimeMs(Math.max(0, c.end - earlier), this.baudRate);
      this.run(c.text, arrived);
    }
    this.armPartialTimer();
  }

  private run(command: string, arrivedAt: number): void {
    this.stats.commands++;
    const at = Math.max(arrivedAt, this.deviceFreeAt);
    this.deviceFreeAt = at + this.commandTimeMs(command);
    for (const reply of this.handle(command, at)) this.send(reply, at);
  }

  /** Sends a reply produced later than handle() returned (instruments that answer asynchronously). */
  protected sendLater(reply: Reply): void {
    this.send(reply, performance.now());
  }

  private send(reply: Reply, at: number): void {
    const fate = this.faults.decide();
    const readyAt = at + (reply.afterMs ?? 0) + fate.delayMs;
    if (!reply.background) this.deviceFreeAt = Math.max(this.deviceFreeAt, readyAt);
    if (fate.drop || !this.pty) return;
    let bytes = Buffer.from(reply.text, 'latin1');
    if (fate.corrupt) bytes = Buffer.from(this.faults.corrupt(bytes, Buffer.from(this.replyTerminator, 'latin1')));
    const item: Outgoing = { readyAt, seq: this.seq++, bytes };
    let i = this.outgoing.length;
    while (i > 0 && this.outgoing[i - 1]!.readyAt > readyAt) i--;
    this.outgoing.splice(i, 0, item);
    this.pump();
  }

  /** Starts the earliest ready reply when the line is free; one reply on the wire at a time. */
  private pump(): void {
    if (this.sending || !this.pty) return;
    if (this.waiting) clearTimeout(this.waiting);
    this.waiting = undefined;
    const head = this.outgoing[0];
    if (!head) return;
    const now = performance.now();
    const start = Math.max(head.readyAt, this.lineFreeAt);
    if (start > now) {
      this.waiting = setTimeout(() => {
        this.waiting = undefined;
        this.pump();
      }, start - now);
      return;
    }
    this.outgoing.shift();
    this.lineFreeAt = start + byteTimeMs(head.bytes.length, this.baudRate);
    this.finishAt(head.bytes);
  }

  /** Writes `bytes` when the line has sent them (timers may fire early by a fraction of a ms). */
  private finishAt(bytes: Buffer): void {
    this.sending = setTimeout(
      () => {
        this.sending = undefined;
        if (performance.now() < this.lineFreeAt) return this.finishAt(bytes);
        const pty = this.pty;
        if (pty) {
          const taken = pty.write(bytes);
          this.stats.overflowBytes += bytes.length - taken;
          this.stats.replies++;
        }
        this.pump();
      },
      Math.max(0, this.lineFreeAt - performance.now()),
    );
  }

  private armPartialTimer(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    this.partialTimer = undefined;
    const ms = this.partialTimeoutMs;
    if (ms === undefined || this.input.length === 0) return;
    this.partialTimer = setTimeout(() => {
      this.partialTimer = undefined;
      const rest = this.input;
      this.input = Buffer.alloc(0);
      this.onPartialTimeout(rest);
    }, ms);
  }

  /** Forgets queued replies, timers and half-received input (the line is gone). */
  private cancelIo(): void {
    for (const t of [this.sending, this.waiting, this.partialTimer]) if (t) clearTimeout(t);
    this.sending = this.waiting = this.partialTimer = undefined;
    this.outgoing.length = 0;
    this.input = Buffer.alloc(0);
  }
}
