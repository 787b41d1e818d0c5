// Contention stress of the broker's hardware layer: simulators for a shared Elliptec bus, a
// Newport 1830-C and a SCPI instrument over TCP; V2 and V4 worker threads whose clients lease,
// query and release ports and queue VISA queries until a deadline, with injected trouble
// (short timeouts, revocations, workers that die holding a lease). The result reconciles every
// client's counts with the broker's own counters and checks fairness, end state and leaks.

import { Worker } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig, type DaqConfig } from '@daq/core';
import { startSimulators, type Newport1830CSimulator } from '@daq/sim';
import { SharedResources, attachWorker, type PortStats, type VisaStats } from '@daq/broker';
import type { ClientReport, ClientSpec, PortKey, StressJob, StressPorts } from './workers/stress-client.js';

const workerFile = new URL(
  import.meta.url.endsWith('.ts') ? './workers/stress-client.ts' : './workers/stress-client.js',
  import.meta.url,
);

export interface StressOptions {
  /** How long clients keep issuing commands. */
  seconds: number;
  /** Worker threads per subsystem identity (default 3 "v2" and 3 "v4"). */
  workersPerSubsystem?: number;
  serialClientsPerWorker?: number;
  visaClientsPerWorker?: number;
  /** Every n-th operation of a client is a trouble operation (default 10). */
  troubleEvery?: number;
  /** A worker dies holding a lease (or while queued for one) this often (default: 6 per run, at most one per 4 s). */
  abandonEveryMs?: number;
  sampleEveryMs?: number;
  /** Samples before this are warm-up (default 25 % of the run, at most 10 s). */
  warmupMs?: number;
  /** After the deadline, how long everything has to finish (default 10 s). */
  graceMs?: number;
  log?: (line: string) => void;
}

