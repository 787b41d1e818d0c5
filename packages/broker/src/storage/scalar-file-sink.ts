// Stores the merged scalar stream as Arrow IPC stream files in the run directory: columns of
// the V4 scalar schema plus `subsystem`. Rows are flushed at least every flush interval with
// write() and fdatasync(), each flush appending whole record-batch messages, so after a
// kill -9 every flushed row is readable (a stream needs no footer). When a new instrument,
// channel or unit appears after the file started, the next part file begins, so a file's
// dictionaries never change.

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Dictionary,
  Field,
  Float64,
  Int32,
  MessageHeader,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampNanosecond,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import { DaqError, IPC_END_OF_STREAM, ipcMessages, utf8Dictionary, validityBitmap } from '@daq/core';
import type { BridgeSink } from '../bridge/measurement-bridge.js';
import type { ScalarChunk, SeriesTable } from '../bridge/series.js';

/**
 * The stored scalar schema: DESIGN.md's V4 scalar batch plus the subsystem that produced each
 * row. `value` is null exactly where `flag` says why ("overload", "not-a-number").
 */
export const STORED_SCALAR_SCHEMA = new Schema([
  new Field('timestamp', new TimestampNanosecond('UTC'), false),
  new Field('subsystem', utf8Dictionary(0), false),
  new Field('instrument', utf8Dictionary(1), false),
  new Field('channel', utf8Dictionary(2), false),
  new Field('value', new Float64(), true),
  new Field('unit', utf8Dictionary(3), false),
  new Field('flag', utf8Dictionary(4), true),
]);

const COLUMNS = ['subsystem', 'instrument', 'channel', 'unit', 'flag'] as const;
/** Where each of COLUMNS sits in STORED_SCALAR_SCHEMA. */
const FIELD_OF = [1, 2, 3, 5, 6] as const;
const FLAG_COLUMN = 4;

