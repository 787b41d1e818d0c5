// One FIFO queue per VISA resource, one command in flight per session, a timeout per
// command, each reply routed to its caller. After a timeout or error the session is cleared
// before the next command, so nobody ever receives another command's (late) reply.

import { DaqError, parseVisaResource, type VisaResource } from '@daq/core';
import { ownedBy } from '../owner.js';
import { LatencyHistogram, type Distribution } from '../latency-histogram.js';
import type { VisaBackend, VisaSession } from './backend.js';

export interface VisaResourceOptions {
  readTermination: string;
  writeTermination: string;
  timeoutMs: number;
}

export interface VisaCallOptions {
  /** `worker:instrument`, e.g. `v4:scpi_meter`. */
  owner: string;
  timeoutMs?: number;
}

/** The commands available inside `transaction()`: the session is held for the whole function. */
export interface VisaTransaction {
  query(command: string, timeoutMs?: number): Promise<string>;
  write(command: string, timeoutMs?: number): Promise<void>;
  read(timeoutMs?: number): Promise<string>;
}

export interface VisaStats {
  resource: string;
  backend: string | null;
  commands: number;
  transactions: number;
  perOwner: Record<string, number>;
  timeouts: number;
  errors: number;
  clears: number;
  queueHighWater: number;
  latencyMs: Distribution;
  queueWaitMs: Distribution;
}

interface Job {
  owner: string;
  /** The command, or "transaction", for error reports (a queryMany names the command it is at). */
  label: string;
  kind: 'command' | 'transaction';
  /** Commands this job sends (a queryMany sends several), for the counts. */
  count: number;
  timeoutMs: number;
  enqueuedAt: number;
  run(session: VisaSession, deadline: number, job: Job): Promise<unknown>;
  resolve(value: unknown): void;
  reject(err: Error): void;
  queueTimer: NodeJS.Timeout;
}

interface Entry {
  resource: VisaResource;
  options: VisaResourceOptions;
  session: VisaSession | undefined;
  backend: VisaBackend | undefined;
  queue: Job[];
  inFlight: Job | undefined;
  running: boolean;
  stats: Omit<VisaStats, 'latencyMs' | 'queueWaitMs' | 'resource' | 'backend'>;
  latency: LatencyHistogram;
  queueWait: LatencyHistogram;
}

export interface VisaSessionManagerOptions {
  backends: VisaBackend[];
  defaultTimeoutMs?: number;
  /** Longest a command may wait in its resource's queue before failing (default 60 s). */
  queueTimeoutMs?: number;
}

const isTimeout = (e: unknown) => e instanceof DaqError && (e.code === 'DAQ_VISA_TIMEOUT' || e.code === 'DAQ_READ_TIMEOUT');

export class VisaSessionManager implements AsyncDisposable {
  private readonly entries = new Map<string, Entry>();
  private readonly backends: VisaBackend[];
  private readonly defaultTimeoutMs: number;
  private readonly queueTimeoutMs: number;
  private closed = false;

  constructor(options: VisaSessionManagerOptions) {
    this.backends = options.backends;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 2000;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 60_000;
  }

  /** Declares a resource (from the configuration); returns its canonical name. */
  register(resource: string, options: Partial<VisaResourceOptions> = {}): string {
    const parsed = parseVisaResource(resource);
    const key = parsed.canonical;
    if (!this.entries.has(key)) {
      this.entries.set(key, {
        resource: parsed,
        options: { readTermination: '\n', writeTermination: '\n', timeoutMs: this.defaultTimeoutMs, ...options },
        session: undefined,
        backend: this.backends.find((b) => b.supports(parsed)),
        queue: [],
        inFlight: undefined,
        running: false,
        stats: { commands: 0, transactions: 0, perOwner: {}, timeouts: 0, errors: 0, clears: 0, queueHighWater: 0 },
        latency: new LatencyHistogram(),
        queueWait: new LatencyHistogram(),
      });
    }
    return key;
  }

  get resources(): string[] {
    return [...this.entries.keys()];
  }

