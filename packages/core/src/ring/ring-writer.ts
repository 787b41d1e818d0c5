// The producer side of a ring: reserves contiguous room for a record, publishes it, and applies the
// ring's policy (wait, drop the new record, drop the oldest) when there is no room, counting every drop.

import { DaqError } from '../errors.js';
import { copyBytes } from './copy-bytes.js';
import {
  B_BLOCK_TIMEOUTS,
  B_BYTES_DROPPED,
  B_BYTES_WRITTEN,
  B_HEAD,
  B_HELD,
  B_HIGH_WATER,
  B_RECORDS_DROPPED,
  B_RECORDS_WRITTEN,
  B_TAIL,
  CLOSED_BY_WRITER,
  NONE,
  PADDING,
  RECORD_HEADER,
  align8,
  oldestInUse,
} from './ring-layout.js';
import { RingSide } from './ring-side.js';

export type RingPolicy = 'block' | 'drop-newest' | 'drop-oldest';

export interface RingWriterOptions {
  /** When a record does not fit: wait for room ('block', lossless, the default), drop it, or drop the oldest records. */
  policy?: RingPolicy;
  /** Longest wait for room (block; drop-oldest when the record the consumer holds is in the way). */
  blockTimeoutMs?: number;
  /** Name used in errors; defaults to the name given to createRingBuffer. */
  name?: string;
}

const POLICIES: readonly RingPolicy[] = ['block', 'drop-newest', 'drop-oldest'];
const DEFAULT_BLOCK_TIMEOUT_MS = 5000;
/**
 * A producer with no room spins up to this long before it sleeps: waking a sleeping thread costs
 * tens of microseconds to milliseconds (more on virtual machines), while a consumer that is awake
 * on another CPU frees room within microseconds.
 */
const SPIN_MS = 0.1;
/**
 * A consumer that shares the producer's CPU cannot free room while the producer spins, so the spin
 * adapts as the reader's poll does: a spin that found no room halves the next one, down to none
 * (below SPIN_MIN_MS); one that found room restores SPIN_MS; without spinning, every PROBE_EVERY-th
 * wait for room spins in full again.
 */
const SPIN_MIN_MS = 0.01;
const PROBE_EVERY = 16;
/**
 * A producer that must sleep first asks (for this long at most) to be woken only once half of the
 * ring is free, so that it then writes several records per wake-up rather than one.
 */
const BATCH_WAIT_MS = 2;

/** The producer side. One writer per ring at a time, on one thread. */
export class RingWriter extends RingSide {
  /** Largest payload one record can have: the data space minus the record header. */
  readonly maxRecordBytes: number;
  readonly policy: RingPolicy;
  readonly blockTimeoutMs: number;
  // Producer-local copies. `head` is written only here. `limit` (the oldest byte the consumer may
  // still need) only moves forward, so a stale value is safe; it is re-read only when it says there
  // is no room, so the common path reads no consumer-written cache line.
  #head: bigint;
  #limit: bigint;
  #recordsWritten: bigint;
  #bytesWritten: bigint;
  #highWater: bigint;
  /** Bytes reserved and not yet committed, or -1. */
  #reserved = -1;
  #reservedAt = 0;
  /** How long the next wait for room spins before it sleeps (adapts, see SPIN_MIN_MS), and waits since it stopped spinning. */
  #spinMs = SPIN_MS;
  #unspun = 0;

  constructor(sab: SharedArrayBuffer, options: RingWriterOptions = {}) {
    super(sab, options.name);
    this.maxRecordBytes = this.capacity - RECORD_HEADER;
    this.policy = options.policy ?? 'block';
    if (!POLICIES.includes(this.policy)) {
      throw this.#invalid(`unknown policy "${String(this.policy)}" (expected ${POLICIES.join(', ')})`);
    }
    this.blockTimeoutMs = options.blockTimeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS;
    if (!(this.blockTimeoutMs >= 0) || !Number.isFinite(this.blockTimeoutMs)) {
      throw this.#invalid(`blockTimeoutMs must be a finite number >= 0, not ${this.blockTimeoutMs}`);
    }
    const b64 = this.v.b64;
    this.#head = Atomics.load(b64, B_HEAD);
    this.#limit = this.#loadLimit();
    this.#recordsWritten = Atomics.load(b64, B_RECORDS_WRITTEN);
    this.#bytesWritten = Atomics.load(b64, B_BYTES_WRITTEN);
    this.#highWater = Atomics.load(b64, B_HIGH_WATER);
  }

