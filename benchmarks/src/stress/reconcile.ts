// Reconciliation of counts: every client's counts against each other, against the broker's
// counters (per port and owner, per VISA owner) and against what the simulators received; the
// failures against the injected ones; fairness and queue waits against BOUNDS.

import type { PortStats, VisaStats } from '@daq/broker';
import type { ClientReport, PortKey } from '../workers/stress-client.js';
import { BOUNDS } from './bounds.js';
import type { CheckList } from './check-list.js';
import { quantile, round, shares, sum } from './numbers.js';
import type { LabCounts } from './scenario.js';
import type { TroubleRecord } from './trouble-workers.js';

/** The clients' counts summed (their failure messages: one per code). */
export type ClientTotals = { clients: number } & Pick<
  ClientReport,
  'issued' | 'answered' | 'failed' | 'failedByCode' | 'samples' | 'unexpected' | 'troubleOps'
>;

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

export interface VisaFigures {
  stats: VisaStats;
  clientIssued: number;
  clientAnswered: number;
  shares: { min: number; max: number };
  waitBoundMs: number;
}

/** The failure codes trouble operations provoke; any other is a fault of the broker. */
export const INJECTED_FAILURES: readonly string[] = [
  'DAQ_LEASE_TIMEOUT',
  'DAQ_READ_TIMEOUT',
  'DAQ_LEASE_REVOKED',
  'DAQ_PORT_BUSY',
  'DAQ_INVALID_ARGUMENT',
  'DAQ_VISA_TIMEOUT',
];

/** Every client reported in time, and each client's own counts add up. */
export function checkClientsReported(
  c: CheckList,
  r: { settled: boolean; overrunMs: number; graceMs: number; reports: ClientReport[]; expectedClients: number },
): void {
  c.check(
    'no deadlock',
    r.settled && r.overrunMs <= r.graceMs,
    `last client reported ${Math.round(r.overrunMs)} ms after the deadline (grace ${r.graceMs} ms)`,
  );
  c.check('every client reported', r.reports.length === r.expectedClients, `${r.reports.length} of ${r.expectedClients}`);
  const unbalanced = r.reports.filter((x) => x.issued !== x.answered + x.failed);
  c.check(
    'issued == answered + failed for every client',
    unbalanced.length === 0,
    unbalanced.map((x) => `${x.name}: ${x.issued} != ${x.answered} + ${x.failed}`).join('; ') || `${r.reports.length} clients`,
  );
  c.check(
    'failures all carry a code',
    r.reports.every((x) => sum(Object.values(x.failedByCode)) === x.failed),
    'failedByCode sums to failed',
  );
}

function addCounts(into: Record<string, number>, counts: Record<string, number>): void {
  for (const [k, n] of Object.entries(counts)) into[k] = (into[k] ?? 0) + n;
}

export function clientTotals(reports: ClientReport[]): ClientTotals {
  const totals: ClientTotals = {
    clients: reports.length,
    issued: sum(reports.map((r) => r.issued)),
    answered: sum(reports.map((r) => r.answered)),
    failed: sum(reports.map((r) => r.failed)),
    failedByCode: {},
    samples: {},
    unexpected: {},
    troubleOps: sum(reports.map((r) => r.troubleOps)),
  };
  for (const r of reports) {
    addCounts(totals.failedByCode, r.failedByCode);
    addCounts(totals.unexpected, r.unexpected);
    Object.assign(totals.samples, { ...r.samples, ...totals.samples });
  }
  return totals;
}

/** Only trouble operations failed, only with the injected codes, and every kind of trouble happened. */
export function checkFailures(c: CheckList, totals: ClientTotals): void {
  c.check('regular operations never fail', Object.keys(totals.unexpected).length === 0, JSON.stringify(totals.unexpected));
  c.check('no reply ever reaches the wrong client', !totals.failedByCode.WRONG_REPLY, totals.samples.WRONG_REPLY ?? 'none');
  const strange = Object.keys(totals.failedByCode).filter((code) => !INJECTED_FAILURES.includes(code));
  c.check('failures are only the injected ones', strange.length === 0, strange.join(', ') || INJECTED_FAILURES.join(', '));
  for (const code of ['DAQ_READ_TIMEOUT', 'DAQ_LEASE_REVOKED', 'DAQ_INVALID_ARGUMENT', 'DAQ_VISA_TIMEOUT'])
    c.check(`trouble happened: ${code}`, (totals.failedByCode[code] ?? 0) > 0, `${totals.failedByCode[code] ?? 0}`);
}

