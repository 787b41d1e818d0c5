// `npm run bench -- --compare BASELINE [--against RESULTS]` (benchmarks/src/compare.ts): the
// verdicts on hand-written results files, and the CLI end to end on two stored files.

import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompareError,
  compareResults,
  formatMarkdown,
  formatText,
  parseResults,
  type ResultsFile,
} from '../benchmarks/src/compare.js';
import { spreadOf, type BenchResult } from '../benchmarks/src/types.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const machine = { cpu: 'Test CPU', cores: 2, memoryGiB: 8, os: 'linux', node: 'v20' };

const fig = (name: string, value: number, more: Partial<BenchResult> = {}): BenchResult => ({
  name,
  unit: 'u',
  value,
  better: 'higher',
  vs: {},
  ...more,
});
const file = (results: BenchResult[], more: Partial<ResultsFile> = {}): ResultsFile => ({
  date: '2026-01-01T00:00:00.000Z',
  quick: false,
  machine,
  results,
  ...more,
});
const verdicts = (base: BenchResult[], now: BenchResult[], band?: number) =>
  Object.fromEntries(compareResults(file(base), file(now), band).rows.map((r) => [r.name, r.verdict]));

t.test('without a measured spread, the default band (10 % of the baseline) decides, and either direction counts', async (t) => {
  const base = [fig('rate.up', 100), fig('rate.flat', 100), fig('rate.down', 100), fig('ms.up', 10, { better: 'lower' })];
  const now = [fig('rate.up', 115), fig('rate.flat', 92), fig('rate.down', 85), fig('ms.up', 12, { better: 'lower' })];
  t.same(verdicts(base, now), { 'rate.up': 'better', 'rate.flat': 'same', 'rate.down': 'WORSE', 'ms.up': 'WORSE' });
  t.same(verdicts(base, now, 0.2), { 'rate.up': 'same', 'rate.flat': 'same', 'rate.down': 'same', 'ms.up': 'same' }, '--band 20');
  const lower = verdicts([fig('ms', 10, { better: 'lower' })], [fig('ms', 8, { better: 'lower' })]);
  t.same(lower, { ms: 'better' }, 'a latency that fell is better');
  const c = compareResults(file(base), file(now));
  t.equal(c.worse, 2);
  const row = c.rows.find((r) => r.name === 'rate.down')!;
  t.equal(row.changePct, -15);
  t.same(row.band, { abs: 10, source: 'default' });
  const text = formatText(c, 'base.json', 'now.json');
  t.match(text, /rate\.down\s+u\s+100\.0\s+85\.00\s+-15\.0 %\s+±10\.0 % \(default\)\s+WORSE/);
  t.match(text, /"default": no spread measured, so ±10 % of the baseline's value \(--band\), used for 4 of 4 figures/);
  t.match(text, /2 figures WORSE than the baseline/);
});

t.test('a measured spread is the band: the larger of the two runs, whichever side measured it', async (t) => {
  const spread = (min: number, max: number) => ({ spread: { min, max, n: 3 } });
  // Baseline rounds spread over 20 (min 90, max 110): a drop of 15 is noise, one of 25 is not.
  t.same(verdicts([fig('a', 100, spread(90, 110))], [fig('a', 85)]), { a: 'same' });
  t.same(verdicts([fig('a', 100, spread(90, 110))], [fig('a', 75)]), { a: 'WORSE' });
  t.same(verdicts([fig('a', 100, spread(90, 110))], [fig('a', 125)]), { a: 'better' });
  // A tight spread on both sides is narrower than the default 10 %: a 5 % drop is WORSE.
  t.same(verdicts([fig('a', 100, spread(99, 101))], [fig('a', 95, spread(94, 96))]), { a: 'WORSE' });
  // The current run's spread is the wider: it is the band.
  const c = compareResults(file([fig('a', 100, spread(99, 101))]), file([fig('a', 95, spread(80, 110))]));
  t.same(c.rows[0]!.band, { abs: 30, source: 'spread' });
  t.equal(c.rows[0]!.verdict, 'same');
  t.match(formatText(c, 'b', 'n'), /±30\.0 % \(spread\)/);
  // One round is no spread: the default band applies.
  const one = compareResults(file([fig('a', 100, { spread: { min: 100, max: 100, n: 1 } })]), file([fig('a', 95)]));
  t.same(one.rows[0]!.band, { abs: 10, source: 'default' });
});

t.test('spreadOf: min, max and count of the rounds; none with fewer than two', async (t) => {
  t.same(spreadOf([3, 1, 2]), { min: 1, max: 3, n: 3 });
  t.equal(spreadOf([5]), undefined);
  t.same(spreadOf([1, NaN, 4]), { min: 1, max: 4, n: 2 });
});

t.test('a figure missing on one side is reported, not an error; --only runs leave the rest out with a note', async (t) => {
  const c = compareResults(file([fig('kept', 1), fig('gone', 2)]), file([fig('kept', 1), fig('new', 3)]));
  t.same(
    c.rows.map((r) => [r.name, r.verdict]),
    [
      ['kept', 'same'],
      ['new', 'not in baseline'],
      ['gone', 'not measured this run'],
    ],
  );
  t.equal(c.worse, 0);
  const only = compareResults(file([fig('ring.1MiB', 1), fig('plan.count', 2)]), file([fig('ring.1MiB', 1)], { only: 'ring' }));
  t.same(
    only.rows.map((r) => r.name),
    ['ring.1MiB'],
  );
  t.match(only.notes.join('\n'), /--only ring.*1 other figures were not run: plan\.count/);
  // NaN is written to JSON as null: that side has no value.
  const nan = parseResults(JSON.stringify(file([fig('a', NaN)])), 'now.json');
  t.same(verdicts([fig('a', 1)], nan.results), { a: 'no value this run' });
  t.same(verdicts(nan.results, [fig('a', 1)]), { a: 'no value in baseline' });
});

t.test('a baseline of 0 (frames dropped): any move the wrong way is WORSE without a spread', async (t) => {
  const drops = (v: number) => fig('camera.disk.x', v, { unit: 'frames dropped', better: 'lower' });
  t.same(verdicts([drops(0)], [drops(0)]), { 'camera.disk.x': 'same' });
  const c = compareResults(file([drops(0)]), file([drops(3)]));
  t.equal(c.rows[0]!.verdict, 'WORSE');
  t.equal(c.rows[0]!.changePct, undefined, 'no % change from 0');
  t.match(
    formatMarkdown(c, 'b', 'n'),
    /\| camera\.disk\.x \| frames dropped \| 0\.000 \| 3\.000 \| {2}\| ±0\.000 \(default\) \| WORSE \|/,
  );
});

t.test('direction: taken from either side, an error when they disagree or neither says', async (t) => {
  const { better: _, ...undeclared } = fig('a', 100);
  t.same(verdicts([undeclared], [fig('a', 80)]), { a: 'WORSE' }, 'from this run when the baseline predates `better`');
  t.same(verdicts([fig('a', 100, { better: 'lower' })], [{ ...undeclared, value: 80 }]), { a: 'better' }, 'from the baseline');
  t.throws(() => compareResults(file([undeclared]), file([undeclared])), { name: 'CompareError', message: /no "better"/ });
  t.throws(() => compareResults(file([fig('a', 1)]), file([fig('a', 1, { better: 'lower' })])), {
    name: 'CompareError',
    message: /changed meaning/,
  });
});

t.test('units that differ, and files that are not results files, are errors', async (t) => {
  t.throws(() => compareResults(file([fig('a', 1, { unit: 'ms' })]), file([fig('a', 1, { unit: 'µs' })])), {
    name: 'CompareError',
    message: /units differ.*a \(baseline "ms", now "µs"\)/,
  });
  const bad: [string, RegExp][] = [
    ['{ not json', /x\.json: not a benchmark results file \(not JSON/],
    ['{"date": "2026"}', /no "results" list/],
    ['[1, 2]', /no "results" list/],
    ['{"results": [{"name": "a"}]}', /results\[0\]: not a benchmark result/],
    ['{"results": [{"name": "a", "unit": "u", "value": "1"}]}', /value must be a number or null/],
    ['{"results": [{"name": "a", "unit": "u", "value": 1, "better": "up"}]}', /better must be "higher" or "lower"/],
    ['{"results": [{"name": "a", "unit": "u", "value": 1, "spread": {"min": 2, "max": 1, "n": 2}}]}', /spread must be/],
    ['{"results": [{"name": "a", "unit": "u", "value": 1}, {"name": "a", "unit": "u", "value": 2}]}', /a appears twice/],
  ];
  for (const [text, message] of bad) t.throws(() => parseResults(text, 'x.json'), { name: 'CompareError', message }, text);
  t.ok(new CompareError('x') instanceof Error);
});

t.test('notes: a quick run against a full one, and different machines, are said', async (t) => {
  const c = compareResults(file([fig('a', 1)]), file([fig('a', 1)], { quick: true, machine: { ...machine, cores: 16 } }));
  t.match(c.notes[0], /baseline is a full run and this one a quick one/);
  t.match(c.notes[1], /different machines: baseline on Test CPU, 2 cores.*now on Test CPU, 16 cores/);
  t.match(formatText(c, 'b', 'n'), /note: different machines/);
});

t.test('every benchmark result in benchmarks/src declares which way it improves', async (t) => {
  // A BenchResult is the only object there with a `vs:` property; each must have `better:` too.
  const dir = join(root, 'benchmarks/src');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'types.ts');
  let results = 0;
  for (const f of files) {
    const src = await readFile(join(dir, f), 'utf8');
    const vs = src.match(/^\s*vs[:,]/gm)?.length ?? 0;
    const better = src.match(/^\s*better: '(higher|lower)',/gm)?.length ?? 0;
    results += vs;
    t.equal(better, vs, `${f}: ${vs} results, ${better} with better: 'higher' | 'lower'`);
  }
  t.ok(results >= 14, `${results} results found`);
});

t.test('the CLI compares two stored files: table, compare.md, exit status 1 on WORSE and 2 on a bad file', async (t) => {
  const cli = join(root, 'benchmarks/dist/run.js');
  t.ok(existsSync(cli), 'benchmarks/dist/run.js is built (npm run build)');
  const dir = t.testdir({
    'base.json': JSON.stringify(
      file([fig('rate', 100, { spread: { min: 98, max: 102, n: 3 } }), fig('ms', 10, { better: 'lower' })]),
    ),
    'now.json': JSON.stringify(file([fig('rate', 90), fig('ms', 9.5, { better: 'lower' })])),
    'bad.json': '{"results": 3}',
  });
  const node = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      // Without tap's NODE_OPTIONS (its TypeScript loader): the built CLI, as a lab runs it.
      execFile(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, NODE_OPTIONS: '' } }, (e, stdout, stderr) =>
        resolve({ code: e ? Number(e.code) : 0, stdout, stderr }),
      ),
    );
  const [worse, broken] = await Promise.all([
    node(['--compare', join(dir, 'base.json'), '--against', join(dir, 'now.json'), '--out', dir]),
    node(['--compare', join(dir, 'base.json'), '--against', join(dir, 'bad.json'), '--out', dir]),
  ]);
  t.equal(worse.code, 1, worse.stderr);
  t.match(worse.stdout, /rate\s+u\s+100\.0\s+90\.00\s+-10\.0 %\s+±4\.0 % \(spread\)\s+WORSE/);
  t.match(worse.stdout, /ms\s+u\s+10\.00\s+9\.500\s+-5\.0 %\s+±10\.0 % \(default\)\s+same/);
  t.match(worse.stdout, /1 figure WORSE than the baseline/);
  t.match(
    await readFile(join(dir, 'compare.md'), 'utf8'),
    /\| rate \| u \| 100\.0 \| 90\.00 \| -10\.0 % \| ±4\.0 % \(spread\) \| WORSE \|/,
  );
  t.equal(broken.code, 2);
  t.match(broken.stderr, /bad\.json: not a benchmark results file/);
  t.equal(broken.stdout, '');
});

