// Benchmarks of `daq serve` (issue: the daemon), each on a daemon started as a child process
// (`node packages/broker/bin/daq.js serve CONFIG --listen 127.0.0.1:0`) so that the WebSocket
// clients, which run in this process and really decode what they receive, do not share the
// daemon's event loops (they do share the machine's cores, which is reported):
// - serve.overhead: rows per second into storage (acquisition.rows; acquisition.stored beside it)
//   with 0 and with 20 WebSocket clients subscribed to every channel, in rounds alternating the
//   two (ABBA) on one daemon, so drift is shared. The instruments (200 V2 MockPower, 4 V4 SCPI
//   meters) are polled at 1 kHz, more than the runtime keeps up with (it reaches about half),
//   so the rate is what it can do and whatever serving the clients costs the daemon shows up in
//   it. The 20 clients read every message (its Arrow metadata, row count and every value, as a
//   zero-copy reader would) in a process of their own under SCHED_IDLE (chrt), standing in for
//   clients on other machines: they use CPU time nothing else wants, so their own reading does
//   not compete with the daemon on this machine's two cores; they keep up (rows dropped for
//   them are counted and reported, as are their CPU and what each received). Each round gives a
//   ratio (rate with clients / rate without, in that round); value: the median of those ratios,
//   with their p10/p90 spread. Goal: under 5 % lower (>= 0.95, on the median).
// - serve.preview: previews per second one client gets of a simulated 2048x2048 camera at the
//   Prime BSI's full-frame rate (43 fps, every frame stored), asking for 30 Hz at most 512
//   pixels a side. Goal: >= 10 previews/s with 0 frames dropped (cameras[].dropped.total).
// - serve.latency: from a reading's timestamp (the `time` column) to its arrival at a WebSocket
//   client subscribed to every channel, on examples/demo.toml (the demo's instruments and rates).
//   Goal: p99 minus the configured batch interval (the longest a reading waits in its worker,
//   max of [v2] and [v4] batch_interval_ms) under 100 ms.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { tableFromIPC } from 'apache-arrow';
import WebSocket from 'ws';
import { loadConfig } from '@daq/core';
import { median, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';

const daqBin = fileURLToPath(new URL('../../packages/broker/bin/daq.js', import.meta.url));
const demoToml = fileURLToPath(new URL('../../examples/demo.toml', import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A time limit for Promise.race: it does not keep the process alive once the race is won. */
const limit = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

// ---------------------------------------------------------------------------------------------
// The daemon, as a child process.

interface Status {
  acquisition: {
    elapsedS: number;
    rows: Record<string, number>;
    stored: number;
    backlog: number;
    dropped: number;
    late: number;
  };
  subsystems: { name: string; instruments: { id: string; polls?: number; overruns?: number }[] }[];
  cameras: {
    id: string;
    acquired: number;
    stored: number;
    dropped: { atSource: number; ring: number; storage: number; total: number };
    previews?: Record<string, unknown>;
  }[];
  clients: { client: number; rowsSent: number; rowsDropped: number; previews: number; previewsSkipped: number }[];
  daemon: Record<string, number>;
}

interface Daemon {
  url: string;
  dir: string;
  /** Seconds from spawning to the "listening" line. */
  startSeconds: number;
  status(): Promise<Status>;
  /** CPU seconds (user + system, every thread) the daemon process used so far, from /proc; NaN elsewhere. */
  cpuSeconds(): number;
  stderr(): string;
  /**
   * SIGTERM, then resolves when the daemon says it has stopped (its run.json written) or exits;
   * the seconds that took. The process itself may linger a while after that line (`exited`).
   */
  stop(): Promise<number>;
  /** Resolves with the exit code, and the seconds from the "stopped" line to the exit. */
  exited: Promise<{ code: number | null; signal: string | null; lagSeconds: number }>;
  kill(): void;
}

async function startDaemon(config: string, out: string): Promise<Daemon> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [daqBin, 'serve', config, '--listen', '127.0.0.1:0', '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let stoppedAt: number | undefined;
  const lines: ((text: string) => void)[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr += s;
    if (stoppedAt === undefined && /daq serve: stopped;/.test(stderr)) stoppedAt = performance.now();
    for (const f of lines) f(stderr);
  });
  const exited = new Promise<{ code: number | null; signal: string | null; lagSeconds: number }>((resolve) =>
    child.once('exit', (code, signal) =>
      resolve({ code, signal, lagSeconds: stoppedAt === undefined ? NaN : (performance.now() - stoppedAt) / 1000 }),
    ),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daq serve did not listen within 60 s: ${stderr}`)), 60_000);
    lines.push((text) => {
      const m = /daq serve: listening on (http:\/\/\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`daq serve exited ${code} before listening: ${stderr}`));
    });
  });
  const startSeconds = (performance.now() - t0) / 1000;
  const ticks = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux
  return {
    url,
    dir: out,
    startSeconds,
    exited,
    async status() {
      const res = await fetch(new URL('api/status', url));
      if (!res.ok) throw new Error(`GET /api/status: ${res.status} ${await res.text()}`);
      return (await res.json()) as Status;
    },
    cpuSeconds() {
      try {
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) / ticks; // utime, stime (fields 14 and 15)
      } catch {
        return NaN;
      }
    },
    stderr: () => stderr,
    async stop() {
      const t = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const stopped = new Promise<void>((resolve) => {
        if (stoppedAt !== undefined) resolve();
        lines.push(() => stoppedAt !== undefined && resolve());
      });
      const done = await Promise.race([stopped, exited, limit(30_000).then(() => 'timeout' as const)]);
      if (done === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`daq serve did not stop within 30 s of SIGTERM: ${stderr.slice(-2000)}`);
      }
      return (performance.now() - t) / 1000;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket clients that do what a real one does with each message: decode it.

class Client {
  readonly ws: WebSocket;
  readonly open: Promise<void>;
  readonly closed: Promise<void>;
  /** Rows received, as the binary headers say, and as the decoded Arrow tables hold. */
  rows = 0;
  decodedRows = 0;
  batches = 0;
  /** Sum of every value decoded (so the decoding cannot be skipped). */
  checksum = 0;
  previews = 0;
  previewBytes = 0;
  previewAgesMs: number[] = [];
  badPreviews = 0;
  /** (arrival - reading time) per row in ms, with the row's channel, when asked for. */
  latencies: { key: string; ms: number }[] | undefined;
  errors: string[] = [];

  constructor(base: string, subscribe: Record<string, unknown>, o: { latencies?: boolean } = {}) {
    if (o.latencies) this.latencies = [];
    this.ws = new WebSocket(base.replace(/^http/, 'ws') + 'api/ws');
    this.ws.on('message', (data: Buffer, isBinary) => {
      const now = Date.now();
      if (!isBinary) {
        const m = JSON.parse(data.toString()) as { type: string; message?: string };
        if (m.type === 'error') this.errors.push(m.message ?? 'error');
        return;
      }
      const n = data.readUInt32LE(0);
      const header = JSON.parse(data.toString('utf8', 4, 4 + n)) as Record<string, unknown>;
      const payload = data.subarray(4 + n);
      if (header.type === 'scalars') {
        const t = tableFromIPC(payload);
        this.batches++;
        this.rows += header.rows as number;
        this.decodedRows += t.numRows;
        const value = t.getChild('value')!;
        for (const chunk of value.data) {
          const v = chunk.values as Float64Array;
          for (let i = 0; i < chunk.length; i++) this.checksum += v[chunk.offset + i]!;
        }
        if (this.latencies) {
          const time = t.getChild('time')!.toArray() as Float64Array;
          const key = t.getChild('key')!;
          for (let i = 0; i < time.length; i++) this.latencies.push({ key: key.get(i) as string, ms: now - time[i]! * 1000 });
        }
      } else if (header.type === 'preview') {
        const w = header.width as number;
        const h = header.height as number;
        if (payload.byteLength !== w * h * 2) this.badPreviews++;
        this.previews++;
        this.previewBytes += payload.byteLength;
        this.previewAgesMs.push(now - Number(BigInt(header.timestampNs as string) / 1_000_000n));
      }
    });
    this.open = new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => {
        this.ws.send(JSON.stringify({ op: 'subscribe', ...subscribe }));
        resolve();
      });
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === this.ws.CLOSED) return;
    this.ws.close(1000, 'bench done');
    await Promise.race([this.closed, limit(2000)]);
    if ((this.ws.readyState as number) !== this.ws.CLOSED) this.ws.terminate();
  }
}

/**
 * serve.overhead's clients, in a process of their own (serve-clients.ts) under SCHED_IDLE where
 * `chrt` is there (else at nice 19): they read every message but take only CPU time nothing
 * else wants, as clients on other machines would, so the figure is what serving them costs the
 * daemon rather than what their decoding takes from it on the same two cores.
 */
class ClientProcess {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly scheduling: string,
  ) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.lines.push(l);
    });
  }

  static async start(url: string, n: number, subscribe: Record<string, unknown>): Promise<ClientProcess> {
    const script = fileURLToPath(new URL('./serve-clients.js', import.meta.url));
    const args = [script, url, String(n), JSON.stringify(subscribe)];
    const idle = existsSync('/usr/bin/chrt');
    const child = idle
      ? spawn('/usr/bin/chrt', ['--idle', '0', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let scheduling = idle ? 'SCHED_IDLE (chrt --idle 0)' : 'nice 19';
    if (!idle)
      try {
        setPriority(child.pid!, 19);
      } catch (e) {
        scheduling = `default (nice 19 refused: ${(e as Error).message})`;
      }
    const cp = new ClientProcess(child, scheduling);
    const ready = await Promise.race([cp.next(), limit(30_000).then(() => 'timeout')]);
    if (ready !== 'ready') throw new Error(`the clients' process did not start: ${ready}`);
    return cp;
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  async report(): Promise<{ rows: number[]; decoded: number[]; errors: string[]; cpuSeconds: number }> {
    this.child.stdin!.write('report\n');
    return JSON.parse(await this.next()) as { rows: number[]; decoded: number[]; errors: string[]; cpuSeconds: number };
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.write('close\n');
    await Promise.race([exited, limit(5000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// serve.overhead

/** V2 MockPowers and V4 SCPI meters (each on its own simulator socket), all polled at `pollHz`. */
function overheadConfig(mocks: number, meters: number, pollHz: number): string {
  const lines = [
    '[application]',
    'name = "bench-serve-overhead"',
    'simulate = true',
    '[v2]',
    'storage = { flush_interval_ms = 100 }',
  ];
  for (let i = 0; i < mocks; i++)
    lines.push('[[v2.instruments]]', `id = "mock${i}"`, 'type = "MockPower"', `poll_hz = ${pollHz}`);
  lines.push('[v4]', 'storage = { flush_interval_ms = 100 }');
  for (let i = 0; i < meters; i++)
    lines.push(
      '[[v4.instruments]]',
      `id = "meter${i}"`,
      'type = "ScpiInstrument"',
      `resource = "TCPIP0::10.0.0.${i + 1}::5025::SOCKET"`,
      'poll_query = "MEAS:VOLT:DC?"',
      'unit = "V"',
      `poll_hz = ${pollHz}`,
    );
  return `${lines.join('\n')}\n`;
}

interface Window {
  clients: number;
  /** Rows into the broker (bound for storage) per second: the least-squares slope of `rows` over the daemon's elapsed time. */
  rowsRate: number;
  /** Rows stored per second, the same way (it trails `rows` by the merge's wait and a flush). */
  storedRate: number;
  /** Rows received and not yet stored, at the window's end. */
  backlog: number;
  /** The slowest GET /api/status of the window, in ms. */
  statusMsMax: number;
  seconds: number;
  daemonCpu: number;
  benchCpu: number;
  /** The clients' process, in cores (windows with clients). */
  clientsCpu?: number;
}

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
  }
  return sxy / sxx;
}

/** Samples the daemon's counts every `everyMs` for `seconds` and fits the rates. */
async function measureWindow(d: Daemon, clients: number, seconds: number, everyMs = 250): Promise<Window> {
  const t: number[] = [];
  const stored: number[] = [];
  const rows: number[] = [];
  let backlog = 0;
  let statusMsMax = 0;
  const cpu0 = d.cpuSeconds();
  const bench0 = process.cpuUsage();
  const wall0 = performance.now();
  const end = wall0 + seconds * 1000;
  for (let next = wall0; ; next += everyMs) {
    const asked = performance.now();
    const s = await d.status();
    statusMsMax = Math.max(statusMsMax, performance.now() - asked);
    t.push(s.acquisition.elapsedS);
    stored.push(s.acquisition.stored);
    rows.push(Object.values(s.acquisition.rows).reduce((a, b) => a + b, 0));
    backlog = s.acquisition.backlog;
    if (performance.now() >= end && t.length >= 3) break;
    await sleep(Math.max(0, next + everyMs - performance.now()));
  }
  const wall = (performance.now() - wall0) / 1000;
  const bench = process.cpuUsage(bench0);
  return {
    clients,
    storedRate: slope(t, stored),
    rowsRate: slope(t, rows),
    backlog,
    statusMsMax,
    seconds: t[t.length - 1]! - t[0]!,
    daemonCpu: (d.cpuSeconds() - cpu0) / wall,
    benchCpu: (bench.user + bench.system) / 1e6 / wall,
  };
}

/** What each figure says about its daemon's process: start, stop, and the wait for its exit. */
interface DaemonTimes {
  startSeconds: number;
  stopSeconds?: number;
  /** From its "stopped" line to the process's exit (NaN: killed once stopped, see run()). */
  exitLagSeconds?: number;
  exit?: string;
}

interface Figure {
  result: BenchResult;
  daemon: Daemon;
  times: DaemonTimes;
}

const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

async function overhead(ctx: BenchContext, dir: string, started: (d: Daemon) => void): Promise<Figure> {
  const CLIENTS = 20;
  const mocks = 200;
  const meters = 4;
  const pollHz = 1000;
  const rounds = ctx.quick ? 3 : 6;
  const windowS = ctx.quick ? 2 : 6;
  const settleMs = 800;
  const cfg = join(dir, 'overhead.toml');
  await writeFile(cfg, overheadConfig(mocks, meters, pollHz));
  const loadBefore = load();
  const d = await startDaemon(cfg, join(dir, 'overhead'));
  started(d);
  const times: DaemonTimes = { startSeconds: d.startSeconds };
  const without: Window[] = [];
  const withClients: Window[] = [];
  const perClient = { rate: [] as number[], received: [] as number[], sent: [] as number[], dropped: [] as number[] };
  let mismatched = 0;
  let channels = 0;
  let clientsScheduling = '';
  try {
    // Warm-up: simulators, first flushes, and the clients' path (the server worker's encoding,
    // this process's decoding) compiled before the first window with clients.
    await sleep(ctx.quick ? 500 : 2000);
    const warm = await ClientProcess.start(d.url, CLIENTS, { scalars: '*' });
    clientsScheduling = warm.scheduling;
    await sleep(ctx.quick ? 1500 : 3000);
    await warm.close();
    const none = async () => {
      await sleep(settleMs);
      without.push(await measureWindow(d, 0, windowS));
    };
    const some = async () => {
      const cp = await ClientProcess.start(d.url, CLIENTS, { scalars: '*' });
      try {
        await sleep(settleMs);
        const r0 = await cp.report();
        const t0 = performance.now();
        const w = await measureWindow(d, CLIENTS, windowS);
        const seconds = (performance.now() - t0) / 1000;
        const r1 = await cp.report();
        w.clientsCpu = (r1.cpuSeconds - r0.cpuSeconds) / seconds;
        const rates = r1.rows.map((x, i) => (x - r0.rows[i]!) / seconds);
        const status = await d.status();
        withClients.push(w);
        perClient.rate.push(...rates);
        r1.rows.forEach((x, i) => {
          perClient.received.push(x);
          if (x !== r1.decoded[i]) mismatched++;
        });
        if (r1.errors.length) throw new Error(`a client was told: ${r1.errors.join('; ')}`);
        for (const c of status.clients) {
          perClient.sent.push(c.rowsSent);
          perClient.dropped.push(c.rowsDropped);
        }
        ctx.log(
          `  ${CLIENTS} clients: each received ${median(rates).toFixed(0)} rows/s; rows dropped for them ${status.clients.reduce((n, c) => n + c.rowsDropped, 0)}`,
        );
      } finally {
        await cp.close();
      }
    };
    for (let r = 0; r < rounds; r++) {
      // ABBA: every other round starts with the clients, so a trend over the run cancels out.
      if (r % 2 === 0) {
        await none();
        await some();
      } else {
        await some();
        await none();
      }
      ctx.log(
        `overhead round ${r + 1}/${rounds}: without clients ${without.at(-1)!.rowsRate.toFixed(0)} rows/s, with ${CLIENTS} ${withClients.at(-1)!.rowsRate.toFixed(0)} rows/s ` +
          `(stored ${without.at(-1)!.storedRate.toFixed(0)}, ${withClients.at(-1)!.storedRate.toFixed(0)}; backlog ${without.at(-1)!.backlog}, ${withClients.at(-1)!.backlog})`,
      );
    }
    const s = await d.status();
    channels = s.subsystems.reduce((n, sub) => n + sub.instruments.length, 0);
  } finally {
    times.stopSeconds = await d.stop();
  }
  const rates = (ws: Window[]) => ws.map((w) => w.rowsRate);
  const stored = (ws: Window[]) => ws.map((w) => w.storedRate);
  const m0 = median(rates(without));
  const m1 = median(rates(withClients));
  const storedRatio = median(stored(withClients)) / median(stored(without));
  // Each round's own with / without ratio (its two windows are adjacent); the figure is their median.
  const pairRatios = withClients.map((w, i) => w.rowsRate / without[i]!.rowsRate);
  const { value: ratio, spread: ratioSpread } = summarize(pairRatios);
  const droppedForClients = perClient.dropped.reduce((a, b) => a + b, 0);
  const nominal = (mocks + meters) * pollHz;
  ctx.log(
    `serve.overhead: ${m0.toFixed(0)} rows/s without clients, ${m1.toFixed(0)} with ${CLIENTS} (ratio ${ratio.toFixed(3)}, median of rounds; stored ${storedRatio.toFixed(3)}; ` +
      `per round ${pairRatios.map((x) => x.toFixed(3)).join(', ')}); polled at ${nominal} readings/s nominal; ` +
      `each client ${median(perClient.rate).toFixed(0)} rows/s; rows dropped for clients ${droppedForClients}`,
  );
  const spread = (a: number[]) => ({ median: median(a), min: Math.min(...a), max: Math.max(...a) });
  return {
    daemon: d,
    times,
    result: {
      name: 'serve.overhead',
      unit: 'ratio',
      value: ratio,
      better: 'higher',
      spread: ratioSpread,
      vs: { 'no-clients': ratio },
      goals: [
        {
          text: '>= 0.95 (median of rounds): rows/s into storage with 20 clients on every channel under 5 % lower than with none',
          met: ratio >= 0.95,
        },
      ],
      details: {
        // The rate is of rows into the broker, bound for storage (acquisition.rows): rows stored
        // (acquisition.stored) trail them by the merge's wait and a flush, so a window's stored rate
        // carries the previous window's backlog; both are here, and the backlog at each window's end.
        ratioOfMedians: m1 / m0,
        clients: CLIENTS,
        clientsScheduling,
        instruments: { v2MockPower: mocks, v4ScpiMeters: meters, pollHz, channels, nominalReadingsPerSecond: nominal },
        rounds,
        windowSeconds: windowS,
        rowsPerSecond: { without: spread(rates(without)), with: spread(rates(withClients)) },
        storedPerSecond: { without: spread(stored(without)), with: spread(stored(withClients)), ratio: storedRatio },
        backlogAtWindowEnd: { without: without.map((w) => w.backlog), with: withClients.map((w) => w.backlog) },
        statusMsMax: {
          without: without.map((w) => Math.round(w.statusMsMax)),
          with: withClients.map((w) => Math.round(w.statusMsMax)),
        },
        ratioPerRound: pairRatios.map(r3),
        // CPU in cores (median per window): the daemon's process, and this one's (the clients).
        cpuCores: {
          daemonWithout: r3(median(without.map((w) => w.daemonCpu))),
          daemonWith: r3(median(withClients.map((w) => w.daemonCpu))),
          clientsWithout: r3(median(without.map((w) => w.benchCpu))),
          clientsWith: r3(median(withClients.map((w) => w.clientsCpu ?? NaN))),
        },
        rowsPerClient: {
          perSecond: spread(perClient.rate),
          receivedPerRound: spread(perClient.received),
          sentByDaemonPerRound: spread(perClient.sent),
        },
        headerRowsNotMatchingDecoded: mismatched,
        rowsDroppedForClients: droppedForClients,
        loadAverage: { before: loadBefore, after: load() },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// serve.preview

function previewConfig(fps: number): string {
  return `
[application]
name = "bench-serve-preview"
simulate = true
[v4]
ring_policy = "block"
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = ${(1000 / fps).toFixed(3)}
roi = { x = 0, y = 0, width = 2048, height = 2048 }
bit_depth = 16
`;
}

type CameraStatus = Status['cameras'][number];

async function preview(ctx: BenchContext, dir: string, started: (d: Daemon) => void): Promise<Figure> {
  const fps = 43; // the Prime BSI's full-frame rate at 2048 x 2048 (16-bit frames, every one stored)
  const windowS = ctx.quick ? 4 : 15;
  const cfg = join(dir, 'preview.toml');
  await writeFile(cfg, previewConfig(fps));
  const loadBefore = load();
  const d = await startDaemon(cfg, join(dir, 'preview'));
  started(d);
  const times: DaemonTimes = { startSeconds: d.startSeconds };
  const c = new Client(d.url, { previews: ['cam'], previewHz: 30, previewMaxSide: 512 });
  let count = 0;
  let seconds = 0;
  let cam: CameraStatus | undefined;
  let camBefore: CameraStatus | undefined;
  let clientCounts: Status['clients'][number] | undefined;
  let ages: number[] = [];
  const perSecond: number[] = [];
  try {
    await c.open;
    await sleep(1000); // the first previews come
    camBefore = (await d.status()).cameras.find((x) => x.id === 'cam');
    const n0 = c.previews;
    const t0 = performance.now();
    // The window in one-second rounds: the figure is the median of their rates.
    for (let i = 1, n = n0, t = t0; i <= windowS; i++) {
      await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
      const now = performance.now();
      perSecond.push(((c.previews - n) * 1000) / (now - t));
      [n, t] = [c.previews, now];
    }
    count = c.previews - n0;
    seconds = (performance.now() - t0) / 1000;
    ages = c.previewAgesMs.slice(n0);
    const s = await d.status();
    cam = s.cameras.find((x) => x.id === 'cam');
    clientCounts = s.clients[0];
    if (c.errors.length) throw new Error(`the preview client was told: ${c.errors.join('; ')}`);
  } finally {
    await c.close();
    times.stopSeconds = await d.stop();
  }
  // The whole run's frame accounting, written when the daemon stopped (its frames drained to disk).
  let final: { acquired?: number; stored?: number; dropped?: CameraStatus['dropped'] } | undefined;
  try {
    const record = JSON.parse(await readFile(join(d.dir, 'run.json'), 'utf8')) as {
      streams?: { frames?: Record<string, { acquired?: number; stored?: number; dropped?: CameraStatus['dropped'] }> };
    };
    final = record.streams?.frames?.cam;
  } catch {
    final = undefined;
  }
  const { value: delivered, spread: deliveredSpread } = summarize(perSecond);
  const dropped = final?.dropped?.total ?? cam?.dropped.total ?? NaN;
  const droppedInWindow = cam && camBefore ? cam.dropped.total - camBefore.dropped.total : NaN;
  const acquiredFps = cam && camBefore ? (cam.acquired - camBefore.acquired) / seconds : NaN;
  const sortedAges = [...ages].sort((a, b) => a - b);
  const met = delivered >= 10 && dropped === 0 && c.badPreviews === 0;
  ctx.log(
    `serve.preview: ${delivered.toFixed(1)} previews/s delivered (${count} in ${seconds.toFixed(1)} s, ${c.badPreviews} malformed) of a 2048x2048 camera ` +
      `at ${acquiredFps.toFixed(1)} fps; frames dropped ${dropped} (${droppedInWindow} while measuring; acquired ${final?.acquired ?? cam?.acquired}, ` +
      `stored ${final?.stored ?? cam?.stored}); preview age p50 ${quantile(sortedAges, 0.5).toFixed(0)} ms`,
  );
  return {
    daemon: d,
    times,
    result: {
      name: 'serve.preview',
      unit: 'previews/s',
      value: delivered,
      better: 'higher',
      spread: deliveredSpread,
      vs: { 'camera.fps': delivered / acquiredFps },
      goals: [{ text: '>= 10 previews/s to one client of a 2048x2048 camera, 0 frames dropped, 0 malformed', met }],
      details: {
        camera: { width: 2048, height: 2048, bitDepth: 16, configuredFps: fps, acquiredFps },
        asked: { previewHz: 30, previewMaxSide: 512 },
        previews: count,
        seconds,
        previewsPerSecondByRound: perSecond.map(r3),
        meanPreviewsPerSecond: count / seconds,
        malformed: c.badPreviews,
        previewBytesMean: c.previews ? c.previewBytes / c.previews : 0,
        // From the frame's timestamp to the preview's arrival at the client.
        previewAgeMs: { p50: quantile(sortedAges, 0.5), p99: quantile(sortedAges, 0.99) },
        framesDropped: dropped,
        framesDroppedWhileMeasuring: droppedInWindow,
        frames: {
          atEnd: final ?? null,
          whileMeasuring:
            cam && camBefore ? { acquired: cam.acquired - camBefore.acquired, stored: cam.stored - camBefore.stored } : null,
        },
        cameraPreviews: cam?.previews ?? null,
        client: clientCounts ?? null,
        loadAverage: { before: loadBefore, after: load() },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// serve.latency

async function latency(ctx: BenchContext, dir: string, started: (d: Daemon) => void): Promise<Figure> {
  const windowS = ctx.quick ? 5 : 20;
  const { config } = await loadConfig(demoToml);
  const batchMs = Math.max(
    config.v2.enabled ? config.v2.batch_interval_ms : 0,
    config.v4.enabled ? config.v4.batch_interval_ms : 0,
  );
  const loadBefore = load();
  const d = await startDaemon(demoToml, join(dir, 'latency'));
  started(d);
  const times: DaemonTimes = { startSeconds: d.startSeconds };
  const c = new Client(d.url, { scalars: '*' }, { latencies: true });
  let lat: { key: string; ms: number }[] = [];
  let clientCounts: Status['clients'][number] | undefined;
  try {
    await c.open;
    await sleep(1000); // the first batches (readings taken before the client subscribed) are left out
    const n0 = c.latencies!.length;
    await sleep(windowS * 1000);
    lat = c.latencies!.slice(n0);
    clientCounts = (await d.status()).clients[0];
    if (c.errors.length) throw new Error(`the latency client was told: ${c.errors.join('; ')}`);
  } finally {
    await c.close();
    times.stopSeconds = await d.stop();
  }
  if (lat.length === 0) throw new Error('serve.latency: the client received no rows');
  const sorted = lat.map((l) => l.ms).sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const p99 = quantile(sorted, 0.99);
  const beyond = p99 - batchMs;
  const byKey: Record<string, { rows: number; p50: number; p99: number }> = {};
  for (const key of [...new Set(lat.map((l) => l.key))].sort()) {
    const ms = lat
      .filter((l) => l.key === key)
      .map((l) => l.ms)
      .sort((a, b) => a - b);
    byKey[key] = { rows: ms.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
  }
  ctx.log(
    `serve.latency: ${lat.length} rows in ${windowS} s (${(lat.length / windowS).toFixed(0)} rows/s): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ` +
      `max ${sorted.at(-1)!.toFixed(1)} ms; batch interval ${batchMs} ms, so p99 is ${beyond.toFixed(1)} ms beyond it`,
  );
  return {
    daemon: d,
    times,
    result: {
      name: 'serve.latency',
      unit: 'ms (p99)',
      value: p99,
      better: 'lower',
      vs: { batch_interval_ms: p99 / batchMs },
      goals: [
        {
          text: `p99 - batch_interval_ms < 100 ms (from a reading's timestamp to its arrival at a WebSocket client; ${beyond.toFixed(1)} ms)`,
          met: beyond < 100,
        },
      ],
      details: {
        config: 'examples/demo.toml',
        batchIntervalMs: { v2: config.v2.batch_interval_ms, v4: config.v4.batch_interval_ms, max: batchMs },
        p50,
        p90: quantile(sorted, 0.9),
        p99,
        min: sorted[0],
        max: sorted.at(-1),
        p99BeyondBatchIntervalMs: beyond,
        rows: lat.length,
        seconds: windowS,
        byChannel: byKey,
        client: clientCounts ?? null,
        loadAverage: { before: loadBefore, after: load() },
      },
    },
  };
}

export const serveBenchmark: Benchmark = {
  subject: 'serve',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'daq-bench-serve-'));
    const daemons: Daemon[] = [];
    const figures: Figure[] = [];
    try {
      for (const figure of [overhead, preview, latency]) figures.push(await figure(ctx, dir, (d) => daemons.push(d)));
    } finally {
      // Each daemon said it stopped (run.json written). A daemon process lingers ~5 s after that
      // line (see exitLagSeconds); the earlier ones have exited by now, the last is given 1.5 s.
      const exits = await Promise.all(daemons.map((d) => Promise.race([d.exited, limit(1500).then(() => undefined)])));
      daemons.forEach((d, i) => exits[i] ?? d.kill());
      for (const f of figures) {
        const e = exits[daemons.indexOf(f.daemon)];
        f.times.exitLagSeconds = e ? r3(e.lagSeconds) : NaN;
        f.times.exit = e ? `code ${e.code}${e.signal ? ` (${e.signal})` : ''}` : 'killed 1.5 s after its stopped line';
        if (e && e.code !== 0) ctx.log(`${f.result.name}: daq serve exited ${e.code}: ${f.daemon.stderr().slice(-1000)}`);
      }
      await Promise.all(daemons.map((d) => d.exited));
      await rm(dir, { recursive: true, force: true });
    }
    return figures.map((f) => ({ ...f.result, details: { ...f.result.details, daemon: f.times } }));
  },
};