export interface Sample {
  tMs: number;
  heapUsedMB: number;
  rssMB: number;
  externalMB: number;
  handles: number;
  byType: Record<string, number>;
  /** Taken right after a full garbage collection. */
  gc: boolean;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface TroubleRecord {
  identity: string;
  kind: 'hold' | 'wait';
  how: 'exit' | 'throw' | 'terminate';
  port: PortKey;
  exitCode: number | null;
  released: { leases: number; commands: number } | null;
  brokerGrants: number;
  visaExecuted: number;
}

export interface PortFigures {
  path: string;
  stats: PortStats;
  clientGrants: number;
  troubleGrants: number;
  simCommands: number;
  clientWrites: number;
  shares: { min: number; max: number };
  waitBoundMs: number;
  clientWaitMs: { p50: number; p99: number; max: number };
}

export interface StressResult {
  ok: boolean;
  violations: string[];
  checks: Check[];
  options: Required<Omit<StressOptions, 'log'>>;
  durationMs: number;
  /** Time from the deadline until the last client reported. */
  overrunMs: number;
  totals: {
    clients: number;
    issued: number;
    answered: number;
    failed: number;
    failedByCode: Record<string, number>;
    samples: Record<string, string>;
    unexpected: Record<string, number>;
    troubleOps: number;
  };
  ports: Record<PortKey, PortFigures>;
  visa: {
    stats: VisaStats;
    clientIssued: number;
    clientAnswered: number;
    shares: { min: number; max: number };
    waitBoundMs: number;
  };
  trouble: TroubleRecord[];
  endState: { leasesHeld: number; waiters: number; visaPending: number; workersExited: number; workers: number };
  samples: Sample[];
  leak: { heapGrowthMB: number; handleGrowth: number; handlesWarm: Record<string, number>; handlesEnd: Record<string, number> };
  clients: Omit<ClientReport, 'waitsMs'>[];
}

/** The bounds every run is held to (see the bounds section of stress.test.ts for why). */
export const BOUNDS = {
  /** A client's share of a port's grants vs. the mean of its peers. */
  shareMin: 0.75,
  shareMax: 1.25,
  /** Per grant ahead in the queue: the line's settle (50 ms + 20 byte times) and the flush. */
  handoverMs: 150,
  /** Event-loop delays on a loaded 2-core machine. */
  slackMs: 500,
  heapGrowthMB: 24,
  /** A VISA session reconnecting at the moment of a sample holds two sockets for an instant. */
  handleGrowth: 2,
} as const;

const CONFIG = `
[application]
name = "stress"
simulate = true

[broker]
serial_lease_timeout_ms = 20000
visa_timeout_ms = 5000

[v2]
enabled = true

[[v2.instruments]]
id = "rot_a"
type = "Elliptec"
serial_port = "/dev/ttySTRESS0"
address = "0"

[[v2.instruments]]
id = "power"
type = "Newport1830C"
serial_port = "/dev/ttySTRESS1"

[v4]
enabled = true

[[v4.instruments]]
id = "rot_b"
type = "Elliptec"
serial_port = "/dev/ttySTRESS0"
address = "1"

[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "TCPIP0::127.0.0.1::5025::SOCKET"
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** `p`, or `undefined` after `ms`; the timer is cleared either way (no handle outlives the run). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const MB = 2 ** 20;

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

let gcFn: (() => void) | undefined;
function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

function sample(t0: number, gc: boolean): Sample {
  if (gc) fullGc();
  const m = process.memoryUsage();
  const byType: Record<string, number> = {};
  const info = process.getActiveResourcesInfo();
  for (const r of info) byType[r] = (byType[r] ?? 0) + 1;
  return {
    tMs: Math.round(performance.now() - t0),
    heapUsedMB: round(m.heapUsed / MB, 2),
    rssMB: round(m.rss / MB, 1),
    externalMB: round(m.external / MB, 2),
    handles: info.length,
    byType,
    gc,
  };
}

/**
 * Handles that stay open as long as their owner lives: not timers and immediates (they come
 * and go with traffic), nor message ports (trouble workers come and go by design; that every
 * worker exits is checked on its own).
 */
const TRANSIENT = new Set(['Timeout', 'Immediate', 'MessagePort']);
const lasting = (byType: Record<string, number>) =>
  sum(
    Object.entries(byType)
      .filter(([k]) => !TRANSIENT.has(k))
      .map(([, n]) => n),
  );

function shares(counts: number[]): { min: number; max: number } {
  const mean = sum(counts) / Math.max(1, counts.length);
  if (mean === 0) return { min: 0, max: 0 };
  return { min: round(Math.min(...counts) / mean, 3), max: round(Math.max(...counts) / mean, 3) };
}

export async function runStress(opts: StressOptions): Promise<StressResult> {
  const o: Required<Omit<StressOptions, 'log'>> = {
    seconds: opts.seconds,
    workersPerSubsystem: opts.workersPerSubsystem ?? 3,
    serialClientsPerWorker: opts.serialClientsPerWorker ?? 2,
    visaClientsPerWorker: opts.visaClientsPerWorker ?? 1,
    troubleEvery: opts.troubleEvery ?? 10,
    abandonEveryMs: opts.abandonEveryMs ?? Math.max(4000, (opts.seconds * 1000) / 6),
    sampleEveryMs: opts.sampleEveryMs ?? 1000,
    warmupMs: opts.warmupMs ?? Math.min(10_000, opts.seconds * 250),
    graceMs: opts.graceMs ?? 10_000,
  };
  const log = opts.log ?? (() => undefined);
  const config: DaqConfig = parseConfig(CONFIG, 'stress.toml').config;
  const sims = await startSimulators(config);
  const inst = [...sims.config.v2.instruments, ...sims.config.v4.instruments] as {
    id: string;
    serial_port?: string;
    resource?: string;
  }[];
  const byId = (id: string) => inst.find((i) => i.id === id)!;
  const busPath = byId('rot_a').serial_port!;
  const newportPath = byId('power').serial_port!;
  const resource = byId('dmm').resource!;
  const newport = sims.serial.get('/dev/ttySTRESS1') as Newport1830CSimulator;
  // Set-up done on the simulator itself, so every command on the line is a counted client command.
  newport.echo = false;
  newport.filter = 3;
  const scpi = [...sims.scpi.values()][0]!;
  const { maker, model, serial, firmware } = scpi.engine.identity;
  const ports: StressPorts = {
    bus: busPath,
    newport: newportPath,
    resource,
    busAddresses: ['0', '1'],
    idn: `${maker},${model},${serial},${firmware}`,
  };
  let resources: SharedResources;
  try {
    resources = await SharedResources.create(sims.config);
  } catch (e) {
    await sims.close();
    throw e;
  }

  // Regular workers.
  interface Regular {
    worker: Worker;
    identity: string;
    clients: ClientSpec[];
    ready: Promise<unknown>;
    report: Promise<ClientReport[]>;
    exit: Promise<number>;
    released: { leases: number; commands: number } | null;
  }
  const onceMessage = (worker: Worker, type: string) =>
    new Promise<void>((resolve) => {
      const f = (m: { type?: string }) => {
        if (m?.type !== type) return;
        worker.off('message', f);
        resolve();
      };
      worker.on('message', f);
    });
  const regulars: Regular[] = [];
  const identities = ['v2', 'v4'].flatMap((s) => Array.from({ length: o.workersPerSubsystem }, () => s));
  identities.forEach((identity, w) => {
    const clients: ClientSpec[] = [
      ...Array.from({ length: o.serialClientsPerWorker }, (_, j) => ({
        name: `w${w}s${j}`,
        kind: 'serial' as const,
        troubleEvery: o.troubleEvery,
      })),
      ...Array.from({ length: o.visaClientsPerWorker }, (_, j) => ({
        name: `w${w}v${j}`,
        kind: 'visa' as const,
        troubleEvery: o.troubleEvery,
      })),
    ];
    const job: StressJob & { identity: string } = {
      mode: 'clients',
      identity,
      ports,
      clients,
      deadline: 0,
      leaseTimeoutMs: 20_000,
      queryTimeoutMs: 2000,
      visaTimeoutMs: 5000,
    };
    const worker = new Worker(workerFile, { workerData: job });
    const r = { worker, identity, clients, released: null } as Regular;
    r.ready = onceMessage(worker, 'ready');
    r.exit = new Promise((resolve) => worker.once('exit', resolve));
    r.report = new Promise((resolve, reject) => {
      worker.on('message', (m: { type: string; reports: ClientReport[] }) => m?.type === 'report' && resolve(m.reports));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`worker ${w} (${identity}) exited with code ${code} before reporting`)));
    });
    r.report.catch(() => undefined);
    attachWorker(worker, identity, resources, (released) => (r.released = released));
    regulars.push(r);
  });

  // Trouble: workers that die holding a lease and a queued VISA command, or while queued for
  // a lease. Started up front (loading a thread is slow under a TypeScript loader), each is
  // let loose at its time.
  const trouble: TroubleRecord[] = [];
  const hows = ['exit', 'throw', 'terminate'] as const;
  const troubleCount = Math.max(0, Math.floor((o.seconds * 1000 - 2000) / o.abandonEveryMs));
  const troubleWorkers = Array.from({ length: troubleCount }, (_, n) => {
    const identity = `x${n}`;
    const kind = n % 2 === 0 ? 'hold' : 'wait';
    const how = hows[n % hows.length]!; // with kind by n % 2: all six pairs in six workers
    const portKey: PortKey = n % 4 < 2 ? 'bus' : 'newport';
    const path = portKey === 'bus' ? busPath : newportPath;
    const job: StressJob & { identity: string } = { mode: 'trouble', identity, ports, kind, port: path };
    const worker = new Worker(workerFile, { workerData: job });
    const rec: TroubleRecord = {
      identity,
      kind,
      how,
      port: portKey,
      exitCode: null,
      released: null,
      brokerGrants: 0,
      visaExecuted: 0,
    };
    trouble.push(rec);
    worker.on('error', () => undefined); // the "throw" kind: an uncaught exception in the worker
    const ready = onceMessage(worker, 'ready');
    const engaged = onceMessage(worker, kind === 'hold' ? 'holding' : 'waiting');
    const exited = new Promise<void>((resolve) =>
      worker.once('exit', (code) => {
        rec.exitCode = code;
        resolve();
      }),
    );
    attachWorker(worker, identity, resources, (released) => (rec.released = released));
    return { worker, rec, ready, engaged, exited, path };
  });
  const troubleExits = troubleWorkers.map((x) => x.exited);

  const loaded = await within(
    Promise.all([...regulars.map((r) => r.ready), ...troubleWorkers.map((x) => x.ready)]).then(() => true),
    180_000,
  );
  if (!loaded) log('stress: not every worker loaded within 180 s');

  const t0 = performance.now();
  const samples: Sample[] = [sample(t0, false)];
  const sampler = setInterval(() => samples.push(sample(t0, false)), o.sampleEveryMs);
  const deadline = Date.now() + o.seconds * 1000;
  const deadlinePerf = t0 + o.seconds * 1000;
  let gcWarm: Sample | undefined;
  let gcEnd: Sample | undefined;
  const warmTimer = setTimeout(() => samples.push((gcWarm = sample(t0, true))), o.warmupMs);
  const endTimer = setTimeout(() => samples.push((gcEnd = sample(t0, true))), Math.max(o.warmupMs + 500, o.seconds * 1000 - 500));
  for (const r of regulars) r.worker.postMessage({ type: 'go', deadline });

  const runTrouble = async (x: (typeof troubleWorkers)[number]) => {
    const { worker, rec, engaged, exited, path } = x;
    const owner = `${rec.identity}:abandoner`;
    worker.postMessage({ type: 'go' });
    await within(Promise.race([engaged, exited]), 30_000);
    // Wait until the broker has the command queued or running (hold) or the waiter queued (wait).
    const seen = () => {
      if (rec.kind === 'wait') {
        const p = resources.serial.status().find((s) => s.path === path)!;
        return p.waiters.includes(owner) || p.owner === owner;
      }
      const v = resources.visa.status()[0]!;
      return v.queued.includes(owner) || v.inFlight === owner || (resources.visa.stats(resource).perOwner[owner] ?? 0) > 0;
    };
    for (let i = 0; i < 300 && !seen(); i++) await sleep(10);
    if (rec.how === 'terminate') await worker.terminate();
    else worker.postMessage({ type: 'die', how: rec.how });
    await exited;
  };
  const troubleLoop = (async () => {
    for (const [n, x] of troubleWorkers.entries()) {
      await sleep(Math.max(0, t0 + (n + 0.5) * o.abandonEveryMs - performance.now()));
      await runTrouble(x).catch((e) => log(`trouble worker failed: ${String(e)}`));
    }
  })();

  // Collect the reports, bounded by the deadline plus grace.
  const settled = await within(Promise.allSettled(regulars.map((r) => r.report)), Math.max(0, deadline - Date.now()) + o.graceMs);
  const finishedAt = performance.now();
  await within(troubleLoop, o.graceMs);
  clearTimeout(warmTimer);
  clearTimeout(endTimer);
  const reports: ClientReport[] = [];
  const violations: string[] = [];
  if (!settled) violations.push(`deadlock: not every worker reported within ${o.graceMs} ms after the deadline`);
  else
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') reports.push(...s.value);
      else violations.push(`worker ${i}: ${String(s.reason)}`);
    });

  // The broker's state with every client done but the workers still alive: nothing may be held.
  const status = resources.serial.status();
  const endState = {
    leasesHeld: resources.serial.leasesHeld,
    waiters: sum(status.map((s) => s.waiters.length)),
    visaPending: resources.visa.pending,
    workersExited: 0,
    workers: regulars.length + trouble.length,
  };
  const portStats = { bus: resources.serial.stats(busPath), newport: resources.serial.stats(newportPath) };
  const visaStats = resources.visa.stats(resource);
  const simCommands = {
    bus: sims.serial.get('/dev/ttySTRESS0')!.counters.commands,
    newport: newport.counters.commands,
  };

  // Let the workers end by themselves; past the grace, terminate them (counted as not exited).
  for (const r of regulars) r.worker.postMessage({ type: 'end' });
  const exitCodes = await within(Promise.all(regulars.map((r) => r.exit)), o.graceMs);
  await within(Promise.all(troubleExits), o.graceMs);
  clearInterval(sampler);
  // A trouble worker that did not end (or never got its turn) counts as not exited.
  const troubleExited = trouble.map((t) => t.exitCode !== null);
  await Promise.all(troubleWorkers.filter((x) => x.rec.exitCode === null).map((x) => x.worker.terminate()));
  if (!exitCodes) await Promise.all(regulars.map((r) => r.worker.terminate()));
  endState.workersExited = (exitCodes ? exitCodes.filter((c) => c === 0).length : 0) + troubleExited.filter(Boolean).length;
  for (const t of trouble) {
    t.brokerGrants = portStats[t.port].byOwner[`${t.identity}:abandoner`] ?? 0;
    t.visaExecuted = visaStats.perOwner[`${t.identity}:abandoner`] ?? 0;
  }
  await resources.close();
  await sims.close();
  const durationMs = performance.now() - t0;

  // ---- checks ----
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    if (!ok) violations.push(`${name}: ${detail}`);
  };
  const overrunMs = Math.max(0, finishedAt - deadlinePerf);
  check(
    'no deadlock',
    !!settled && overrunMs <= o.graceMs,
    `last client reported ${Math.round(overrunMs)} ms after the deadline (grace ${o.graceMs} ms)`,
  );
  const expectedClients = regulars.length * (o.serialClientsPerWorker + o.visaClientsPerWorker);
  check('every client reported', reports.length === expectedClients, `${reports.length} of ${expectedClients}`);
  const unbalanced = reports.filter((r) => r.issued !== r.answered + r.failed);
  check(
    'issued == answered + failed for every client',
    unbalanced.length === 0,
    unbalanced.map((r) => `${r.name}: ${r.issued} != ${r.answered} + ${r.failed}`).join('; ') || `${reports.length} clients`,
  );
  const failedSum = (r: ClientReport) => sum(Object.values(r.failedByCode));
  check(
    'failures all carry a code',
    reports.every((r) => failedSum(r) === r.failed),
    'failedByCode sums to failed',
  );
  const totals = {
    clients: reports.length,
    issued: sum(reports.map((r) => r.issued)),
    answered: sum(reports.map((r) => r.answered)),
    failed: sum(reports.map((r) => r.failed)),
    failedByCode: {} as Record<string, number>,
    samples: {} as Record<string, string>,
    unexpected: {} as Record<string, number>,
    troubleOps: sum(reports.map((r) => r.troubleOps)),
  };
  for (const r of reports) {
    for (const [k, n] of Object.entries(r.failedByCode)) totals.failedByCode[k] = (totals.failedByCode[k] ?? 0) + n;
    for (const [k, n] of Object.entries(r.unexpected)) totals.unexpected[k] = (totals.unexpected[k] ?? 0) + n;
    Object.assign(totals.samples, { ...r.samples, ...totals.samples });
  }
  check('regular operations never fail', Object.keys(totals.unexpected).length === 0, JSON.stringify(totals.unexpected));
  check('no reply ever reaches the wrong client', !totals.failedByCode.WRONG_REPLY, totals.samples.WRONG_REPLY ?? 'none');
  const allowed = new Set([
    'DAQ_LEASE_TIMEOUT',
    'DAQ_READ_TIMEOUT',
    'DAQ_LEASE_REVOKED',
    'DAQ_PORT_BUSY',
    'DAQ_INVALID_ARGUMENT',
    'DAQ_VISA_TIMEOUT',
  ]);
  const strange = Object.keys(totals.failedByCode).filter((c) => !allowed.has(c));
  check('failures are only the injected ones', strange.length === 0, strange.join(', ') || [...allowed].join(', '));
  for (const code of ['DAQ_READ_TIMEOUT', 'DAQ_LEASE_REVOKED', 'DAQ_INVALID_ARGUMENT', 'DAQ_VISA_TIMEOUT'])
    check(`trouble happened: ${code}`, (totals.failedByCode[code] ?? 0) > 0, `${totals.failedByCode[code] ?? 0}`);

  const serialClients = reports.filter((r) => r.kind === 'serial');
  const competitors = serialClients.length + 1; // + at most one trouble worker at a time
  const portFigs = {} as Record<PortKey, PortFigures>;
  for (const k of ['bus', 'newport'] as const) {
    const s = portStats[k];
    const path = k === 'bus' ? busPath : newportPath;
    const pf = (code: string) => sum(reports.map((r) => r.portFailures[k][code] ?? 0));
    const clientGrants = sum(reports.map((r) => r.grants[k]));
    const troubleGrants = sum(trouble.filter((t) => t.port === k).map((t) => t.brokerGrants));
    const clientWrites = sum(reports.map((r) => r.writes[k]));
    const waits = serialClients.flatMap((r) => r.waitsMs[k]);
    const waitBoundMs = round(competitors * (s.holdMs.maxMs + BOUNDS.handoverMs) + BOUNDS.slackMs, 0);
    const sh = shares(serialClients.map((r) => r.grants[k]));
    portFigs[k] = {
      path,
      stats: s,
      clientGrants,
      troubleGrants,
      simCommands: simCommands[k],
      clientWrites,
      shares: sh,
      waitBoundMs,
      clientWaitMs: { p50: round(quantile(waits, 0.5)), p99: round(quantile(waits, 0.99)), max: round(Math.max(0, ...waits)) },
    };
    check(
      `${k}: acquisitions == client grants + trouble grants`,
      s.acquisitions === clientGrants + troubleGrants,
      `${s.acquisitions} vs ${clientGrants} + ${troubleGrants}`,
    );
    const owners = new Map<string, number>();
    for (const r of reports) if (r.grants[k] > 0) owners.set(`${r.worker}:${r.name}`, r.grants[k]);
    for (const t of trouble) if (t.port === k && t.brokerGrants > 0) owners.set(`${t.identity}:abandoner`, t.brokerGrants);
    const mismatched = [...new Set([...owners.keys(), ...Object.keys(s.byOwner)])].filter(
      (w) => (owners.get(w) ?? 0) !== (s.byOwner[w] ?? 0),
    );
    check(
      `${k}: grants per owner match the broker's`,
      mismatched.length === 0,
      mismatched.map((w) => `${w}: client ${owners.get(w) ?? 0}, broker ${s.byOwner[w] ?? 0}`).join('; ') ||
        `${owners.size} owners`,
    );
    check(
      `${k}: lease timeouts match`,
      s.leaseTimeouts === pf('DAQ_LEASE_TIMEOUT'),
      `${s.leaseTimeouts} vs ${pf('DAQ_LEASE_TIMEOUT')}`,
    );
    check(
      `${k}: read timeouts match`,
      s.readTimeouts === pf('DAQ_READ_TIMEOUT'),
      `${s.readTimeouts} vs ${pf('DAQ_READ_TIMEOUT')}`,
    );
    check(`${k}: revocations match`, s.revocations === pf('DAQ_LEASE_REVOKED'), `${s.revocations} vs ${pf('DAQ_LEASE_REVOKED')}`);
    const bytes = sum(reports.map((r) => r.bytesOut[k]));
    check(`${k}: bytes out match`, s.bytesOut === bytes, `${s.bytesOut} vs ${bytes}`);
    check(
      `${k}: every command written reached the instrument`,
      simCommands[k] === clientWrites,
      `simulator ${simCommands[k]} vs clients ${clientWrites}`,
    );
    check(
      `${k}: a settle after every unanswered command`,
      s.settles <= s.readTimeouts && s.settles >= s.readTimeouts - 1,
      `${s.settles} settles, ${s.readTimeouts} read timeouts`,
    );
    check(`${k}: no port errors`, s.portErrors === 0 && s.reopens === 0, `${s.portErrors} errors, ${s.reopens} reopens`);
    check(
      `${k}: fair share`,
      sh.min >= BOUNDS.shareMin && sh.max <= BOUNDS.shareMax,
      `${sh.min}..${sh.max} of the mean (bound ${BOUNDS.shareMin}..${BOUNDS.shareMax})`,
    );
    check(
      `${k}: max wait bounded by the queue`,
      s.waitMs.maxMs <= waitBoundMs,
      `max ${round(s.waitMs.maxMs)} ms <= ${competitors} × (hold max ${round(s.holdMs.maxMs)} + ${BOUNDS.handoverMs}) + ${BOUNDS.slackMs} = ${waitBoundMs} ms`,
    );
  }
  for (const t of trouble) {
    const expectLeases = t.kind === 'hold' ? 1 : t.brokerGrants;
    check(
      `${t.identity} (${t.kind}, ${t.how}): its lease released at exit`,
      t.released !== null && t.released.leases === expectLeases && t.brokerGrants === expectLeases,
      `released ${JSON.stringify(t.released)}, granted ${t.brokerGrants}`,
    );
    if (t.kind === 'hold')
      check(
        `${t.identity}: its VISA command ran or was failed at exit`,
        t.released !== null && t.visaExecuted + t.released.commands === 1,
        `executed ${t.visaExecuted}, failed at exit ${t.released?.commands}`,
      );
  }
  check('trouble workers ran', trouble.length > 0 || troubleCount === 0, `${trouble.length}`);

  const visaClients = reports.filter((r) => r.kind === 'visa');
  const vIssued = sum(visaClients.map((r) => r.visaIssued));
  const vAnswered = sum(visaClients.map((r) => r.visaAnswered));
  const vTimeouts = sum(visaClients.map((r) => r.visaTimeouts));
  const tExecuted = sum(trouble.map((t) => t.visaExecuted));
  check(
    'visa: commands == client queries + trouble commands run',
    visaStats.commands === vIssued + tExecuted,
    `${visaStats.commands} vs ${vIssued} + ${tExecuted}`,
  );
  const vMismatch = visaClients.filter((r) => (visaStats.perOwner[`${r.worker}:${r.name}`] ?? 0) !== r.visaIssued);
  const vOwners = visaClients.length + trouble.filter((t) => t.visaExecuted > 0).length;
  check(
    'visa: commands per owner match',
    vMismatch.length === 0 && Object.keys(visaStats.perOwner).length === vOwners,
    vMismatch.map((r) => `${r.name}: ${r.visaIssued} vs ${visaStats.perOwner[`${r.worker}:${r.name}`]}`).join('; ') ||
      `${vOwners} owners`,
  );
  check('visa: timeouts match', visaStats.timeouts === vTimeouts, `${visaStats.timeouts} vs ${vTimeouts}`);
  check(
    'visa: completed == answered',
    visaStats.commands - visaStats.timeouts - visaStats.errors === vAnswered + tExecuted,
    `${visaStats.commands - visaStats.timeouts - visaStats.errors} vs ${vAnswered} + ${tExecuted}`,
  );
  check(
    'visa: no errors, a clear after every timeout',
    visaStats.errors === 0 && visaStats.clears === visaStats.timeouts,
    `${visaStats.errors} errors, ${visaStats.clears} clears`,
  );
  const vShares = shares(visaClients.map((r) => r.visaIssued));
  check('visa: fair share', vShares.min >= BOUNDS.shareMin && vShares.max <= BOUNDS.shareMax, `${vShares.min}..${vShares.max}`);
  // Each command ahead runs at most its latency, or a 1 ms timeout plus a reconnect.
  const vBound = round(
    visaStats.queueHighWater * (Math.max(visaStats.latencyMs.maxMs, 1) + BOUNDS.handoverMs) + BOUNDS.slackMs,
    0,
  );
  check(
    'visa: max queue wait bounded by the queue',
    visaStats.queueWaitMs.maxMs <= vBound,
    `max ${round(visaStats.queueWaitMs.maxMs)} ms <= ${visaStats.queueHighWater} × (latency max ${round(visaStats.latencyMs.maxMs)} + ${BOUNDS.handoverMs}) + ${BOUNDS.slackMs} = ${vBound} ms`,
  );

  check(
    'no lease held, no waiter, no VISA command pending',
    endState.leasesHeld === 0 && endState.waiters === 0 && endState.visaPending === 0,
    JSON.stringify(endState),
  );
  check('all workers exited', endState.workersExited === endState.workers, `${endState.workersExited} of ${endState.workers}`);
  const dirtyExit = regulars.filter((r) => !r.released || r.released.leases !== 0 || r.released.commands !== 0);
  check(
    'regular workers left nothing behind at exit',
    dirtyExit.length === 0,
    dirtyExit.map((r) => `${r.identity}: ${JSON.stringify(r.released)}`).join('; ') || 'nothing',
  );

  const warm = gcWarm ?? samples[Math.min(samples.length - 1, 1)]!;
  const end = gcEnd ?? samples[samples.length - 1]!;
  const leak = {
    heapGrowthMB: round(end.heapUsedMB - warm.heapUsedMB, 2),
    handleGrowth: lasting(end.byType) - lasting(warm.byType),
    handlesWarm: warm.byType,
    handlesEnd: end.byType,
  };
  check(
    'heap growth after warm-up bounded',
    !!gcWarm && !!gcEnd && leak.heapGrowthMB <= BOUNDS.heapGrowthMB,
    `${leak.heapGrowthMB} MB (bound ${BOUNDS.heapGrowthMB} MB)`,
  );
  check(
    'handle growth after warm-up bounded',
    leak.handleGrowth <= BOUNDS.handleGrowth,
    `${leak.handleGrowth} (bound ${BOUNDS.handleGrowth})`,
  );

  log(
    `stress: ${totals.issued} commands (${totals.answered} answered, ${totals.failed} failed ${JSON.stringify(totals.failedByCode)}) in ${round(durationMs / 1000)} s; ` +
      `bus ${portStats.bus.acquisitions} grants, newport ${portStats.newport.acquisitions}, visa ${visaStats.commands}; ${violations.length} violations`,
  );
  return {
    ok: violations.length === 0,
    violations,
    checks,
    options: o,
    durationMs: Math.round(durationMs),
    overrunMs: Math.round(overrunMs),
    totals,
    ports: portFigs,
    visa: { stats: visaStats, clientIssued: vIssued, clientAnswered: vAnswered, shares: vShares, waitBoundMs: vBound },
    trouble,
    endState,
    samples,
    leak,
    clients: reports.map(({ waitsMs: _w, ...r }) => r),
  };
}
