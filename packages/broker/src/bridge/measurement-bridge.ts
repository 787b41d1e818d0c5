// Merges the V2 measurement batches and the V4 Arrow batches into one scalar stream in
// timestamp order: each source is buffered (sorted), and every tick the rows older than the
// lateness window are k-way merged and handed to the sinks. A row that arrives after rows
// newer than it were already emitted is late: it is delivered in the next tick and counted,
// never dropped. Per source, rows in == rows out once the bridge is drained.

import { tableFromIPC, type Vector } from 'apache-arrow';
import { Clock, type DataSource, type Measurement } from '@daq/core';
import { NotFastPath, ScalarIpcReader, type SeriesOf } from './scalar-ipc.js';
import { SeriesTable, countBelow, emptyChunk, isSorted, sortChunk, tsLess, tsWords, type ScalarChunk } from './series.js';

export interface BridgeSink {
  /** Called with rows in timestamp order (late rows first in their tick). Must not keep `chunk`'s arrays. */
  write(chunk: ScalarChunk, series: SeriesTable): void;
}

export interface BridgeOptions {
  /** Rows younger than this wait for stragglers from other sources before they are merged. */
  latenessMs: number;
  /** How often the merge runs (default latenessMs / 4, at least 10 ms). */
  tickMs?: number;
  clock?: Clock;
  /** Instruments V4 shadows: V4's rows of these are labelled subsystem SHADOW_SUBSYSTEM. */
  shadow?: ReadonlySet<string>;
}

/** The subsystem label of V4's readings of a shadowed V2 instrument. */
export const SHADOW_SUBSYSTEM = 'v4-shadow' satisfies DataSource;

export interface SourceCounts {
  /** Rows received from the source. */
  in: number;
  /** Rows handed to the sinks. */
  out: number;
  /** Rows that arrived after newer rows had been emitted (delivered, out of order). */
  late: number;
  buffered: number;
  batches: number;
}

/** A source's rows not yet emitted, oldest first, as a list of sorted chunks. */
class SourceBuffer {
  chunks: ScalarChunk[] = [];
  head = 0; // rows of chunks[0] already taken
  lastTs = -(2n ** 63n);
  readonly counts: SourceCounts = { in: 0, out: 0, late: 0, buffered: 0, batches: 0 };
  /** Chunks taken in full since the last tick ended: their rows are on their way to the sinks. */
  spent: ScalarChunk[] = [];

  /** Adds a chunk; returns it sorted (the caller counts late rows on it). */
  append(c: ScalarChunk): ScalarChunk {
    if (c.length === 0) return c;
    let chunk = isSorted(c) ? c : sortChunk(c);
    const sorted = chunk;
    if (chunk.ts[0]! < this.lastTs) {
      // Arrived out of order with this source's own buffered rows: merge them (rare).
      chunk = sortChunk(concat([...this.take(2n ** 63n - 1n), chunk]));
      this.chunks = [];
      this.head = 0;
      this.counts.buffered = 0;
    }
    this.chunks.push(chunk);
    this.counts.buffered += chunk.length;
    this.lastTs = chunk.ts[chunk.length - 1]!;
    return sorted;
  }

  /** Removes and returns the rows with timestamp <= until. */
  take(until: bigint): ScalarChunk[] {
    const out: ScalarChunk[] = [];
    while (this.chunks.length > 0) {
      const c = this.chunks[0]!;
      let end = c.length;
      if (c.ts[c.length - 1]! > until) {
        // Binary search the first row after `until`.
        let lo = this.head;
        let hi = c.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (c.ts[mid]! <= until) lo = mid + 1;
          else hi = mid;
        }
        end = lo;
      }
      if (end > this.head) out.push(slice(c, this.head, end));
      this.counts.buffered -= end - this.head;
      if (end < c.length) {
        this.head = end;
        break;
      }
      this.spent.push(this.chunks.shift()!);
      this.head = 0;
    }
    return out;
  }
}

function slice(c: ScalarChunk, from: number, to: number): ScalarChunk {
  return {
    ts: c.ts.subarray(from, to),
    value: c.value.subarray(from, to),
    series: c.series.subarray(from, to),
    length: to - from,
  };
}