/** A port's figures: the broker's counters beside the clients' and the simulator's. */
function portFigures(
  k: PortKey,
  path: string,
  reports: ClientReport[],
  trouble: TroubleRecord[],
  counts: LabCounts,
): PortFigures {
  const s = counts.ports[k];
  const serialClients = reports.filter((r) => r.kind === 'serial');
  const competitors = serialClients.length + 1; // + at most one trouble worker at a time
  const waits = serialClients.flatMap((r) => r.waitsMs[k]);
  return {
    path,
    stats: s,
    clientGrants: sum(reports.map((r) => r.grants[k])),
    troubleGrants: sum(trouble.filter((t) => t.port === k).map((t) => t.brokerGrants)),
    simCommands: counts.simCommands[k],
    clientWrites: sum(reports.map((r) => r.writes[k])),
    shares: shares(serialClients.map((r) => r.grants[k])),
    waitBoundMs: round(competitors * (s.holdMs.maxMs + BOUNDS.handoverMs) + BOUNDS.slackMs, 0),
    clientWaitMs: { p50: round(quantile(waits, 0.5)), p99: round(quantile(waits, 0.99)), max: round(Math.max(0, ...waits)) },
  };
}

/** Grants per owner as the clients and trouble workers count them, and as the broker does. */
function checkGrantsPerOwner(c: CheckList, k: PortKey, s: PortStats, reports: ClientReport[], trouble: TroubleRecord[]): void {
  const owners = new Map<string, number>();
  for (const r of reports) if (r.grants[k] > 0) owners.set(`${r.worker}:${r.name}`, r.grants[k]);
  for (const t of trouble) if (t.port === k && t.brokerGrants > 0) owners.set(`${t.identity}:abandoner`, t.brokerGrants);
  const mismatched = [...new Set([...owners.keys(), ...Object.keys(s.byOwner)])].filter(
    (w) => (owners.get(w) ?? 0) !== (s.byOwner[w] ?? 0),
  );
  c.check(
    `${k}: grants per owner match the broker's`,
    mismatched.length === 0,
    mismatched.map((w) => `${w}: client ${owners.get(w) ?? 0}, broker ${s.byOwner[w] ?? 0}`).join('; ') ||
      `${owners.size} owners`,
  );
}

function checkPortCounts(c: CheckList, k: PortKey, p: PortFigures, reports: ClientReport[], trouble: TroubleRecord[]): void {
  const s = p.stats;
  const pf = (code: string) => sum(reports.map((r) => r.portFailures[k][code] ?? 0));
  c.check(
    `${k}: acquisitions == client grants + trouble grants`,
    s.acquisitions === p.clientGrants + p.troubleGrants,
    `${s.acquisitions} vs ${p.clientGrants} + ${p.troubleGrants}`,
  );
  checkGrantsPerOwner(c, k, s, reports, trouble);
  c.check(
    `${k}: lease timeouts match`,
    s.leaseTimeouts === pf('DAQ_LEASE_TIMEOUT'),
    `${s.leaseTimeouts} vs ${pf('DAQ_LEASE_TIMEOUT')}`,
  );
  c.check(
    `${k}: read timeouts match`,
    s.readTimeouts === pf('DAQ_READ_TIMEOUT'),
    `${s.readTimeouts} vs ${pf('DAQ_READ_TIMEOUT')}`,
  );
  c.check(`${k}: revocations match`, s.revocations === pf('DAQ_LEASE_REVOKED'), `${s.revocations} vs ${pf('DAQ_LEASE_REVOKED')}`);
  const bytes = sum(reports.map((r) => r.bytesOut[k]));
  c.check(`${k}: bytes out match`, s.bytesOut === bytes, `${s.bytesOut} vs ${bytes}`);
  c.check(
    `${k}: every command written reached the instrument`,
    p.simCommands === p.clientWrites,
    `simulator ${p.simCommands} vs clients ${p.clientWrites}`,
  );
  c.check(
    `${k}: a settle after every unanswered command`,
    s.settles <= s.readTimeouts && s.settles >= s.readTimeouts - 1,
    `${s.settles} settles, ${s.readTimeouts} read timeouts`,
  );
  c.check(`${k}: no port errors`, s.portErrors === 0 && s.reopens === 0, `${s.portErrors} errors, ${s.reopens} reopens`);
}

function checkPortFairness(c: CheckList, k: PortKey, p: PortFigures, competitors: number): void {
  const { stats: s, shares: sh } = p;
  c.check(
    `${k}: fair share`,
    sh.min >= BOUNDS.shareMin && sh.max <= BOUNDS.shareMax,
    `${sh.min}..${sh.max} of the mean (bound ${BOUNDS.shareMin}..${BOUNDS.shareMax})`,
  );
  c.check(
    `${k}: max wait bounded by the queue`,
    s.waitMs.maxMs <= p.waitBoundMs,
    `max ${round(s.waitMs.maxMs)} ms <= ${competitors} × (hold max ${round(s.holdMs.maxMs)} + ${BOUNDS.handoverMs}) + ${BOUNDS.slackMs} = ${p.waitBoundMs} ms`,
  );
}

