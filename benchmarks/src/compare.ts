// `npm run bench -- --compare BASELINE [--against RESULTS]`: compares the figures of a run (or of a
// stored results file) with a stored baseline, figure by figure, and calls each one better, the
// same, or WORSE. A figure is WORSE when it moved the wrong way (its `better`) by more than its
// noise band: the larger of the two runs' measured spreads where the benchmark measured rounds
// (p90 - p10 of the rounds; max - min in files written before issue 18 recorded percentiles),
// otherwise a default share of the baseline's value, which the report names.
// Also here: latest.md, the table of a run's figures beside their goals (formatLatest).

import { readFile } from 'node:fs/promises';
import type { BenchResult, Better, Goal, Spread } from './types.js';

/** A results file as run.ts writes it (benchmarks/results/latest.json). */
export interface ResultsFile {
  date?: string;
  quick?: boolean;
  /** The `--only` subject of the run, if any (absent in files written before it was recorded). */
  only?: string | null;
  machine?: { cpu?: string; cores?: number; memoryGiB?: number; os?: string; node?: string };
  results: BenchResult[];
}

/** A file that is not a results file, figures that cannot be compared: exit status 2. */
export class CompareError extends Error {
  override name = 'CompareError';
}

export type Verdict =
  'better' | 'same' | 'WORSE' | 'not in baseline' | 'not measured this run' | 'no value in baseline' | 'no value this run';

export interface Band {
  /** Half-width in the figure's unit: a move within ± this is noise. */
  abs: number;
  /**
   * The larger measured spread of the two runs: `p10-p90` when that one is p90 - p10 of its rounds,
   * `spread` when it is max - min (a file written before percentiles were recorded); `default`: no
   * spread measured, the default share of the baseline.
   */
  source: 'p10-p90' | 'spread' | 'default';
}

export interface Row {
  name: string;
  unit: string;
  better?: Better;
  baseline?: number;
  now?: number;
  /** (now - baseline) / |baseline| in %, undefined when the baseline is 0 or a side is missing. */
  changePct?: number;
  band?: Band;
  verdict: Verdict;
}

export interface Comparison {
  rows: Row[];
  /** Figures WORSE beyond their band. */
  worse: number;
  /** The default band, as a fraction of the baseline's value (0.1 = ±10 %). */
  defaultBand: number;
  /** Things the reader must know: different machines, quick vs full, figures left out. */
  notes: string[];
}

export const DEFAULT_BAND = 0.1;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function checkSpread(x: unknown, where: string): Spread | undefined {
  if (x === undefined) return undefined;
  if (!isObject(x) || typeof x.min !== 'number' || typeof x.max !== 'number' || typeof x.n !== 'number' || x.min > x.max)
    throw new CompareError(`${where}: spread must be { min, max, n } with min <= max`);
  const spread: Spread = { min: x.min, max: x.max, n: x.n };
  // p10 and p90 are optional (older files have neither), but come together and inside [min, max].
  if (x.p10 === undefined && x.p90 === undefined) return spread;
  if (typeof x.p10 !== 'number' || typeof x.p90 !== 'number' || !(x.min <= x.p10 && x.p10 <= x.p90 && x.p90 <= x.max))
    throw new CompareError(`${where}: spread p10 and p90 must both be numbers with min <= p10 <= p90 <= max`);
  return { ...spread, p10: x.p10, p90: x.p90 };
}

function checkGoals(x: unknown, where: string): Goal[] | undefined {
  if (x === undefined) return undefined;
  if (!Array.isArray(x) || !x.every((g) => isObject(g) && typeof g.text === 'string' && typeof g.met === 'boolean'))
    throw new CompareError(`${where}: goals must be a list of { text, met }`);
  return x as Goal[];
}

/** Parses and checks a results file; `label` (its path) names it in errors. */
export function parseResults(text: string, label: string): ResultsFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new CompareError(`${label}: not a benchmark results file (not JSON: ${(e as Error).message})`);
  }
  if (!isObject(data) || !Array.isArray(data.results))
    throw new CompareError(
      `${label}: not a benchmark results file (no "results" list; expected what npm run bench writes to latest.json)`,
    );
  const seen = new Set<string>();
  const results = data.results.map((r, i): BenchResult => {
    const where = `${label}: results[${i}]`;
    if (!isObject(r) || typeof r.name !== 'string' || typeof r.unit !== 'string')
      throw new CompareError(`${where}: not a benchmark result (needs a name and a unit)`);
    // JSON has no NaN: a figure that came out NaN was written as null.
    if (typeof r.value !== 'number' && r.value !== null)
      throw new CompareError(`${where} (${r.name}): value must be a number or null`);
    if (r.better !== undefined && r.better !== 'higher' && r.better !== 'lower')
      throw new CompareError(`${where} (${r.name}): better must be "higher" or "lower", not ${JSON.stringify(r.better)}`);
    if (seen.has(r.name)) throw new CompareError(`${label}: figure ${r.name} appears twice`);
    seen.add(r.name);
    const spread = checkSpread(r.spread, `${where} (${r.name})`);
    checkGoals(r.goals, `${where} (${r.name})`);
    return {
      ...(r as unknown as BenchResult),
      value: r.value ?? NaN,
      ...(spread ? { spread } : {}),
    };
  });
  return { ...(data as object), results } as ResultsFile;
}