function concat(chunks: ScalarChunk[], out = emptyChunk(chunks.reduce((s, c) => s + c.length, 0))): ScalarChunk {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  let o = 0;
  for (const c of chunks) {
    out.ts.set(c.ts.subarray(0, c.length), o);
    out.value.set(c.value.subarray(0, c.length), o);
    out.series.set(c.series.subarray(0, c.length), o);
    o += c.length;
  }
  out.length = n;
  return out;
}

/** Two sorted runs merged into `out` (ties: `a` first), comparing and copying timestamp words. */
function merge2(a: ScalarChunk, b: ScalarChunk, out: ScalarChunk): ScalarChunk {
  const aw = tsWords(a);
  const bw = tsWords(b);
  const ow = tsWords(out);
  const [av, as, bv, bs, ov, os] = [a.value, a.series, b.value, b.series, out.value, out.series];
  const na = a.length;
  const nb = b.length;
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < na && j < nb) {
    const ah = aw[2 * i + 1]!;
    const bh = bw[2 * j + 1]!;
    if (bh < ah || (bh === ah && bw[2 * j]! < aw[2 * i]!)) {
      ow[2 * o] = bw[2 * j]!;
      ow[2 * o + 1] = bh;
      ov[o] = bv[j]!;
      os[o] = bs[j]!;
      j++;
    } else {
      ow[2 * o] = aw[2 * i]!;
      ow[2 * o + 1] = ah;
      ov[o] = av[i]!;
      os[o] = as[i]!;
      i++;
    }
    o++;
  }
  // The rest of one run, in bulk.
  const [r, k, nr] = i < na ? [a, i, na] : [b, j, nb];
  out.ts.set(r.ts.subarray(k, nr), o);
  out.value.set(r.value.subarray(k, nr), o);
  out.series.set(r.series.subarray(k, nr), o);
  out.length = na + nb;
  return out;
}

/** k-way merge of sorted runs (k is small: one per source) into `out`, comparing and copying timestamp words. */
function merge(runs: ScalarChunk[], out: ScalarChunk): ScalarChunk {
  if (runs.length === 1) return runs[0]!;
  if (runs.length === 2) return merge2(runs[0]!, runs[1]!, out);
  const n = runs.reduce((s, c) => s + c.length, 0);
  const ow = tsWords(out);
  const words = runs.map(tsWords);
  const pos = new Array<number>(runs.length).fill(0);
  for (let o = 0; o < n; o++) {
    let best = -1;
    for (let r = 0; r < runs.length; r++) {
      if (pos[r]! < runs[r]!.length && (best < 0 || tsLess(words[r]!, pos[r]!, words[best]!, pos[best]!))) best = r;
    }
    const run = runs[best]!;
    const w = words[best]!;
    const p = pos[best]!++;
    ow[2 * o] = w[2 * p]!;
    ow[2 * o + 1] = w[2 * p + 1]!;
    out.value[o] = run.value[p]!;
    out.series[o] = run.series[p]!;
  }
  out.length = n;
  return out;
}

const count = (chunks: readonly ScalarChunk[]) => chunks.reduce((s, c) => s + c.length, 0);

/**
 * Chunk buffers for V4 batches and the merge, reused rather than allocated for every batch and
 * tick: at a million rows per second, fresh typed arrays cost more in garbage collection (on
 * every core) than the copying itself. Only chunks this pool made come back to it.
 */
class ChunkPool {
  private readonly free = new Map<number, ScalarChunk[]>();
  private readonly mine = new WeakSet<ScalarChunk>();
  private pooledRows = 0;
  /** Merge and concatenation buffers, by position (one per run, and one for the merge). */
  private readonly scratches: ScalarChunk[] = [];

  /** A chunk with room for n rows (length n), from the pool when one of its size is free. */
  take(n: number): ScalarChunk {
    if (n < 1024) return emptyChunk(n);
    const capacity = 2 ** Math.ceil(Math.log2(n));
    const c = this.free.get(capacity)?.pop();
    if (c) this.pooledRows -= capacity;
    const chunk = c ?? emptyChunk(capacity);
    this.mine.add(chunk);
    chunk.length = n;
    return chunk;
  }

