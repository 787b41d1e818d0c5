// A lease: the right to use one serial port until released or revoked. Only the object's
// holder can use it; every operation fails clearly once the lease is gone.

import { DaqError } from '@daq/core';
import type { SerialLineSettings } from '@daq/core';
import type { SerialLine } from './serial-line.js';
import type { PortCounters } from './port-stats.js';

/** The pool's state for one port, shared with the lease that holds it. */
export interface PortState {
  path: string;
  settings: SerialLineSettings;
  line: SerialLine | undefined;
  /** Input received for the current holder and not read yet. */
  buffer: Buffer;
  holder: SerialLease | undefined;
  pendingRead: PendingRead | undefined;
  counters: PortCounters;
  /** A holder left with a command unanswered: its reply may still arrive. */
  dirty: boolean;
  /** performance.now() of the last byte received, owned or not. */
  lastDataAt: number;
  /** When a holder's read timed out on a command left unanswered: its reply may arrive later than any quiet gap. */
  overdueSince?: number;
}

export interface PendingRead {
  terminator: Buffer;
  resolve(line: Buffer): void;
  reject(err: Error): void;
}

export interface LeaseHost {
  release(lease: SerialLease): void;
  /** The line failed under this lease (write/flush error): the pool drops it and reopens later. */
  lineFailed(error: Error): void;
}

export type LeaseState = 'active' | 'released' | 'revoked' | 'lost';

export interface ReadOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface QueryOptions extends ReadOptions {
  /** Reply terminator, e.g. "\r\n". */
  terminator: string | Uint8Array;
  /** Discard unread input first (default true), so a stale byte cannot pose as the reply. */
  discardFirst?: boolean;
}

const toBytes = (data: string | Uint8Array) => (typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data));
const show = (b: Buffer) => JSON.stringify(b.toString('latin1'));

let nextLeaseId = 1;

export class SerialLease implements AsyncDisposable {
  readonly id = nextLeaseId++;
  readonly acquiredAt = performance.now();
  private stateValue: LeaseState = 'active';
  private endError: DaqError | undefined;
  private revokeTimer: NodeJS.Timeout | undefined;
  /** Bytes were written and no complete reply has been read since. */
  private unanswered = false;
  /** When a read timed out with the command unanswered (a late reply may still come). */
  private overdueSince: number | undefined;
  /** When this holder last wrote (its reply, if any, comes after it). */
  private lastWriteAt: number | undefined;

  constructor(
    private readonly host: LeaseHost,
    private readonly port: PortState,
    readonly owner: string,
    readonly maxHoldMs: number | undefined,
  ) {
    if (maxHoldMs !== undefined) {
      this.revokeTimer = setTimeout(() => this.revoke(), maxHoldMs);
      this.revokeTimer.unref();
    }
  }

  /** Ends the lease at maxHoldMs (by its timer, or at the first use after it if the timer is late). */
  private revoke(): void {
    if (this.stateValue === 'released' || this.stateValue === 'revoked') return;
    const { path, counters } = this.port;
    this.end(
      'revoked',
      new DaqError(
        'DAQ_LEASE_REVOKED',
        `lease on ${path} held by ${this.owner} was revoked after ${this.maxHoldMs} ms (its maxHoldMs): release leases as soon as a command is done, or raise maxHoldMs`,
        { port: path, owner: this.owner, heldMs: this.maxHoldMs },
      ),
    );
    counters.revocations++;
  }

  get path(): string {
    return this.port.path;
  }

  get state(): LeaseState {
    return this.stateValue;
  }

  get heldMs(): number {
    return performance.now() - this.acquiredAt;
  }

  /** Sends bytes; resolves once transmitted. */
  async write(data: string | Uint8Array): Promise<void> {
    const line = this.usableLine();
    const bytes = toBytes(data);
    // The command is out as soon as the line has it, and its reply may come before the write
    // resolves (it waits for tcdrain): mark it unanswered first, so that a lease cut off while
    // the write is in flight (revoked, its worker gone) makes the next grant wait for that reply.
    this.unanswered = true;
    this.lastWriteAt = performance.now();
    try {
      await line.write(bytes);
    } catch (e) {
      this.host.lineFailed(e as Error);
      throw this.portError(`write of ${bytes.length} bytes failed`, e);
    }
    this.port.counters.bytesOut += bytes.length;
  }

