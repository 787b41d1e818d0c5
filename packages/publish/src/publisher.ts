// The publisher: runs in a worker thread of its own (worker.ts), so nothing it waits for (a
// slow or absent server) can stall the acquisition. It follows the live run directory and any
// earlier run under data_dir that was not fully published (publish.json says how far each got),
// publishes with JetStream acknowledgements and message ids, and reports its state and lag.

import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DaqError, type PublishSettings } from '@daq/core';
import { RunFollower, type Pending } from './follower.js';
import type { PublishTransport } from './transport.js';

export type PublisherState = 'connecting' | 'connected' | 'unreachable' | 'auth-failed' | 'refused' | 'closed';

export interface PublisherStatus {
  state: PublisherState;
  servers: string[];
  /** The server connected to now. */
  server?: string;
  stream: string;
  /** Subjects of this host: <prefix>.<run>.<kind>. */
  prefix: string;
  /** Messages acknowledged by the stream (duplicates included: the stream had them already). */
  acked: number;
  duplicates: number;
  /** Publish attempts that failed (each retried later). */
  failed: number;
  bytes: number;
  /** Seconds from a flush to disk to its acknowledgement: the last one and the median of the last 200. */
  lagS?: number;
  medianLagS?: number;
  /** Seconds since the oldest flushed bytes that are not acknowledged yet (0: caught up). */
  behindS: number;
  /** Bytes on disk not acknowledged yet (the live run and the runs being caught up). */
  pendingBytes: number;
  /** The live run: its token in the subjects and whether every file is acknowledged after its end. */
  live?: { run: string; complete: boolean };
  /** Earlier runs under data_dir being published now (e.g. made while the server was down). */
  catchUp: { runs: number; completed: number };
  disconnects: number;
  errors: number;
  /** The publisher thread's scheduling (nice value), as applied. */
  scheduling?: string;
  /** The last error, with its code and when (ISO time); cleared by the next success. */
  error?: { code: string; message: string; at: string };
}

export interface PublisherOptions {
  settings: PublishSettings;
  transport: PublishTransport;
  /** The run being acquired now (followed until finish()). */
  live?: string;
  /** Where earlier runs are looked for (publish.json not complete). */
  dataDir?: string;
  /** How often the files are looked at when idle (default 200 ms). */
  pollMs?: number;
  /** Per-message acknowledgement timeout (default 5 s). */
  ackTimeoutMs?: number;
}

interface Followed {
  follower: RunFollower;
  final: boolean;
  retryAt: number;
  failures: number;
  complete: boolean;
}

export class Publisher {
  private state: PublisherState = 'connecting';
  private connected = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private live: Followed | undefined;
  private catchUp = new Map<string, Followed>();
  private completedCatchUp = 0;
  private counts = { acked: 0, duplicates: 0, failed: 0, bytes: 0, disconnects: 0, errors: 0 };
  private lags: number[] = [];
  private lastLag: number | undefined;
  private error: PublisherStatus['error'];
  private wake: (() => void) | undefined;
  private finishWaiters: (() => void)[] = [];
  private lastDiscovery = 0;
  /** Runs under data_dir found complete: not looked at again. */
  private settled = new Set<string>();
  private lastSave = 0;

  constructor(private readonly o: PublisherOptions) {
    if (o.live) this.live = this.followed(o.live, false);
    o.transport.onEvent((e) => {
      if (e.type === 'disconnect') {
        this.counts.disconnects++;
        this.connectedState(false);
      } else if (e.type === 'reconnect') this.connectedState(true);
      else if (e.type === 'close' && !this.closed) {
        // The client gave up (e.g. credentials refused on reconnect): connect again from scratch.
        this.connectedState(false);
        this.connected = false;
        this.wake?.();
      }
    });
  }

  private connectedState(up: boolean): void {
    if (this.closed) return;
    if (up) {
      if (this.state === 'unreachable') this.state = 'connected';
    } else if (this.connected) {
      this.state = 'unreachable';
      this.fail(
        new DaqError(
          'DAQ_PUBLISH_UNREACHABLE',
          `lost the connection to the NATS server (${this.o.settings.servers.join(', ')}); reconnecting, the run is kept on disk meanwhile`,
          { servers: this.o.settings.servers.join(', ') },
        ),
      );
    }
  }