  query(resource: string, command: string, options: VisaCallOptions): Promise<string> {
    const bad = badCommand(command, resource);
    if (bad) return Promise.reject(bad);
    return this.enqueue(resource, options, 'command', command, async (session, deadline) => {
      await session.write(command, remaining(deadline));
      return session.read(remaining(deadline));
    }) as Promise<string>;
  }

  /**
   * Several queries as one job of the queue: pipelined where the session can (a raw socket:
   * one write, replies read in order), else one write and read at a time. Each reply gets the
   * command's timeout, counted from the reply before it. The first failure fails the call and
   * names the command; the session is then cleared like after any failed command, so a late
   * reply never reaches anyone.
   */
  queryMany(resource: string, commands: readonly string[], options: VisaCallOptions): Promise<string[]> {
    if (!Array.isArray(commands) || commands.length === 0)
      return Promise.reject(
        new DaqError('DAQ_INVALID_ARGUMENT', `queryMany needs a non-empty list of commands, got ${JSON.stringify(commands)}`, {
          resource,
        }),
      );
    for (const c of commands) {
      const bad = badCommand(c, resource);
      if (bad) return Promise.reject(bad);
    }
    const n = commands.length;
    const at = (i: number, received: number) =>
      `${commands[i]} (command ${i + 1} of ${n} in one queryMany; ${received} ${received === 1 ? 'reply' : 'replies'} received)`;
    const run = async (session: VisaSession, _deadline: number, job: Job): Promise<string[]> => {
      const replies: string[] = [];
      const t = job.timeoutMs;
      if (session.writeMany) {
        await session.writeMany(commands, t);
        for (let i = 0; i < n; i++) {
          job.label = at(i, i);
          replies.push(await session.read(t));
        }
      } else {
        for (let i = 0; i < n; i++) {
          job.label = at(i, i);
          await session.write(commands[i]!, t);
          replies.push(await session.read(t));
        }
      }
      return replies;
    };
    return this.enqueue(resource, options, 'command', at(0, 0), run, n) as Promise<string[]>;
  }

  write(resource: string, command: string, options: VisaCallOptions): Promise<void> {
    const bad = badCommand(command, resource);
    if (bad) return Promise.reject(bad);
    return this.enqueue(resource, options, 'command', command, (session, deadline) =>
      session.write(command, remaining(deadline)),
    ) as Promise<void>;
  }

  /** Holds the session for several commands (like viLock); `timeoutMs` bounds the whole function. */
  transaction<T>(resource: string, options: VisaCallOptions, fn: (tx: VisaTransaction) => Promise<T>): Promise<T> {
    return this.enqueue(resource, options, 'transaction', 'transaction', async (session, deadline) => {
      let open = true;
      const budget = (t?: number) => {
        if (!open)
          throw new DaqError('DAQ_VISA_ERROR', `transaction on ${resource} has ended; commands must be awaited inside it`, {
            resource,
          });
        return Math.min(t ?? Infinity, remaining(deadline));
      };
      const checked = (command: string) => {
        const bad = badCommand(command, resource);
        if (bad) throw bad;
        return command;
      };
      const tx: VisaTransaction = {
        query: async (command, t) => {
          await session.write(checked(command), budget(t));
          return session.read(budget(t));
        },
        write: async (command, t) => session.write(checked(command), budget(t)),
        read: (t) => session.read(budget(t)),
      };
      try {
        return await fn(tx);
      } finally {
        open = false;
      }
    }) as Promise<T>;
  }

