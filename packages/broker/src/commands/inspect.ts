// `daq inspect RUN_DIR_OR_FILE`: what a run holds: status and counts from run.json, each
// Arrow file's schema and rows, the time span, and per instrument its rows and channels
// (with min, max and mean). Reads whatever it is given, including a file cut short by a kill.

import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RecordBatchReader, type RecordBatch } from 'apache-arrow';
import type { CliIo } from '../cli-io.js';
import type { RunRecord } from '../run-record.js';
import type { ShadowReport } from '../shadow/shadow-comparator.js';
import { formatShadow } from '../shadow/shadow-format.js';
import type { PublishState } from '@daq/publish';

export interface FileSummary {
  file: string;
  schema: string[];
  rows: number;
  batches: number;
  /** Set when the file ends in the middle of a message (e.g. the run was killed mid-write). */
  truncated?: string;
}

export interface ChannelSummary {
  subsystem: string;
  instrument: string;
  channel: string;
  unit: string;
  rows: number;
  /** Rows with a null value (flagged by the instrument: overload, not-a-number), per flag; not in min/mean/max. */
  flagged?: Record<string, number>;
  min: number;
  max: number;
  mean: number;
}

/** plan.json of a plan run (daq plan run). */
export interface PlanSummary {
  plan: string;
  uid: string;
  points?: number;
  events: number;
  exitStatus: string;
  reason: string;
  skipped: { point: number; error: string }[];
  suspensions: { suspender: string; since: number; until?: number; point: number }[];
}

export interface InspectResult {
  run?: RunRecord;
  plan?: PlanSummary;
  /** A daq serve session's plan runs (plans/NNN-name/plan.json), in order. */
  planRuns?: (PlanSummary & { dir: string })[];
  /** shadow.json of a run in shadow mode. */
  shadow?: ShadowReport;
  /** publish.json of a published run: how far the publisher got (the newest word; run.json's publish is as of its last refresh). */
  published?: PublishState;
  files: FileSummary[];
  rows: number;
  firstNs?: bigint;
  lastNs?: bigint;
  channels: ChannelSummary[];
}

function column(batch: RecordBatch, name: string) {
  return batch.getChild(name);
}

/** Reads a run directory or one Arrow IPC file (stream or file format). */
export async function inspectPath(path: string): Promise<InspectResult> {
  const info = await stat(path);
  let run: RunRecord | undefined;
  let shadow: ShadowReport | undefined;
  let plan: PlanSummary | undefined;
  let planRuns: InspectResult['planRuns'];
  let published: PublishState | undefined;
  let files: string[];
  if (info.isDirectory()) {
    const names = await readdir(path);
    if (names.includes('run.json')) run = JSON.parse(await readFile(join(path, 'run.json'), 'utf8')) as RunRecord;
    if (names.includes('shadow.json')) shadow = JSON.parse(await readFile(join(path, 'shadow.json'), 'utf8')) as ShadowReport;
    if (names.includes('publish.json'))
      try {
        published = JSON.parse(await readFile(join(path, 'publish.json'), 'utf8')) as PublishState;
      } catch {
        // Written atomically; unreadable only if damaged by hand: run.json still says what it knew.
      }
    if (names.includes('plan.json')) plan = JSON.parse(await readFile(join(path, 'plan.json'), 'utf8')) as PlanSummary;
    if (names.includes('plans')) {
      planRuns = [];
      for (const dir of (await readdir(join(path, 'plans'))).sort())
        try {
          planRuns.push({ ...(JSON.parse(await readFile(join(path, 'plans', dir, 'plan.json'), 'utf8')) as PlanSummary), dir });
        } catch {
          // A plan run cut off before its record was written: its documents are still there.
        }
    }
    files = names
      .filter((n) => /\.(arrows|arrow|feather)$/.test(n))
      .sort()
      .map((n) => join(path, n));
  } else files = [path];

  const result: InspectResult = {
    run,
    ...(shadow ? { shadow } : {}),
    ...(published ? { published } : {}),
    ...(plan ? { plan } : {}),
    ...(planRuns ? { planRuns } : {}),
    files: [],
    rows: 0,
    channels: [],
  };
  const stats = new Map<string, ChannelSummary>();
  /** Rows with a value, per channel: the mean is over these (flagged rows have none). */
  const valued = new Map<string, number>();
  for (const file of files) {
    const bytes = await readFile(file);
    const summary: FileSummary = { file: basename(file), schema: [], rows: 0, batches: 0 };
    try {
      const reader = RecordBatchReader.from(bytes);
      reader.open();
      summary.schema = reader.schema.fields.map((f) => `${f.name}: ${f.type}${f.nullable ? '' : ' not null'}`);
      for (const batch of reader) {
        summary.batches++;
        summary.rows += batch.numRows;
        const ts = column(batch, 'timestamp');
        const tsValues = ts?.data[0]?.values as BigInt64Array | undefined;
        const cols = ['subsystem', 'instrument', 'channel', 'unit'].map((c) => column(batch, c));
        const flag = column(batch, 'flag');
        const value = column(batch, 'value');
        for (let i = 0; i < batch.numRows; i++) {
          if (tsValues) {
            const t = tsValues[i]!;
            if (result.firstNs === undefined || t < result.firstNs) result.firstNs = t;
            if (result.lastNs === undefined || t > result.lastNs) result.lastNs = t;
          }
          if (!value) continue;
          const [sub, inst, chan, unit] = cols.map((c) => (c ? String(c.get(i)) : ''));
          const key = `${sub}\u0000${inst}\u0000${chan}\u0000${unit}`;
          let s = stats.get(key);
          if (!s) {
            s = {
              subsystem: sub!,
              instrument: inst!,
              channel: chan!,
              unit: unit!,
              rows: 0,
              min: Infinity,
              max: -Infinity,
              mean: 0,
            };
            stats.set(key, s);
          }
          s.rows++;
          const v = value.get(i) as number | null;
          if (v === null) {
            const why = String(flag?.get(i) ?? 'null');
            s.flagged ??= {};
            s.flagged[why] = (s.flagged[why] ?? 0) + 1;
            continue;
          }
          const n = (valued.get(key) ?? 0) + 1;
          valued.set(key, n);
          s.min = Math.min(s.min, v);
          s.max = Math.max(s.max, v);
          s.mean += (v - s.mean) / n;
        }
      }
    } catch (e) {
      summary.truncated = (e as Error).message;
    }
    result.files.push(summary);
    result.rows += summary.rows;
  }
  result.channels = [...stats.values()].sort((a, b) =>
    `${a.instrument}\u0000${a.channel}`.localeCompare(`${b.instrument}\u0000${b.channel}`),
  );
  return result;
}

