// Follows one run directory and turns what has been flushed to disk into messages: new lines
// of documents.jsonl (one document each), new whole IPC messages of Arrow stream files, JSON
// files whose content changed, and, once the run is over, the files written whole at its end
// and the list of frame files (frames stay on the acquisition host). How far each file has
// been acknowledged is kept in publish.json beside the run, so a restarted daq resumes there.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { open, readdir, rename, stat, writeFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { subjectToken } from '@daq/core';
import { msgIdOf, safeRelativePath, subjectOf, type Kind, type OutMessage } from './protocol.js';

export const STATE_FILE = 'publish.json';
/** The list of frame files, published in place of the frames themselves. */
export const REMOTE_FILES = 'remote-files.json';

/** publish.json: how far a run has been published. */
export interface PublishState {
  format: 'daq-publish/1';
  /** The run's token in the subjects (its directory's name). */
  run: string;
  /**
   * A random id of this run, in every message id and in the Daq-Run header: two runs with the
   * same directory name never deduplicate each other, and the collector keeps them apart.
   */
  uid: string;
  prefix: string;
  stream: string;
  /** The daq process publishing it now (another daq leaves it alone while it lives). */
  pid: number;
  /** Acknowledged bytes per file (doc, arrow and file kinds). */
  files: Record<string, number>;
  /** Acknowledged version and content hash per JSON file. */
  snapshots: Record<string, { version: number; hash: string }>;
  /** How each file is read (an Arrow file in the file format is published whole at the end). */
  modes?: Record<string, string>;
  /** Files not published because their names cannot travel (not a safe relative path). */
  skipped?: string[];
  /** Every file acknowledged after the run ended. */
  complete: boolean;
  messages: number;
  bytes: number;
  updatedAt: string;
  lastError?: string;
}

type Mode = 'lines' | 'ipc' | 'whole' | 'json' | 'frames' | 'skip';

/** While a run lasts, a JSON file that changes is published at most this often. */
export const JSON_INTERVAL_MS = 5000;

/** Per pass, at most this many bytes are read from one file (memory stays bounded). */
const READ_LIMIT = 16 * 1024 * 1024;

function modeOf(rel: string): Mode {
  const name = basename(rel);
  if (name.startsWith('.') || rel === STATE_FILE) return 'skip';
  if (name.endsWith('.jsonl')) return 'lines';
  if (name.endsWith('.json')) return 'json';
  if (/^frames-.*\.arrows?$/.test(name)) return 'frames';
  if (name.endsWith('.arrows') || name.endsWith('.arrow')) return 'ipc'; // refined by its first bytes
  return 'whole';
}

/** Length of the longest prefix of `b` made of whole Arrow IPC stream messages (and the end marker). */
export function wholeIpcPrefix(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  for (;;) {
    if (o + 8 > b.byteLength) return o;
    if (v.getInt32(o, true) !== -1) return o; // not a continuation marker: stop here (never guess)
    const metaLen = v.getInt32(o + 4, true);
    if (metaLen === 0) return o + 8; // end of stream
    if (metaLen < 0 || o + 8 + metaLen > b.byteLength) return o;
    const body = bodyLength(b.subarray(o + 8, o + 8 + metaLen));
    if (body === undefined || o + 8 + metaLen + body > b.byteLength) return o;
    o += 8 + metaLen + body;
  }
}

/** Largest single IPC message read whole (a record batch this big is far beyond any flush). */
const MAX_MESSAGE = 1024 * 1024 * 1024;

/** Total length of the IPC message at the start of `b` (prefix, metadata, body), when its header is there. */
function firstMessageLength(b: Uint8Array): number | undefined {
  if (b.byteLength < 8) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getInt32(0, true) !== -1) return undefined;
  const metaLen = v.getInt32(4, true);
  if (metaLen <= 0 || 8 + metaLen > b.byteLength) return undefined;
  const body = bodyLength(b.subarray(8, 8 + metaLen));
  return body === undefined ? undefined : 8 + metaLen + body;
}

