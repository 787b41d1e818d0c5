// The WebSocket clients and their streams, in the server worker. Each batch, document and
// preview arrives here once from the main thread; each client gets what it subscribed to.
// A client's backlog is its own: past maxBacklogBytes its scalar batches are dropped (and
// counted), a preview is sent only when the client has caught up and at its rate, so a slow
// client costs itself and never the acquisition. Nothing here can block the main thread.

import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import type { WebSocket } from 'ws';
import type { PreviewMessage, ServerEvent } from './api.js';

/** Rows of the live stream, in arrival order. */
export interface Rows {
  tsNs: BigInt64Array;
  key: string[];
  value: Float64Array;
  subsystem: string[];
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
  /** Previews not sent: the client had not caught up, or it was too soon for its rate. */
  previewsSkipped: number;
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

/** Turns main-thread batches into rows; the last value of each channel is kept for the instrument panel. */
export class LiveRows {
  readonly last = new Map<string, { value: number; time: number; subsystem: string }>();
  rowsIn = 0;
  batchesIn = 0;
  constructor(private readonly shadowed: ReadonlySet<string>) {}

  fromEvent(e: Extract<ServerEvent, { type: 'measurements' | 'arrow' }>): Rows {
    this.batchesIn++;
    let rows: Rows;
    if (e.type === 'measurements') {
      const n = e.items.length;
      rows = {
        tsNs: new BigInt64Array(n),
        key: new Array(n),
        value: new Float64Array(n),
        subsystem: new Array(n).fill(e.subsystem),
      };
      e.items.forEach((m, i) => {
        rows.tsNs[i] = m.timestampNs;
        rows.key[i] = `${m.instrument}.${m.channel}`;
        rows.value[i] = m.value;
      });
    } else {
      const t = tableFromIPC(e.bytes);
      const n = t.numRows;
      rows = { tsNs: new BigInt64Array(n), key: new Array(n), value: new Float64Array(n), subsystem: new Array(n) };
      const ts = t.getChild('timestamp')!;
      const inst = t.getChild('instrument')!;
      const ch = t.getChild('channel')!;
      const val = t.getChild('value')!;
      let i = 0;
      for (const d of ts.data) {
        const v = d.values as BigInt64Array;
        rows.tsNs.set(v.subarray(d.offset, d.offset + d.length), i);
        i += d.length;
      }
      for (let r = 0; r < n; r++) {
        const id = inst.get(r) as string;
        rows.key[r] = `${id}.${ch.get(r) as string}`;
        rows.value[r] = (val.get(r) as number | null) ?? Number.NaN;
        rows.subsystem[r] = this.shadowed.has(id) ? 'v4-shadow' : e.subsystem;
      }
    }
    this.rowsIn += rows.key.length;
    for (let i = 0; i < rows.key.length; i++)
      this.last.set(`${rows.key[i]}|${rows.subsystem[i]}`, {
        value: rows.value[i]!,
        time: Number(rows.tsNs[i]! / 1000n) / 1e6,
        subsystem: rows.subsystem[i]!,
      });
    return rows;
  }
}

function encodeRows(rows: Rows, keep: (i: number) => boolean): { bytes: Uint8Array; rows: number } {
  const idx: number[] = [];
  for (let i = 0; i < rows.key.length; i++) if (keep(i)) idx.push(i);
  const n = idx.length;
  const time = new Float64Array(n);
  const tsNs = new BigInt64Array(n);
  const value = new Float64Array(n);
  const key: string[] = new Array(n);
  const subsystem: string[] = new Array(n);
  idx.forEach((i, j) => {
    tsNs[j] = rows.tsNs[i]!;
    time[j] = Number(rows.tsNs[i]! / 1000n) / 1e6;
    value[j] = rows.value[i]!;
    key[j] = rows.key[i]!;
    subsystem[j] = rows.subsystem[i]!;
  });
  return { bytes: tableToIPC(tableFromArrays({ time, ts_ns: tsNs, key, value, subsystem }), 'stream'), rows: n };
}

export class Hub {
  private readonly clients = new Map<number, Client>();
  private nextId = 1;

  constructor(
    private readonly options: {
      maxBacklogBytes: number;
      cameras: readonly string[];
      /** The cameras' preview demand changed (the largest side and rate any client wants), or null for none. */
      onPreviewDemand: (camera: string, demand: { maxSide: number; maxHz: number } | null) => void;
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

  private updatePreviewDemand(cameras: string[]): void {
    for (const cam of cameras) {
      let maxSide = 0;
      let maxHz = 0;
      for (const c of this.clients.values())
        if (c.sub.previews.has(cam)) {
          maxSide = Math.max(maxSide, c.sub.previewMaxSide);
          maxHz = Math.max(maxHz, c.sub.previewHz);
        }
      this.options.onPreviewDemand(cam, maxHz > 0 ? { maxSide, maxHz } : null);
    }
  }

  /** Sends rows to every client subscribed to any of their channels; identical subscriptions share one encoding. */
  scalars(rows: Rows): void {
    if (rows.key.length === 0) return;
    const encoded = new Map<string, { bytes: Buffer; rows: number }>();
    for (const c of this.clients.values()) {
      const s = c.sub.scalars;
      if (s !== '*' && s.size === 0) continue;
      const cacheKey = s === '*' ? '*' : [...s].sort().join('\n');
      let e = encoded.get(cacheKey);
      if (!e) {
        const out = s === '*' ? encodeRows(rows, () => true) : encodeRows(rows, (i) => s.has(rows.key[i]!));
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
      if (!c.sub.previews.has(p.camera)) continue;
      const last = c.lastPreviewAt.get(p.camera) ?? -Infinity;
      // Latest only: a client that has not taken the last preview yet (over PREVIEW_BACKLOG
      // waiting), or asked too soon for its rate, skips this one.
      if (c.socket.bufferedAmount > PREVIEW_BACKLOG || now - last < 1000 / c.sub.previewHz - 2) {
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
