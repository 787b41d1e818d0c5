// The consumer side of a ring: hands out each record as a zero-copy view until it is released, and
// waits for records with Atomics.waitAsync so that the main thread's event loop keeps running.

import { setImmediate } from 'node:timers/promises';
import { DaqError } from '../errors.js';
import {
  B_BYTES_READ,
  B_HEAD,
  B_HELD,
  B_RECORDS_READ,
  B_TAIL,
  CLOSED_BY_READER,
  CLOSED_BY_WRITER,
  NONE,
  PADDING,
} from './ring-layout.js';
import { RingSide } from './ring-side.js';

export interface RingReaderOptions {
  /** Name used in errors; defaults to the name given to createRingBuffer. */
  name?: string;
}

/**
 * A consumer with nothing to read first polls for this long, yielding to the event loop between
 * looks, before it sleeps in Atomics.waitAsync: while a producer streams records, neither side then
 * pays for a wake-up.
 */
const POLL_MS = 0.2;

/** The consumer side. One reader per ring at a time; its waits never block the event loop. */
export class RingReader extends RingSide {
  /** The producer's head as last read: records before it can be read without looking again. */
  #head = 0n;
  /** Records claimed and not yet released, oldest first: start positions and payload lengths. */
  readonly #heldAt: bigint[] = [];
  readonly #heldLen: number[] = [];
  #recordsRead: bigint;
  #bytesRead: bigint;
  /** waitForData calls in progress: only the last one to end may clear the "consumer waits" flag. */
  #waiters = 0;

  constructor(sab: SharedArrayBuffer, options: RingReaderOptions = {}) {
    super(sab, options.name);
    this.#recordsRead = Atomics.load(this.v.b64, B_RECORDS_READ);
    this.#bytesRead = Atomics.load(this.v.b64, B_BYTES_READ);
  }

  /**
   * The next record as a zero-copy view into the ring, or undefined when there is none. The view is
   * valid until release() or the next tryRead(), which releases every record held first.
   */
  tryRead(): Uint8Array | undefined {
    while (this.#heldAt.length > 0) this.release();
    return this.claim();
  }

  /**
   * Like tryRead(), but keeps the records already held: a consumer can hold several records at once
   * (e.g. one being written to disk while the next is being analysed) and release() gives them back
   * oldest first. Every view stays valid until its own release.
   */
  claim(): Uint8Array | undefined {
    const b64 = this.v.b64;
    for (;;) {
      const tail = Atomics.load(b64, B_TAIL);
      if (tail >= this.#head) {
        this.#head = Atomics.load(b64, B_HEAD);
        if (tail >= this.#head) return undefined;
      }
      const offset = Number(tail % this.cap);
      const len = this.v.records[offset >> 2]!;
      const next = this.after(tail, offset, len);
      if (len === PADDING) {
        Atomics.compareExchange(b64, B_TAIL, tail, next);
        continue;
      }
      // Claim: publish `held` (the oldest record held) first, then move tail past the record. Under
      // drop-oldest the producer may have discarded the record in between; then the exchange fails
      // and we look again.
      const first = this.#heldAt.length === 0;
      if (first) Atomics.store(b64, B_HELD, tail);
      if (Atomics.compareExchange(b64, B_TAIL, tail, next) !== tail) {
        if (first) {
          Atomics.store(b64, B_HELD, NONE);
          this.wakeProducer(this.#heldAt[0] ?? NONE);
        }
        continue;
      }
      this.#heldAt.push(tail);
      this.#heldLen.push(len);
      return this.payload(offset, len);
    }
  }

  /** Gives the oldest held record's room back to the producer. A no-op when nothing is held. */
  release(): void {
    if (this.#heldAt.length === 0) return;
    this.#heldAt.shift();
    const len = this.#heldLen.shift()!;
    const b64 = this.v.b64;
    Atomics.store(b64, B_RECORDS_READ, ++this.#recordsRead);
    Atomics.store(b64, B_BYTES_READ, (this.#bytesRead += BigInt(len)));
    Atomics.store(b64, B_HELD, this.#heldAt[0] ?? NONE);
    this.wakeProducer(this.#heldAt[0] ?? NONE);
  }

  /** Records claimed and not yet released. */
  get held(): number {
    return this.#heldAt.length;
  }

  /** True when a record is ready to read (without claiming it). */
  hasData(): boolean {
    const tail = Atomics.load(this.v.b64, B_TAIL);
    if (tail < this.#head) return true;
    this.#head = Atomics.load(this.v.b64, B_HEAD);
    return tail < this.#head;
  }

  /** True once the writer closed the ring and every record was read. */
  get closed(): boolean {
    return (this.closedBy() & CLOSED_BY_WRITER) !== 0 && !this.hasData();
  }

  /**
   * Resolves when a record is available ('data'), the writer closed the ring and it is drained
   * ('closed') or timeoutMs passed ('timeout'); rejects with DAQ_ABORTED when `signal` aborts.
   */
  async waitForData(timeoutMs: number, options: { signal?: AbortSignal } = {}): Promise<'data' | 'closed' | 'timeout'> {
    const { signal } = options;
    const deadline = performance.now() + timeoutMs;
    const pollUntil = Math.min(deadline, performance.now() + POLL_MS);
    while (!this.hasData() && this.closedBy() === 0 && performance.now() < pollUntil) await setImmediate();
    this.#waiters++;
    try {
      for (;;) {
        if (signal?.aborted) throw this.#aborted(signal);
        // Announce the sleep, then look again (the producer's commit does the converse).
        const seq = this.announceDataWait();
        if (this.hasData()) return 'data';
        if (this.closedBy() & CLOSED_BY_WRITER) return this.hasData() ? 'data' : 'closed';
        const remaining = deadline - performance.now();
        if (remaining <= 0) return 'timeout';
        const r = this.dataWait(seq, remaining);
        if (r.async) await this.#settle(r.value, remaining, signal);
      }
    } finally {
      // Overlapping waits (e.g. one raced against other work and abandoned) must not clear the
      // flag another wait still sleeps on, or the producer would not wake that one.
      if (--this.#waiters === 0) this.endDataWait();
    }
  }

  /** Tells the writer that nobody reads any more: its waits end and its next reserve throws DAQ_CLOSED. */
  close(): void {
    while (this.#heldAt.length > 0) this.release();
    this.markClosed(CLOSED_BY_READER);
  }

  /**
   * Node 20 does not count a pending Atomics.waitAsync as work that keeps the process alive, so a
   * timer does (and bounds the wait); the timer and the abort listener go when the wait ends.
   */
  async #settle(wait: Promise<unknown>, ms: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        wait,
        new Promise<void>((resolve, reject) => {
          timer = setTimeout(resolve, Math.ceil(ms));
          if (signal) {
            onAbort = () => reject(this.#aborted(signal));
            signal.addEventListener('abort', onAbort, { once: true });
          }
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  #aborted(signal: AbortSignal): DaqError {
    const message = `ring "${this.name}": waiting for data was aborted`;
    return new DaqError('DAQ_ABORTED', message, { ring: this.name }, { cause: signal.reason });
  }
}
