// Fault injection shared by every simulator: each reply a simulator is about to send asks
// the injector for its fate (sent, delayed, late, garbled or dropped). Faults come from the
// config's `sim` table (probabilities, repeatable with a seed) or from the API (one-shot).

import { mulberry32, type SimFaultsConfig } from '@daq/core';

export interface FaultSettings {
  /** Added to every reply, on top of the instrument's own timing. */
  latencyMs: number;
  dropProbability: number;
  corruptProbability: number;
  lateProbability: number;
  /** How late a "late" reply is (meant to exceed the caller's timeout). */
  lateMs: number;
  seed: number;
}

export type OneShotFault = { kind: 'drop' } | { kind: 'corrupt' } | { kind: 'late'; lateMs: number };

export interface ReplyFate {
  /** Do not send the reply at all. */
  drop: boolean;
  /** Send garbage of the same length instead. */
  corrupt: boolean;
  /** Extra delay before sending, in ms (latency plus lateness). */
  delayMs: number;
  late: boolean;
}

export interface FaultCounts {
  replies: number;
  dropped: number;
  corrupted: number;
  late: number;
}

export const NO_FAULTS: FaultSettings = {
  latencyMs: 0,
  dropProbability: 0,
  corruptProbability: 0,
  lateProbability: 0,
  lateMs: 0,
  seed: 1,
};

/** Converts the config's snake_case `sim` table. */
export function faultsFromConfig(sim: SimFaultsConfig | undefined): FaultSettings {
  if (!sim) return { ...NO_FAULTS };
  return {
    latencyMs: sim.latency_ms,
    dropProbability: sim.drop_probability,
    corruptProbability: sim.corrupt_probability,
    lateProbability: sim.late_probability,
    lateMs: sim.late_ms,
    seed: sim.seed,
  };
}

export class FaultInjector {
  private settings: FaultSettings;
  private random: () => number;
  private readonly queued: OneShotFault[] = [];
  readonly counts: FaultCounts = { replies: 0, dropped: 0, corrupted: 0, late: 0 };

  constructor(settings: Partial<FaultSettings> = {}) {
    this.settings = { ...NO_FAULTS, ...settings };
    this.random = mulberry32(this.settings.seed);
  }

  get current(): Readonly<FaultSettings> {
    return this.settings;
  }

  /** Changes the settings; a new seed restarts the random sequence. */
  set(settings: Partial<FaultSettings>): void {
    this.settings = { ...this.settings, ...settings };
    if (settings.seed !== undefined) this.random = mulberry32(settings.seed);
  }

  /** Applies `fault` to the next reply (one-shot faults queue up in order). */
  once(fault: OneShotFault): void {
    this.queued.push(fault);
  }

  /** Called once per reply about to be sent. */
  decide(): ReplyFate {
    this.counts.replies++;
    const s = this.settings;
    const fate: ReplyFate = { drop: false, corrupt: false, delayMs: s.latencyMs, late: false };
    const shot = this.queued.shift();
    if (shot) {
      if (shot.kind === 'drop') fate.drop = true;
      else if (shot.kind === 'corrupt') fate.corrupt = true;
      else {
        fate.late = true;
        fate.delayMs += shot.lateMs;
      }
    } else {
      // Always draw three numbers so one probability does not shift another's sequence.
      const [d, c, l] = [this.random(), this.random(), this.random()];
      if (d < s.dropProbability) fate.drop = true;
      else if (c < s.corruptProbability) fate.corrupt = true;
      else if (l < s.lateProbability) {
        fate.late = true;
        fate.delayMs += s.lateMs;
      }
    }
    if (fate.drop) this.counts.dropped++;
    if (fate.corrupt) this.counts.corrupted++;
    if (fate.late) this.counts.late++;
    return fate;
  }

  /**
   * Garbles a reply but keeps its length and its terminator, as line noise would: the
   * caller still sees a complete line, just not a valid one.
   */
  corrupt(reply: Uint8Array, terminator: Uint8Array): Uint8Array {
    const out = Uint8Array.from(reply);
    const end = endsWith(out, terminator) ? out.length - terminator.length : out.length;
    for (let i = 0; i < end; i++) {
      // printable garbage that never contains a terminator byte
      let b = 0x21 + Math.floor(this.random() * 94);
      if (terminator.includes(b)) b = 0x3f; // '?'
      out[i] = b;
    }
    return out;
  }
}

function endsWith(buf: Uint8Array, tail: Uint8Array): boolean {
  if (tail.length === 0 || tail.length > buf.length) return false;
  for (let i = 0; i < tail.length; i++) if (buf[buf.length - tail.length + i] !== tail[i]) return false;
  return true;
}