  private enqueue(
    resource: string,
    options: VisaCallOptions,
    kind: Job['kind'],
    label: string,
    run: Job['run'],
    count = 1,
  ): Promise<unknown> {
    try {
      if (this.closed)
        throw new DaqError('DAQ_CLOSED', `the VISA session manager is closed; cannot use ${resource}`, { resource });
      if (typeof options?.owner !== 'string' || options.owner === '') {
        throw new DaqError(
          'DAQ_INVALID_ARGUMENT',
          `a VISA call needs an owner such as "v4:scpi_meter", got ${JSON.stringify(options?.owner)}`,
          { resource },
        );
      }
      const t = options.timeoutMs;
      if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0)) {
        throw new DaqError(
          'DAQ_INVALID_ARGUMENT',
          `timeoutMs must be a positive number of milliseconds, got ${JSON.stringify(t)}`,
          { resource },
        );
      }
      const entry = this.entry(resource);
      return new Promise((resolve, reject) => {
        const job: Job = {
          owner: options.owner,
          label,
          kind,
          count,
          timeoutMs: t ?? entry.options.timeoutMs,
          enqueuedAt: performance.now(),
          run,
          resolve,
          reject,
          queueTimer: setTimeout(() => {
            const i = entry.queue.indexOf(job);
            if (i < 0) return;
            entry.queue.splice(i, 1);
            entry.stats.timeouts++;
            reject(
              new DaqError(
                'DAQ_VISA_TIMEOUT',
                `${options.owner}'s command waited ${this.queueTimeoutMs} ms in the queue of ${entry.resource.canonical} (position ${i + 1}) without running: the resource is overloaded or a transaction is stuck`,
                {
                  resource: entry.resource.canonical,
                  owner: options.owner,
                },
              ),
            );
          }, this.queueTimeoutMs),
        };
        entry.queue.push(job);
        entry.stats.queueHighWater = Math.max(entry.stats.queueHighWater, entry.queue.length);
        void this.run(entry);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private entry(resource: string): Entry {
    let key: string;
    try {
      key = parseVisaResource(resource).canonical;
    } catch (e) {
      throw new DaqError('DAQ_INVALID_ARGUMENT', (e as Error).message, { resource: String(resource) });
    }
    const entry = this.entries.get(key);
    if (!entry) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `VISA resource ${key} is not configured (configured: ${this.resources.join(', ') || 'none'})`,
        { resource: key },
      );
    }
    return entry;
  }

  private async session(entry: Entry): Promise<VisaSession> {
    if (entry.session) return entry.session;
    if (!entry.backend) {
      throw new DaqError(
        'DAQ_VISA_ERROR',
        `no VISA backend can open ${entry.resource.canonical}: INSTR resources over TCPIP, GPIB and USB need [broker] visa_library (NI-VISA, Keysight or R&S VISA)`,
        {
          resource: entry.resource.canonical,
        },
      );
    }
    entry.session = await entry.backend.open(entry.resource, { ...entry.options, owner: 'broker' });
    return entry.session;
  }

  /** Runs the queue of one resource, one job at a time, until it is empty. */
  private async run(entry: Entry): Promise<void> {
    if (entry.running) return;
    entry.running = true;
    try {
      for (let job = entry.queue.shift(); job; job = entry.queue.shift()) {
        clearTimeout(job.queueTimer);
        entry.inFlight = job;
        entry.queueWait.recordMs(performance.now() - job.enqueuedAt);
        await this.execute(entry, job);
        entry.inFlight = undefined;
      }
    } finally {
      entry.running = false;
    }
  }

