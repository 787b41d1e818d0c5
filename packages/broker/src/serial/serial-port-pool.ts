// The one owner of every serial port: opens each once with its configured settings, keeps
// it open, and lends it out as FIFO leases. Workers never open ports; they hold leases.

import { DaqError, publishSerialGrant, type SerialLineSettings } from '@daq/core';
import { nodeSerialLineFactory, type SerialLine, type SerialLineFactory } from './serial-line.js';
import { SerialLease, type PortState } from './serial-lease.js';
import { ownedBy } from '../owner.js';
import { PortCounters, type PortStats } from './port-stats.js';

export interface LeaseOptions {
  /** Who holds it, `worker:instrument` (e.g. `v2:elliptec1`); the worker part groups leases for release on exit. */
  owner: string;
  /** How long to wait for the port; default the pool's `defaultLeaseTimeoutMs`. */
  timeoutMs?: number;
  /** Revoke the lease after this long (a stuck holder cannot starve the others). */
  maxHoldMs?: number;
  signal?: AbortSignal;
}

export interface PortStatus {
  path: string;
  open: boolean;
  /** `v2:elliptec1` */
  owner: string | null;
  /** The subsystem holding it: `v2` */
  worker: string | null;
  heldMs: number | null;
  waiters: string[];
  settings: SerialLineSettings;
}

interface Waiter {
  owner: string;
  maxHoldMs: number | undefined;
  enqueuedAt: number;
  contended: boolean;
  /** Its grant was under way when it was cancelled (its worker went): already rejected, never granted. */
  withdrawn?: boolean;
  resolve(lease: SerialLease): void;
  reject(err: Error): void;
  cancel(): void;
}

interface Port extends PortState {
  waiters: Waiter[];
  granting: boolean;
  /** The waiter whose grant is under way (the line settling, the input being flushed). */
  grantee: Waiter | undefined;
  opening: Promise<SerialLine> | undefined;
}

export interface SerialPortPoolOptions {
  factory?: SerialLineFactory;
  defaultLeaseTimeoutMs?: number;
  /**
   * After a holder leaves a command unanswered, the next grant waits until the line has been
   * quiet this long (plus 20 byte times), discarding what arrives: a late reply never reaches
   * the next holder. Default 50 ms.
   */
  settleQuietMs?: number;
  /** Upper bound of that wait. Default 1000 ms. */
  settleMaxMs?: number;
}

export const DEFAULT_LINE_SETTINGS: SerialLineSettings = {
  baud_rate: 9600,
  data_bits: 8,
  parity: 'none',
  stop_bits: 1,
  flow_control: 'none',
};

const sameSettings = (a: SerialLineSettings, b: SerialLineSettings) =>
  a.baud_rate === b.baud_rate &&
  a.data_bits === b.data_bits &&
  a.parity === b.parity &&
  a.stop_bits === b.stop_bits &&
  a.flow_control === b.flow_control;

function checkOwner(owner: unknown): asserts owner is string {
  if (typeof owner !== 'string' || owner.length === 0) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `a lease owner must be a non-empty string such as "v2:elliptec1", got ${JSON.stringify(owner)}`,
    );
  }
}

