// Stores the merged scalar stream as Arrow IPC stream files in the run directory: columns of
// the V4 scalar schema plus `subsystem`. Rows are flushed at least every flush interval with
// write() and fdatasync(), each flush appending whole record-batch messages, so after a
// kill -9 every flushed row is readable (a stream needs no footer). When a new instrument,
// channel or unit appears after the file started, the next part file begins, so a file's
// dictionaries never change.

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Field, Float64, Schema, type RecordBatch } from 'apache-arrow';
// Arrow's own IPC metadata encoder and body assembler (what its stream writer uses), to write a
// record-batch message without first joining it into one buffer.
import { Message, RecordBatch as RecordBatchHeader } from 'apache-arrow/ipc/metadata/message';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import {
  DaqError,
  GrowableColumns,
  IPC_END_OF_STREAM,
  Interner,
  allNull,
  ipcMessages,
  dictionaryColumn,
  dictionaryField,
  ipcStream,
  numericColumn,
  recordBatch,
  timestampField,
  validityBitmap,
  type Validity,
} from '@daq/core';
import type { BridgeSink } from '../bridge/measurement-bridge.js';
import type { ScalarChunk, SeriesTable } from '../bridge/series.js';

/**
 * The stored scalar schema: DESIGN.md's V4 scalar batch plus the subsystem that produced each
 * row. `value` is null exactly where `flag` says why ("overload", "not-a-number").
 */
export const STORED_SCALAR_SCHEMA = new Schema([
  timestampField(),
  dictionaryField('subsystem', 0),
  dictionaryField('instrument', 1),
  dictionaryField('channel', 2),
  new Field('value', new Float64(), true),
  dictionaryField('unit', 3),
  dictionaryField('flag', 4, true),
]);

const COLUMNS = ['subsystem', 'instrument', 'channel', 'unit', 'flag'] as const;
/** Where each of COLUMNS sits in STORED_SCALAR_SCHEMA. */
const FIELD_OF = [1, 2, 3, 5, 6] as const;
const FLAG_COLUMN = 4;
/** Rows the buffer has room for before it first grows (and after a failed flush at least). */
const INITIAL_ROWS = 1 << 16;

/** Rows waiting for the next flush, in columns. */
type Buffered = { ts: BigInt64Array; value: Float64Array; series: Int32Array };

const emptyColumns = (rows: number): Buffered => ({
  ts: new BigInt64Array(rows),
  value: new Float64Array(rows),
  series: new Int32Array(rows),
});

const PADDING = new Uint8Array(8);

/**
 * The record-batch message of `batch` exactly as apache-arrow's stream writer writes it
 * (continuation marker, metadata length, metadata padded to 8 bytes, then each body buffer
 * padded to 8 bytes), as parts for writev: the body buffers are the columns themselves, not
 * copies, so they must stay unchanged until the write is done.
 */