  private followed(dir: string, final: boolean): Followed {
    return {
      follower: new RunFollower(resolve(dir), this.o.settings.prefix, this.o.settings.stream),
      final,
      retryAt: 0,
      failures: 0,
      complete: false,
    };
  }

  start(): void {
    this.loop ??= this.run().catch((e) => {
      this.fail(e);
      this.state = 'closed';
    });
  }

  status(): PublisherStatus {
    const all = [...(this.live ? [this.live] : []), ...this.catchUp.values()];
    const pending = all.filter((f) => !f.complete);
    const oldest = Math.min(...pending.map((f) => f.follower.oldestPendingAt || Infinity));
    const sorted = [...this.lags].sort((a, b) => a - b);
    const s = this.o.settings;
    return {
      state: this.state,
      servers: s.servers,
      ...(this.o.transport.server ? { server: this.o.transport.server } : {}),
      stream: s.stream,
      prefix: s.prefix,
      ...this.counts,
      ...(this.lastLag !== undefined ? { lagS: round(this.lastLag / 1000) } : {}),
      ...(sorted.length ? { medianLagS: round(sorted[Math.floor(sorted.length / 2)]! / 1000) } : {}),
      behindS:
        Number.isFinite(oldest) && pending.some((f) => f.follower.pendingBytes > 0)
          ? round(Math.max(0, Date.now() - oldest) / 1000)
          : 0,
      pendingBytes: pending.reduce((n, f) => n + f.follower.pendingBytes, 0),
      ...(this.live ? { live: { run: this.live.follower.run, complete: this.live.complete } } : {}),
      catchUp: { runs: this.catchUp.size, completed: this.completedCatchUp },
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /**
   * The live run is over: publish what is left, including the files written whole at its end.
   * Resolves with the status once everything is acknowledged or `timeoutMs` has passed.
   * May be called again (e.g. after run.json was rewritten with the final state).
   */
  async finish(timeoutMs: number): Promise<PublisherStatus> {
    if (this.live) {
      this.live.final = true;
      this.live.complete = false;
      this.live.retryAt = 0;
      this.live.follower.state.complete = false;
      this.wake?.();
      let waiter!: () => void;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        waiter = r;
        this.finishWaiters.push(r);
        timer = setTimeout(r, timeoutMs);
      });
      clearTimeout(timer);
      this.finishWaiters = this.finishWaiters.filter((w) => w !== waiter);
      await this.live.follower.save();
    }
    return this.status();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.loop;
    for (const f of [this.live, ...this.catchUp.values()]) if (f) await f.follower.save();
    await this.o.transport.close();
    this.state = 'closed';
  }

  private fail(e: unknown): void {
    this.counts.errors++;
    const d = e instanceof DaqError ? e : undefined;
    this.error = {
      code: d?.code ?? 'DAQ_PUBLISH_UNREACHABLE',
      message: (e as Error)?.message ?? String(e),
      at: new Date().toISOString(),
    };
  }

  private async run(): Promise<void> {
    // publish.json from the start: a run made while the server is away is found and caught up later.
    await this.live?.follower.save();
    let backoff = 250;
    while (!this.closed) {
      if (!this.connected) {
        this.state = this.state === 'auth-failed' || this.state === 'unreachable' ? this.state : 'connecting';
        try {
          await this.o.transport.connect();
          this.connected = true;
          this.state = 'connected';
          this.error = undefined;
          backoff = 250;
        } catch (e) {
          this.fail(e);
          const code = (e as DaqError).code;
          this.state = code === 'DAQ_PUBLISH_AUTH' ? 'auth-failed' : code === 'DAQ_PUBLISH_REFUSED' ? 'refused' : 'unreachable';
          await this.idle(backoff);
          backoff = Math.min(backoff * 2, code === 'DAQ_PUBLISH_AUTH' ? 10_000 : 5_000);
          continue;
        }
      }
      await this.discover();
      let worked = false;
      for (const f of [this.live, ...this.catchUp.values()]) {
        if (!f || f.complete || this.closed) continue;
        if (f.retryAt > Date.now()) continue;
        try {
          worked = (await this.pass(f)) || worked;
          f.failures = 0;
        } catch (e) {
          this.fail(e);
          f.failures++;
          f.retryAt = Date.now() + Math.min(250 * 2 ** Math.min(f.failures, 5), 5_000);
          f.follower.state.lastError = (e as Error).message;
          if ((e as DaqError).code === 'DAQ_PUBLISH_REFUSED') this.state = 'refused';
          else if (this.state === 'connected') this.state = 'unreachable';
        }
      }
      for (const [dir, f] of this.catchUp)
        if (f.complete) {
          this.catchUp.delete(dir);
          this.completedCatchUp++;
        }
      if (!worked) await this.idle(this.o.pollMs ?? 200);
    }
  }