function checkDuration(name: string, value: unknown, allowZero: boolean): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${JSON.stringify(value)}`,
    );
  }
}

export class SerialPortPool implements AsyncDisposable {
  private readonly ports = new Map<string, Port>();
  private readonly factory: SerialLineFactory;
  private readonly defaultLeaseTimeoutMs: number;
  private readonly settleQuietMs: number;
  private readonly settleMaxMs: number;
  private closed = false;

  constructor(options: SerialPortPoolOptions = {}) {
    this.factory = options.factory ?? nodeSerialLineFactory;
    this.defaultLeaseTimeoutMs = options.defaultLeaseTimeoutMs ?? 2000;
    this.settleQuietMs = options.settleQuietMs ?? 50;
    this.settleMaxMs = options.settleMaxMs ?? 1000;
  }

  /** Declares a port and its line settings (from the configuration). */
  configure(path: string, settings: SerialLineSettings = DEFAULT_LINE_SETTINGS): void {
    const known = this.ports.get(path);
    if (known) {
      if (!sameSettings(known.settings, settings)) {
        throw new DaqError(
          'DAQ_INVALID_ARGUMENT',
          `${path} is already configured with other line settings (${JSON.stringify(known.settings)})`,
          { port: path },
        );
      }
      return;
    }
    this.ports.set(path, {
      path,
      settings,
      line: undefined,
      buffer: Buffer.alloc(0),
      holder: undefined,
      pendingRead: undefined,
      counters: new PortCounters(),
      dirty: false,
      lastDataAt: 0,
      waiters: [],
      granting: false,
      grantee: undefined,
      opening: undefined,
    });
  }

  get paths(): string[] {
    return [...this.ports.keys()];
  }

  /** Opens every configured port now, so a missing device is reported at start-up. */
  async openAll(): Promise<void> {
    await Promise.all([...this.ports.values()].map((p) => this.ensureOpen(p)));
  }

  /** Waits (FIFO) for the port; rejects with DAQ_LEASE_TIMEOUT naming the holder. */
  lease(path: string, options: LeaseOptions): Promise<SerialLease> {
    return this.enqueue(path, options, false);
  }

  /** Takes the port only if it is free right now; else DAQ_PORT_BUSY. */
  tryLease(path: string, options: Omit<LeaseOptions, 'timeoutMs'>): Promise<SerialLease> {
    return this.enqueue(path, options, true);
  }

  private enqueue(path: string, options: LeaseOptions, immediate: boolean): Promise<SerialLease> {
    try {
      if (this.closed) throw new DaqError('DAQ_CLOSED', `the serial port pool is closed; cannot lease ${path}`, { port: path });
      checkOwner(options?.owner);
      checkDuration('timeoutMs', options.timeoutMs, true);
      checkDuration('maxHoldMs', options.maxHoldMs, false);
      const port = this.port(path);
      const busy = port.holder !== undefined || port.granting || port.waiters.length > 0;
      if (immediate && busy) throw this.busyError(port, options.owner);
      if (options.signal?.aborted)
        throw new DaqError('DAQ_ABORTED', `lease of ${path} aborted`, { port: path, owner: options.owner });
      return new Promise((resolve, reject) => {
        const timeoutMs = options.timeoutMs ?? this.defaultLeaseTimeoutMs;
        const remove = () => {
          const i = port.waiters.indexOf(waiter);
          if (i >= 0) port.waiters.splice(i, 1);
        };
        const timer = immediate
          ? undefined
          : setTimeout(() => {
              remove();
              port.counters.leaseTimeouts++;
              reject(this.timeoutError(port, options.owner, timeoutMs));
            }, timeoutMs);
        const onAbort = () => {
          remove();
          waiter.cancel();
          reject(
            new DaqError(
              'DAQ_ABORTED',
              `lease of ${path} aborted while waiting`,
              { port: path, owner: options.owner },
              { cause: options.signal?.reason },
            ),
          );
        };
        const waiter: Waiter = {
          owner: options.owner,
          maxHoldMs: options.maxHoldMs,
          enqueuedAt: performance.now(),
          contended: busy,
          resolve,
          reject,
          cancel: () => {
            clearTimeout(timer);
            options.signal?.removeEventListener('abort', onAbort);
          },
        };
        options.signal?.addEventListener('abort', onAbort, { once: true });
        port.waiters.push(waiter);
        this.pump(port);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private port(path: string): Port {
    const port = this.ports.get(path);
    if (!port) {
      const known = this.paths.length ? this.paths.join(', ') : 'none';
      throw new DaqError(
        'DAQ_PORT_UNKNOWN',
        `serial port ${JSON.stringify(path)} is not configured (configured: ${known}); add it to an instrument's serial_port`,
        {
          port: String(path),
        },
      );
    }
    return port;
  }

  /** Grants the port to the first waiter if it is free. */
  private pump(port: Port): void {
    if (port.holder || port.granting || this.closed) return;
    const waiter = port.waiters.shift();
    if (!waiter) return;
    waiter.cancel(); // no more timeout: the grant is under way
    port.granting = true;
    port.grantee = waiter;
    void this.grant(port, waiter).finally(() => {
      port.granting = false;
      port.grantee = undefined;
      this.pump(port);
    });
  }

  private async grant(port: Port, waiter: Waiter): Promise<void> {
    try {
      // A line that died unnoticed (no I/O since) fails its flush: drop it and open once more.
      await this.prepare(port).catch((e: unknown) => {
        if (e instanceof DaqError) throw e;
        this.onLost(port, e as Error);
        return this.prepare(port);
      });
    } catch (e) {
      if (waiter.withdrawn) return;
      waiter.reject(
        e instanceof DaqError
          ? e
          : new DaqError(
              'DAQ_PORT_ERROR',
              `cannot prepare ${port.path} for ${waiter.owner}: ${(e as Error).message}`,
              { port: port.path },
              { cause: e },
            ),
      );
      return;
    }
    if (waiter.withdrawn) return; // its worker went while the line settled
    if (this.closed) {
      waiter.reject(
        new DaqError('DAQ_CLOSED', `the serial port pool closed while ${waiter.owner} waited for ${port.path}`, {
          port: port.path,
        }),
      );
      return;
    }
    const host = { release: (l: SerialLease) => this.onRelease(port, l), lineFailed: (e: Error) => this.onLost(port, e) };
    const lease = new SerialLease(host, port, waiter.owner, waiter.maxHoldMs);
    port.holder = lease;
    port.counters.acquisitions++;
    port.counters.byOwner.set(waiter.owner, (port.counters.byOwner.get(waiter.owner) ?? 0) + 1);
    if (waiter.contended) port.counters.contended++;
    port.counters.wait.recordMs(performance.now() - waiter.enqueuedAt);
    // Before the holder gets the lease: an observer (a simulator in simulate mode) learns who asks.
    publishSerialGrant({ path: port.path, owner: waiter.owner });
    waiter.resolve(lease);
  }

  /** Opens the line if needed, lets a dirty line settle, and drops all pending input. */
  private async prepare(port: Port): Promise<void> {
    const line = await this.ensureOpen(port);
    if (port.dirty) await this.settle(port);
    // No holder reads its predecessor's bytes: drop what is buffered and what the OS holds.
    port.counters.bytesDiscarded += port.buffer.length;
    port.buffer = Buffer.alloc(0);
    await line.flushInput();
    port.counters.bytesDiscarded += port.buffer.length;
    port.buffer = Buffer.alloc(0);
  }

  /**
   * Waits until the line is quiet (bounded): a reply to an abandoned command lands here. After
   * a read timed out, a quiet line does not mean the reply will not come (it is late, not
   * lost): wait for bytes to arrive after the timeout, then for quiet, within settleMaxMs.
   */
  private async settle(port: Port): Promise<void> {
    port.dirty = false;
    port.counters.settles++;
    const overdueSince = port.overdueSince;
    port.overdueSince = undefined;
    const quietMs = this.settleQuietMs + (20 * 10 * 1000) / port.settings.baud_rate;
    const started = performance.now();
    let quietSince = Math.max(started, port.lastDataAt);
    while (!this.closed && port.line) {
      const now = performance.now();
      if (port.lastDataAt > quietSince) quietSince = port.lastDataAt;
      const awaited = overdueSince === undefined || port.lastDataAt > overdueSince;
      if ((awaited && now - quietSince >= quietMs) || now - started >= this.settleMaxMs) break;
      await new Promise((r) => setTimeout(r, Math.max(1, quietMs / 5)));
    }
  }

  private ensureOpen(port: Port): Promise<SerialLine> {
    if (port.line) return Promise.resolve(port.line);
    if (!port.opening) {
      const reopen = port.counters.acquisitions > 0 || port.counters.portErrors > 0;
      port.opening = this.factory
        .open(port.path, port.settings, {
          data: (chunk) => this.onData(port, chunk),
          lost: (err) => this.onLost(port, err),
        })
        .then((line) => {
          port.line = line;
          if (reopen) port.counters.reopens++;
          return line;
        })
        .finally(() => {
          port.opening = undefined;
        });
    }
    return port.opening;
  }

  private onData(port: Port, chunk: Buffer): void {
    port.counters.bytesIn += chunk.length;
    port.lastDataAt = performance.now();
    if (!port.holder || port.holder.state !== 'active') {
      port.counters.bytesDiscarded += chunk.length; // nobody asked: never shown to the next holder
      return;
    }
    port.buffer = port.buffer.length ? Buffer.concat([port.buffer, chunk]) : chunk;
    port.holder.deliver();
  }

  private onLost(port: Port, err: Error): void {
    const line = port.line;
    if (!line) return; // already known
    port.line = undefined;
    port.counters.portErrors++;
    void line.close().catch(() => undefined); // release the dead handle
    port.holder?.markLost(err);
  }

  private onRelease(port: Port, lease: SerialLease): void {
    if (port.holder !== lease) return;
    port.holder = undefined;
    port.pendingRead = undefined;
    port.counters.hold.recordMs(lease.heldMs);
    this.pump(port);
  }

  /**
   * Releases every lease held by `owner` or by its instruments (`v2` matches `v2:elliptec1`)
   * and cancels its waits: called when a worker exits or crashes. Returns the leases released.
   */
  releaseOwner(owner: string, reason = `${owner} is gone`): number {
    let released = 0;
    for (const port of this.ports.values()) {
      for (const w of port.waiters.filter((x) => ownedBy(x.owner, owner))) {
        port.waiters.splice(port.waiters.indexOf(w), 1);
        w.cancel();
        w.reject(
          new DaqError('DAQ_WORKER', `lease of ${port.path} for ${w.owner} cancelled: ${reason}`, {
            port: port.path,
            owner: w.owner,
          }),
        );
      }
      // A wait whose grant is under way (the line settling) is cancelled too: granting it now
      // would hand a lease to nobody.
      const grantee = port.grantee;
      if (grantee && !grantee.withdrawn && ownedBy(grantee.owner, owner)) {
        grantee.withdrawn = true;
        grantee.reject(
          new DaqError('DAQ_WORKER', `lease of ${port.path} for ${grantee.owner} cancelled: ${reason}`, {
            port: port.path,
            owner: grantee.owner,
          }),
        );
      }
      const holder = port.holder;
      if (holder && ownedBy(holder.owner, owner)) {
        holder.end(
          'released',
          new DaqError('DAQ_LEASE_RELEASED', `lease on ${port.path} of ${holder.owner} was released: ${reason}`, {
            port: port.path,
            owner: holder.owner,
          }),
        );
        released++;
      }
    }
    return released;
  }

  /** Every port with its holder, hold time and queue. */
  status(): PortStatus[] {
    return [...this.ports.values()].map((p) => ({
      path: p.path,
      open: p.line !== undefined,
      owner: p.holder?.owner ?? null,
      worker: p.holder ? p.holder.owner.split(':')[0]! : null,
      heldMs: p.holder ? Math.round(p.holder.heldMs) : null,
      waiters: p.waiters.map((w) => w.owner),
      settings: p.settings,
    }));
  }

  stats(path: string): PortStats {
    return this.port(path).counters.snapshot();
  }

  /** Leases currently held, across all ports (for leak checks and status). */
  get leasesHeld(): number {
    return [...this.ports.values()].filter((p) => p.holder).length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const port of this.ports.values()) {
      for (const w of port.waiters.splice(0)) {
        w.cancel();
        w.reject(
          new DaqError('DAQ_CLOSED', `the serial port pool closed while ${w.owner} waited for ${port.path}`, {
            port: port.path,
            owner: w.owner,
          }),
        );
      }
      port.holder?.end(
        'released',
        new DaqError('DAQ_CLOSED', `lease on ${port.path} ended: the serial port pool closed`, { port: port.path }),
      );
    }
    await Promise.all(
      [...this.ports.values()].map(async (p) => {
        await p.opening?.catch(() => undefined);
        const line = p.line;
        p.line = undefined;
        await line?.close();
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private busyError(port: Port, owner: string): DaqError {
    const holder = port.holder;
    const who = holder ? `held by ${holder.owner} for ${(holder.heldMs / 1000).toFixed(1)} s` : 'being handed over';
    return new DaqError(
      'DAQ_PORT_BUSY',
      `port ${port.path} is ${who}${port.waiters.length ? ` with ${port.waiters.length} waiting` : ''}; ${owner} did not wait (use lease() to wait)`,
      {
        port: port.path,
        owner: holder?.owner,
        heldMs: holder ? Math.round(holder.heldMs) : undefined,
      },
    );
  }

  private timeoutError(port: Port, owner: string, timeoutMs: number): DaqError {
    const holder = port.holder;
    const heldMs = holder ? Math.round(holder.heldMs) : undefined;
    const who = holder
      ? `is held by ${holder.owner} for ${(holder.heldMs / 1000).toFixed(1)} s`
      : 'was being handed to an earlier waiter';
    const hint = holder ? `raise serial_lease_timeout_ms or check ${holder.owner}` : 'raise serial_lease_timeout_ms';
    return new DaqError('DAQ_LEASE_TIMEOUT', `port ${port.path} ${who}; ${owner} waited ${timeoutMs} ms (${hint})`, {
      port: port.path,
      owner: holder?.owner,
      heldMs,
      waitedMs: timeoutMs,
    });
  }
}