  /** Reads up to and including `terminator`; returns the bytes before it. */
  readUntil(terminator: string | Uint8Array, { timeoutMs, signal }: ReadOptions): Promise<Buffer> {
    this.usableLine();
    const term = toBytes(terminator);
    if (term.length === 0) throw new DaqError('DAQ_INVALID_ARGUMENT', 'a read terminator must not be empty', { port: this.path });
    if (!(timeoutMs >= 0))
      throw new DaqError('DAQ_INVALID_ARGUMENT', `timeoutMs must be >= 0, got ${timeoutMs}`, { port: this.path });
    if (this.port.pendingRead) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `a read on ${this.path} is already pending for ${this.owner}; reads are sequential`,
        {
          port: this.path,
          owner: this.owner,
        },
      );
    }
    const immediate = this.takeLine(term);
    if (immediate) return Promise.resolve(immediate);
    return new Promise<Buffer>((resolve, reject) => {
      const started = performance.now();
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.port.pendingRead = undefined;
      };
      const timer = setTimeout(() => {
        finish();
        this.port.counters.readTimeouts++;
        if (this.unanswered) this.overdueSince = performance.now();
        const got = this.port.buffer;
        reject(
          new DaqError(
            'DAQ_READ_TIMEOUT',
            `no reply on ${this.path} within ${timeoutMs} ms for ${this.owner}` +
              (got.length
                ? ` (received ${got.length} bytes without the terminator ${show(term)}: ${show(got.subarray(0, 64))})`
                : ' (nothing received)') +
              ': check that the instrument is on, its address and baud rate, and the cable',
            { port: this.path, owner: this.owner, waitedMs: Math.round(performance.now() - started), received: got.length },
          ),
        );
      }, timeoutMs);
      const onAbort = () => {
        finish();
        reject(
          new DaqError(
            'DAQ_ABORTED',
            `read on ${this.path} aborted`,
            { port: this.path, owner: this.owner },
            { cause: signal?.reason },
          ),
        );
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.port.pendingRead = {
        terminator: term,
        resolve: (line) => {
          finish();
          resolve(line);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
    });
  }

  /** Reads one reply as text (latin1), without its terminator. */
  async readLine(terminator: string | Uint8Array, options: ReadOptions): Promise<string> {
    const line = await this.readUntil(terminator, options);
    this.unanswered = false;
    this.overdueSince = undefined;
    return line.toString('latin1');
  }

  /** Writes `command` and reads one reply up to `terminator`. */
  async query(command: string | Uint8Array, options: QueryOptions): Promise<string> {
    if (options.discardFirst !== false) this.discardBuffered();
    await this.write(command);
    return this.readLine(options.terminator, options);
  }

  /** Discards all unread input, in the pool and the OS; returns how many buffered bytes were dropped. */
  async drain(): Promise<number> {
    const line = this.usableLine();
    const n = this.discardBuffered();
    try {
      await line.flushInput();
    } catch (e) {
      this.host.lineFailed(e as Error);
      throw this.portError('input flush failed', e);
    }
    return n;
  }

  /** Gives the port back. Idempotent; also after revocation or a lost port. */
  async release(): Promise<void> {
    if (this.stateValue === 'active' || this.stateValue === 'lost') {
      this.end(
        'released',
        new DaqError('DAQ_LEASE_RELEASED', `lease on ${this.path} was already released by ${this.owner}`, {
          port: this.path,
          owner: this.owner,
        }),
      );
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }

  /** Called by the pool when the line is lost under this lease. */
  markLost(cause: Error): void {
    if (this.stateValue !== 'active') return;
    this.stateValue = 'lost';
    this.endError = this.portError('the port was lost', cause);
    this.port.pendingRead?.reject(this.endError);
  }

  /** Called by the pool (release of a dead worker, pool close) or the revoke timer. */
  end(state: 'released' | 'revoked', error: DaqError): void {
    if (this.stateValue === 'released' || this.stateValue === 'revoked') return;
    this.stateValue = state;
    this.endError = error;
    clearTimeout(this.revokeTimer);
    if (this.port.holder === this) {
      if (this.unanswered) {
        this.port.dirty = true;
        // Cut off mid-exchange (its worker died, or it held too long): the reply to its last
        // command may still be on its way, later than any quiet gap on a loaded machine. The
        // next holder waits for data after that write (bounded by the settle maximum).
        this.port.overdueSince = this.overdueSince ?? this.lastWriteAt;
      }
      this.port.pendingRead?.reject(error);
      this.host.release(this);
    }
  }

  private discardBuffered(): number {
    const n = this.port.buffer.length;
    this.port.counters.bytesDiscarded += n;
    this.port.buffer = Buffer.alloc(0);
    return n;
  }

  /** Removes and returns the first complete line from the buffer, if any. */
  private takeLine(term: Buffer): Buffer | undefined {
    const at = this.port.buffer.indexOf(term);
    if (at < 0) return undefined;
    const line = Buffer.from(this.port.buffer.subarray(0, at));
    this.port.buffer = this.port.buffer.subarray(at + term.length);
    return line;
  }

  /** Delivers buffered input to a pending read (called by the pool on data). */
  deliver(): void {
    const pending = this.port.pendingRead;
    if (!pending) return;
    const line = this.takeLine(pending.terminator);
    if (line) pending.resolve(line);
  }

  private usableLine(): SerialLine {
    // A busy event loop runs the revoke timer late: past maxHoldMs the lease is over anyway, and
    // nothing may be written under it (the next holder would get the reply).
    if (this.stateValue === 'active' && this.maxHoldMs !== undefined && this.heldMs >= this.maxHoldMs) this.revoke();
    if (this.stateValue !== 'active') throw this.endError!;
    if (!this.port.line) throw this.portError('the port is closed');
    return this.port.line;
  }

  private portError(what: string, cause?: unknown): DaqError {
    const reason = cause instanceof Error ? `: ${cause.message}` : '';
    this.port.counters.portErrors++;
    return new DaqError(
      'DAQ_PORT_ERROR',
      `${what} on ${this.path} (held by ${this.owner})${reason}; release this lease: the port is reopened on the next lease`,
      { port: this.path, owner: this.owner },
      { cause },
    );
  }
}