export function recordBatchMessage(batch: RecordBatch): Uint8Array[] {
  const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } = VectorAssembler.assemble(batch);
  const header = new RecordBatchHeader(batch.numRows, nodes, bufferRegions, null, variadicBufferCounts, batch.metadata);
  const meta = Message.encode(Message.from(header, byteLength));
  const aligned = (meta.byteLength + 8 + 7) & ~7;
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setInt32(0, -1, true);
  new DataView(prefix.buffer).setInt32(4, aligned - 8, true);
  const parts = [prefix, meta];
  if (aligned - 8 > meta.byteLength) parts.push(PADDING.subarray(0, aligned - 8 - meta.byteLength));
  for (const b of buffers) {
    if (b.byteLength === 0) continue;
    parts.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    const pad = ((b.byteLength + 7) & ~7) - b.byteLength;
    if (pad > 0) parts.push(PADDING.subarray(0, pad));
  }
  return parts;
}

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
  private rows = new GrowableColumns<Buffered>(emptyColumns(INITIAL_ROWS));
  private buffered = 0;
  private table: SeriesTable | undefined;
  private file: FileHandle | undefined;
  /** Dictionary sizes of the open file; a grown dictionary starts a new part. */
  private fileDictSizes: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  /** Rows accepted per series id (summed per instrument on demand: no string work per row). */
  private perSeries = new Float64Array(64);
  /** verdicts() of the series table last seen. */
  private verdictOf = new Int8Array(0);
  private verdictTable: SeriesTable | undefined;
  /** Columns of a flush that was written, reused as the buffer of a later one (no allocation per flush). */
  private spare: Buffered | undefined;
  /** Index columns of the record batch being encoded, reused from flush to flush. */
  private scratch: Int32Array[] = [];
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
    const n = chunk.length;
    this.rows.ensure(this.buffered + n, this.buffered);
    const { ts, value, series } = this.rows.columns;
    const verdict = this.verdicts(table);
    const perSeries = this.perSeries;
    const cs = chunk.series;
    // One pass: count the rows per series while they are all stored (the common case).
    let i = 0;
    for (; i < n; i++) {
      const s = cs[i]!;
      if (verdict[s] !== 1) break;
      perSeries[s]++;
    }
    if (i === n) {
      // Every row stored: copy whole columns.
      const at = this.buffered;
      ts.set(chunk.ts.subarray(0, n), at);
      value.set(chunk.value.subarray(0, n), at);
      series.set(cs.subarray(0, n), at);
      this.buffered += n;
    } else {
      // Some rows are not this sink's to store: undo the partial count, then row by row.
      for (let j = 0; j < i; j++) perSeries[cs[j]!]--;
      for (let j = 0; j < n; j++) {
        const s = cs[j]!;
        if (verdict[s] !== 1) {
          if (verdict[s] === 0) this.statsBase.rowsNotStored++;
          continue;
        }
        const o = this.buffered++;
        ts[o] = chunk.ts[j]!;
        value[o] = chunk.value[j]!;
        series[o] = s;
        perSeries[s]++;
      }
    }
    this.statsBase.rowsAccepted = this.statsBase.rowsFlushed + this.buffered;
  }

  /** Per series id: 1 stored, 0 not stored (counted), -1 another sink's (ignored); kept until a new series appears. */
  private verdicts(table: SeriesTable): Int8Array {
    if (this.verdictOf.length !== table.size || this.verdictTable !== table) {
      const { storeSubsystems: store, select } = this.options;
      this.verdictTable = table;
      this.verdictOf = Int8Array.from(table.keys, (k) =>
        select && !select.has(k.subsystem) ? -1 : store.has(k.subsystem) ? 1 : 0,
      );
      if (this.perSeries.length < table.size) {
        const grown = new Float64Array(Math.max(table.size, 2 * this.perSeries.length));
        grown.set(this.perSeries);
        this.perSeries = grown;
      }
    }
    return this.verdictOf;
  }

  get rowsFlushed(): number {
    return this.statsBase.rowsFlushed;
  }

  /** Rows being written by the flush in progress (taken from the buffer, not yet on disk). */
  private writing = 0;

  /** Rows not yet on disk: buffered, and being written. */
  get backlog(): number {
    return this.buffered + this.writing;
  }

  /** Writes the buffered rows; flushes run one at a time. Resolves when they are on disk. */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(() => this.flushNow());
    return this.flushing;
  }

  private async flushNow(): Promise<void> {
    const n = this.buffered;
    if (n === 0 || !this.table) return;
    // Take the rows now (the buffer itself: no copy); writes go on into another buffer while the disk works.
    const taken = this.rows.columns;
    const spare = this.spare;
    this.spare = undefined;
    this.rows = new GrowableColumns<Buffered>(spare && spare.ts.length >= INITIAL_ROWS ? spare : emptyColumns(INITIAL_ROWS));
    this.buffered = 0;
    this.writing = n;
    try {
      await this.append(taken, n, this.table);
      this.spare = taken;
      this.statsBase.rowsFlushed += n;
      this.statsBase.flushes++;
      this.statsBase.lastFlushAt = new Date().toISOString();
    } catch (e) {
      // Keep the rows for the next flush (a full disk may be freed), in a new part file: the
      // current one may end in a half-written message, though everything before it is readable.
      this.statsBase.flushErrors++;
      this.statsBase.lastError = e instanceof Error ? e.message : String(e);
      this.writing = 0; // back in the buffer: counted there
      this.requeue(taken, n);
      await this.abandonFile();
      throw new DaqError(
        'DAQ_WORKER',
        `cannot write ${n} rows to ${this.dir}: ${this.statsBase.lastError} (kept in memory and retried at the next flush; ${this.buffered} rows waiting)`,
        { path: this.dir },
        { cause: e },
      );
    } finally {
      this.writing = 0;
      this.statsBase.rowsAccepted = this.statsBase.rowsFlushed + this.buffered;
    }
  }

  /** Puts rows that could not be written back in front of those that arrived meanwhile, within maxBacklogRows. */
  private requeue(taken: Buffered, n: number): void {
    const later = this.buffered;
    const cap = this.options.maxBacklogRows ?? 20_000_000;
    const drop = Math.max(0, n + later - cap);
    if (drop > 0) this.statsBase.rowsDropped += drop;
    const keep = n - Math.min(drop, n);
    this.buffered = this.rows.unshift(taken, n - keep, n, later, INITIAL_ROWS);
  }

  private async abandonFile(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    await f?.close().catch(() => undefined);
  }

  private async append({ ts, value, series }: Buffered, n: number, table: SeriesTable): Promise<void> {
    // Per-column dictionaries over every series seen so far, in first-seen order, and for each
    // column a flat series → dictionary index table.
    const dicts = COLUMNS.map(() => new Interner());
    const colOf = COLUMNS.map(() => new Int32Array(table.size));
    const select = this.options.select;
    table.keys.forEach((k, s) =>
      COLUMNS.forEach((col, c) => {
        if (select && !select.has(k.subsystem)) return; // another sink's series: never in this file
        if (c === FLAG_COLUMN && k.flag === '') {
          colOf[c]![s] = -1; // an ordinary reading: flag null
          return;
        }
        colOf[c]![s] = dicts[c]!.id(k[col]);
      }),
    );
    const sizes = dicts.map((d) => d.values.length);
    const roll = this.file !== undefined && sizes.some((s, i) => s !== this.fileDictSizes[i]);
    if (roll) await this.closeFile();
    const fresh = this.file === undefined;
    if (fresh) await this.openFile(sizes);

    const fields = STORED_SCALAR_SCHEMA.fields;
    // One pass over the rows fills the five index columns from the per-series tables.
    for (let c = 0; c < COLUMNS.length; c++)
      if (!(this.scratch[c]!?.length >= n)) this.scratch[c] = new Int32Array(Math.max(n, INITIAL_ROWS));
    const [d0, d1, d2, d3, d4] = this.scratch.map((a) => a.subarray(0, n)) as [
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
      Int32Array,
    ];
    const [o0, o1, o2, o3] = colOf as [Int32Array, Int32Array, Int32Array, Int32Array];
    const flagOf = colOf[FLAG_COLUMN]!;
    // The flag column's index is 0 where the flag is null (-1 in flagOf).
    const o4 = flagOf.map((f) => Math.max(0, f));
    for (let i = 0; i < n; i++) {
      const s = series[i]!;
      d0[i] = o0[s]!;
      d1[i] = o1[s]!;
      d2[i] = o2[s]!;
      d3[i] = o3[s]!;
      d4[i] = o4[s]!;
    }
    // Validity: a flagged row has a flag and a null value; without flagged series (the common case)
    // every value is valid and every flag null, with no pass over the rows.
    let flagValidity: Validity = allNull(n);
    let valueValidity: Validity = { nullCount: 0 };
    if (flagOf.some((f) => f >= 0)) {
      flagValidity = validityBitmap(n, (i) => flagOf[series[i]!]! >= 0);
      valueValidity = validityBitmap(n, (i) => flagOf[series[i]!]! < 0);
    }
    const data = [d0, d1, d2, d3, d4];
    const cols = COLUMNS.map((_, c) =>
      dictionaryColumn(
        fields[FIELD_OF[c]!]!.type,
        n,
        data[c]!,
        dicts[c]!.toVector(),
        c === FLAG_COLUMN ? flagValidity : undefined,
      ),
    );
    const batch = recordBatch(STORED_SCALAR_SCHEMA, n, [
      numericColumn(fields[0]!.type, n, ts.subarray(0, n)),
      cols[0]!,
      cols[1]!,
      cols[2]!,
      numericColumn(fields[4]!.type, n, value.subarray(0, n), valueValidity),
      cols[3]!,
      cols[4]!,
    ]);
    // A fresh file takes the whole stream but its end marker (schema, dictionaries, the batch);
    // later flushes only the record-batch message; its body is written straight from the columns.
    const parts = recordBatchMessage(batch);
    if (fresh) {
      // The schema and dictionary messages, as arrow writes them before this batch (from a
      // 0-row slice of it: the same schema and dictionaries, without copying the rows).
      const head = ipcStream(batch.slice(0, 0));
      parts.unshift(head.subarray(0, ipcMessages(head).at(-1)!.start));
    }
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