/** Both serial ports: figures, counts reconciled, fairness. */
export function reconcilePorts(
  c: CheckList,
  paths: Record<PortKey, string>,
  reports: ClientReport[],
  trouble: TroubleRecord[],
  counts: LabCounts,
): Record<PortKey, PortFigures> {
  const competitors = reports.filter((r) => r.kind === 'serial').length + 1;
  const figures = {} as Record<PortKey, PortFigures>;
  for (const k of ['bus', 'newport'] as const) {
    const p = (figures[k] = portFigures(k, paths[k], reports, trouble, counts));
    checkPortCounts(c, k, p, reports, trouble);
    checkPortFairness(c, k, p, competitors);
  }
  return figures;
}

/** Each trouble worker's lease (and, holding, its VISA command) was released when it died. */
export function checkTroubleWorkers(c: CheckList, trouble: TroubleRecord[], expected: number): void {
  for (const t of trouble) {
    const expectLeases = t.kind === 'hold' ? 1 : t.brokerGrants;
    c.check(
      `${t.identity} (${t.kind}, ${t.how}): its lease released at exit`,
      t.released !== null && t.released.leases === expectLeases && t.brokerGrants === expectLeases,
      `released ${JSON.stringify(t.released)}, granted ${t.brokerGrants}`,
    );
    if (t.kind === 'hold')
      c.check(
        `${t.identity}: its VISA command ran or was failed at exit`,
        t.released !== null && t.visaExecuted + t.released.commands === 1,
        `executed ${t.visaExecuted}, failed at exit ${t.released?.commands}`,
      );
  }
  c.check('trouble workers ran', trouble.length > 0 || expected === 0, `${trouble.length}`);
}

function checkVisaCounts(c: CheckList, v: VisaFigures, visaClients: ClientReport[], trouble: TroubleRecord[]): void {
  const s = v.stats;
  const tExecuted = sum(trouble.map((t) => t.visaExecuted));
  c.check(
    'visa: commands == client queries + trouble commands run',
    s.commands === v.clientIssued + tExecuted,
    `${s.commands} vs ${v.clientIssued} + ${tExecuted}`,
  );
  const mismatch = visaClients.filter((r) => (s.perOwner[`${r.worker}:${r.name}`] ?? 0) !== r.visaIssued);
  const owners = visaClients.length + trouble.filter((t) => t.visaExecuted > 0).length;
  c.check(
    'visa: commands per owner match',
    mismatch.length === 0 && Object.keys(s.perOwner).length === owners,
    mismatch.map((r) => `${r.name}: ${r.visaIssued} vs ${s.perOwner[`${r.worker}:${r.name}`]}`).join('; ') || `${owners} owners`,
  );
  const timeouts = sum(visaClients.map((r) => r.visaTimeouts));
  c.check('visa: timeouts match', s.timeouts === timeouts, `${s.timeouts} vs ${timeouts}`);
  c.check(
    'visa: completed == answered',
    s.commands - s.timeouts - s.errors === v.clientAnswered + tExecuted,
    `${s.commands - s.timeouts - s.errors} vs ${v.clientAnswered} + ${tExecuted}`,
  );
  c.check(
    'visa: no errors, a clear after every timeout',
    s.errors === 0 && s.clears === s.timeouts,
    `${s.errors} errors, ${s.clears} clears`,
  );
}

function checkVisaFairness(c: CheckList, v: VisaFigures): void {
  const s = v.stats;
  c.check(
    'visa: fair share',
    v.shares.min >= BOUNDS.shareMin && v.shares.max <= BOUNDS.shareMax,
    `${v.shares.min}..${v.shares.max}`,
  );
  c.check(
    'visa: max queue wait bounded by the queue',
    s.queueWaitMs.maxMs <= v.waitBoundMs,
    `max ${round(s.queueWaitMs.maxMs)} ms <= ${s.queueHighWater} × (latency max ${round(s.latencyMs.maxMs)} + ${BOUNDS.handoverMs}) + ${BOUNDS.slackMs} = ${v.waitBoundMs} ms`,
  );
}

/** The VISA queue: figures, counts reconciled, fairness. */
export function reconcileVisa(c: CheckList, reports: ClientReport[], trouble: TroubleRecord[], stats: VisaStats): VisaFigures {
  const visaClients = reports.filter((r) => r.kind === 'visa');
  const v: VisaFigures = {
    stats,
    clientIssued: sum(visaClients.map((r) => r.visaIssued)),
    clientAnswered: sum(visaClients.map((r) => r.visaAnswered)),
    shares: shares(visaClients.map((r) => r.visaIssued)),
    // Each command ahead runs at most its latency, or a 1 ms timeout plus a reconnect.
    waitBoundMs: round(stats.queueHighWater * (Math.max(stats.latencyMs.maxMs, 1) + BOUNDS.handoverMs) + BOUNDS.slackMs, 0),
  };
  checkVisaCounts(c, v, visaClients, trouble);
  checkVisaFairness(c, v);
  return v;
}