const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(6));

export function formatInspect(path: string, r: InspectResult): string {
  const out: string[] = [`${path}`];
  if (r.run) {
    const run = r.run;
    out.push(
      `  run: ${run.name}, status ${run.status}${run.reason ? ` (${run.reason})` : ''}, started ${run.startedAt}${run.stoppedAt ? `, stopped ${run.stoppedAt}` : ''}${run.durationS !== undefined ? ` (${run.durationS} s)` : ''}`,
    );
    const s = run.streams?.scalars;
    if (s) {
      const src = Object.entries(s.sources ?? {})
        .map(([k, c]) => `${k} ${c.in} in / ${c.out} out${c.late ? ` / ${c.late} late` : ''}`)
        .join(', ');
      out.push(
        `  counts: ${src || 'none'}; stored ${s.rowsFlushed}; dropped ${s.dropped}${s.rowsNotStored ? `; not stored ${s.rowsNotStored}` : ''}`,
      );
      if (s.flushErrors) out.push(`  write errors: ${s.flushErrors} (last: ${s.lastError})`);
    }
    for (const sub of run.subsystems ?? []) for (const c of sub.crashes) out.push(`  ${sub.name} crashed at ${c.at}: ${c.cause}`);
    for (const i of run.instruments ?? []) if (i.note) out.push(`  ${i.id}: ${i.note}`);
    const p = run.publish;
    if (p)
      out.push(
        `  publish: ${p.state} to ${p.stream} (${p.prefix}.${p.live?.run ?? '?'}.*): ${p.acked} messages acknowledged, ${p.bytes} bytes${p.medianLagS !== undefined ? `, median lag ${p.medianLagS} s` : ''}, ${p.pendingBytes} bytes waiting${p.error ? `; last error ${p.error.code}: ${p.error.message}` : ''}`,
      );
  }
  if (r.published) {
    const q = r.published;
    out.push(
      `  published (publish.json, ${q.updatedAt}): ${q.complete ? 'complete: every file acknowledged' : 'NOT complete: the next daq with this data_dir publishes the rest'}; ${q.messages} messages, ${q.bytes} bytes${q.lastError ? `; last error: ${q.lastError}` : ''}`,
    );
  }
  if (r.run) {
    const run = r.run;
    // Frame files can be large: their counts come from run.json (inspect one file to read it).
    for (const c of Object.values(run.streams?.frames ?? {})) {
      const d = c.dropped;
      const g = c.geometry ? `${c.geometry.width}x${c.geometry.height}x${c.geometry.bitDepth}` : '?';
      out.push(
        `  camera ${c.id} (${c.source ?? '?'}, ${g}): ${c.acquired} frames acquired, ${c.stored} stored, ${d.total} dropped` +
          (d.total ? ` (at the camera ${d.atSource}, ring ${d.ring}, storage ${d.storage})` : '') +
          `; ${c.files.length} frame file(s)${c.stats ? `; frame_stats ${c.stats.computed} rows, ${c.stats.skipped} skipped` : ''}`,
      );
      if (c.error) out.push(`    error: ${c.error}`);
    }
  }
  if (r.plan) {
    const p = r.plan;
    out.push(
      `  plan: ${p.plan} ${p.exitStatus}${p.reason ? ` (${p.reason})` : ''}: ${p.events} of ${p.points ?? '?'} points, ${p.skipped.length} skipped, ${p.suspensions.length} suspensions (documents.jsonl, uid ${p.uid})`,
    );
    for (const s of p.skipped) out.push(`    skipped point ${s.point}: ${s.error}`);
    for (const s of p.suspensions)
      out.push(`    suspended at point ${s.point} for ${s.until ? (s.until - s.since).toFixed(1) : '?'} s: ${s.suspender}`);
  }
  // A daq serve session: its queue's plan runs, one directory each under plans/.
  for (const p of r.planRuns ?? [])
    out.push(
      `  plan run plans/${p.dir}: ${p.plan} ${p.exitStatus}${p.reason ? ` (${p.reason})` : ''}: ${p.events} of ${p.points ?? '?'} points, ${p.skipped.length} skipped, ${p.suspensions.length} suspensions`,
    );
  // The configuration's tolerance when the run's record has one (it is what the user set), else the report's own.
  if (r.shadow)
    out.push(
      ...formatShadow(r.shadow.instruments, { final: r.shadow.final, maxRelDiff: r.run?.config?.v4?.shadow?.max_rel_diff }),
    );
  for (const f of r.files) {
    out.push(
      `  file ${f.file}: ${f.rows} rows in ${f.batches} batches${f.truncated ? `; TRUNCATED after them: ${f.truncated}` : ''}`,
    );
    for (const field of f.schema) out.push(`    ${field}`);
  }
  if (r.files.length === 0) out.push('  no Arrow files');
  out.push(`  rows: ${r.rows}`);
  if (r.firstNs !== undefined && r.lastNs !== undefined)
    out.push(`  time span: ${iso(r.firstNs)} to ${iso(r.lastNs)} (${(Number(r.lastNs - r.firstNs) / 1e9).toFixed(3)} s)`);
  if (r.channels.length > 0) {
    const w = Math.max(10, ...r.channels.map((c) => c.instrument.length));
    const cw = Math.max(7, ...r.channels.map((c) => c.channel.length));
    const sw = Math.max(3, ...r.channels.map((c) => c.subsystem.length));
    out.push(
      `  ${'instrument'.padEnd(w)}  ${'sub'.padEnd(sw)}  ${'channel'.padEnd(cw)}  unit  ${'rows'.padStart(8)}  min / mean / max`,
    );
    for (const c of r.channels)
      out.push(
        `  ${c.instrument.padEnd(w)}  ${c.subsystem.padEnd(sw)}  ${c.channel.padEnd(cw)}  ${c.unit.padEnd(4)}  ${String(c.rows).padStart(8)}  ${num(c.min)} / ${num(c.mean)} / ${num(c.max)}` +
          (c.flagged
            ? `  (no value: ${Object.entries(c.flagged)
                .map(([f, n]) => `${n} ${f}`)
                .join(', ')})`
            : ''),
      );
  }
  return `${out.join('\n')}\n`;
}

export async function inspectCommand(path: string | undefined, options: { json: boolean }, io: CliIo): Promise<number> {
  if (!path) {
    io.err('daq inspect: name a run directory or an Arrow file (daq inspect data/demo-20261125-101500)\n');
    return 2;
  }
  let result: InspectResult;
  try {
    result = await inspectPath(path);
  } catch (e) {
    io.err(`daq inspect: cannot read ${path}: ${(e as Error).message}\n`);
    return 1;
  }
  if (options.json) io.out(`${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
  else io.out(formatInspect(path, result));
  return result.files.some((f) => f.truncated) ? 1 : 0;
}
