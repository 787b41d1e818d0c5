// `npm run soak -- [--hours H] [--report-every M] [--stress-seconds S] [--acquire-seconds S]`:
// loops the contention stress engine (stress.ts) and a headless acquisition of
// examples/demo.toml for hours, printing each round's figures and, every M minutes, the
// heap/handle trend; writes benchmarks/results/soak-<date>.json; exits 0 on pass, 1 on fail.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '@daq/core';
import { startAcquisition, type Acquisition } from '@daq/broker';
import { describeMachine } from './machine.js';
import { BOUNDS, runStress, type StressResult } from './stress.js';

const demo = fileURLToPath(new URL('../../examples/demo.toml', import.meta.url));
const MB = 2 ** 20;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Point {
  round: number;
  tMin: number;
  heapUsedMB: number;
  rssMB: number;
  /** Handles other than timers (sockets, ptys, files, ...), after the round, after a GC. */
  handles: Record<string, number>;
}

interface RoundReport {
  round: number;
  startedAt: string;
  stress: Omit<StressResult, 'samples' | 'clients' | 'checks'> & { samples: number };
  acquisition?: {
    seconds: number;
    status: string;
    rows: Record<string, number>;
    stored: number;
    dropped: number;
    late: number;
    crashes: number;
    error?: string;
  };
  after: Point;
  ok: boolean;
  problems: string[];
}

/** A point once the handles closed at the end of a round are gone (closes land a little later), at most 2 s. */
async function settledPoint(roundNo: number, started: number, baseline: number): Promise<Point> {
  let p = point(roundNo, started);
  for (let i = 0; i < 40 && total(p.handles) > baseline; i++) {
    await new Promise((r) => setTimeout(r, 50));
    p = point(roundNo, started);
  }
  return p;
}

function point(roundNo: number, started: number): Point {
  gc();
  gc();
  const m = process.memoryUsage();
  const handles: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Timeout' && r !== 'Immediate') handles[r] = (handles[r] ?? 0) + 1;
  return {
    round: roundNo,
    tMin: round((Date.now() - started) / 60_000, 2),
    heapUsedMB: round(m.heapUsed / MB, 2),
    rssMB: round(m.rss / MB, 1),
    handles,
  };
}

const total = (h: Record<string, number>) => Object.values(h).reduce((a, b) => a + b, 0);

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function trend(points: Point[]) {
  // The first round warms up (JIT, module caches, pools): the trend starts after it.
  const steady = points.length > 1 ? points.slice(1) : points;
  const first = steady[0];
  const last = steady[steady.length - 1];
  return {
    rounds: points.length,
    heapGrowthMB: first && last ? round(last.heapUsedMB - first.heapUsedMB, 2) : 0,
    heapSlopeMBPerHour: round(
      slope(
        steady.map((p) => p.tMin / 60),
        steady.map((p) => p.heapUsedMB),
      ),
      2,
    ),
    rssMB: last?.rssMB ?? 0,
    handleGrowth: first && last ? total(last.handles) - total(first.handles) : 0,
  };
}

