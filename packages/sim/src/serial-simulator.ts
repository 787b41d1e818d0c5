// Base of every serial instrument simulator: a pty, command framing, replies paced at the
// configured baud rate (a pty ignores baud, so byte time is added here), fault injection,
// disconnect/reconnect, and counters.

import { unlinkSync } from 'node:fs';
import { FaultInjector, type FaultSettings, type OneShotFault } from './faults.js';
import { Pty, pointLink } from './pty.js';

export interface SerialSimulatorOptions {
  baudRate?: number;
  faults?: Partial<FaultSettings>;
  /** A stable symlink to the current pty (survives disconnect/reconnect). */
  linkPath?: string;
}

export interface Reply {
  text: string;
  /** Instrument time before the reply starts (measurement, motion), in ms. */
  afterMs?: number;
}

export interface SimulatorCounters {
  commands: number;
  replies: number;
  dropped: number;
  corrupted: number;
  late: number;
  connects: number;
}

/** 8N1: a start bit, 8 data bits and a stop bit per byte. */
export function byteTimeMs(bytes: number, baudRate: number): number {
  return (bytes * 10 * 1000) / baudRate;
}

export abstract class SerialSimulator implements AsyncDisposable {
  readonly faults: FaultInjector;
  readonly baudRate: number;
  private pty: Pty | undefined;
  private input: Buffer = Buffer.alloc(0);
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly linkPath: string | undefined;
  private connects = 0;
  private commandCount = 0;
  private replyCount = 0;

  constructor(options: SerialSimulatorOptions, defaultBaud: number) {
    this.baudRate = options.baudRate ?? defaultBaud;
    this.faults = new FaultInjector(options.faults);
    this.linkPath = options.linkPath;
  }

  /** The path a client opens: the stable link if one was asked for, else /dev/pts/N. */
  get path(): string {
    if (this.linkPath) return this.linkPath;
    if (!this.pty) throw new Error('simulator not started');
    return this.pty.path;
  }

  /** The current /dev/pts/N. */
  get ptyPath(): string | undefined {
    return this.pty?.path;
  }

  get counters(): SimulatorCounters {
    const f = this.faults.counts;
    return {
      commands: this.commandCount,
      replies: this.replyCount,
      dropped: f.dropped,
      corrupted: f.corrupted,
      late: f.late,
      connects: this.connects,
    };
  }

  async start(): Promise<string> {
    this.connect();
    return this.path;
  }

  private connect(): void {
    this.pty = Pty.open((chunk) => this.onInput(chunk));
    this.connects++;
    this.input = Buffer.alloc(0);
    if (this.linkPath) pointLink(this.linkPath, this.pty.path);
  }

  /** The device disappears: clients see the port close with an error. */
  disconnect(): void {
    this.cancelReplies();
    this.pty?.close();
    this.pty = undefined;
  }

  /** The device comes back on a new pty; the stable link (if any) now points at it. */
  reconnect(): string {
    if (this.pty) this.disconnect();
    this.connect();
    return this.path;
  }

  /** Applies `fault` to the next reply. */
  injectOnce(fault: OneShotFault): void {
    this.faults.once(fault);
  }

  private onInput(chunk: Buffer): void {
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    const { commands, rest } = this.frame(this.input);
    this.input = rest;
    // Commands that arrived together were sent one after another: the k-th is complete
    // only after the bytes of all before it.
    let inputMs = 0;
    for (const command of commands) {
      this.commandCount++;
      inputMs += byteTimeMs(command.length, this.baudRate);
      for (const reply of this.handle(command)) this.schedule(reply, inputMs);
    }
  }

  /** Splits input into whole commands; the default ends commands at CR and/or LF. */
  protected frame(input: Buffer): { commands: string[]; rest: Buffer } {
    const commands: string[] = [];
    let start = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      if (b === 0x0d || b === 0x0a) {
        if (i > start) commands.push(input.subarray(start, i).toString('latin1'));
        start = i + 1;
      }
    }
    return { commands, rest: input.subarray(start) };
  }

  /** The instrument: a command in, zero or more replies out (with their terminators). */
  protected abstract handle(command: string): Reply[];

  /** The terminator a corrupted reply keeps. */
  protected abstract get replyTerminator(): string;

  private schedule(reply: Reply, inputMs: number): void {
    const fate = this.faults.decide();
    if (fate.drop) return;
    let bytes: Buffer = Buffer.from(reply.text, 'latin1');
    if (fate.corrupt) bytes = Buffer.from(this.faults.corrupt(bytes, Buffer.from(this.replyTerminator, 'latin1')));
    const delay = inputMs + (reply.afterMs ?? 0) + byteTimeMs(bytes.length, this.baudRate) + fate.delayMs;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.pty) return;
      this.replyCount++;
      this.pty.write(bytes);
    }, delay);
    this.timers.add(timer);
  }

  private cancelReplies(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  async close(): Promise<void> {
    this.disconnect();
    if (this.linkPath) {
      try {
        unlinkSync(this.linkPath);
      } catch {
        // already gone
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
