// The WebSocket clients and their streams, in the server worker. Each batch, document and
// preview arrives here once from the main thread; each client gets what it subscribed to.
// A client's backlog is its own: past maxBacklogBytes its scalar batches are dropped (and
// counted), a preview is sent only when the client has caught up and at its rate, so a slow
// client costs itself and never the acquisition. Nothing here can block the main thread.

import {
  Dictionary,
  Int32,
  Table,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import type { WebSocket } from 'ws';
import type { PreviewMessage, ServerEvent } from './api.js';

/**
 * Rows of the live stream, in arrival order. Keys and subsystems are ids into LiveRows' tables,
 * so filtering and encoding never build strings per row.
 */
export interface Rows {
  tsNs: BigInt64Array;
  keyId: Int32Array;
  value: Float64Array;
  subsystemId: Int32Array;
}

export interface Subscription {
  scalars: '*' | Set<string>;
  documents: boolean;
  status: boolean;
  previews: Set<string>;
  previewMaxSide: number;
  previewHz: number;
}

export interface ClientCounts {
  client: number;
  address: string;
  connectedAt: string;
  scalarBatches: number;
  rowsSent: number;
  /** Rows not sent because the client's backlog was over the limit. */
  rowsDropped: number;
  documents: number;
  statuses: number;
  previews: number;
  /** Previews not sent because the client had not caught up (over PREVIEW_BACKLOG bytes waiting). */
  previewsSkipped: number;
  /** Previews not sent because it was too soon for the rate the client asked for. */
  previewsThrottled: number;
  bufferedBytes: number;
}

interface Client {
  id: number;
  socket: WebSocket;
  sub: Subscription;
  counts: ClientCounts;
  lastPreviewAt: Map<string, number>;
}

/** Bytes a client may have waiting and still be sent a preview (about one 512×512 preview). */
export const PREVIEW_BACKLOG = 512 * 1024;

/** A binary message: little-endian uint32 header length, JSON header, payload. */
export function frame(header: Record<string, unknown>, payload: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(4 + h.length + payload.byteLength);
  out.writeUInt32LE(h.length, 0);
  h.copy(out, 4);
  out.set(payload, 4 + h.length);
  return out;
}

const SUBSYSTEMS = ['v2', 'v4', 'v4-shadow'];

/**
 * Turns main-thread batches into rows, with every `instrument.channel` key seen numbered once;
 * the last value of each channel is kept for the instrument panel.
 */
export class LiveRows {
  /** Every key seen, by id. */
  readonly keys: string[] = [];
  readonly subsystems = [...SUBSYSTEMS];
  private readonly keyIds = new Map<string, Map<string, number>>();
  private keysVector: { length: number; vector: Vector<Utf8> } | undefined;
  private readonly subsystemsVector = vectorFromArray(this.subsystems, new Utf8());
  private readonly lastValue = new Map<number, { value: number; tsNs: bigint }>();
  rowsIn = 0;
  batchesIn = 0;
  constructor(private readonly shadowed: ReadonlySet<string>) {}

  keyId(instrument: string, channel: string): number {
    let byChannel = this.keyIds.get(instrument);
    if (!byChannel) this.keyIds.set(instrument, (byChannel = new Map()));
    let id = byChannel.get(channel);
    if (id === undefined) {
      id = this.keys.length;
      this.keys.push(`${instrument}.${channel}`);
      byChannel.set(channel, id);
    }
    return id;
  }

  private subsystemId(name: string): number {
    let i = this.subsystems.indexOf(name);
    if (i < 0) i = this.subsystems.push(name) - 1;
    return i;
  }

  /** The last value of a channel from a subsystem, with its time in epoch seconds. */
  last(key: string, subsystem: string): { value: number; time: number } | undefined {
    const [instrument, ...rest] = key.split('.');
    const id = this.keyIds.get(instrument!)?.get(rest.join('.'));
    const sub = this.subsystems.indexOf(subsystem);
    const l = id === undefined || sub < 0 ? undefined : this.lastValue.get(id * 8 + sub);
    return l && { value: l.value, time: Number(l.tsNs / 1000n) / 1e6 };
  }

  fromEvent(e: Extract<ServerEvent, { type: 'measurements' | 'arrow' }>): Rows {
    this.batchesIn++;
    let rows: Rows;
    if (e.type === 'measurements') {
      const n = e.items.length;
      const sub = this.subsystemId(e.subsystem);
      rows = {
        tsNs: new BigInt64Array(n),
        keyId: new Int32Array(n),
        value: new Float64Array(n),
        subsystemId: new Int32Array(n).fill(sub),
      };
      for (let i = 0; i < n; i++) {
        const m = e.items[i]!;
        rows.tsNs[i] = m.timestampNs;
        rows.keyId[i] = this.keyId(m.instrument, m.channel);
        rows.value[i] = m.value;
      }
    } else {
      const t = tableFromIPC(e.bytes);
      const n = t.numRows;
      rows = { tsNs: new BigInt64Array(n), keyId: new Int32Array(n), value: new Float64Array(n), subsystemId: new Int32Array(n) };
      const own = this.subsystemId(e.subsystem);
      const shadow = this.subsystemId('v4-shadow');
      let at = 0;
      // Per record batch: the dictionaries' indices, resolved once per distinct (instrument, channel).
      for (const b of t.batches) {
        const ts = b.getChild('timestamp')!.data[0]!;
        const inst = b.getChild('instrument')!.data[0]!;
        const ch = b.getChild('channel')!.data[0]!;
        const val = b.getChild('value')!;
        const instIdx = inst.values as Int32Array;
        const chIdx = ch.values as Int32Array;
        const pair = new Map<number, { key: number; sub: number }>();
        for (let r = 0; r < b.numRows; r++) {
          const code = instIdx[inst.offset + r]! * 65536 + chIdx[ch.offset + r]!;
          let k = pair.get(code);
          if (!k) {
            const id = inst.dictionary!.get(instIdx[inst.offset + r]!) as string;
            k = {
              key: this.keyId(id, ch.dictionary!.get(chIdx[ch.offset + r]!) as string),
              sub: this.shadowed.has(id) ? shadow : own,
            };
            pair.set(code, k);
          }
          rows.tsNs[at + r] = (ts.values as BigInt64Array)[ts.offset + r]!;
          rows.keyId[at + r] = k.key;
          rows.subsystemId[at + r] = k.sub;
          rows.value[at + r] = (val.get(r) as number | null) ?? Number.NaN;
        }
        at += b.numRows;
      }
    }
    this.rowsIn += rows.keyId.length;
    for (let i = 0; i < rows.keyId.length; i++)
      this.lastValue.set(rows.keyId[i]! * 8 + rows.subsystemId[i]!, { value: rows.value[i]!, tsNs: rows.tsNs[i]! });
    return rows;
  }

  /**
   * The rows whose key `keep` allows (a mask over key ids; undefined keeps all) as an Arrow IPC
   * stream: time, ts_ns, key and subsystem (dictionary-encoded, the dictionaries every key and
   * subsystem seen so far), value.
   */
  encode(rows: Rows, keep: Uint8Array | undefined): { bytes: Uint8Array; rows: number } {
    const all = rows.keyId.length;
    let n = all;
    if (keep) {
      n = 0;
      for (let i = 0; i < all; i++) n += keep[rows.keyId[i]!]!;
    }
    const time = new Float64Array(n);
    const tsNs = new BigInt64Array(n);
    const value = new Float64Array(n);
    const key = new Int32Array(n);
    const subsystem = new Int32Array(n);
    for (let i = 0, j = 0; i < all; i++) {
      if (keep && !keep[rows.keyId[i]!]) continue;
      const ts = rows.tsNs[i]!;
      tsNs[j] = ts;
      time[j] = Number(ts / 1000n) / 1e6;
      value[j] = rows.value[i]!;
      key[j] = rows.keyId[i]!;
      subsystem[j] = rows.subsystemId[i]!;
      j++;
    }
    if (this.keysVector?.length !== this.keys.length)
      this.keysVector = { length: this.keys.length, vector: vectorFromArray(this.keys, new Utf8()) };
    const dict = (id: number, indices: Int32Array, dictionary: Vector<Utf8>) =>
      makeVector(
        makeData({ type: new Dictionary(new Utf8(), new Int32(), id), length: n, nullCount: 0, data: indices, dictionary }),
      );
    const table = new Table({
      time: makeVector(time),
      ts_ns: makeVector(tsNs),
      key: dict(0, key, this.keysVector.vector),
      value: makeVector(value),
      subsystem: dict(1, subsystem, this.subsystemsVector),
    });
    return { bytes: tableToIPC(table, 'stream'), rows: n };
  }

  /** A mask over key ids for a set of keys. */
  mask(keys: ReadonlySet<string>): Uint8Array {
    const m = new Uint8Array(this.keys.length);
    for (let i = 0; i < this.keys.length; i++) if (keys.has(this.keys[i]!)) m[i] = 1;
    return m;
  }
}

export class Hub {
  private readonly clients = new Map<number, Client>();
  /** The preview demand last asked of the main thread, per camera. */
  private readonly demand = new Map<string, string>();
  private nextId = 1;

  constructor(
    private readonly options: {
      maxBacklogBytes: number;
      cameras: readonly string[];
      /** The cameras' preview demand changed (the largest side and rate any client wants), or null for none. */
      onPreviewDemand: (camera: string, demand: { maxSide: number; maxHz: number }[]) => void;
    },
  ) {}

  get size(): number {
    return this.clients.size;
  }

  add(socket: WebSocket, address: string): Client {
    const id = this.nextId++;
    const c: Client = {
      id,
      socket,
      sub: { scalars: new Set(), documents: false, status: false, previews: new Set(), previewMaxSide: 512, previewHz: 10 },
      counts: {
        client: id,
        address,
        connectedAt: new Date().toISOString(),
        scalarBatches: 0,
        rowsSent: 0,
        rowsDropped: 0,
        documents: 0,
        statuses: 0,
        previews: 0,
        previewsSkipped: 0,
        previewsThrottled: 0,
        bufferedBytes: 0,
      },
      lastPreviewAt: new Map(),
    };
    this.clients.set(id, c);
    return c;
  }

  remove(id: number): void {
    const c = this.clients.get(id);
    if (!c) return;
    this.clients.delete(id);
    this.updatePreviewDemand([...c.sub.previews]);
  }

  /** Applies a client's subscribe message; returns an error message for what it cannot use. */
  subscribe(id: number, msg: Record<string, unknown>): string | undefined {
    const c = this.clients.get(id);
    if (!c) return 'unknown client';
    const before = new Set(c.sub.previews);
    if ('scalars' in msg) {
      const s = msg.scalars;
      if (s === '*') c.sub.scalars = '*';
      else if (Array.isArray(s) && s.every((k) => typeof k === 'string')) c.sub.scalars = new Set(s as string[]);
      else return 'scalars must be "*" or a list of "instrument.channel" keys';
    }
    if ('documents' in msg) c.sub.documents = msg.documents === true;
    if ('status' in msg) c.sub.status = msg.status === true;
    if ('previewMaxSide' in msg) {
      const v = msg.previewMaxSide;
      if (!Number.isInteger(v) || (v as number) < 16 || (v as number) > 4096) return 'previewMaxSide must be an integer 16-4096';
      c.sub.previewMaxSide = v as number;
    }
    if ('previewHz' in msg) {
      const v = msg.previewHz;
      if (typeof v !== 'number' || !(v > 0) || v > 30) return 'previewHz must be a number in (0, 30]';
      c.sub.previewHz = v;
    }
    if ('previews' in msg) {
      const p = msg.previews;
      if (!Array.isArray(p) || !p.every((k) => typeof k === 'string')) return 'previews must be a list of camera ids';
      const unknown = (p as string[]).filter((k) => !this.options.cameras.includes(k));
      if (unknown.length)
        return `no camera ${unknown.map((k) => JSON.stringify(k)).join(', ')}; cameras: ${this.options.cameras.join(', ') || 'none'}`;
      c.sub.previews = new Set(p as string[]);
    }
    this.updatePreviewDemand([...new Set([...before, ...c.sub.previews])]);
    return undefined;
  }

  /** Per camera, each preview size some client wants, at the fastest rate any of them asks. */
  private updatePreviewDemand(cameras: string[]): void {
    for (const cam of cameras) {
      const bySide = new Map<number, number>();
      for (const c of this.clients.values())
        if (c.sub.previews.has(cam))
          bySide.set(c.sub.previewMaxSide, Math.max(bySide.get(c.sub.previewMaxSide) ?? 0, c.sub.previewHz));
      const demand = [...bySide].map(([maxSide, maxHz]) => ({ maxSide, maxHz })).sort((a, b) => a.maxSide - b.maxSide);
      const key = JSON.stringify(demand);
      if (this.demand.get(cam) === key) continue;
      this.demand.set(cam, key);
      this.options.onPreviewDemand(cam, demand);
    }
  }

  /** Sends rows to every client subscribed to any of their channels; identical subscriptions share one encoding. */
  scalars(live: LiveRows, rows: Rows): void {
    if (rows.keyId.length === 0) return;
    const encoded = new Map<string, { bytes: Buffer; rows: number }>();
    for (const c of this.clients.values()) {
      const s = c.sub.scalars;
      if (s !== '*' && s.size === 0) continue;
      const cacheKey = s === '*' ? '*' : [...s].sort().join('\n');
      let e = encoded.get(cacheKey);
      if (!e) {
        const out = live.encode(rows, s === '*' ? undefined : live.mask(s));
        e = { bytes: frame({ type: 'scalars', rows: out.rows }, out.bytes), rows: out.rows };
        encoded.set(cacheKey, e);
      }
      if (e.rows === 0) continue;
      if (c.socket.bufferedAmount > this.options.maxBacklogBytes) {
        c.counts.rowsDropped += e.rows;
        continue;
      }
      c.counts.scalarBatches++;
      c.counts.rowsSent += e.rows;
      c.socket.send(e.bytes);
    }
  }

  document(name: string, doc: unknown): void {
    let text: string | undefined;
    for (const c of this.clients.values()) {
      if (!c.sub.documents) continue;
      text ??= JSON.stringify({ type: 'document', name, doc });
      c.counts.documents++;
      c.socket.send(text);
    }
  }

  preview(p: PreviewMessage): void {
    let bytes: Buffer | undefined;
    const now = performance.now();
    for (const c of this.clients.values()) {
      if (!c.sub.previews.has(p.camera) || c.sub.previewMaxSide !== p.maxSide) continue;
      const last = c.lastPreviewAt.get(p.camera) ?? -Infinity;
      // Latest only: a client that has not taken the last preview yet (over PREVIEW_BACKLOG
      // waiting), or asked too soon for its rate, skips this one.
      if (now - last < 1000 / c.sub.previewHz - 2) {
        c.counts.previewsThrottled++;
        continue;
      }
      if (c.socket.bufferedAmount > PREVIEW_BACKLOG) {
        c.counts.previewsSkipped++;
        continue;
      }
      if (!bytes) {
        const { pixels, ...header } = p;
        bytes = frame({ type: 'preview', ...header }, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
      }
      c.lastPreviewAt.set(p.camera, now);
      c.counts.previews++;
      c.socket.send(bytes);
    }
  }

  wantsStatus(): boolean {
    for (const c of this.clients.values()) if (c.sub.status) return true;
    return false;
  }

  status(status: unknown): void {
    let text: string | undefined;
    for (const c of this.clients.values()) {
      if (!c.sub.status) continue;
      text ??= JSON.stringify({ type: 'status', status });
      c.counts.statuses++;
      c.socket.send(text);
    }
  }

  counts(): ClientCounts[] {
    return [...this.clients.values()].map((c) => ({ ...c.counts, bufferedBytes: c.socket.bufferedAmount }));
  }

  closeAll(code: number, reason: string): void {
    for (const c of this.clients.values()) c.socket.close(code, reason);
  }
}