  give(c: ScalarChunk): void {
    const capacity = c.ts.length;
    if (!this.mine.has(c) || this.pooledRows + capacity > MAX_POOLED_ROWS) return;
    let list = this.free.get(capacity);
    if (!list) this.free.set(capacity, (list = []));
    list.push(c);
    this.pooledRows += capacity;
  }

  /** The reusable buffer at `slot`, with room for n rows; its content is overwritten by the next user. */
  scratch(slot: number, n: number): ScalarChunk {
    let c = this.scratches[slot];
    if (!c || c.ts.length < n) this.scratches[slot] = c = emptyChunk(Math.max(n, 2 * (c?.ts.length ?? 0)));
    c.length = 0;
    return c;
  }
}

/** Rows the pool keeps at most (20 bytes each). */
const MAX_POOLED_ROWS = 1 << 20;

export class MeasurementBridge {
  readonly series = new SeriesTable();
  private readonly pool = new ChunkPool();
  private readonly sources = new Map<string, SourceBuffer>();
  /** Per source of Arrow batches: its stream reader and the series lookup it uses. */
  private readonly readers = new Map<string, { ipc: ScalarIpcReader; subsystem: string; seriesOf: SeriesOf }>();
  private readonly clock: Clock;
  private readonly latenessNs: bigint;
  private timer: NodeJS.Timeout | undefined;
  private lastEmitted = -(2n ** 63n);

  constructor(
    private readonly options: BridgeOptions,
    private readonly sinks: BridgeSink[],
  ) {
    this.clock = options.clock ?? new Clock();
    this.latenessNs = BigInt(Math.round(options.latenessMs * 1e6));
  }

  /** The subsystem a row is stored under: V4's readings of a shadowed instrument are flagged as shadow. */
  label(subsystem: string, instrument: string): string {
    return subsystem === 'v4' && this.options.shadow?.has(instrument) ? SHADOW_SUBSYSTEM : subsystem;
  }

  private source(name: string): SourceBuffer {
    let s = this.sources.get(name);
    if (!s) this.sources.set(name, (s = new SourceBuffer()));
    return s;
  }

  addSink(sink: BridgeSink): void {
    this.sinks.push(sink);
  }

  /** Declares a source up front so it shows in the counts even before its first row. */
  addSource(name: string): void {
    this.source(name);
  }

  pushChunk(sourceName: string, chunk: ScalarChunk): void {
    const s = this.source(sourceName);
    s.counts.in += chunk.length;
    s.counts.batches++;
    s.counts.late += countBelow(s.append(chunk), this.lastEmitted);
  }

  /** A V2 batch of Measurement objects. */
  pushMeasurements(sourceName: string, subsystem: string, items: readonly Measurement[]): void {
    const c = emptyChunk(items.length);
    items.forEach((m, i) => {
      c.ts[i] = m.timestampNs;
      c.value[i] = m.flag ? Number.NaN : m.value;
      c.series[i] = this.series.id(this.label(subsystem, m.instrument), m.instrument, m.channel, m.unit, m.flag ?? '');
    });
    c.length = items.length;
    this.pushChunk(sourceName, c);
  }

  /** A V4 batch: an Arrow IPC stream of the scalar schema. The bytes are not kept (they may live in a ring). */
  pushArrow(sourceName: string, subsystem: string, bytes: Uint8Array): number {
    let reader = this.readers.get(sourceName);
    if (reader?.subsystem !== subsystem) {
      const seriesOf: SeriesOf = (instrument, channel, unit, flag) =>
        this.series.id(this.label(subsystem, instrument), instrument, channel, unit, flag);
      this.readers.set(sourceName, (reader = { ipc: reader?.ipc ?? new ScalarIpcReader(), subsystem, seriesOf }));
    }
    let chunks: ScalarChunk[];
    try {
      chunks = reader.ipc.read(bytes, reader.seriesOf, (n) => this.pool.take(n));
    } catch (e) {
      if (e instanceof NotFastPath) return this.pushArrowTable(sourceName, subsystem, bytes);
      throw e;
    }
    let rows = 0;
    for (const c of chunks) {
      this.pushChunk(sourceName, c);
      rows += c.length;
    }
    return rows;
  }

