// The producer thread of the ring benchmark: on each message (a record count) it moves that many
// records of `recordBytes` to the main thread through a SharedArrayBuffer ring, or by postMessage
// (transferred or cloned), writing every byte of each record from the same source buffer in every
// variant. In ring mode it also serves the memcpy baseline: on `{ memcpy: count }` it copies as many
// records, the same way, slot after slot into a SharedArrayBuffer the ring's size and tells the main
// thread when it is done (the ring's own work without the ring). It lives across runs, as a real
// producer does, so runs measure JIT-compiled code.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { RingWriter, copyBytes } from '@daq/core';

export interface RingProducerJob {
  mode: 'ring' | 'transfer' | 'clone';
  recordBytes: number;
  /** The ring (mode 'ring'). */
  ring?: SharedArrayBuffer;
  /** The memcpy baseline's destination (mode 'ring'): a buffer the size of the ring's data space. */
  memcpyDest?: SharedArrayBuffer;
  /**
   * postMessage modes: [records consumed, producer waiting], updated by the consumer, so that no
   * more than `window` records are in flight (the same bound the ring's capacity puts on it).
   */
  credits?: SharedArrayBuffer;
  window?: number;
}

/** What the worker says once loaded: its thread id (Linux; for the benchmark's CPU placement samples). */
export interface RingProducerReady {
  ready: true;
  tid: number | null;
}

const job = workerData as RingProducerJob;
const n = job.recordBytes;
const source = new Uint8Array(n);
for (let i = 0; i < n; i += 4096) source.fill(i >> 12, i, Math.min(n, i + 4096));
const writer = job.ring ? new RingWriter(job.ring, { policy: 'block', blockTimeoutMs: 30_000, name: 'bench' }) : undefined;
const credits = job.credits ? new Int32Array(job.credits) : undefined;
let sent = 0;

/** Every record carries its sequence number in its first 4 bytes; the consumer checks the order. */
function stamp(bytes: Uint8Array, seq: number): void {
  bytes[0] = seq;
  bytes[1] = seq >>> 8;
  bytes[2] = seq >>> 16;
  bytes[3] = seq >>> 24;
}

function produceRing(count: number): void {
  for (let seq = 0; seq < count; seq++) {
    // In place: reserve, write every byte (a copy of the source, as a serialiser would), commit.
    const view = writer!.reserve(n)!;
    copyBytes(view, source);
    stamp(view, seq);
    writer!.commit();
  }
}

/**
 * The memcpy baseline: the producer's copies alone, into a shared buffer the ring's size, slot after
 * slot, each laid out as the ring lays out a record (an 8-byte header, then the payload), so that
 * the copies have the ring's alignment too.
 */
const RECORD_HEADER = 8;
const stride = (RECORD_HEADER + n + 7) & ~7;
const memcpySlots = job.memcpyDest
  ? Array.from(
      { length: Math.floor(job.memcpyDest.byteLength / stride) },
      (_, i) => new Uint8Array(job.memcpyDest!, i * stride + RECORD_HEADER, n),
    )
  : [];
function produceMemcpy(count: number): void {
  for (let seq = 0; seq < count; seq++) {
    const view = memcpySlots[seq % memcpySlots.length]!;
    copyBytes(view, source);
    stamp(view, seq);
  }
  parentPort!.postMessage('done');
}

function producePostMessage(count: number, transfer: boolean, reused: Uint8Array): void {
  const window = job.window!;
  for (let seq = 0; seq < count; seq++, sent++) {
    for (;;) {
      const consumed = Atomics.load(credits!, 0);
      if (sent - consumed < window) break;
      Atomics.store(credits!, 1, 1);
      if (sent - Atomics.load(credits!, 0) < window) break;
      Atomics.wait(credits!, 0, consumed, 30_000);
    }
    // A transferred buffer is gone from this thread, so each record needs a new one; a cloned one
    // is copied by postMessage, so one buffer serves every record.
    const bytes = transfer ? new Uint8Array(n) : reused;
    bytes.set(source);
    stamp(bytes, seq);
    if (transfer) parentPort!.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
    else parentPort!.postMessage(bytes);
  }
  parentPort!.postMessage('end');
}

/** This thread's id, from /proc (Linux); null elsewhere. */
function threadId(): number | null {
  try {
    return Number.parseInt(readFileSync('/proc/thread-self/stat', 'utf8'), 10);
  } catch {
    return null;
  }
}

const reused = new Uint8Array(job.mode === 'clone' ? n : 0);
parentPort!.on('message', (m: number | { memcpy: number }) => {
  if (typeof m === 'object') produceMemcpy(m.memcpy);
  else if (job.mode === 'ring') produceRing(m);
  else producePostMessage(m, job.mode === 'transfer', reused);
});
// Loaded and ready: the benchmark starts its clock only after this, so module loading is not timed.
parentPort!.postMessage({ ready: true, tid: threadId() } satisfies RingProducerReady);