export async function readResults(path: string): Promise<ResultsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CompareError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseResults(text, path);
}

/**
 * The noise a spread measured over two rounds or more stands for: p90 - p10 of the rounds where the
 * file has them (one stray round does not widen it), else max - min; undefined without rounds.
 */
function range(s: Spread | undefined): Band | undefined {
  if (!s || s.n < 2) return undefined;
  if (s.p10 !== undefined && s.p90 !== undefined) return { abs: s.p90 - s.p10, source: 'p10-p90' };
  return { abs: s.max - s.min, source: 'spread' };
}

function band(base: BenchResult, now: BenchResult, defaultBand: number): Band {
  const measured = [range(base.spread), range(now.spread)].filter((x): x is Band => x !== undefined);
  // The wider of the two; on a tie, the baseline's.
  if (measured.length > 0) return measured.reduce((a, b) => (b.abs > a.abs ? b : a));
  return { abs: defaultBand * Math.abs(base.value), source: 'default' };
}

function direction(base: BenchResult, now: BenchResult): Better {
  if (base.better && now.better && base.better !== now.better)
    throw new CompareError(
      `${now.name}: better is "${base.better}" in the baseline but "${now.better}" now; the figure changed meaning`,
    );
  const better = now.better ?? base.better;
  if (!better)
    throw new CompareError(`${now.name}: neither file says which way it improves (no "better"); the benchmark must declare it`);
  return better;
}

const machineLine = (f: ResultsFile) =>
  f.machine ? `${f.machine.cpu}, ${f.machine.cores} cores, ${f.machine.os}, Node ${f.machine.node}` : 'machine not recorded';

/** Compares `current` with `baseline`, figure by figure. Throws CompareError on figures whose units differ. */
export function compareResults(baseline: ResultsFile, current: ResultsFile, defaultBand = DEFAULT_BAND): Comparison {
  const base = new Map(baseline.results.map((r) => [r.name, r]));
  const unitChanged = current.results
    .filter((r) => base.has(r.name) && base.get(r.name)!.unit !== r.unit)
    .map((r) => `${r.name} (baseline "${base.get(r.name)!.unit}", now "${r.unit}")`);
  if (unitChanged.length > 0)
    throw new CompareError(`units differ, so these figures cannot be compared: ${unitChanged.join('; ')}`);

  const rows: Row[] = [];
  for (const now of current.results) {
    const b = base.get(now.name);
    if (!b) {
      rows.push({ name: now.name, unit: now.unit, now: now.value, verdict: 'not in baseline' });
      continue;
    }
    const row: Row = { name: now.name, unit: now.unit, baseline: b.value, now: now.value, verdict: 'same' };
    if (!Number.isFinite(b.value)) row.verdict = 'no value in baseline';
    else if (!Number.isFinite(now.value)) row.verdict = 'no value this run';
    else {
      row.better = direction(b, now);
      row.band = band(b, now, defaultBand);
      if (b.value !== 0) row.changePct = ((now.value - b.value) / Math.abs(b.value)) * 100;
      // How far it moved the wrong way (negative: the right way).
      const worseBy = (now.value - b.value) * (row.better === 'higher' ? -1 : 1);
      row.verdict = worseBy > row.band.abs ? 'WORSE' : -worseBy > row.band.abs ? 'better' : 'same';
    }
    rows.push(row);
  }

  const notes: string[] = [];
  const current_ = new Set(current.results.map((r) => r.name));
  const missing = baseline.results.filter((r) => !current_.has(r.name));
  if (current.only && missing.length > 0)
    notes.push(
      `only the figures that ran were compared (--only ${current.only}); the baseline's ${missing.length} other figures were not run: ${missing.map((r) => r.name).join(', ')}`,
    );
  else for (const r of missing) rows.push({ name: r.name, unit: r.unit, baseline: r.value, verdict: 'not measured this run' });

  if ((baseline.quick ?? false) !== (current.quick ?? false))
    notes.push(
      `the baseline is a ${baseline.quick ? 'quick' : 'full'} run and this one a ${current.quick ? 'quick' : 'full'} one: their figures differ in length of measurement, not only in code`,
    );
  if (machineLine(baseline) !== machineLine(current))
    notes.push(`different machines: baseline on ${machineLine(baseline)}; now on ${machineLine(current)}`);
  return { rows, worse: rows.filter((r) => r.verdict === 'WORSE').length, defaultBand, notes };
}

