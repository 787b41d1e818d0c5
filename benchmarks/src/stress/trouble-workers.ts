// The injected faults: "trouble" workers that die holding a lease and a queued VISA command
// (hold), or while queued for a lease (wait), by process.exit, an uncaught exception or
// terminate(). They are started up front (loading a thread is slow under a TypeScript loader)
// and each is let loose at its time, once the broker has it engaged.

import type { Worker } from 'node:worker_threads';
import { attachWorker } from '@daq/broker';
import type { PortKey, StressJob } from '../workers/stress-client.js';
import { onceMessage, startClientThread } from './client-thread.js';
import type { LabCounts, StressLab, StressSettings } from './scenario.js';
import { sleep, within } from './waiting.js';

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

export interface TroubleWorker {
  worker: Worker;
  rec: TroubleRecord;
  ready: Promise<void>;
  /** The worker holds its lease (hold) or waits for one (wait). */
  engaged: Promise<void>;
  exited: Promise<void>;
  path: string;
}

const HOWS = ['exit', 'throw', 'terminate'] as const;

/** How many trouble workers a run has: one per abandonEveryMs, none in the last 2 s. */
export const troubleCount = (o: StressSettings) => Math.max(0, Math.floor((o.seconds * 1000 - 2000) / o.abandonEveryMs));

/** Trouble worker `n`: its kind by n % 2 and its death by n % 3, so six workers make all six pairs. */
function startTroubleWorker(lab: StressLab, n: number): TroubleWorker {
  const identity = `x${n}`;
  const kind = n % 2 === 0 ? 'hold' : 'wait';
  const how = HOWS[n % HOWS.length]!;
  const port: PortKey = n % 4 < 2 ? 'bus' : 'newport';
  const path = lab.ports[port];
  const job: StressJob & { identity: string } = { mode: 'trouble', identity, ports: lab.ports, kind, port: path };
  const worker = startClientThread(job);
  const rec: TroubleRecord = { identity, kind, how, port, exitCode: null, released: null, brokerGrants: 0, visaExecuted: 0 };
  worker.on('error', () => undefined); // the "throw" kind: an uncaught exception in the worker
  const ready = onceMessage(worker, 'ready');
  const engaged = onceMessage(worker, kind === 'hold' ? 'holding' : 'waiting');
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      rec.exitCode = code;
      resolve();
    }),
  );
  attachWorker(worker, identity, lab.resources, (released) => (rec.released = released));
  return { worker, rec, ready, engaged, exited, path };
}

export function startTroubleWorkers(o: StressSettings, lab: StressLab): TroubleWorker[] {
  return Array.from({ length: troubleCount(o) }, (_, n) => startTroubleWorker(lab, n));
}

/** The broker has the worker's VISA command queued or run (hold), or the worker queued for its port (wait). */
function engagedAtBroker(lab: StressLab, x: TroubleWorker): boolean {
  const owner = `${x.rec.identity}:abandoner`;
  const { serial, visa } = lab.resources;
  if (x.rec.kind === 'wait') {
    const p = serial.status().find((s) => s.path === x.path)!;
    return p.waiters.includes(owner) || p.owner === owner;
  }
  const v = visa.status()[0]!;
  return v.queued.includes(owner) || v.inFlight === owner || (visa.stats(lab.ports.resource).perOwner[owner] ?? 0) > 0;
}

/** Lets the worker take its lease or queue for one, then has it die its way; resolves at its exit. */
async function letLoose(lab: StressLab, x: TroubleWorker): Promise<void> {
  x.worker.postMessage({ type: 'go' });
  await within(Promise.race([x.engaged, x.exited]), 30_000);
  for (let i = 0; i < 300 && !engagedAtBroker(lab, x); i++) await sleep(10);
  if (x.rec.how === 'terminate') await x.worker.terminate();
  else x.worker.postMessage({ type: 'die', how: x.rec.how });
  await x.exited;
}

/** Lets trouble worker n loose at t0 + (n + 0.5) × everyMs (performance.now()), one at a time. */
export async function runTroubleSchedule(
  lab: StressLab,
  trouble: TroubleWorker[],
  t0: number,
  everyMs: number,
  log: (line: string) => void,
): Promise<void> {
  for (const [n, x] of trouble.entries()) {
    await sleep(Math.max(0, t0 + (n + 0.5) * everyMs - performance.now()));
    await letLoose(lab, x).catch((e) => log(`trouble worker failed: ${String(e)}`));
  }
}

/**
 * Waits up to `graceMs` for every trouble worker to have exited, then terminates the rest (one
 * that did not end, or never got its turn). Returns how many had exited by then.
 */
export async function endTroubleWorkers(trouble: TroubleWorker[], graceMs: number): Promise<number> {
  await within(Promise.all(trouble.map((x) => x.exited)), graceMs);
  const exited = trouble.filter((x) => x.rec.exitCode !== null).length;
  await Promise.all(trouble.filter((x) => x.rec.exitCode === null).map((x) => x.worker.terminate()));
  return exited;
}

/** What the broker granted each trouble worker and ran of its VISA commands. */
export function creditTrouble(trouble: TroubleWorker[], counts: LabCounts): TroubleRecord[] {
  return trouble.map(({ rec }) => {
    rec.brokerGrants = counts.ports[rec.port].byOwner[`${rec.identity}:abandoner`] ?? 0;
    rec.visaExecuted = counts.visa.perOwner[`${rec.identity}:abandoner`] ?? 0;
    return rec;
  });
}
