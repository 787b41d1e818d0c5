// Production stability, part 1: V2 and V4 worker threads (3 each) hammer a shared Elliptec bus,
// a Newport 1830-C and a SCPI instrument's VISA queue through the broker for STRESS_SECONDS
// (default 40), with injected trouble (1 ms timeouts, revocations, refused releases, workers
// that die holding a lease). Every client's counts must reconcile exactly with the broker's
// counters and the simulators', the ports must be shared fairly, and nothing may be left.
//
// Bounds (BOUNDS in benchmarks/src/stress/bounds.ts), and why:
// - share of a port's grants per client within 0.75..1.25 of the mean: every serial client
//   runs the same cycle (bus, bus, meter) with the same trouble rate, so under FIFO they get
//   the same share; the spread seen here is a few percent (±0.25 leaves room for event-loop
//   noise on 2 cores; a scheduler that favours one worker or subsystem breaks it).
// - longest broker-side wait for a port <= competitors × (longest hold + 150 ms) + 500 ms:
//   under FIFO a new waiter has at most every other client (and one trouble worker) ahead,
//   each holding at most the longest hold seen, plus a hand-over (settle after an unanswered
//   command: 50 ms + 20 byte times ≈ 71 ms at 9600 baud, then a flush); 500 ms covers GC and
//   event-loop stalls. A LIFO or unfair queue leaves someone waiting far beyond that.
// - VISA queue wait <= high-water mark × (longest latency + 150 ms) + 500 ms, same reasoning
//   (150 ms also covers a 1 ms timeout plus the reconnect that clears the session).
// - heap growth after warm-up <= 24 MB and lasting handles (sockets, ptys: not timers or
//   worker message ports) growth <= 2 (a VISA reconnect in progress), between
//   two samples taken right after a full GC (a leak of ~1 kB per command, ~30 MB per run, fails).

import t from 'tap';
import { runStress, BOUNDS, INJECTED_FAILURES, type StressResult } from '../benchmarks/src/stress.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const seconds = Number(process.env.STRESS_SECONDS ?? 40);
// Loading a dozen worker threads through the TypeScript loader takes a while on 2 cores.
t.setTimeout((seconds + 240) * 1000);

const before = handleSnapshot();
let r: StressResult;

t.before(async () => {
  r = await runStress({ seconds, log: (l) => t.comment(l) });
});

t.test('the run ends in time with every client reporting', async (t) => {
  t.ok(r.overrunMs <= r.options.graceMs, `last report ${r.overrunMs} ms after the deadline`);
  t.equal(r.totals.clients, 18, '6 workers × (2 serial + 1 VISA clients)');
  t.ok(r.totals.answered >= seconds * 20, `${r.totals.answered} commands answered in ${seconds} s`);
  t.same(
    r.clients.filter((c) => c.issued !== c.answered + c.failed).map((c) => c.name),
    [],
    'issued == answered + failed for every client',
  );
  t.equal(r.totals.issued, r.totals.answered + r.totals.failed);
  t.same(r.totals.unexpected, {}, 'no regular operation failed');
  t.notOk(r.totals.failedByCode.WRONG_REPLY, 'no client got another command’s reply');
  for (const code of ['DAQ_READ_TIMEOUT', 'DAQ_LEASE_REVOKED', 'DAQ_INVALID_ARGUMENT', 'DAQ_VISA_TIMEOUT', 'DAQ_LEASE_TIMEOUT'])
    t.ok((r.totals.failedByCode[code] ?? 0) > 0, `trouble was injected: ${code} × ${r.totals.failedByCode[code] ?? 0}`);
  t.same(
    Object.keys(r.totals.failedByCode).filter((c) => !INJECTED_FAILURES.includes(c)),
    [],
    'only the injected failures',
  );
});

t.test('serial counts reconcile exactly with the pool and the simulators', async (t) => {
  for (const k of ['bus', 'newport'] as const) {
    const p = r.ports[k];
    const s = p.stats;
    const sumOf = (f: (c: StressResult['clients'][number]) => number) => r.clients.reduce((n, c) => n + f(c), 0);
    const expectedOwners: Record<string, number> = {};
    for (const c of r.clients) if (c.grants[k] > 0) expectedOwners[`${c.worker}:${c.name}`] = c.grants[k];
    for (const x of r.trouble) if (x.port === k && x.brokerGrants > 0) expectedOwners[`${x.identity}:abandoner`] = x.brokerGrants;
    t.same(s.byOwner, expectedOwners, `${k}: grants per owner`);
    t.equal(s.acquisitions, sumOf((c) => c.grants[k]) + p.troubleGrants, `${k}: acquisitions`);
    t.equal(
      s.leaseTimeouts,
      sumOf((c) => c.portFailures[k].DAQ_LEASE_TIMEOUT ?? 0),
      `${k}: lease timeouts`,
    );
    t.equal(
      s.readTimeouts,
      sumOf((c) => c.portFailures[k].DAQ_READ_TIMEOUT ?? 0),
      `${k}: read timeouts`,
    );
    t.equal(
      s.revocations,
      sumOf((c) => c.portFailures[k].DAQ_LEASE_REVOKED ?? 0),
      `${k}: revocations`,
    );
    t.equal(
      s.bytesOut,
      sumOf((c) => c.bytesOut[k]),
      `${k}: bytes written`,
    );
    t.equal(
      p.simCommands,
      sumOf((c) => c.writes[k]),
      `${k}: every command written reached the instrument`,
    );
    t.ok(
      s.settles <= s.readTimeouts && s.settles >= s.readTimeouts - 1,
      `${k}: ${s.settles} settles for ${s.readTimeouts} unanswered`,
    );
    t.equal(s.portErrors + s.reopens, 0, `${k}: no port errors`);
  }
});