const num = (x: number | undefined) => (x === undefined ? '' : Number.isFinite(x) ? x.toPrecision(4) : 'NaN');
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`;

function bandText(r: Row): string {
  if (!r.band) return '';
  const width = r.baseline ? `±${((r.band.abs / Math.abs(r.baseline)) * 100).toFixed(1)} %` : `±${num(r.band.abs)}`;
  return `${width} (${r.band.source})`;
}

const HEADER = ['figure', 'unit', 'baseline', 'now', 'change', 'band', 'verdict'];

function cells(r: Row): string[] {
  return [r.name, r.unit, num(r.baseline), num(r.now), r.changePct === undefined ? '' : pct(r.changePct), bandText(r), r.verdict];
}

/** What the band means and the summary line, under both tables. */
function footer(c: Comparison): string[] {
  const judged = c.rows.filter((r) => r.band);
  const defaults = judged.filter((r) => r.band!.source === 'default').length;
  return [
    `band: a figure is WORSE (or better) when it moved the wrong (or right) way by more than its band. ` +
      `"p10-p90": the larger of the two runs' p90 - p10 over the rounds the benchmark measured; ` +
      `"spread": the same from max - min, for a file without percentiles; ` +
      `"default": no spread measured, so ±${(c.defaultBand * 100).toFixed(0)} % of the baseline's value (--band), used for ${defaults} of ${judged.length} figures.`,
    ...c.notes.map((n) => `note: ${n}`),
    c.worse > 0 ? `${c.worse} figure${c.worse === 1 ? '' : 's'} WORSE than the baseline` : 'no figure worse than the baseline',
  ];
}

/** A plain-text table for the terminal. */
export function formatText(c: Comparison, baselineLabel: string, currentLabel: string): string {
  const table = [HEADER, ...c.rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const right = new Set([2, 3, 4]);
  const line = (row: string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `compare: ${currentLabel} against ${baselineLabel}`,
    line(table[0]!),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.slice(1).map(line),
    ...footer(c),
    '',
  ].join('\n');
}

/** The same as markdown, for benchmarks/results/compare.md. */
export function formatMarkdown(c: Comparison, baselineLabel: string, currentLabel: string): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '# Benchmark comparison',
    '',
    `${esc(currentLabel)} against ${esc(baselineLabel)}`,
    '',
    `| ${HEADER.join(' | ')} |`,
    '|---|---|---:|---:|---:|---|---|',
    ...c.rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
    '',
    ...footer(c).flatMap((l) => [l, '']),
  ].join('\n');
}

/** How a results file is named in the report: its path, date and kind of run. */
export function describe(path: string, f: ResultsFile): string {
  return `${path} (${f.date ?? 'undated'}${f.quick ? ', quick' : ''}${f.only ? `, --only ${f.only}` : ''})`;
}

// ---------------------------------------------------------------------------------------------
// latest.md: a run's figures, each beside its goals (issue 18), so a regression shows at a glance.

const GOAL_MET = '✅';
const GOAL_NOT_MET = '❌';

/** A goal as latest.md shows it: ✅ and the goal when met, ❌ and NOT MET when not. */
export const goalText = (g: Goal) => (g.met ? `${GOAL_MET} ${g.text}` : `${GOAL_NOT_MET} NOT MET: ${g.text}`);

/** p10–p90 of the rounds (min–max in a file without percentiles) and how many rounds; `single` without rounds. */
export function spreadText(s: Spread | undefined): string {
  if (!s || s.n < 2) return 'single';
  const [lo, hi, what] = s.p10 !== undefined && s.p90 !== undefined ? [s.p10, s.p90, ''] : [s.min, s.max, ' min–max'];
  return `${num(lo)}–${num(hi)} (${s.n} rounds${what})`;
}

/** The markdown of latest.md: a line per figure with its median, spread, ratios and goals, and the goals not met above the table. */
export function formatLatest(f: Pick<ResultsFile, 'results' | 'machine' | 'quick' | 'only'>): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const m = f.machine;
  const goals = f.results.flatMap((r) => (r.goals ?? []).map((g) => ({ name: r.name, g })));
  const missed = goals.filter((x) => !x.g.met);
  const lines = [
    `# Benchmark results${f.quick ? ' (quick)' : ''}${f.only ? ` (--only ${f.only})` : ''}`,
    '',
    m ? `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}` : 'machine not recorded',
    '',
    goals.length === 0
      ? 'Goals: none in this run.'
      : missed.length === 0
        ? `Goals: all ${goals.length} met ${GOAL_MET}`
        : `Goals: ${goals.length - missed.length} of ${goals.length} met; ${GOAL_NOT_MET} NOT MET: ${missed.map((x) => `${x.name} ${x.g.text}`).join('; ')}`,
    '',
    'Value: the median of the rounds where the benchmark measured rounds (spread: their p10–p90), else the single measurement. Goals are judged on the median.',
    '',
    '| figure | value | unit | spread p10–p90 | vs | goals |',
    '|---|---:|---|---|---|---|',
  ];
  for (const r of f.results) {
    const vs = Object.entries(r.vs)
      .map(([k, v]) => `${k}: ${Number.isFinite(v) ? v.toFixed(3) : 'NaN'}`)
      .join(', ');
    const g = (r.goals ?? []).map(goalText).join('<br>');
    lines.push(`| ${esc(r.name)} | ${num(r.value)} | ${esc(r.unit)} | ${spreadText(r.spread)} | ${esc(vs)} | ${esc(g)} |`);
  }
  if (f.results.length === 0) lines.push('| (no benchmarks registered yet) | | | | | |');
  return `${lines.join('\n')}\n`;
}