/** writev until every byte is written (a regular file rarely takes less, but may). */
async function writeAll(file: FileHandle, parts: Uint8Array[]): Promise<void> {
  let rest = parts;
  for (;;) {
    const total = rest.reduce((n, p) => n + p.byteLength, 0);
    if (total === 0) return;
    let { bytesWritten } = await file.writev(rest);
    if (bytesWritten === total) return;
    const left: Uint8Array[] = [];
    for (const p of rest) {
      if (bytesWritten >= p.byteLength) bytesWritten -= p.byteLength;
      else {
        left.push(p.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    rest = left;
  }
}

export interface ScalarFileSinkOptions {
  flushIntervalMs: number;
  /** Subsystems whose rows are stored ([vN.storage] enabled); others are counted as not stored. */
  storeSubsystems: ReadonlySet<string>;
  /** Subsystems this sink is for (default all): rows of others belong to another sink and are ignored, not counted. */
  select?: ReadonlySet<string>;
  /** fdatasync after each flush (default true): flushed rows survive a power loss too, not only a kill. */
  sync?: boolean;
  baseName?: string;
  /** Rows kept in memory while the disk fails, before the oldest are dropped (counted). Default 20 million. */
  maxBacklogRows?: number;
}

export interface ScalarFileStats {
  files: string[];
  rowsAccepted: number;
  rowsFlushed: number;
  rowsNotStored: number;
  /** Rows given up because the disk failed for so long that maxBacklogRows filled up. */
  rowsDropped: number;
  bytesWritten: number;
  flushes: number;
  lastFlushAt?: string;
  flushErrors: number;
  lastError?: string;
  /** Rows stored per instrument id. */
  perInstrument: Record<string, number>;
  /** Of those, rows stored with a null value and a flag, per instrument id and flag. */
  flaggedPerInstrument: Record<string, Record<string, number>>;
}

export class ScalarFileSink implements BridgeSink {
  private ts = new BigInt64Array(1 << 16);
  private value = new Float64Array(1 << 16);
  private series = new Int32Array(1 << 16);
  private buffered = 0;
  private table: SeriesTable | undefined;
  private file: FileHandle | undefined;
  /** Dictionary sizes of the open file; a grown dictionary starts a new part. */
  private fileDictSizes: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Rows accepted per series id (summed per instrument on demand: no string work per row). */
  private readonly perSeries: number[] = [];
  private readonly statsBase: Omit<ScalarFileStats, 'perInstrument' | 'flaggedPerInstrument'> = {
    files: [],
    rowsAccepted: 0,
    rowsFlushed: 0,
    rowsNotStored: 0,
    rowsDropped: 0,
    bytesWritten: 0,
    flushes: 0,
    flushErrors: 0,
  };

  get stats(): ScalarFileStats {
    const perInstrument: Record<string, number> = {};
    const flaggedPerInstrument: Record<string, Record<string, number>> = {};
    this.perSeries.forEach((n, s) => {
      if (n === 0) return;
      const { instrument: id, flag } = this.table!.keys[s]!;
      perInstrument[id] = (perInstrument[id] ?? 0) + n;
      if (flag) {
        const f = (flaggedPerInstrument[id] ??= {});
        f[flag] = (f[flag] ?? 0) + n;
      }
    });
    return { ...this.statsBase, files: [...this.statsBase.files], perInstrument, flaggedPerInstrument };
  }

  constructor(
    readonly dir: string,
    private readonly options: ScalarFileSinkOptions,
  ) {}

  start(): void {
    // A failed flush is recorded in stats (and thrown to whoever awaits flush()); the timer goes on.
    this.timer ??= setInterval(() => this.flush().catch(() => undefined), this.options.flushIntervalMs);
  }

  write(chunk: ScalarChunk, table: SeriesTable): void {
    if (this.closed) throw new DaqError('DAQ_CLOSED', `the scalar file sink of ${this.dir} is closed`);
    this.table = table;
    const need = this.buffered + chunk.length;
    if (need > this.ts.length) this.grow(need);
    const { storeSubsystems: store, select } = this.options;
    while (this.perSeries.length < table.size) this.perSeries.push(0);
    // 1 stored, 0 not stored (counted), -1 another sink's (ignored).
    const verdict = table.keys.map((k) => (select && !select.has(k.subsystem) ? -1 : store.has(k.subsystem) ? 1 : 0));
    let all = true;
    for (let i = 0; i < chunk.length; i++) if (verdict[chunk.series[i]!] !== 1) all = false;
    if (all) {
      // The common case: copy whole columns.
      this.ts.set(chunk.ts.subarray(0, chunk.length), this.buffered);
      this.value.set(chunk.value.subarray(0, chunk.length), this.buffered);
      this.series.set(chunk.series.subarray(0, chunk.length), this.buffered);
      this.buffered += chunk.length;
      for (let i = 0; i < chunk.length; i++) this.perSeries[chunk.series[i]!]!++;
    } else {
      for (let i = 0; i < chunk.length; i++) {
        const s = chunk.series[i]!;
        if (verdict[s] !== 1) {
          if (verdict[s] === 0) this.statsBase.rowsNotStored++;
          continue;
        }
        const o = this.buffered++;
        this.ts[o] = chunk.ts[i]!;
        this.value[o] = chunk.value[i]!;
        this.series[o] = s;
        this.perSeries[s]!++;
      }
    }
    this.statsBase.rowsAccepted = this.statsBase.rowsFlushed + this.buffered;
  }

  private grow(n: number): void {
    let cap = this.ts.length;
    while (cap < n) cap *= 2;
    const ts = new BigInt64Array(cap);
    ts.set(this.ts.subarray(0, this.buffered));
    const value = new Float64Array(cap);
    value.set(this.value.subarray(0, this.buffered));
    const series = new Int32Array(cap);
    series.set(this.series.subarray(0, this.buffered));
    [this.ts, this.value, this.series] = [ts, value, series];
  }

  get rowsFlushed(): number {
    return this.statsBase.rowsFlushed;
  }

  /** Rows buffered but not yet on disk. */
  get backlog(): number {
    return this.buffered;
  }

  /** Writes the buffered rows; flushes run one at a time. Resolves when they are on disk. */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const n = this.buffered;
    if (n === 0 || !this.table) return;
    // Take the rows now: writes go on while the disk works.
    const ts = this.ts.slice(0, n);
    const value = this.value.slice(0, n);
    const series = this.series.slice(0, n);
    this.buffered = 0;
    try {
      await this.append(ts, value, series, n, this.table);
      this.statsBase.rowsFlushed += n;
      this.statsBase.flushes++;
      this.statsBase.lastFlushAt = new Date().toISOString();
    } catch (e) {
      // Keep the rows for the next flush (a full disk may be freed), in a new part file: the
      // current one may end in a half-written message, though everything before it is readable.
      this.statsBase.flushErrors++;
      this.statsBase.lastError = e instanceof Error ? e.message : String(e);
      this.requeue(ts, value, series, n);
      await this.abandonFile();
      throw new DaqError(
        'DAQ_WORKER',
        `cannot write ${n} rows to ${this.dir}: ${this.statsBase.lastError} (kept in memory and retried at the next flush; ${this.buffered} rows waiting)`,
        { path: this.dir },
        { cause: e },
      );
    } finally {
      this.statsBase.rowsAccepted = this.statsBase.rowsFlushed + this.buffered;
    }
  }

  /** Puts rows that could not be written back in front of those that arrived meanwhile, within maxBacklogRows. */
  private requeue(ts: BigInt64Array, value: Float64Array, series: Int32Array, n: number): void {
    const later = this.buffered;
    const cap = this.options.maxBacklogRows ?? 20_000_000;
    const drop = Math.max(0, n + later - cap);
    if (drop > 0) this.statsBase.rowsDropped += drop;
    const keep = n - Math.min(drop, n);
    const from = n - keep;
    const total = keep + later;
    const nts = new BigInt64Array(Math.max(total, 1 << 16));
    const nvalue = new Float64Array(nts.length);
    const nseries = new Int32Array(nts.length);
    nts.set(ts.subarray(from, n));
    nvalue.set(value.subarray(from, n));
    nseries.set(series.subarray(from, n));
    nts.set(this.ts.subarray(0, later), keep);
    nvalue.set(this.value.subarray(0, later), keep);
    nseries.set(this.series.subarray(0, later), keep);
    [this.ts, this.value, this.series, this.buffered] = [nts, nvalue, nseries, total];
  }

  private async abandonFile(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    await f?.close().catch(() => undefined);
  }

  private async append(ts: BigInt64Array, value: Float64Array, series: Int32Array, n: number, table: SeriesTable): Promise<void> {
    // Per-column dictionaries over every series seen so far, in first-seen order, and for each
    // column a flat series → dictionary index table.
    const values: string[][] = COLUMNS.map(() => []);
    const index: Map<string, number>[] = COLUMNS.map(() => new Map());
    const colOf = COLUMNS.map(() => new Int32Array(table.size));
    const select = this.options.select;
    table.keys.forEach((k, s) =>
      COLUMNS.forEach((col, c) => {
        if (select && !select.has(k.subsystem)) return; // another sink's series: never in this file
        if (c === FLAG_COLUMN && k.flag === '') {
          colOf[c]![s] = -1; // an ordinary reading: flag null
          return;
        }
        let i = index[c]!.get(k[col]);
        if (i === undefined) {
          i = values[c]!.length;
          index[c]!.set(k[col], i);
          values[c]!.push(k[col]);
        }
        colOf[c]![s] = i;
      }),
    );
    const sizes = values.map((v) => v.length);
    const roll = this.file !== undefined && sizes.some((s, i) => s !== this.fileDictSizes[i]);
    if (roll) await this.closeFile();
    const fresh = this.file === undefined;
    if (fresh) await this.openFile(sizes);

    const fields = STORED_SCALAR_SCHEMA.fields;
    const cols = COLUMNS.map((_, c) => {
      const data = new Int32Array(n);
      const of = colOf[c]!;
      for (let i = 0; i < n; i++) data[i] = Math.max(0, of[series[i]!]!);
      const validity = c === FLAG_COLUMN ? validityBitmap(n, (i) => of[series[i]!]! >= 0) : { nullCount: 0 };
      return makeData({
        type: fields[FIELD_OF[c]!]!.type as Dictionary<Utf8, Int32>,
        length: n,
        data,
        dictionary: vectorFromArray(values[c]!, new Utf8()),
        ...validity,
      });
    });
    const flagOf = colOf[FLAG_COLUMN]!;
    const children = [
      makeData({ type: fields[0]!.type as TimestampNanosecond, length: n, data: ts }),
      cols[0]!,
      cols[1]!,
      cols[2]!,
      makeData({
        type: fields[4]!.type as Float64,
        length: n,
        data: value,
        ...validityBitmap(n, (i) => flagOf[series[i]!]! < 0),
      }),
      cols[3]!,
      cols[4]!,
    ];
    const batch = new RecordBatch(STORED_SCALAR_SCHEMA, makeData({ type: new Struct(fields), length: n, children }));
    const stream = tableToIPC(new Table([batch]), 'stream');
    // A fresh file takes the whole stream but its end marker; later flushes only the record batches.
    const parts = fresh
      ? [stream.subarray(0, stream.byteLength - IPC_END_OF_STREAM.byteLength)]
      : ipcMessages(stream)
          .filter((m) => m.type === MessageHeader.RecordBatch)
          .map((m) => stream.subarray(m.start, m.end));
    const bytes = { byteLength: parts.reduce((n, p) => n + p.byteLength, 0) };
    await writeAll(this.file!, parts);
    if (this.options.sync !== false) await this.file!.datasync();
    this.statsBase.bytesWritten += bytes.byteLength;
  }

  private async openFile(sizes: number[]): Promise<void> {
    const base = this.options.baseName ?? 'scalars';
    const part = this.statsBase.files.length;
    const name = part === 0 ? `${base}.arrows` : `${base}-${part + 1}.arrows`;
    this.file = await open(join(this.dir, name), 'wx');
    this.fileDictSizes = sizes;
    this.statsBase.files.push(name);
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    try {
      await writeAll(f, [IPC_END_OF_STREAM]);
      if (this.options.sync !== false) await f.datasync();
      this.statsBase.bytesWritten += IPC_END_OF_STREAM.byteLength;
    } finally {
      await f.close();
    }
  }

  /** Final flush, end-of-stream marker, file closed. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.flush();
    } finally {
      await this.flushing.catch(() => undefined);
      await this.closeFile();
    }
  }
}
