// The shared memory layout of a ring (header fields, record framing) and what any thread can do
// with just the SharedArrayBuffer: create it, check it, read its counters.

import { DaqError } from '../errors.js';

/** A snapshot of a ring's shared counters; byte counts of records are payload bytes. */
export interface RingCounters {
  /** Bytes of data space (records, their 8-byte headers and wrap padding share it). */
  capacity: number;
  recordsWritten: number;
  bytesWritten: number;
  recordsRead: number;
  bytesRead: number;
  /** Records dropped under any policy, block timeouts included. */
  recordsDropped: number;
  bytesDropped: number;
  /** Records dropped because the producer waited blockTimeoutMs for space. */
  blockTimeouts: number;
  /** Most data-space bytes ever in use (record headers and padding included). */
  highWaterBytes: number;
  bytesInUse: number;
  closed: boolean;
}

// Header: fields written by the producer and fields written by the consumer sit on separate 64-byte
// cache lines, so that neither side's stores evict the line the other side keeps reading.
const MAGIC = 0x52494e47; // 'RING'
const VERSION = 1;
const LINE = 64;
export const HEADER_BYTES = 6 * LINE;
// Line 0 (Int32 indices): written once at creation, plus the closed flags.
const I_MAGIC = 0;
const I_VERSION = 1;
const I_CAPACITY = 2;
export const I_CLOSED = 3;
const I_NAME_LEN = 4;
const NAME_OFFSET = 20;
const NAME_MAX = LINE - NAME_OFFSET;
// Line 1 (BigInt64 indices): producer-written.
export const B_HEAD = 8;
export const B_RECORDS_WRITTEN = 9;
export const B_BYTES_WRITTEN = 10;
export const B_RECORDS_DROPPED = 11;
export const B_BYTES_DROPPED = 12;
export const B_BLOCK_TIMEOUTS = 13;
export const B_HIGH_WATER = 14;
// Line 2: the consumer's cursor. `tail` is the start of the oldest unclaimed record: the consumer
// moves it past each record it claims, the producer only under drop-oldest (both by
// compare-exchange). `held` is the start of the record the consumer holds, or NONE.
export const B_TAIL = 16;
export const B_HELD = 17;
// Line 3: consumer-written counters.
export const B_RECORDS_READ = 24;
export const B_BYTES_READ = 25;
// Lines 4 and 5 (Int32): per direction, an "I am about to sleep" flag and the word slept on.
export const I_CONSUMER_WAITING = (4 * LINE) / 4;
export const I_DATA_SEQ = I_CONSUMER_WAITING + 1;
/** Bytes pending (head - tail) the sleeping consumer wants before it is woken (0: wake it on any commit). */
export const I_DATA_NEED = I_CONSUMER_WAITING + 2;
export const I_PRODUCER_WAITING = (5 * LINE) / 4;
export const I_SPACE_SEQ = I_PRODUCER_WAITING + 1;
/** Free bytes the sleeping producer wants before it is woken (0: wake it on any release). */
export const I_SPACE_NEED = I_PRODUCER_WAITING + 2;

export const NONE = -1n;
export const CLOSED_BY_WRITER = 1;
export const CLOSED_BY_READER = 2;
/**
 * Each record starts with an 8-byte header, Int32 payload length then 4 spare bytes, so payloads
 * start 8-byte aligned (as Arrow IPC wants). A length of PADDING means: the rest of the lap is empty,
 * the next record is at offset 0.
 */
export const RECORD_HEADER = 8;
export const PADDING = -1;
const MAX_CAPACITY = 2 ** 30;

export const align8 = (n: number) => (n + 7) & ~7;

/** Allocates the SharedArrayBuffer of a ring with `capacityBytes` of data space (plus header). */
export function createRingBuffer(capacityBytes: number, name = 'ring'): SharedArrayBuffer {
  if (!Number.isInteger(capacityBytes) || capacityBytes < 64 || capacityBytes > MAX_CAPACITY) {
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `ring "${name}": capacity ${capacityBytes} bytes is not an integer between 64 and ${MAX_CAPACITY} bytes`,
      { ring: name, capacity: capacityBytes },
    );
  }
  const capacity = align8(capacityBytes);
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity);
  const i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const b64 = new BigInt64Array(sab, 0, HEADER_BYTES / 8);
  const nameBytes = new TextEncoder().encode(name).subarray(0, NAME_MAX);
  new Uint8Array(sab, NAME_OFFSET, NAME_MAX).set(nameBytes);
  i32[I_NAME_LEN] = nameBytes.length;
  i32[I_CAPACITY] = capacity;
  i32[I_VERSION] = VERSION;
  b64[B_HELD] = NONE;
  // Written last: a thread attaching to the buffer trusts a header only once its magic is set.
  Atomics.store(i32, I_MAGIC, MAGIC);
  return sab;
}

/** Typed views of a ring's header, for one side of it. */
export interface RingViews {
  sab: SharedArrayBuffer;
  i32: Int32Array;
  b64: BigInt64Array;
  /** Record headers of the data space, as Int32 (records start 8-byte aligned). */
  records: Int32Array;
  capacity: number;
  name: string;
}

export function attach(sab: SharedArrayBuffer, name: string | undefined): RingViews {
  const notRing = () =>
    new DaqError('DAQ_INVALID_ARGUMENT', 'not a ring buffer: expected a SharedArrayBuffer from createRingBuffer()');
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES + 64) throw notRing();
  const i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const b64 = new BigInt64Array(sab, 0, HEADER_BYTES / 8);
  const capacity = i32[I_CAPACITY]!;
  if (Atomics.load(i32, I_MAGIC) !== MAGIC || i32[I_VERSION] !== VERSION || HEADER_BYTES + capacity !== sab.byteLength) {
    throw notRing();
  }
  const stored = new TextDecoder().decode(new Uint8Array(sab, NAME_OFFSET, i32[I_NAME_LEN]!).slice());
  const records = new Int32Array(sab, HEADER_BYTES, capacity / 4);
  return { sab, i32, b64, records, capacity, name: name ?? stored };
}

/** Start of the oldest byte the consumer may still need: the held record, else the tail. */
export function oldestInUse(tail: bigint, held: bigint): bigint {
  return held !== NONE && held < tail ? held : tail;
}

export function snapshot(v: RingViews): RingCounters {
  const { i32, b64 } = v;
  const tail = Atomics.load(b64, B_TAIL);
  const held = Atomics.load(b64, B_HELD);
  const head = Atomics.load(b64, B_HEAD);
  return {
    capacity: v.capacity,
    recordsWritten: Number(Atomics.load(b64, B_RECORDS_WRITTEN)),
    bytesWritten: Number(Atomics.load(b64, B_BYTES_WRITTEN)),
    recordsRead: Number(Atomics.load(b64, B_RECORDS_READ)),
    bytesRead: Number(Atomics.load(b64, B_BYTES_READ)),
    recordsDropped: Number(Atomics.load(b64, B_RECORDS_DROPPED)),
    bytesDropped: Number(Atomics.load(b64, B_BYTES_DROPPED)),
    blockTimeouts: Number(Atomics.load(b64, B_BLOCK_TIMEOUTS)),
    highWaterBytes: Number(Atomics.load(b64, B_HIGH_WATER)),
    bytesInUse: Math.max(0, Number(head - oldestInUse(tail, held))),
    closed: Atomics.load(i32, I_CLOSED) !== 0,
  };
}

/** Reads a ring's counters from any thread (producer, consumer or an observer). */
export function ringCounters(sab: SharedArrayBuffer): RingCounters {
  return snapshot(attach(sab, undefined));
}