  /**
   * A contiguous view of n bytes to write the next record into, then commit(); undefined when the
   * record is dropped (drop-newest with the ring full). Throws DAQ_RING_FULL when the wait for room
   * timed out (the record is counted as dropped), DAQ_CLOSED once either side closed the ring.
   */
  reserve(n: number): Uint8Array | undefined {
    if (this.#reserved >= 0) throw this.#invalid('reserve() called twice; commit() or cancel() first');
    if (!Number.isInteger(n) || n < 0 || n > this.maxRecordBytes) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `ring "${this.name}": a record of ${n} bytes does not fit: the ring's capacity is ${this.capacity} bytes ` +
          `(largest record ${this.maxRecordBytes} bytes); raise the ring size to at least ${align8(Number(n) + RECORD_HEADER)} bytes`,
        { ring: this.name, recordBytes: n, capacity: this.capacity, maxRecordBytes: this.maxRecordBytes },
      );
    }
    if (this.closedBy() !== 0) this.#throwClosed();
    const size = align8(RECORD_HEADER + n);
    if (!this.#fits(size)) {
      this.#limit = this.#loadLimit();
      if (!this.#fits(size) && !this.#makeRoom(n, size)) return undefined;
    }
    let offset = Number(this.#head % this.cap);
    if (offset + size > this.capacity) {
      // A record is contiguous: mark the rest of the lap as padding and start at offset 0. The
      // padding is published with the record (or by cancel()).
      this.v.records[offset >> 2] = PADDING;
      this.#head += BigInt(this.capacity - offset);
      offset = 0;
    }
    this.#reserved = n;
    this.#reservedAt = offset;
    return this.payload(offset, n);
  }

  /** Publishes the reserved record, optionally shorter than reserved. */
  commit(n = this.#reserved): void {
    const reserved = this.#reserved;
    if (reserved < 0) throw this.#invalid('commit() without reserve()');
    if (!Number.isInteger(n) || n < 0 || n > reserved) throw this.#invalid(`commit(${n}) outside the ${reserved} bytes reserved`);
    this.#reserved = -1;
    this.v.records[this.#reservedAt >> 2] = n;
    const b64 = this.v.b64;
    this.#head += BigInt(align8(RECORD_HEADER + n));
    // The seq-cst store publishes the header and payload written before it to the consumer.
    Atomics.store(b64, B_HEAD, this.#head);
    Atomics.store(b64, B_RECORDS_WRITTEN, ++this.#recordsWritten);
    Atomics.store(b64, B_BYTES_WRITTEN, (this.#bytesWritten += BigInt(n)));
    if (this.#head - this.#limit > this.#highWater) {
      // The cached limit overstates what is in use; confirm with the consumer's real position.
      this.#limit = this.#loadLimit();
      if (this.#head - this.#limit > this.#highWater) {
        this.#highWater = this.#head - this.#limit;
        Atomics.store(b64, B_HIGH_WATER, this.#highWater);
      }
    }
    this.wakeConsumer();
  }

  /** Abandons the reserved record (e.g. serialisation failed): nothing is published or counted. */
  cancel(): void {
    if (this.#reserved < 0) return;
    this.#reserved = -1;
    // Publish padding written by reserve(), so the consumer's view of the ring matches ours.
    Atomics.store(this.v.b64, B_HEAD, this.#head);
  }

  /** Copies one record (or several chunks forming one record) in; false when it was dropped. */
  write(data: Uint8Array | readonly Uint8Array[]): boolean {
    const chunks = data instanceof Uint8Array ? [data] : data;
    let total = 0;
    for (const c of chunks) total += c.byteLength;
    const view = this.reserve(total);
    if (!view) return false;
    let at = 0;
    for (const c of chunks) {
      copyBytes(view, c, at);
      at += c.byteLength;
    }
    this.commit();
    return true;
  }

  /**
   * Wakes the consumer if it sleeps. commit() already does whenever it finds the consumer asleep
   * (and, while the consumer batches a dense stream, once half the ring is pending).
   */
  flush(): void {
    this.wakeConsumer(true);
  }

  /** Marks the ring closed: the consumer reads what remains, then sees 'closed'. Idempotent. */
  close(): void {
    this.cancel();
    this.markClosed(CLOSED_BY_WRITER);
  }

  #loadLimit(): bigint {
    // Tail before held: the consumer sets held before it moves tail past the record it claims.
    const tail = Atomics.load(this.v.b64, B_TAIL);
    return oldestInUse(tail, Atomics.load(this.v.b64, B_HELD));
  }

  /** Bytes from head that a record of `size` needs, padding to the end of the lap included. */
  #needed(size: number): number {
    const offset = Number(this.#head % this.cap);
    return offset + size <= this.capacity ? size : this.capacity - offset + size;
  }

  #fits(size: number): boolean {
    return this.#head + BigInt(this.#needed(size)) <= this.#limit + this.cap;
  }

  /** Re-reads the consumer's position; true when the record fits now. */
  #hasRoom(size: number): boolean {
    this.#limit = this.#loadLimit();
    if (this.#fits(size)) return true;
    if (this.#limit !== this.#head) return false;
    // The ring is empty but the record would need more padding than it has room for (records up to
    // the whole capacity are allowed): skip to the next lap, whose padding is free at once.
    const offset = Number(this.#head % this.cap);
    const from = this.#head;
    this.v.records[offset >> 2] = PADDING;
    this.#head += BigInt(this.capacity - offset);
    Atomics.store(this.v.b64, B_HEAD, this.#head);
    // The consumer may skip the padding first; either way tail ends at the new head.
    Atomics.compareExchange(this.v.b64, B_TAIL, from, this.#head);
    this.#limit = this.#loadLimit();
    return this.#fits(size);
  }

  /**
   * Called when the record does not fit: applies the policy. True when there is room now, false when
   * the record is dropped (drop-newest); throws DAQ_RING_FULL when the wait for room timed out.
   */
  #makeRoom(n: number, size: number): boolean {
    if (this.policy === 'drop-newest') {
      if (this.#hasRoom(size)) return true;
      this.#countDrop(n, false);
      this.wakeConsumer(true);
      return false;
    }
    const started = performance.now();
    const deadline = started + this.blockTimeoutMs;
    let spin = this.#spinMs;
    if (spin === 0 && ++this.#unspun >= PROBE_EVERY) spin = SPIN_MS;
    if (spin > 0) this.#unspun = 0;
    const spinUntil = started + spin;
    let spinning = spin > 0;
    // drop-oldest sleeps only until the consumer releases the record it holds: any release will do.
    let need = this.policy === 'block' ? Math.min(this.capacity, Math.max(this.#needed(size), this.capacity >> 1)) : 0;
    let announced = false;
    try {
      for (;;) {
        if (this.#hasRoom(size)) {
          if (spinning) this.#spinMs = SPIN_MS;
          return true;
        }
        // Dropping helps only when the consumer holds nothing: a held record bounds the room until released.
        if (this.policy === 'drop-oldest' && Atomics.load(this.v.b64, B_HELD) === NONE && this.#dropOldest()) continue;
        if (this.closedBy() !== 0) this.#throwClosed();
        if (performance.now() < spinUntil) continue;
        if (spinning) {
          spinning = false;
          this.#spinMs = spin / 2 < SPIN_MIN_MS ? 0 : spin / 2;
        }
        // Announce the sleep, then look again: a release in between either shows in this look or
        // finds the flag set and bumps SPACE_SEQ, so that Atomics.wait returns at once.
        const seq = this.announceRoomWait(need);
        announced = true;
        if (this.#hasRoom(size)) return true;
        // A consumer batching a dense stream may sleep until more is pending than fits: wake it.
        this.wakeConsumer(true);
        const remaining = deadline - performance.now();
        if (remaining <= 0) this.#timedOut(n, started);
        const slice = need > 0 ? Math.min(remaining, BATCH_WAIT_MS) : remaining;
        // Past the first slice any release wakes us: the consumer may have stopped short of `need`.
        if (this.roomWait(seq, slice) === 'timed-out') need = 0;
      }
    } finally {
      if (announced) this.endRoomWait();
    }
  }

  /** Discards the oldest unclaimed record (drop-oldest); false when there is none to discard. */
  #dropOldest(): boolean {
    const b64 = this.v.b64;
    for (;;) {
      const tail = Atomics.load(b64, B_TAIL);
      if (tail >= this.#head) return false;
      const offset = Number(tail % this.cap);
      const len = this.v.records[offset >> 2]!;
      const next = this.after(tail, offset, len);
      // Compare-exchange: the consumer may claim this very record meanwhile; then it is not dropped.
      if (Atomics.compareExchange(b64, B_TAIL, tail, next) !== tail) continue;
      if (len === PADDING) continue;
      this.#countDrop(len, false);
      return true;
    }
  }

  #countDrop(n: number, timedOut: boolean): void {
    const b64 = this.v.b64;
    Atomics.add(b64, B_RECORDS_DROPPED, 1n);
    Atomics.add(b64, B_BYTES_DROPPED, BigInt(n));
    if (timedOut) Atomics.add(b64, B_BLOCK_TIMEOUTS, 1n);
  }

  #timedOut(n: number, started: number): never {
    this.#countDrop(n, true);
    const inUse = Number(this.#head - this.#limit);
    const waitedMs = Math.round(performance.now() - started);
    const why = this.policy === 'drop-oldest' ? 'for the consumer to release the record it holds' : 'for room';
    throw new DaqError(
      'DAQ_RING_FULL',
      `ring "${this.name}" is full: a record of ${n} bytes waited ${waitedMs} ms ${why} (capacity ${this.capacity} bytes, ` +
        `${inUse} in use) and was dropped; raise the ring size or blockTimeoutMs, or make the consumer read faster`,
      { ring: this.name, recordBytes: n, capacity: this.capacity, bytesInUse: inUse, waitedMs, policy: this.policy },
    );
  }

  #invalid(message: string): DaqError {
    return new DaqError('DAQ_INVALID_ARGUMENT', `ring "${this.name}": ${message}`, { ring: this.name });
  }

  #throwClosed(): never {
    throw new DaqError('DAQ_CLOSED', `ring "${this.name}" is closed; no more records can be written`, { ring: this.name });
  }
}