  private idle(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r();
      }
      this.wake = done;
    });
  }

  /** Earlier runs under data_dir whose publish.json is not complete and that no live daq publishes. */
  private async discover(): Promise<void> {
    const dataDir = this.o.dataDir;
    if (!dataDir || Date.now() - this.lastDiscovery < 30_000) return;
    this.lastDiscovery = Date.now();
    let names: string[];
    try {
      names = await readdir(dataDir);
    } catch {
      return;
    }
    const live = this.live ? this.live.follower.dir : undefined;
    for (const n of names) {
      const dir = resolve(join(dataDir, n));
      if (dir === live || this.catchUp.has(dir) || this.settled.has(dir)) continue;
      const s = RunFollower.load(dir, true);
      if (s === 'unreadable') {
        // Damaged (by hand, or a full disk): published again from the start; duplicates are harmless.
        this.catchUp.set(dir, this.followed(dir, true));
        continue;
      }
      if (s?.complete) this.settled.add(dir); // published: not read again
      if (!s || s.complete || s.prefix !== this.o.settings.prefix || s.stream !== this.o.settings.stream) continue;
      if (s.pid !== process.pid && alive(s.pid)) continue;
      this.catchUp.set(dir, this.followed(dir, true));
    }
  }

  /** One pass over a run: publishes what is new; true when anything was published. */
  private async pass(f: Followed): Promise<boolean> {
    const maxChunk = Math.max(4096, Math.min(this.o.transport.maxPayload - 4096, 1024 * 1024));
    const msgs = await f.follower.scan(f.final, maxChunk);
    if (msgs.length === 0) {
      if (f.final && !f.complete && f.follower.pendingBytes === 0) {
        f.complete = true;
        f.follower.state.complete = true;
        delete f.follower.state.lastError;
        await f.follower.save();
        if (f === this.live) for (const w of this.finishWaiters.splice(0)) w();
      }
      if (this.state !== 'connected' && this.connected && !this.closed) this.state = 'connected';
      return false;
    }
    const window = Math.max(1, this.o.settings.maxPending);
    // A file whose message fails is parked for this pass (nothing after the failure is
    // recorded for it); the other files go on, so one refused message does not hold up the run.
    const parked = new Set<string>();
    let firstError: unknown;
    try {
      for (let i = 0; i < msgs.length && !this.closed; i += window) {
        const part = msgs.slice(i, i + window).filter((m) => !parked.has(m.file));
        const results = await Promise.allSettled(part.map((m) => this.o.transport.publish(m, this.o.ackTimeoutMs ?? 5000)));
        for (let k = 0; k < part.length; k++) {
          const r = results[k]!;
          const m = part[k]!;
          if (r.status === 'rejected') {
            this.counts.failed++;
            if (!parked.has(m.file)) firstError ??= r.reason;
            parked.add(m.file);
          } else if (!parked.has(m.file)) this.acked(m, f, r.value.duplicate);
        }
        if (parked.size === 0) {
          this.error = undefined;
          if (this.state !== 'connected') this.state = 'connected';
        }
      }
    } finally {
      if (Date.now() - this.lastSave > 1000 || f.final) {
        this.lastSave = Date.now();
        await f.follower.save();
      }
    }
    if (firstError !== undefined) throw firstError;
    return true;
  }

  private acked(m: Pending, f: Followed, duplicate: boolean): void {
    m.commit(f.follower.state);
    f.follower.state.messages++;
    f.follower.state.bytes += m.payload.byteLength;
    this.counts.acked++;
    if (duplicate) this.counts.duplicates++;
    this.counts.bytes += m.payload.byteLength;
    if (f !== this.live) return; // a run caught up later would make the lag meaningless
    const lag = Math.max(0, Date.now() - m.flushedAt);
    this.lastLag = lag;
    this.lags.push(lag);
    if (this.lags.length > 200) this.lags.shift();
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