async function acquire(seconds: number): Promise<NonNullable<RoundReport['acquisition']>> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-soak-'));
  let acq: Acquisition | undefined;
  try {
    acq = await startAcquisition(await loadConfig(demo), { out: join(dir, 'run') });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const progress = acq.progress();
    const record = await acq.stop('completed');
    return {
      seconds,
      status: record.status,
      rows: progress.rows,
      stored: progress.stored,
      dropped: acq.dropped(),
      late: progress.late,
      crashes: acq.crashes.length,
    };
  } catch (e) {
    await acq?.stop('failed', String(e)).catch(() => undefined);
    return { seconds, status: 'failed', rows: {}, stored: 0, dropped: 0, late: 0, crashes: 0, error: String(e) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      hours: { type: 'string', default: '4' },
      'report-every': { type: 'string', default: '10' },
      'stress-seconds': { type: 'string', default: '60' },
      'acquire-seconds': { type: 'string', default: '30' },
    },
  });
  const hours = Number(values.hours);
  const reportEveryMin = Number(values['report-every']);
  const stressSeconds = Number(values['stress-seconds']);
  const acquireSeconds = Number(values['acquire-seconds']);
  for (const [k, v] of Object.entries({ hours, reportEveryMin, stressSeconds }))
    if (!(v > 0)) throw new Error(`soak: ${k} must be a positive number, got ${v}`);
  const started = Date.now();
  const end = started + hours * 3_600_000;
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const dir = new URL('../results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const file = new URL(`soak-${stamp}.json`, dir);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`soak: ${hours} h until ${new Date(end).toISOString()}; report every ${reportEveryMin} min → ${fileURLToPath(file)}`);

  const rounds: RoundReport[] = [];
  const points: Point[] = [point(0, started)];
  let nextReport = started + reportEveryMin * 60_000;
  const write = async (final: boolean) => {
    const t = trend(points.slice(1));
    const failedRounds = rounds.filter((r) => !r.ok).map((r) => r.round);
    const problems = [
      ...(rounds.length === 0 ? ['no round ran'] : []),
      ...(failedRounds.length ? [`rounds failed: ${failedRounds.join(', ')}`] : []),
      ...(t.heapGrowthMB > BOUNDS.heapGrowthMB
        ? [`heap grew ${t.heapGrowthMB} MB across rounds (bound ${BOUNDS.heapGrowthMB})`]
        : []),
      ...(t.handleGrowth > BOUNDS.handleGrowth
        ? [`handles grew by ${t.handleGrowth} across rounds (bound ${BOUNDS.handleGrowth})`]
        : []),
    ];
    const report = {
      date: new Date(started).toISOString(),
      final,
      hours,
      elapsedMin: round((Date.now() - started) / 60_000, 2),
      machine: describeMachine(),
      bounds: BOUNDS,
      pass: problems.length === 0,
      problems,
      trend: t,
      points,
      rounds,
    };
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    return report;
  };

  for (let n = 1; Date.now() < end; n++) {
    const remainingS = (end - Date.now()) / 1000;
    const seconds = Math.max(10, Math.min(stressSeconds, Math.round(remainingS)));
    const startedAt = new Date().toISOString();
    const s = await runStress({ seconds });
    const problems = [...s.violations];
    let acquisition: RoundReport['acquisition'];
    const left = (end - Date.now()) / 1000;
    if (acquireSeconds > 0 && left >= 5) {
      acquisition = await acquire(Math.min(acquireSeconds, Math.round(left)));
      if (acquisition.status !== 'completed') problems.push(`acquisition ${acquisition.status}: ${acquisition.error ?? ''}`);
      if (acquisition.dropped > 0) problems.push(`acquisition dropped ${acquisition.dropped} rows`);
      if (acquisition.crashes > 0) problems.push(`acquisition: ${acquisition.crashes} worker crashes`);
    }
    const after = await settledPoint(n, started, Math.min(...points.map((p) => total(p.handles))));
    points.push(after);
    const { samples, clients: _c, checks: _k, ...rest } = s;
    rounds.push({
      round: n,
      startedAt,
      stress: { ...rest, samples: samples.length },
      acquisition,
      after,
      ok: problems.length === 0,
      problems,
    });
    log(
      `round ${n}: ${s.ok ? 'ok' : 'FAIL'} ${s.totals.issued} commands (${s.totals.answered} answered, ${s.totals.failed} failed), ` +
        `bus ${s.ports.bus.stats.acquisitions} / meter ${s.ports.newport.stats.acquisitions} grants (shares ${s.ports.bus.shares.min}..${s.ports.bus.shares.max}), ` +
        `visa ${s.visa.stats.commands}, wait max ${round(s.ports.bus.stats.waitMs.maxMs)}/${round(s.ports.newport.stats.waitMs.maxMs)} ms, ` +
        `heap +${s.leak.heapGrowthMB} MB in-round` +
        (acquisition
          ? `; acquisition ${acquisition.status}, ${acquisition.stored} rows stored, ${acquisition.dropped} dropped`
          : '') +
        `; after: heap ${after.heapUsedMB} MB, rss ${after.rssMB} MB, ${total(after.handles)} handles` +
        (problems.length ? `\n  ${problems.join('\n  ')}` : ''),
    );
    if (Date.now() >= nextReport) {
      nextReport += reportEveryMin * 60_000;
      const r = await write(false);
      log(
        `soak report at ${r.elapsedMin} min: ${r.trend.rounds} rounds, heap ${r.trend.heapGrowthMB >= 0 ? '+' : ''}${r.trend.heapGrowthMB} MB (${r.trend.heapSlopeMBPerHour} MB/h), handles ${r.trend.handleGrowth >= 0 ? '+' : ''}${r.trend.handleGrowth}, rss ${r.trend.rssMB} MB; ${r.pass ? 'pass so far' : `FAIL: ${r.problems.join('; ')}`}`,
      );
    }
  }
  const r = await write(true);
  log(
    `soak ${r.pass ? 'PASS' : 'FAIL'} after ${r.elapsedMin} min, ${rounds.length} rounds: heap ${r.trend.heapGrowthMB} MB across rounds ` +
      `(bound ${BOUNDS.heapGrowthMB} MB; slope ${r.trend.heapSlopeMBPerHour} MB/h), handles ${r.trend.handleGrowth} (bound ${BOUNDS.handleGrowth})` +
      (r.problems.length ? `\n  ${r.problems.join('\n  ')}` : '') +
      `\n→ ${fileURLToPath(file)}`,
  );
  process.stdout.write(`${JSON.stringify({ pass: r.pass, rounds: rounds.length, trend: r.trend, problems: r.problems })}\n`);
  return r.pass ? 0 : 1;
}

process.exitCode = await main();