t.test('a worker that dies holding a lease or queued for one loses it, and its VISA command', async (t) => {
  t.ok(r.trouble.length >= 3, `${r.trouble.length} trouble workers`);
  t.ok(
    r.trouble.some((x) => x.how === 'throw') &&
      r.trouble.some((x) => x.how === 'exit') &&
      r.trouble.some((x) => x.how === 'terminate'),
    'died by exception, process.exit and terminate',
  );
  for (const x of r.trouble) {
    t.not(x.exitCode, null, `${x.identity} exited`);
    if (x.kind === 'hold') {
      t.same(x.released?.leases, 1, `${x.identity} (${x.how}): its lease was released at exit`);
      t.equal(x.brokerGrants, 1);
      t.equal(x.visaExecuted + (x.released?.commands ?? -1), 1, `${x.identity}: its VISA command ran or failed at exit`);
    } else {
      t.equal(x.released?.leases, x.brokerGrants, `${x.identity} (${x.how}): released iff granted before it died`);
    }
  }
});

t.test('VISA counts reconcile exactly with the queue', async (t) => {
  const v = r.visa.stats;
  const visaClients = r.clients.filter((c) => c.kind === 'visa');
  const executed = r.trouble.reduce((n, x) => n + x.visaExecuted, 0);
  const expectedOwners: Record<string, number> = {};
  for (const c of visaClients) expectedOwners[`${c.worker}:${c.name}`] = c.visaIssued;
  for (const x of r.trouble) if (x.visaExecuted > 0) expectedOwners[`${x.identity}:abandoner`] = x.visaExecuted;
  t.same(v.perOwner, expectedOwners, 'commands per owner');
  t.equal(v.commands, r.visa.clientIssued + executed, 'commands run');
  t.equal(
    v.timeouts,
    visaClients.reduce((n, c) => n + c.visaTimeouts, 0),
    'timeouts',
  );
  t.equal(v.commands - v.timeouts - v.errors, r.visa.clientAnswered + executed, 'completed == answered');
  t.equal(v.errors, 0);
  t.equal(v.clears, v.timeouts, 'the session was cleared after every timeout');
});

t.test('fairness within bounds', async (t) => {
  for (const k of ['bus', 'newport'] as const) {
    const p = r.ports[k];
    t.ok(p.shares.min >= BOUNDS.shareMin && p.shares.max <= BOUNDS.shareMax, `${k}: shares ${p.shares.min}..${p.shares.max}`);
    t.ok(p.stats.waitMs.maxMs <= p.waitBoundMs, `${k}: longest wait ${p.stats.waitMs.maxMs} ms <= ${p.waitBoundMs} ms`);
  }
  const v = r.visa;
  t.ok(v.shares.min >= BOUNDS.shareMin && v.shares.max <= BOUNDS.shareMax, `visa: shares ${v.shares.min}..${v.shares.max}`);
  t.ok(
    v.stats.queueWaitMs.maxMs <= v.waitBoundMs,
    `visa: longest queue wait ${v.stats.queueWaitMs.maxMs} ms <= ${v.waitBoundMs} ms`,
  );
});

t.test('nothing held, nothing waiting, every worker gone', async (t) => {
  t.same(
    { leasesHeld: r.endState.leasesHeld, waiters: r.endState.waiters, visaPending: r.endState.visaPending },
    { leasesHeld: 0, waiters: 0, visaPending: 0 },
  );
  t.equal(r.endState.workersExited, r.endState.workers, `${r.endState.workers} workers exited`);
});

t.test('heap and handles stay flat after warm-up', async (t) => {
  const gc = r.samples.filter((s) => s.gc);
  t.equal(gc.length, 2, 'a sample after a full GC at warm-up and at the end');
  t.ok(r.leak.heapGrowthMB <= BOUNDS.heapGrowthMB, `heap grew ${r.leak.heapGrowthMB} MB`);
  t.ok(r.leak.handleGrowth <= BOUNDS.handleGrowth, `lasting handles grew by ${r.leak.handleGrowth}`);
  t.ok(r.samples.length >= seconds / 2, `${r.samples.length} samples`);
});

t.test('the engine found no violation', async (t) => {
  t.same(r.violations, []);
});

t.test('nothing left open', async (t) => {
  await assertNoNewHandles(t, before);
});
