// The load: worker threads under the "v2" and "v4" identities (workersPerSubsystem each), each
// running serial clients (lease, query, release on the bus and the meter) and VISA clients
// (queued queries) until the deadline, then reporting every client's counts.

import type { Worker } from 'node:worker_threads';
import { attachWorker } from '@daq/broker';
import type { ClientReport, ClientSpec, StressJob } from '../workers/stress-client.js';
import { onceMessage, startClientThread } from './client-thread.js';
import type { StressLab, StressSettings } from './scenario.js';
import { within } from './waiting.js';

export interface RegularWorker {
  worker: Worker;
  identity: string;
  clients: ClientSpec[];
  ready: Promise<unknown>;
  report: Promise<ClientReport[]>;
  exit: Promise<number>;
  /** What the broker released when the worker went (nothing, for a worker that cleaned up). */
  released: { leases: number; commands: number } | null;
}

function clientSpecs(o: StressSettings, w: number): ClientSpec[] {
  const specs = (count: number, kind: ClientSpec['kind'], letter: string): ClientSpec[] =>
    Array.from({ length: count }, (_, j) => ({ name: `w${w}${letter}${j}`, kind, troubleEvery: o.troubleEvery }));
  return [...specs(o.serialClientsPerWorker, 'serial', 's'), ...specs(o.visaClientsPerWorker, 'visa', 'v')];
}

function startRegularWorker(o: StressSettings, lab: StressLab, identity: string, w: number): RegularWorker {
  const clients = clientSpecs(o, w);
  const job: StressJob & { identity: string } = {
    mode: 'clients',
    identity,
    ports: lab.ports,
    clients,
    deadline: 0,
    leaseTimeoutMs: 20_000,
    queryTimeoutMs: 2000,
    visaTimeoutMs: 5000,
  };
  const worker = startClientThread(job);
  const r = { worker, identity, clients, released: null } as RegularWorker;
  r.ready = onceMessage(worker, 'ready');
  r.exit = new Promise((resolve) => worker.once('exit', resolve));
  r.report = new Promise((resolve, reject) => {
    worker.on('message', (m: { type: string; reports: ClientReport[] }) => m?.type === 'report' && resolve(m.reports));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker ${w} (${identity}) exited with code ${code} before reporting`)));
  });
  r.report.catch(() => undefined);
  attachWorker(worker, identity, lab.resources, (released) => (r.released = released));
  return r;
}

export function startRegularWorkers(o: StressSettings, lab: StressLab): RegularWorker[] {
  const identities = ['v2', 'v4'].flatMap((s) => Array.from({ length: o.workersPerSubsystem }, () => s));
  return identities.map((identity, w) => startRegularWorker(o, lab, identity, w));
}

/** Lets every client loose until `deadline` (Date.now()). */
export function goRegularWorkers(regulars: RegularWorker[], deadline: number): void {
  for (const r of regulars) r.worker.postMessage({ type: 'go', deadline });
}

/**
 * Every client's report, waiting at most `waitMs`; a worker that failed to report is a violation,
 * and so is a wait that ran out (`settled` false: a deadlock).
 */
export async function collectReports(
  regulars: RegularWorker[],
  waitMs: number,
  graceMs: number,
  violations: string[],
): Promise<{ reports: ClientReport[]; settled: boolean }> {
  const settled = await within(Promise.allSettled(regulars.map((r) => r.report)), waitMs);
  const reports: ClientReport[] = [];
  if (!settled) violations.push(`deadlock: not every worker reported within ${graceMs} ms after the deadline`);
  else
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') reports.push(...s.value);
      else violations.push(`worker ${i}: ${String(s.reason)}`);
    });
  return { reports, settled: !!settled };
}

/** Asks every worker to end and waits up to `graceMs`; past it, terminates them all. Returns how many exited with code 0. */
export async function endRegularWorkers(regulars: RegularWorker[], graceMs: number): Promise<number> {
  for (const r of regulars) r.worker.postMessage({ type: 'end' });
  const exitCodes = await within(Promise.all(regulars.map((r) => r.exit)), graceMs);
  if (!exitCodes) await Promise.all(regulars.map((r) => r.worker.terminate()));
  return exitCodes ? exitCodes.filter((c) => c === 0).length : 0;
}