  /** pushArrow through apache-arrow's reader: for streams ScalarIpcReader does not handle. */
  private pushArrowTable(sourceName: string, subsystem: string, bytes: Uint8Array): number {
    const table = tableFromIPC(bytes);
    let rows = 0;
    for (const batch of table.batches) {
      const n = batch.numRows;
      const c = emptyChunk(n);
      const [ts, inst, chan, value, unit, flag] = batch.data.children;
      c.ts.set((ts!.values as BigInt64Array).subarray(ts!.offset, ts!.offset + n));
      c.value.set((value!.values as Float64Array).subarray(value!.offset, value!.offset + n));
      const idx = [inst!, chan!, unit!].map((d) => (d.values as Int32Array).subarray(d.offset, d.offset + n));
      const dict = [inst!, chan!, unit!].map((d) => d.dictionary as Vector);
      // The flag column (absent from producers that never flag): index + 1 per row, 0 for none.
      const flagDict = flag?.dictionary as Vector | undefined;
      const flagOf = new Int32Array(n);
      if (flag && flag.nullCount < n) {
        const fi = (flag.values as Int32Array).subarray(flag.offset, flag.offset + n);
        for (let i = 0; i < n; i++) if (flag.getValid(i)) flagOf[i] = fi[i]! + 1;
      }
      const nf = (flagDict?.length ?? 0) + 1;
      // Dictionary index tuple → series id, through a flat table (no per-row hashing).
      const [ni, nc, nu] = [dict[0]!.length, dict[1]!.length, dict[2]!.length];
      const lut = ni * nc * nu * nf <= 1 << 20 ? new Int32Array(ni * nc * nu * nf).fill(-1) : undefined;
      const slow = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const key = ((idx[0]![i]! * nc + idx[1]![i]!) * nu + idx[2]![i]!) * nf + flagOf[i]!;
        let s = lut ? lut[key]! : (slow.get(key) ?? -1);
        if (s < 0) {
          const instrument = dict[0]!.get(idx[0]![i]!) as string;
          const f = flagOf[i]! > 0 ? (flagDict!.get(flagOf[i]! - 1) as string) : '';
          s = this.series.id(
            this.label(subsystem, instrument),
            instrument,
            dict[1]!.get(idx[1]![i]!),
            dict[2]!.get(idx[2]![i]!),
            f,
          );
          if (lut) lut[key] = s;
          else slow.set(key, s);
        }
        if (flagOf[i]! > 0) c.value[i] = Number.NaN;
        c.series[i] = s;
      }
      c.length = n;
      this.pushChunk(sourceName, c);
      rows += n;
    }
    return rows;
  }

  /** Emits every row older than the lateness window (or all rows when `all`). */
  tick(all = false): number {
    const until = all ? 2n ** 63n - 1n : this.clock.nowNs() - this.latenessNs;
    const runs: ScalarChunk[] = [];
    try {
      for (const s of this.sources.values()) {
        const taken = s.take(until);
        if (taken.length === 0) continue;
        const run = taken.length === 1 ? taken[0]! : concat(taken, this.pool.scratch(runs.length, count(taken)));
        s.counts.out += run.length;
        runs.push(run);
      }
      if (runs.length === 0) return 0;
      const n = count(runs);
      // Sinks get views of exactly n rows; the merge buffer is reused (sinks never keep a chunk's arrays).
      const out = slice(merge(runs, this.pool.scratch(runs.length, n)), 0, n);
      if (n > 0) this.lastEmitted = out.ts[n - 1]! > this.lastEmitted ? out.ts[n - 1]! : this.lastEmitted;
      for (const sink of this.sinks) sink.write(out, this.series);
      return n;
    } finally {
      // Every chunk taken in full has reached the sinks (or was copied): its buffers can be reused.
      for (const s of this.sources.values()) {
        for (const c of s.spent) this.pool.give(c);
        s.spent = [];
      }
    }
  }

  start(): void {
    if (this.timer) return;
    const tickMs = this.options.tickMs ?? Math.max(10, this.options.latenessMs / 4);
    this.timer = setInterval(() => this.tick(), tickMs);
  }

  /** Stops the timer and emits everything still buffered. */
  drain(): number {
    clearInterval(this.timer);
    this.timer = undefined;
    return this.tick(true);
  }

  counts(): Record<string, SourceCounts> {
    return Object.fromEntries([...this.sources].map(([k, s]) => [k, { ...s.counts }]));
  }
}
