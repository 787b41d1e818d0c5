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
 * A consumer with nothing to read first polls for up to this long, yielding to the event loop
 * between looks, before it sleeps in Atomics.waitAsync: while a producer streams records on another
 * CPU, neither side then pays for a wake-up.
 */
const POLL_MS = 0.2;
/**
 * Polling pays only while the producer runs on another CPU. When both threads share one (the
 * scheduler often puts a waker and the thread it wakes together, and a busy machine leaves them no
 * other), the producer cannot commit while the consumer polls: every poll runs to its end and takes
 * that time from the producer (issue 18 measured a 1 MiB stream at half speed that way). So the poll
 * adapts: a poll that found nothing halves the next one, down to none (below POLL_MIN_MS); one that
 * found a record restores POLL_MS; without polling, every PROBE_EVERY-th wait polls in full again to
 * see whether it pays once more.
 */
const POLL_MIN_MS = 0.02;
const PROBE_EVERY = 16;
/**
 * A consumer that must sleep while records come less than DENSE_MS apart (a dense stream) sleeps
 * until half the ring is pending, or BATCH_WAIT_MS at most, rather than until the next record: on
 * a shared CPU every wake-up costs two context switches and a turn of the event loop (issue 18
 * measured ~0.1 ms per 1 MiB record that way), and one wake-up then reads several records. The
 * producer wakes it at once when it must wait for room or flush()es. A record that ends a burst
 * may so wait up to BATCH_WAIT_MS longer; a sparse stream (and the first record after a pause)
 * wakes the consumer at once, as before.
 */
const DENSE_MS = 1;
const BATCH_WAIT_MS = 1;

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
  /** How long the next wait polls before it sleeps (adapts, see POLL_MIN_MS), and waits since it stopped polling. */
  #pollMs = POLL_MS;
  #unpolled = 0;
  /** The last wait found data within DENSE_MS: the next sleep batches (see DENSE_MS). */
  #dense = false;

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
    const started = performance.now();
    const deadline = started + timeoutMs;
    if (!this.hasData() && this.closedBy() === 0) await this.#poll(deadline);
    let batch = this.#dense;
    this.#dense = false;
    this.#waiters++;
    try {
      for (;;) {
        if (signal?.aborted) throw this.#aborted(signal);
        // Announce the sleep, then look again (the producer's commit does the converse).
        const seq = this.announceDataWait(batch ? this.capacity >> 1 : 0);
        if (this.hasData()) {
          this.#dense = performance.now() - started < DENSE_MS;
          return 'data';
        }
        if (this.closedBy() & CLOSED_BY_WRITER) return this.hasData() ? 'data' : 'closed';
        const remaining = deadline - performance.now();
        if (remaining <= 0) return 'timeout';
        const ms = batch ? Math.min(remaining, BATCH_WAIT_MS) : remaining;
        const r = this.dataWait(seq, ms);
        if (r.async) await this.#settle(r.value, ms, signal);
        // A batched sleep that ended with nothing to read: the stream paused, wake on the next record.
        if (batch && !this.hasData()) batch = false;
      }
    } finally {
      // Overlapping waits (e.g. one raced against other work and abandoned) must not clear the
      // flag another wait still sleeps on, or the producer would not wake that one.
      if (--this.#waiters === 0) this.endDataWait();
    }
  }

  /** Polls for data (see POLL_MS) until `deadline` at most, and adapts the next poll to whether this one found any. */
  async #poll(deadline: number): Promise<void> {
    let ms = this.#pollMs;
    if (ms === 0) {
      if (++this.#unpolled < PROBE_EVERY) return;
      ms = POLL_MS;
    }
    this.#unpolled = 0;
    const pollUntil = Math.min(deadline, performance.now() + ms);
    while (!this.hasData() && this.closedBy() === 0 && performance.now() < pollUntil) await setImmediate();
    if (this.hasData()) this.#pollMs = POLL_MS;
    else if (this.closedBy() === 0) this.#pollMs = ms / 2 < POLL_MIN_MS ? 0 : ms / 2;
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
