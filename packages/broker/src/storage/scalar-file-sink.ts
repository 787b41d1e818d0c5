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
import { DaqError, IPC_END_OF_STREAM, recordBatchMessages } from '@daq/core';
import type { BridgeSink } from '../bridge/measurement-bridge.js';
import type { ScalarChunk, SeriesTable } from '../bridge/series.js';

const dict = (id: number) => new Dictionary(new Utf8(), new Int32(), id);

/** The stored scalar schema: DESIGN.md's V4 scalar batch plus the subsystem that produced each row. */
export const STORED_SCALAR_SCHEMA = new Schema([
  new Field('timestamp', new TimestampNanosecond('UTC'), false),
  new Field('subsystem', dict(0), false),
  new Field('instrument', dict(1), false),
  new Field('channel', dict(2), false),
  new Field('value', new Float64(), true),
  new Field('unit', dict(3), false),
]);

const COLUMNS = ['subsystem', 'instrument', 'channel', 'unit'] as const;
/** Where each of COLUMNS sits in STORED_SCALAR_SCHEMA. */
const FIELD_OF = [1, 2, 3, 5] as const;

export interface ScalarFileSinkOptions {
  flushIntervalMs: number;
  /** Subsystems whose rows are stored ([vN.storage] enabled); others are counted as not stored. */
  storeSubsystems: ReadonlySet<string>;
  /** fdatasync after each flush (default true): flushed rows survive a power loss too, not only a kill. */
  sync?: boolean;
  baseName?: string;
}

export interface ScalarFileStats {
  files: string[];
  rowsAccepted: number;
  rowsFlushed: number;
  rowsNotStored: number;
  bytesWritten: number;
  flushes: number;
  lastFlushAt?: string;
  flushErrors: number;
  lastError?: string;
  /** Rows stored per instrument id. */
  perInstrument: Record<string, number>;
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
  readonly stats: ScalarFileStats = {
    files: [],
    rowsAccepted: 0,
    rowsFlushed: 0,
    rowsNotStored: 0,
    bytesWritten: 0,
    flushes: 0,
    flushErrors: 0,
    perInstrument: {},
  };

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
    const store = this.options.storeSubsystems;
    for (let i = 0; i < chunk.length; i++) {
      const s = chunk.series[i]!;
      const key = table.keys[s]!;
      if (!store.has(key.subsystem)) {
        this.stats.rowsNotStored++;
        continue;
      }
      const o = this.buffered++;
      this.ts[o] = chunk.ts[i]!;
      this.value[o] = chunk.value[i]!;
      this.series[o] = s;
      this.stats.perInstrument[key.instrument] = (this.stats.perInstrument[key.instrument] ?? 0) + 1;
    }
    this.stats.rowsAccepted = this.stats.rowsFlushed + this.buffered;
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
      this.stats.rowsFlushed += n;
      this.stats.flushes++;
      this.stats.lastFlushAt = new Date().toISOString();
    } catch (e) {
      // The rows are lost to this file; say so rather than pretend (e.g. a full disk).
      this.stats.flushErrors++;
      this.stats.lastError = e instanceof Error ? e.message : String(e);
      throw new DaqError(
        'DAQ_WORKER',
        `cannot write ${n} rows to ${this.dir}: ${this.stats.lastError}`,
        { path: this.dir },
        { cause: e },
      );
    } finally {
      this.stats.rowsAccepted = this.stats.rowsFlushed + this.buffered;
    }
  }

  private async append(ts: BigInt64Array, value: Float64Array, series: Int32Array, n: number, table: SeriesTable): Promise<void> {
    // Per-column dictionaries over every series seen so far, in first-seen order.
    const values: string[][] = COLUMNS.map(() => []);
    const index: Map<string, number>[] = COLUMNS.map(() => new Map());
    const seriesIdx = table.keys.map((k) =>
      COLUMNS.map((col, c) => {
        let i = index[c]!.get(k[col]);
        if (i === undefined) {
          i = values[c]!.length;
          index[c]!.set(k[col], i);
          values[c]!.push(k[col]);
        }
        return i;
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
      for (let i = 0; i < n; i++) data[i] = seriesIdx[series[i]!]![c]!;
      return makeData({
        type: fields[FIELD_OF[c]!]!.type as Dictionary<Utf8, Int32>,
        length: n,
        data,
        dictionary: vectorFromArray(values[c]!, new Utf8()),
      });
    });
    const children = [
      makeData({ type: fields[0]!.type as TimestampNanosecond, length: n, data: ts }),
      cols[0]!,
      cols[1]!,
      cols[2]!,
      makeData({ type: fields[4]!.type as Float64, length: n, nullCount: 0, data: value }),
      cols[3]!,
    ];
    const batch = new RecordBatch(STORED_SCALAR_SCHEMA, makeData({ type: new Struct(fields), length: n, children }));
    const stream = tableToIPC(new Table([batch]), 'stream');
    const bytes = fresh ? stream.subarray(0, stream.byteLength - IPC_END_OF_STREAM.byteLength) : recordBatchMessages(stream);
    await this.file!.write(bytes);
    if (this.options.sync !== false) await this.file!.datasync();
    this.stats.bytesWritten += bytes.byteLength;
  }

  private async openFile(sizes: number[]): Promise<void> {
    const base = this.options.baseName ?? 'scalars';
    const part = this.stats.files.length;
    const name = part === 0 ? `${base}.arrows` : `${base}-${part + 1}.arrows`;
    this.file = await open(join(this.dir, name), 'wx');
    this.fileDictSizes = sizes;
    this.stats.files.push(name);
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    try {
      await f.write(IPC_END_OF_STREAM);
      if (this.options.sync !== false) await f.datasync();
      this.stats.bytesWritten += IPC_END_OF_STREAM.byteLength;
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
