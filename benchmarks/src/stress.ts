// Contention stress of the broker's hardware layer: simulators for a shared Elliptec bus, a
// Newport 1830-C and a SCPI instrument over TCP; V2 and V4 worker threads whose clients lease,
// query and release ports and queue VISA queries until a deadline, with injected trouble
// (short timeouts, revocations, workers that die holding a lease). The result reconciles every
// client's counts with the broker's own counters and checks fairness, end state and leaks.
//
// This file runs the phases; stress/ holds the parts: scenario.ts (options, simulators, broker),
// regular-workers.ts (the load), trouble-workers.ts (the injected faults), memory-samples.ts
// (heap and handles), reconcile.ts and end-state.ts (the checks), report.ts (the result).

import { CheckList } from './stress/check-list.js';
import { brokerHolds, checkEndState, type EndState } from './stress/end-state.js';
import { Sampler } from './stress/memory-samples.js';
import {
  checkClientsReported,
  checkFailures,
  checkTroubleWorkers,
  clientTotals,
  reconcilePorts,
  reconcileVisa,
} from './stress/reconcile.js';
import {
  collectReports,
  endRegularWorkers,
  goRegularWorkers,
  startRegularWorkers,
  type RegularWorker,
} from './stress/regular-workers.js';
import { summaryLine, withoutWaits, type StressResult } from './stress/report.js';
import type { ClientReport, StressPorts } from './workers/stress-client.js';
import {
  resolveOptions,
  startLab,
  type LabCounts,
  type StressLab,
  type StressOptions,
  type StressSettings,
} from './stress/scenario.js';
import {
  creditTrouble,
  endTroubleWorkers,
  runTroubleSchedule,
  startTroubleWorkers,
  troubleCount,
  type TroubleRecord,
  type TroubleWorker,
} from './stress/trouble-workers.js';
import { within } from './stress/waiting.js';

export { BOUNDS } from './stress/bounds.js';
export type { Check } from './stress/check-list.js';
export type { Sample } from './stress/memory-samples.js';
export { INJECTED_FAILURES, type PortFigures } from './stress/reconcile.js';
export type { StressResult } from './stress/report.js';
export type { StressOptions } from './stress/scenario.js';
export type { TroubleRecord } from './stress/trouble-workers.js';

interface Workers {
  regulars: RegularWorker[];
  trouble: TroubleWorker[];
}

/** Starts every thread and waits until all have loaded (a dozen through a TypeScript loader take a while). */
async function startWorkers(o: StressSettings, lab: StressLab, log: (line: string) => void): Promise<Workers> {
  const w = { regulars: startRegularWorkers(o, lab), trouble: startTroubleWorkers(o, lab) };
  const loaded = await within(
    Promise.all([...w.regulars.map((r) => r.ready), ...w.trouble.map((x) => x.ready)]).then(() => true),
    180_000,
  );
  if (!loaded) log('stress: not every worker loaded within 180 s');
  return w;
}

interface Driven {
  t0: number;
  sampler: Sampler;
  reports: ClientReport[];
  settled: boolean;
  overrunMs: number;
  /** What went wrong before any check: workers that did not report. */
  violations: string[];
}

/** The run: clients until the deadline, trouble workers let loose one by one meanwhile; returns once every client reported. */
async function drive(o: StressSettings, lab: StressLab, w: Workers, log: (line: string) => void): Promise<Driven> {
  const t0 = performance.now();
  const sampler = new Sampler(t0, o);
  const deadline = Date.now() + o.seconds * 1000;
  goRegularWorkers(w.regulars, deadline);
  const troubleDone = runTroubleSchedule(lab, w.trouble, t0, o.abandonEveryMs, log);
  const violations: string[] = [];
  const waitMs = Math.max(0, deadline - Date.now()) + o.graceMs;
  const { reports, settled } = await collectReports(w.regulars, waitMs, o.graceMs, violations);
  const overrunMs = Math.max(0, performance.now() - (t0 + o.seconds * 1000));
  await within(troubleDone, o.graceMs);
  sampler.stopGcSamples();
  return { t0, sampler, reports, settled, overrunMs, violations };
}

interface Ended {
  endState: EndState;
  counts: LabCounts;
  ports: StressPorts;
}

/**
 * Reads what the broker holds and counted with every client done but the workers still alive
 * (nothing may be held), then lets the workers end by themselves; past the grace, terminates
 * them (counted as not exited).
 */
async function endWorkers(o: StressSettings, lab: StressLab, w: Workers): Promise<Ended> {
  const holds = brokerHolds(lab);
  // A command written just before the end may still be on its way through the pty: let the
  // simulators' command counts settle (unchanged for 50 ms, at most 1 s) before reading them.
  for (let last = '', stableSince = performance.now(), t0 = stableSince; performance.now() - t0 < 1000;) {
    const now = JSON.stringify(lab.counts().simCommands);
    if (now !== last) [last, stableSince] = [now, performance.now()];
    else if (performance.now() - stableSince >= 50) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const counts = lab.counts();
  const exited = (await endRegularWorkers(w.regulars, o.graceMs)) + (await endTroubleWorkers(w.trouble, o.graceMs));
  const endState = { ...holds, workersExited: exited, workers: w.regulars.length + w.trouble.length };
  return { endState, counts, ports: lab.ports };
}

/** Every check, in order: clients, failures, ports, trouble workers, VISA, end state, leaks. */
function judge(o: StressSettings, w: Workers, run: Driven, end: Ended, trouble: TroubleRecord[]) {
  const { reports, settled, overrunMs } = run;
  const c = new CheckList(run.violations);
  const expectedClients = w.regulars.length * (o.serialClientsPerWorker + o.visaClientsPerWorker);
  checkClientsReported(c, { settled, overrunMs, graceMs: o.graceMs, reports, expectedClients });
  const totals = clientTotals(reports);
  checkFailures(c, totals);
  const ports = reconcilePorts(c, end.ports, reports, trouble, end.counts);
  checkTroubleWorkers(c, trouble, troubleCount(o));
  const visa = reconcileVisa(c, reports, trouble, end.counts.visa);
  checkEndState(c, end.endState, w.regulars);
  const leak = run.sampler.leak();
  run.sampler.checkLeak(c, leak);
  return { checks: c.checks, totals, ports, visa, leak };
}

export async function runStress(opts: StressOptions): Promise<StressResult> {
  const o = resolveOptions(opts);
  const log = opts.log ?? (() => undefined);
  const lab = await startLab();
  const w = await startWorkers(o, lab, log);
  const run = await drive(o, lab, w, log);
  const end = await endWorkers(o, lab, w);
  run.sampler.stop();
  const trouble = creditTrouble(w.trouble, end.counts);
  await lab.close();
  const durationMs = performance.now() - run.t0;
  const { checks, totals, ports, visa, leak } = judge(o, w, run, end, trouble);
  const { violations } = run;
  log(summaryLine({ totals, durationMs, ports, visa, violations }));
  return {
    ok: violations.length === 0,
    violations,
    checks,
    options: o,
    durationMs: Math.round(durationMs),
    overrunMs: Math.round(run.overrunMs),
    totals,
    ports,
    visa,
    trouble,
    endState: end.endState,
    samples: run.sampler.samples,
    leak,
    clients: withoutWaits(run.reports),
  };
}