t.test('p10/p90 (issue 18): the band is p90 - p10 where a run has them, max - min where it has only those', async (t) => {
  const pct = (min: number, p10: number, p90: number, max: number) => ({ spread: { min, max, p10, p90, n: 9 } });
  // Rounds from 60 to 140, but 80 % of them within 95..105: a drop of 15 is beyond the noise.
  t.same(verdicts([fig('a', 100, pct(60, 95, 105, 140))], [fig('a', 85)]), { a: 'WORSE' });
  const c = compareResults(file([fig('a', 100, pct(60, 95, 105, 140))]), file([fig('a', 85)]));
  t.same(c.rows[0]!.band, { abs: 10, source: 'p10-p90' });
  t.match(formatText(c, 'b', 'n'), /a\s+u\s+100\.0\s+85\.00\s+-15\.0 %\s+±10\.0 % \(p10-p90\)\s+WORSE/);
  t.match(formatText(c, 'b', 'n'), /"p10-p90": the larger of the two runs' p90 - p10/);
  // An older baseline with only min/max against a run with percentiles: the wider band of the two wins.
  const mixed = compareResults(
    file([fig('a', 100, { spread: { min: 90, max: 110, n: 3 } })]),
    file([fig('a', 85, pct(70, 96, 104, 120))]),
  );
  t.same(mixed.rows[0]!.band, { abs: 20, source: 'spread' });
  t.equal(mixed.rows[0]!.verdict, 'same');
  const wider = compareResults(
    file([fig('a', 100, { spread: { min: 99, max: 101, n: 3 } })]),
    file([fig('a', 85, pct(70, 80, 110, 120))]),
  );
  t.same(wider.rows[0]!.band, { abs: 30, source: 'p10-p90' });
  // A malformed spread: p10 without p90, or outside [min, max].
  for (const spread of [
    { min: 1, max: 3, n: 3, p10: 2 },
    { min: 1, max: 3, n: 3, p10: 0, p90: 2 },
    { min: 1, max: 3, n: 3, p10: 2.5, p90: 2 },
  ])
    t.throws(() => parseResults(JSON.stringify({ results: [{ name: 'a', unit: 'u', value: 1, spread }] }), 'x.json'), {
      name: 'CompareError',
      message: /p10 and p90 must both be numbers/,
    });
});