/** Message.bodyLength (field 3, int64) of a flatbuffer IPC Message, read without a library. */
function bodyLength(meta: Uint8Array): number | undefined {
  if (meta.byteLength < 8) return undefined;
  const v = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const table = v.getUint32(0, true);
  if (table + 4 > meta.byteLength) return undefined;
  const vtable = table - v.getInt32(table, true);
  if (vtable < 0 || vtable + 4 > meta.byteLength) return undefined;
  const vtLen = v.getUint16(vtable, true);
  const field = 4 + 2 * 3;
  if (field + 2 > vtLen) return 0;
  const off = v.getUint16(vtable + field, true);
  if (off === 0) return 0;
  if (table + off + 8 > meta.byteLength) return undefined;
  return Number(v.getBigInt64(table + off, true));
}

async function listFiles(dir: string, rel = '', depth = 0, unsafe: string[] = []): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory() && depth < 3) out.push(...(await listFiles(dir, r, depth + 1, unsafe)));
    else if (e.isFile()) {
      if (safeRelativePath(r)) out.push(r);
      else unsafe.push(r); // the collector would refuse it: said in publish.json instead
    }
  }
  return out.sort();
}

async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < b.byteLength) {
      const { bytesRead } = await fh.read(b, got, b.byteLength - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return b.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** A message with what to record once it is acknowledged. */
export interface Pending extends OutMessage {
  commit(state: PublishState): void;
}

export class RunFollower {
  readonly run: string;
  state: PublishState;
  /** Bytes on disk not yet acknowledged, as of the last scan. */
  pendingBytes = 0;
  /** Flush time of the oldest bytes not yet acknowledged (0: none). */
  oldestPendingAt = 0;
  private modes = new Map<string, Mode>();

  constructor(
    readonly dir: string,
    readonly prefix: string,
    readonly stream: string,
  ) {
    this.run = subjectToken(basename(dir));
    this.state = RunFollower.load(dir) ?? {
      format: 'daq-publish/1',
      run: this.run,
      uid: randomBytes(6).toString('hex'),
      prefix,
      stream,
      pid: process.pid,
      files: {},
      snapshots: {},
      complete: false,
      messages: 0,
      bytes: 0,
      updatedAt: new Date().toISOString(),
    };
    this.state.pid = process.pid;
    this.state.complete = false;
    this.state.uid ??= randomBytes(6).toString('hex');
    for (const [f, m] of Object.entries(this.state.modes ?? {})) this.modes.set(f, m as Mode);
  }

  /** publish.json of a run: undefined when absent; 'unreadable' when damaged (published again from the start). */
  static load(dir: string): PublishState | undefined;
  static load(dir: string, orUnreadable: true): PublishState | 'unreadable' | undefined;
  static load(dir: string, orUnreadable = false): PublishState | 'unreadable' | undefined {
    const p = join(dir, STATE_FILE);
    if (!existsSync(p)) return undefined;
    try {
      const s = JSON.parse(readFileSync(p, 'utf8')) as PublishState;
      if (s.format === 'daq-publish/1') return s;
    } catch {
      // fall through
    }
    return orUnreadable ? 'unreadable' : undefined;
  }

  private saving: Promise<void> = Promise.resolve();
  private saves = 0;

  /** Writes publish.json atomically; saves run one at a time, each through its own temporary file. */
  save(): Promise<void> {
    this.saving = this.saving.then(async () => {
      this.state.updatedAt = new Date().toISOString();
      this.state.modes = Object.fromEntries(this.modes);
      const tmp = join(this.dir, `.${STATE_FILE}.${process.pid}.${++this.saves}.tmp`);
      try {
        await writeFile(tmp, `${JSON.stringify(this.state, null, 2)}\n`);
        await rename(tmp, join(this.dir, STATE_FILE));
      } catch {
        await rm(tmp, { force: true }).catch(() => undefined);
      }
    });
    return this.saving;
  }

  private msg(
    kind: Kind,
    file: string,
    position: number,
    payload: Uint8Array,
    flushedAt: number,
    commit: (s: PublishState) => void,
  ): Pending {
    return {
      subject: subjectOf(this.prefix, this.run, kind),
      kind,
      file,
      position,
      payload,
      msgId: msgIdOf(this.prefix, this.run, this.state.uid, kind, file, position, payload.byteLength),
      runUid: this.state.uid,
      flushedAt,
      commit,
    };
  }

  /**
   * The messages for what is on disk and not yet acknowledged, in order per file, at most
   * `maxBytes` of payload (the rest comes next pass). `final`: the run is over, so files
   * written whole at its end and the frame list are included.
   */
  async scan(final: boolean, maxChunk: number, maxBytes = 64 * 1024 * 1024): Promise<Pending[]> {
    const out: Pending[] = [];
    let budget = maxBytes;
    let pendingBytes = 0;
    let oldest = 0;
    const frames: { file: string; bytes: number }[] = [];
    let framesAt = 0;
    const unsafe: string[] = [];
    const files = await listFiles(this.dir, '', 0, unsafe);
    if (unsafe.length > 0) this.state.skipped = unsafe;
    for (const rel of files) {
      let mode = this.modes.get(rel) ?? modeOf(rel);
      if (mode === 'skip') continue;
      const path = join(this.dir, rel);
      let st;
      try {
        st = await stat(path);
      } catch {
        continue;
      }
      const at = st.mtimeMs;
      if (mode === 'frames') {
        frames.push({ file: rel, bytes: st.size });
        framesAt = Math.max(framesAt, at);
        continue;
      }
      if (mode === 'json') {
        const bytes = await readRange(path, 0, st.size).catch(() => undefined);
        if (!bytes) continue;
        const hash = createHash('sha1').update(bytes).digest('hex');
        const prev = this.state.snapshots[rel];
        if (prev?.hash === hash) continue;
        // run.json is rewritten every second while a run lasts: a new version at most every
        // JSON_INTERVAL_MS (versions are publishing times), and the last one at the end.
        if (!final && prev && Date.now() - prev.version < JSON_INTERVAL_MS) continue;
        // Mid-write by a non-atomic writer: next pass; at the end, as it is (the copy equals the file).
        if (!final && bytes.byteLength > 0 && !isJson(bytes)) continue;
        pendingBytes += bytes.byteLength;
        oldest = oldest === 0 ? at : Math.min(oldest, at);
        if (budget <= 0) continue;
        const version = Math.max((prev?.version ?? 0) + 1, Date.now());
        out.push(this.msg('json', rel, version, bytes, at, (s) => (s.snapshots[rel] = { version, hash })));
        budget -= bytes.byteLength;
        continue;
      }
      const done = this.state.files[rel] ?? 0;
      if (st.size === 0 && final && !(rel in this.state.files)) {
        // An empty file is part of the run as written too: one empty piece creates it.
        out.push(this.msg('file', rel, 0, new Uint8Array(0), at, (s) => (s.files[rel] ??= 0)));
        continue;
      }
      if (st.size <= done) continue;
      if (mode === 'ipc' && done === 0) {
        const head = await readRange(path, 0, Math.min(6, st.size));
        if (head.byteLength < 6 && !final) continue;
        mode = head.toString('latin1') === 'ARROW1' || head.byteLength < 6 ? 'whole' : 'ipc';
        this.modes.set(rel, mode);
      }
      pendingBytes += st.size - done;
      oldest = oldest === 0 ? at : Math.min(oldest, at);
      if (mode === 'whole' && !final) continue;
      if (budget <= 0) continue;
      const end = Math.min(st.size, done + READ_LIMIT);
      let bytes = await readRange(path, done, end);
      let usable = bytes.byteLength;
      if (mode === 'lines') usable = bytes.lastIndexOf(0x0a) + 1;
      else if (mode === 'ipc') {
        usable = wholeIpcPrefix(bytes);
        // One message larger than a read: read all of it once it is on disk, so every piece
        // still ends on a message boundary (it goes out in raw pieces; the collector joins them).
        const whole = usable === 0 ? firstMessageLength(bytes) : undefined;
        if (whole !== undefined && whole > bytes.byteLength && whole <= MAX_MESSAGE && done + whole <= st.size) {
          bytes = await readRange(path, done, done + whole);
          usable = bytes.byteLength;
        }
      }
      // The run is over and nobody writes any more: a tail that is not a whole message or line
      // (a process killed mid-write) is published as it is, so the copy equals the file.
      if (final && usable === 0 && done + bytes.byteLength === st.size) {
        for (const [a, b] of pieces(bytes, false, maxChunk)) {
          const endAt = done + b;
          out.push(
            this.msg('file', rel, done + a, bytes.subarray(a, b), at, (s) => (s.files[rel] = Math.max(s.files[rel] ?? 0, endAt))),
          );
        }
        budget -= bytes.byteLength;
        continue;
      }
      if (usable <= 0) continue;
      budget -= usable;
      if (mode === 'lines') {
        let o = 0;
        while (o < usable) {
          const nl = bytes.indexOf(0x0a, o);
          const line = bytes.subarray(o, nl + 1);
          const endAt = done + nl + 1;
          const commit = (s: PublishState) => (s.files[rel] = Math.max(s.files[rel] ?? 0, endAt));
          if (line.byteLength <= maxChunk) out.push(this.msg('doc', rel, done + o, line, at, commit));
          else {
            // A document larger than a message (a huge descriptor): its bytes as raw pieces;
            // the file is whole at the collector, the document is not on the doc subject.
            const parts = pieces(line, false, maxChunk);
            parts.forEach(([a, b], i) =>
              out.push(
                this.msg('file', rel, done + o + a, line.subarray(a, b), at, i === parts.length - 1 ? commit : () => undefined),
              ),
            );
          }
          o = nl + 1;
        }
      } else {
        const kind: Kind = mode === 'ipc' ? 'arrow' : 'file';
        for (const [a, b, to] of pieces(bytes.subarray(0, usable), mode === 'ipc', maxChunk)) {
          const endAt = done + to;
          out.push(
            this.msg(kind, rel, done + a, bytes.subarray(a, b), at, (s) => (s.files[rel] = Math.max(s.files[rel] ?? 0, endAt))),
          );
        }
      }
    }
    if (final && frames.length > 0) {
      const body = Buffer.from(
        `${JSON.stringify({ note: 'frame files kept on the acquisition host', files: frames }, null, 2)}\n`,
      );
      const hash = createHash('sha1').update(body).digest('hex');
      const prev = this.state.snapshots[REMOTE_FILES];
      if (prev?.hash !== hash) {
        const version = Math.max((prev?.version ?? 0) + 1, Date.now());
        out.push(this.msg('json', REMOTE_FILES, version, body, framesAt, (s) => (s.snapshots[REMOTE_FILES] = { version, hash })));
        pendingBytes += body.byteLength;
      }
    }
    this.pendingBytes = pendingBytes;
    this.oldestPendingAt = oldest;
    return out;
  }
}

function isJson(b: Buffer): boolean {
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Cuts `bytes` into pieces of at most `max` bytes: at IPC message boundaries when `ipc` (a
 * message larger than `max` is cut raw; the collector joins pieces by offset either way).
 * Each piece comes with how far its acknowledgement lets the file's offset advance: to the
 * last message boundary it reaches, so a file is never resumed from inside a message.
 */
function pieces(bytes: Uint8Array, ipc: boolean, max: number): [start: number, end: number, commitTo: number][] {
  const out: [number, number, number][] = [];
  if (!ipc) {
    for (let a = 0; a < bytes.byteLength; a += max) {
      const b = Math.min(bytes.byteLength, a + max);
      out.push([a, b, b]);
    }
    return out;
  }
  const bounds: number[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  while (o + 8 <= bytes.byteLength) {
    const metaLen = v.getInt32(o + 4, true);
    const next = metaLen === 0 ? o + 8 : o + 8 + metaLen + (bodyLength(bytes.subarray(o + 8, o + 8 + metaLen)) ?? 0);
    if (next <= o || next >= bytes.byteLength) break; // the last (or a cut) message ends with the bytes
    bounds.push(next);
    o = next;
  }
  bounds.push(bytes.byteLength);
  const reached = (b: number) => bounds.filter((x) => x <= b).at(-1) ?? 0;
  let start = 0;
  let prev = 0;
  for (const b of bounds) {
    if (b - start > max && prev > start) {
      out.push([start, prev, prev]);
      start = prev;
    }
    while (b - start > max) {
      out.push([start, start + max, reached(start + max)]);
      start += max;
    }
    prev = b;
  }
  if (start < bytes.byteLength) out.push([start, bytes.byteLength, bytes.byteLength]);
  return out;
}
