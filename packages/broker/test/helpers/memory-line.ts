// An in-memory serial line for unit tests of the pool alone (the real-transport tests use
// simulators on pseudo-terminals). A responder maps each write to an optional reply.

import type { SerialLineSettings } from '@daq/core';
import type { SerialLine, SerialLineEvents, SerialLineFactory } from '../../src/serial/serial-line.js';

export type Responder = (path: string, written: string) => { reply: string; delayMs?: number } | undefined;

export class MemoryLine implements SerialLine {
  closed = false;
  writes: string[] = [];
  flushes = 0;
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly path: string,
    readonly settings: SerialLineSettings,
    private readonly events: SerialLineEvents,
    private readonly responder: Responder,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('write on a closed line');
    const text = Buffer.from(data).toString('latin1');
    this.writes.push(text);
    const r = this.responder(this.path, text);
    if (!r) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) this.events.data(Buffer.from(r.reply, 'latin1'));
    }, r.delayMs ?? 0);
    this.timers.add(timer);
  }

  async flushInput(): Promise<void> {
    this.flushes++;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Bytes the device sends unasked. */
  inject(text: string): void {
    this.events.data(Buffer.from(text, 'latin1'));
  }

  /** The device disappears. */
  lose(message = 'device unplugged'): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.events.lost(Object.assign(new Error(message), { disconnected: true }));
  }
}

export class MemoryLineFactory implements SerialLineFactory {
  readonly lines: MemoryLine[] = [];
  opens = 0;
  failNextOpen: Error | undefined;

  constructor(private readonly responder: Responder = () => undefined) {}

  async open(path: string, settings: SerialLineSettings, events: SerialLineEvents): Promise<SerialLine> {
    this.opens++;
    if (this.failNextOpen) {
      const e = this.failNextOpen;
      this.failNextOpen = undefined;
      throw e;
    }
    const line = new MemoryLine(path, settings, events, this.responder);
    this.lines.push(line);
    return line;
  }

  /** The most recent line opened for `path`. */
  line(path: string): MemoryLine {
    const l = [...this.lines].reverse().find((x) => x.path === path);
    if (!l) throw new Error(`no line opened for ${path}`);
    return l;
  }
}
