// Per-port counters and wait/hold time distributions.

import { LatencyHistogram, type Distribution } from '../latency-histogram.js';

export interface PortStats {
  acquisitions: number;
  /** Acquisitions that had to wait because the port was held or others were queued. */
  contended: number;
  /** Leases granted per owner (e.g. "v2:power_v2"): who used the port, and how often. */
  byOwner: Record<string, number>;
  leaseTimeouts: number;
  revocations: number;
  readTimeouts: number;
  portErrors: number;
  reopens: number;
  /** Grants delayed to let a reply to an abandoned command arrive and be discarded. */
  settles: number;
  bytesIn: number;
  bytesOut: number;
  /** Input that arrived while nobody held the port, or drained between leases. */
  bytesDiscarded: number;
  waitMs: Distribution;
  holdMs: Distribution;
}

export class PortCounters {
  acquisitions = 0;
  contended = 0;
  readonly byOwner = new Map<string, number>();
  leaseTimeouts = 0;
  revocations = 0;
  readTimeouts = 0;
  portErrors = 0;
  reopens = 0;
  settles = 0;
  bytesIn = 0;
  bytesOut = 0;
  bytesDiscarded = 0;
  readonly wait = new LatencyHistogram();
  readonly hold = new LatencyHistogram();

  snapshot(): PortStats {
    return {
      acquisitions: this.acquisitions,
      contended: this.contended,
      byOwner: Object.fromEntries(this.byOwner),
      leaseTimeouts: this.leaseTimeouts,
      revocations: this.revocations,
      readTimeouts: this.readTimeouts,
      portErrors: this.portErrors,
      reopens: this.reopens,
      settles: this.settles,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      bytesDiscarded: this.bytesDiscarded,
      waitMs: this.wait.summary(),
      holdMs: this.hold.summary(),
    };
  }
}