  private async execute(entry: Entry, job: Job): Promise<void> {
    const started = performance.now();
    const deadline = started + job.timeoutMs;
    const s = entry.stats;
    if (job.kind === 'command') s.commands += job.count;
    else s.transactions++;
    s.perOwner[job.owner] = (s.perOwner[job.owner] ?? 0) + job.count;
    let session: VisaSession;
    try {
      session = await this.session(entry);
    } catch (e) {
      s.errors++;
      job.reject(e as Error);
      return;
    }
    let began = false;
    try {
      await session.begin?.(job.owner, job.timeoutMs);
      began = true;
      const result = await job.run(session, deadline, job);
      entry.latency.recordMs(performance.now() - started);
      // Hand the reply back after the next queued command has been written: the session
      // is the bottleneck, so its next write must not wait behind this caller's reply path.
      setImmediate(() => job.resolve(result));
    } catch (e) {
      if (isTimeout(e)) s.timeouts++;
      else s.errors++;
      const facts = { resource: entry.resource.canonical, owner: job.owner, command: job.label, timeoutMs: job.timeoutMs };
      let err: DaqError;
      if (isTimeout(e)) {
        // The backend knows only the time left for its own step; say the command's timeout.
        const detail = (e as DaqError).message;
        err = new DaqError(
          'DAQ_VISA_TIMEOUT',
          `${job.label} from ${job.owner} timed out after ${job.timeoutMs} ms on ${entry.resource.canonical}: ${detail}`,
          { ...(e as DaqError<'DAQ_VISA_TIMEOUT'>).facts, ...facts },
          { cause: e },
        );
      } else if (e instanceof DaqError) {
        err = e;
        Object.assign(err.facts, facts); // whose command failed, so a log line alone is enough
      } else {
        err = new DaqError(
          'DAQ_VISA_ERROR',
          `${job.label} from ${job.owner} failed on ${entry.resource.canonical}: ${String(e)}`,
          facts,
          { cause: e },
        );
      }
      job.reject(err);
      // A timed-out command may still answer: clear before anyone else uses the session.
      if (began) {
        s.clears++;
        await session.clear().catch(() => undefined);
      }
    } finally {
      if (began) await session.end?.().catch(() => undefined);
    }
  }

  /** Fails every queued command of `owner` (a worker that exited); returns how many. */
  failOwner(owner: string, reason = `${owner} is gone`): number {
    let failed = 0;
    for (const entry of this.entries.values()) {
      for (const job of entry.queue.filter((j) => ownedBy(j.owner, owner))) {
        entry.queue.splice(entry.queue.indexOf(job), 1);
        clearTimeout(job.queueTimer);
        job.reject(
          new DaqError('DAQ_WORKER', `queued command of ${job.owner} on ${entry.resource.canonical} failed: ${reason}`, {
            resource: entry.resource.canonical,
            owner: job.owner,
          }),
        );
        failed++;
      }
    }
    return failed;
  }

  stats(resource: string): VisaStats {
    const e = this.entry(resource);
    return {
      resource: e.resource.canonical,
      backend: e.backend?.name ?? null,
      ...e.stats,
      perOwner: { ...e.stats.perOwner },
      latencyMs: e.latency.summary(),
      queueWaitMs: e.queueWait.summary(),
    };
  }

  status(): { resource: string; backend: string | null; open: boolean; inFlight: string | null; queued: string[] }[] {
    return [...this.entries.values()].map((e) => ({
      resource: e.resource.canonical,
      backend: e.backend?.name ?? null,
      open: e.session !== undefined,
      inFlight: e.inFlight?.owner ?? null,
      queued: e.queue.map((j) => j.owner),
    }));
  }

  /** Commands queued or in flight, across all resources (for leak checks). */
  get pending(): number {
    return [...this.entries.values()].reduce((n, e) => n + e.queue.length + (e.inFlight ? 1 : 0), 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries.values()) {
      for (const job of e.queue.splice(0)) {
        clearTimeout(job.queueTimer);
        job.reject(
          new DaqError(
            'DAQ_CLOSED',
            `the VISA session manager closed before ${job.owner}'s command on ${e.resource.canonical} ran`,
            { resource: e.resource.canonical },
          ),
        );
      }
    }
    // Let in-flight commands finish (each is bounded by its timeout), then close sessions.
    while ([...this.entries.values()].some((e) => e.running)) await new Promise((r) => setTimeout(r, 5));
    await Promise.all([...this.entries.values()].map((e) => e.session?.close().catch(() => undefined)));
    await Promise.all(this.backends.map((b) => b.close().catch(() => undefined)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function remaining(deadline: number): number {
  return Math.max(1, Math.ceil(deadline - performance.now()));
}

function badCommand(command: unknown, resource: string): DaqError | undefined {
  if (typeof command !== 'string' || command.length === 0) {
    return new DaqError('DAQ_INVALID_ARGUMENT', `a VISA command must be a non-empty string, got ${JSON.stringify(command)}`, {
      resource,
    });
  }
  return undefined;
}
