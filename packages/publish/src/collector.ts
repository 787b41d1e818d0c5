// daq collect: a durable consumer that rebuilds every published run directory under
// <out>/<lab>/<host>/<run>/ exactly as the acquisition host wrote it. Pieces are written at their
// byte offset and JSON files only by a newer version, so a redelivered message changes nothing
// (idempotent); messages are acknowledged only after their bytes are fdatasync'd, so a
// collector killed at any moment resumes from the stream without a gap or a duplicate.

import { mkdirSync, existsSync, readFileSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { H_FILE, H_OFFSET, H_RUN, H_VERSION, parseSubject, safeRelativePath } from './protocol.js';
import type { CollectTransport, InMessage } from './transport.js';

export const COLLECT_STATE = '.collect.json';

export interface CollectorOptions {
  transport: CollectTransport;
  out: string;
  /** Messages per fetch (default 256). */
  batch?: number;
  /** Stop once nothing arrived for this long and the consumer has nothing pending (scripts, tests). */
  idleExitMs?: number;
  /** Progress and warnings (default: nothing). */
  log?: (line: string) => void;
}

export interface CollectorCounts {
  /** Messages received, including redeliveries. */
  received: number;
  /** Pieces and JSON versions written. */
  written: number;
  /** Redelivered messages (written again at the same place: no change). */
  redelivered: number;
  /** JSON versions older than what is on disk (ignored). */
  stale: number;
  /** Messages refused (not ours, or a path outside the run directory): terminated, never redelivered. */
  rejected: number;
  bytes: number;
  /** Run directories written to by this collector process. */
  runs: number;
}

interface RunState {
  /** The publisher's random id of the run written here (Daq-Run). */
  uid?: string;
  versions: Record<string, number>;
  dirty: boolean;
}

const MAX_OFFSET = 2 ** 44; // 16 TiB: anything larger is a corrupt header

export class Collector {
  readonly counts: CollectorCounts = { received: 0, written: 0, redelivered: 0, stale: 0, rejected: 0, bytes: 0, runs: 0 };
  private handles = new Map<string, { fh: FileHandle; used: number }>();
  private runs = new Map<string, RunState>();
  private tick = 0;
  /** Directories where files were created or renamed in this batch. */
  private newEntries = new Set<string>();

  constructor(private readonly o: CollectorOptions) {}

  /** Runs until `signal` aborts (or idleExitMs of quiet); returns the counts. */
  async run(signal: AbortSignal): Promise<CollectorCounts> {
    const log = this.o.log ?? (() => undefined);
    let quietSince = Date.now();
    let lastLog = Date.now();
    let fetchErrors = 0;
    try {
      while (!signal.aborted) {
        let msgs: InMessage[];
        try {
          msgs = await this.o.transport.fetch(this.o.batch ?? 256, 1000);
          fetchErrors = 0;
        } catch (e) {
          if (fetchErrors++ === 0) log(`daq collect: fetching failed (${(e as Error).message}); retrying`);
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        if (msgs.length > 0) {
          await this.handle(msgs);
          quietSince = Date.now();
        } else if (this.o.idleExitMs !== undefined && Date.now() - quietSince >= this.o.idleExitMs) {
          const pending = await this.o.transport.pending().catch(() => 1);
          if (pending === 0) break;
        }
        if (Date.now() - lastLog >= 5000) {
          lastLog = Date.now();
          log(this.line());
        }
      }
    } finally {
      for (const h of this.handles.values()) await h.fh.close().catch(() => undefined);
      this.handles.clear();
    }
    return this.counts;
  }

  line(): string {
    const c = this.counts;
    return `daq collect: ${c.received} messages (${c.redelivered} redelivered, ${c.stale} stale, ${c.rejected} rejected), ${c.bytes} bytes, ${c.runs} runs`;
  }

  /** Writes a batch, makes it durable, then acknowledges it. */
  async handle(msgs: InMessage[]): Promise<void> {
    this.tick++;
    const touched = new Set<FileHandle>();
    const done: InMessage[] = [];
    for (const m of msgs) {
      this.counts.received++;
      if (m.redelivered > 0) this.counts.redelivered++;
      let why: string | undefined;
      try {
        why = await this.write(m, touched);
      } catch (e) {
        // What one message asks cannot be done (a file where a directory is, a name too long):
        // refused, so it does not stop every other host's runs. Anything else (a full or
        // read-only disk) stops the collector, unacknowledged, for someone to look at.
        const code = (e as NodeJS.ErrnoException).code;
        if (!['ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EEXIST'].includes(code ?? '')) throw e;
        why = `cannot write it: ${(e as Error).message}`;
      }
      if (why) {
        this.counts.rejected++;
        this.o.log?.(`daq collect: refused message ${m.seq} on ${m.subject}: ${why}`);
        m.term();
      } else done.push(m);
    }
    for (const fh of touched) await fh.datasync();
    for (const [dir, st] of this.runs)
      if (st.dirty) {
        await writeAtomic(dir, COLLECT_STATE, `${JSON.stringify({ uid: st.uid, versions: st.versions }, null, 2)}\n`);
        this.newEntries.add(dir);
        st.dirty = false;
      }
    // New files and renames are durable once their directory is synced too.
    for (const dir of this.newEntries) {
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    }
    this.newEntries.clear();
    for (const m of done) m.ack();
    // Keep at most 64 files open: close those not written in the last few batches.
    if (this.handles.size > 64)
      for (const [p, h] of this.handles)
        if (h.used < this.tick - 2) {
          await h.fh.close();
          this.handles.delete(p);
        }
  }

  private runState(dir: string): RunState {
    let st = this.runs.get(dir);
    if (!st) {
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true });
        // The new run's directory (and its host's and lab's) must survive a power cut too.
        for (let d = dirname(dir), n = 0; n < 3 && d.length >= this.o.out.length; d = dirname(d), n++) this.newEntries.add(d);
      }
      let saved: { uid?: string; versions?: Record<string, number> } = {};
      const p = join(dir, COLLECT_STATE);
      if (existsSync(p))
        try {
          saved = JSON.parse(readFileSync(p, 'utf8')) as typeof saved;
        } catch {
          saved = {};
        }
      this.counts.runs++;
      st = { ...(saved.uid ? { uid: saved.uid } : {}), versions: saved.versions ?? {}, dirty: false };
      this.runs.set(dir, st);
    }
    return st;
  }

  /**
   * Where a run goes: <out>/<lab>/<host>/<run>, or <run>-<uid> when that place already holds
   * another run of the same name (two runs from one host in directories of the same name).
   */
  private runDir(lab: string, host: string, run: string, uid: string | undefined): string {
    const base = join(this.o.out, lab, host, run);
    if (!uid || !/^[0-9a-f]{6,32}$/.test(uid)) return base;
    const st = this.runState(base);
    if (st.uid === undefined) {
      st.uid = uid;
      st.dirty = true;
    }
    if (st.uid === uid) return base;
    const other = join(this.o.out, lab, host, `${run}-${uid}`);
    const ot = this.runState(other);
    if (ot.uid === undefined) {
      ot.uid = uid;
      ot.dirty = true;
    }
    return other;
  }

  /** Writes one message; returns why it was refused, or undefined. */
  private async write(m: InMessage, touched: Set<FileHandle>): Promise<string | undefined> {
    const s = parseSubject(m.subject);
    if ('error' in s) return s.error;
    const file = m.headers.get(H_FILE);
    if (!file || !safeRelativePath(file))
      return `header ${H_FILE} ${JSON.stringify(file)} is not a relative path inside a run directory`;
    const dir = this.runDir(s.lab, s.host, s.run, m.headers.get(H_RUN));
    if (s.kind === 'json') {
      const version = Number(m.headers.get(H_VERSION));
      if (!Number.isSafeInteger(version) || version < 0) return `header ${H_VERSION} is not a version number`;
      const st = this.runState(dir);
      if ((st.versions[file] ?? -1) >= version) {
        this.counts.stale++;
        return undefined;
      }
      const parts = file.split('/');
      if (parts.length > 1) mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
      await writeAtomic(dir, file, m.payload);
      this.newEntries.add(join(dir, ...file.split('/').slice(0, -1)));
      st.versions[file] = version;
      st.dirty = true;
      this.counts.written++;
      this.counts.bytes += m.payload.byteLength;
      return undefined;
    }
    const offset = Number(m.headers.get(H_OFFSET));
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_OFFSET) return `header ${H_OFFSET} is not a byte offset`;
    this.runState(dir);
    const path = join(dir, file);
    let h = this.handles.get(path);
    if (!h) {
      const parts = file.split('/');
      if (parts.length > 1) mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
      const exists = existsSync(path);
      h = { fh: await open(path, exists ? 'r+' : 'w+'), used: this.tick };
      if (!exists) this.newEntries.add(join(dir, ...parts.slice(0, -1)));
      this.handles.set(path, h);
    }
    h.used = this.tick;
    let o = 0;
    while (o < m.payload.byteLength) {
      const { bytesWritten } = await h.fh.write(m.payload, o, m.payload.byteLength - o, offset + o);
      o += bytesWritten;
    }
    touched.add(h.fh);
    this.counts.written++;
    this.counts.bytes += m.payload.byteLength;
    return undefined;
  }
}

async function writeAtomic(dir: string, file: string, body: Uint8Array | string): Promise<void> {
  const parts = file.split('/');
  const name = parts.pop()!;
  const base = join(dir, ...parts);
  const tmp = join(base, `.${name}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(body);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(base, name));
}
