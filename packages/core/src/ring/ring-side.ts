// What the two sides of a ring share: attaching to its buffer, its counters, walking its records,
// closing it, and both halves of the two sleep/wake handshakes (the consumer sleeps until there is
// data, the producer until there is room). The side that sleeps announces it, then looks again; the
// other side publishes, then wakes an announced sleeper. Each handshake is written here as one.

import {
  B_HEAD,
  B_TAIL,
  CLOSED_BY_WRITER,
  I_CLOSED,
  I_CONSUMER_WAITING,
  I_DATA_NEED,
  I_DATA_SEQ,
  I_PRODUCER_WAITING,
  I_SPACE_NEED,
  I_SPACE_SEQ,
  PADDING,
  RECORD_HEADER,
  align8,
  attach,
  oldestInUse,
  snapshot,
  type RingCounters,
  type RingViews,
} from './ring-layout.js';

// Atomics.waitAsync is in Node 20 but not in the ES2023 library this project compiles against.
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t: number): WaitAsyncResult })
  .waitAsync;

/** The base of RingWriter and RingReader: one side of a ring, attached to its SharedArrayBuffer. */
export abstract class RingSide {
  readonly name: string;
  readonly capacity: number;
  protected readonly v: RingViews;
  protected readonly cap: bigint;

  constructor(sab: SharedArrayBuffer, name: string | undefined) {
    this.v = attach(sab, name);
    this.name = this.v.name;
    this.capacity = this.v.capacity;
    this.cap = BigInt(this.capacity);
  }

  /** Ends this side's use of the ring; idempotent. */
  abstract close(): void;

  [Symbol.dispose](): void {
    this.close();
  }

  counters(): RingCounters {
    return snapshot(this.v);
  }

  /** The payload of the record whose header is at data-space `offset`: an n-byte view into the ring. */
  protected payload(offset: number, n: number): Uint8Array {
    return new Uint8Array(this.v.sab, this.v.records.byteOffset + offset + RECORD_HEADER, n);
  }

  /** Where the record at `pos` (data-space `offset`, header length `len`) ends; padding ends with the lap. */
  protected after(pos: bigint, offset: number, len: number): bigint {
    return pos + BigInt(len === PADDING ? this.capacity - offset : align8(RECORD_HEADER + len));
  }

  /** Which sides closed the ring (CLOSED_BY_WRITER, CLOSED_BY_READER bits); 0 while it is open. */
  protected closedBy(): number {
    return Atomics.load(this.v.i32, I_CLOSED);
  }

  /** Marks the ring closed by this side (`by`) and wakes the other side from any sleep. */
  protected markClosed(by: number): void {
    Atomics.or(this.v.i32, I_CLOSED, by);
    this.#bump(by === CLOSED_BY_WRITER ? I_DATA_SEQ : I_SPACE_SEQ);
  }

  // The consumer's sleep until there is data.

  /**
   * Announces that the consumer is about to sleep until `need` bytes are pending (0: any record);
   * returns the data sequence value to sleep on.
   */
  protected announceDataWait(need = 0): number {
    const seq = Atomics.load(this.v.i32, I_DATA_SEQ);
    Atomics.store(this.v.i32, I_DATA_NEED, need);
    Atomics.store(this.v.i32, I_CONSUMER_WAITING, 1);
    return seq;
  }

  /** Sleeps (off the event loop) until the data sequence moves on from `seq`, for `ms` at most. */
  protected dataWait(seq: number, ms: number): WaitAsyncResult {
    return waitAsync(this.v.i32, I_DATA_SEQ, seq, ms);
  }

  protected endDataWait(): void {
    Atomics.store(this.v.i32, I_CONSUMER_WAITING, 0);
  }

  /**
   * Wakes the consumer if it announced a sleep, once as many bytes are pending as it asked for
   * (any, if it asked for 0); `force`: whatever it asked for (a flush, a producer about to wait).
   */
  protected wakeConsumer(force = false): void {
    const i32 = this.v.i32;
    // Only a consumer that announced it is going to sleep costs a notify.
    if (Atomics.load(i32, I_CONSUMER_WAITING) === 0) return;
    if (!force) {
      const need = Atomics.load(i32, I_DATA_NEED);
      const b64 = this.v.b64;
      if (need > 0 && Number(Atomics.load(b64, B_HEAD) - Atomics.load(b64, B_TAIL)) < need) return;
    }
    if (Atomics.exchange(i32, I_CONSUMER_WAITING, 0) !== 0) this.#bump(I_DATA_SEQ);
  }

  // The producer's sleep until there is room.

  /** Announces that the producer is about to sleep until `need` bytes are free (0: any release); returns the value to sleep on. */
  protected announceRoomWait(need: number): number {
    const i32 = this.v.i32;
    const seq = Atomics.load(i32, I_SPACE_SEQ);
    Atomics.store(i32, I_SPACE_NEED, need);
    Atomics.store(i32, I_PRODUCER_WAITING, 1);
    return seq;
  }

  /** Blocks until the room sequence moves on from `seq`, for `ms` at most. */
  protected roomWait(seq: number, ms: number): 'ok' | 'not-equal' | 'timed-out' {
    return Atomics.wait(this.v.i32, I_SPACE_SEQ, seq, ms);
  }

  protected endRoomWait(): void {
    Atomics.store(this.v.i32, I_PRODUCER_WAITING, 0);
  }

  /**
   * Wakes a sleeping producer once it has the room it asked for (or any room, if it asked for 0);
   * `held` is the start of the oldest record the consumer holds, or NONE.
   */
  protected wakeProducer(held: bigint): void {
    const i32 = this.v.i32;
    if (Atomics.load(i32, I_PRODUCER_WAITING) === 0) return;
    const need = Atomics.load(i32, I_SPACE_NEED);
    if (need > 0) {
      const b64 = this.v.b64;
      const start = oldestInUse(Atomics.load(b64, B_TAIL), held);
      if (this.capacity - Number(Atomics.load(b64, B_HEAD) - start) < need) return;
    }
    if (Atomics.exchange(i32, I_PRODUCER_WAITING, 0) !== 0) this.#bump(I_SPACE_SEQ);
  }

  /** Moves a sequence word on and wakes whoever sleeps on it. */
  #bump(seq: number): void {
    Atomics.add(this.v.i32, seq, 1);
    Atomics.notify(this.v.i32, seq);
  }
}
