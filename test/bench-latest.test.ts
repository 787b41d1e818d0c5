// latest.md (benchmarks/src/compare.ts formatLatest): each figure beside its median, spread, ratios
// and goals (issue 18), and the helpers every benchmark reports its rounds with (types.ts). Pure
// functions on hand-written figures: nothing is measured here.

import t from 'tap';
import { formatLatest, goalText, parseResults, spreadText } from '../benchmarks/src/compare.js';
import { interleave, median, percentile, summarize, type BenchResult } from '../benchmarks/src/types.js';

const machine = { cpu: 'Test CPU', cores: 2, memoryGiB: 8, os: 'linux', node: 'v20' };

t.test('percentile: linear between closest ranks, NaN ignored, NaN when empty; median is p50', async (t) => {
  t.equal(percentile([1, 2, 3, 4, 5], 50), 3);
  t.equal(percentile([5, 1, 4, 2, 3], 0), 1, 'unsorted input');
  t.equal(percentile([1, 2, 3, 4, 5], 100), 5);
  t.equal(percentile([1, 2, 3, 4, 5], 10), 1.4);
  t.equal(percentile([1, 2, 3, 4, 5], 90), 4.6);
  t.equal(percentile([10, 20], 25), 12.5);
  t.equal(percentile([7], 90), 7);
  t.equal(percentile([1, NaN, 3], 50), 2);
  t.ok(Number.isNaN(percentile([], 50)));
  t.equal(median([4, 1, 3, 2]), 2.5, 'an even count: between the middle two');
  const xs = [3, 1, 2];
  percentile(xs, 50);
  t.same(xs, [3, 1, 2], 'the input is not sorted in place');
});

t.test('summarize: the median is the value, the spread has min, p10, p90, max and the count', async (t) => {
  t.same(summarize([0.41, 0.78, 0.7, 0.72, 0.69]), {
    value: 0.7,
    spread: {
      min: 0.41,
      max: 0.78,
      n: 5,
      p10: percentile([0.41, 0.78, 0.7, 0.72, 0.69], 10),
      p90: percentile([0.41, 0.78, 0.7, 0.72, 0.69], 90),
    },
  });
  const s = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100]).spread!;
  t.equal(s.p90, 10, 'one stray round moves max, not p90');
  t.equal(s.max, 100);
  t.same(summarize([5]), { value: 5, spread: undefined }, 'one round: a value, no spread');
  t.ok(Number.isNaN(summarize([]).value));
});

t.test('interleave: every step once per round, the order reversed every other round', async (t) => {
  const calls: string[] = [];
  let i = 0;
  const out = await interleave(4, {
    base: () => (calls.push('base'), ++i),
    subject: async () => (calls.push('subject'), ++i * 10),
  });
  t.same(calls, ['base', 'subject', 'subject', 'base', 'base', 'subject', 'subject', 'base']);
  t.same(out, { base: [1, 4, 5, 8], subject: [20, 30, 60, 70] }, 'values by step, in round order');
  t.same(await interleave(0, { a: () => 1 }), { a: [] });
});

const fig = (name: string, value: number, more: Partial<BenchResult> = {}): BenchResult => ({
  name,
  unit: 'GB/s',
  value,
  better: 'higher',
  vs: {},
  ...more,
});

t.test('latest.md: median, p10–p90, ratios and goals per figure; the goals not met named above the table', async (t) => {
  const ring = summarize([5.2, 5.6, 6.0, 5.4, 5.9]);
  const md = formatLatest({
    machine,
    quick: true,
    only: null,
    results: [
      fig('ring.1MiB', ring.value, {
        spread: ring.spread,
        vs: { memcpy: 0.6512, 'postMessage.clone': 6.7 },
        goals: [
          { text: 'vs.memcpy >= 0.7 (median of rounds)', met: false },
          { text: 'vs.postMessage.clone >= 3 (median of rounds)', met: true },
        ],
      }),
      fig('plan.count', 1491.39, { unit: 'points/s', goals: [{ text: '>= 1000 points/s', met: true }] }),
      fig('serve.latency', 115.4, { unit: 'ms (p99)', better: 'lower', vs: { batch_interval_ms: 1.154 } }),
      fig('old.style', 3, { spread: { min: 2, max: 4, n: 3 } }),
    ],
  });
  t.match(md, /^# Benchmark results \(quick\)\n\nTest CPU, 2 cores, 8 GiB, linux, Node v20\n/);
  t.match(md, /Goals: 2 of 3 met; ❌ NOT MET: ring\.1MiB vs\.memcpy >= 0\.7 \(median of rounds\)\n/);
  t.match(md, /\| figure \| value \| unit \| spread p10–p90 \| vs \| goals \|/);
  t.match(
    md,
    '| ring.1MiB | 5.600 | GB/s | 5.280–5.960 (5 rounds) | memcpy: 0.651, postMessage.clone: 6.700 | ❌ NOT MET: vs.memcpy >= 0.7 (median of rounds)<br>✅ vs.postMessage.clone >= 3 (median of rounds) |',
  );
  t.match(md, '| plan.count | 1491 | points/s | single |  | ✅ >= 1000 points/s |');
  t.match(md, '| serve.latency | 115.4 | ms (p99) | single | batch_interval_ms: 1.154 |  |', 'no goals: an empty cell');
  t.match(md, '| old.style | 3.000 | GB/s | 2.000–4.000 (3 rounds min–max) |', 'a spread without percentiles shows min–max');
});

t.test('latest.md: all goals met, no goals, NaN, --only, and a | in a name or goal', async (t) => {
  const met = formatLatest({ machine, results: [fig('a', 1, { goals: [{ text: 'x | y', met: true }] })] });
  t.match(met, /Goals: all 1 met ✅/);
  t.match(met, '✅ x \\| y |');
  const none = formatLatest({ machine, only: 'ring', results: [fig('a', NaN, { vs: { b: NaN } })] });
  t.match(none, /^# Benchmark results \(--only ring\)/);
  t.match(none, /Goals: none in this run\./);
  t.match(none, '| a | NaN | GB/s | single | b: NaN |  |');
  t.match(formatLatest({ results: [] }), /machine not recorded[\s\S]*\(no benchmarks registered yet\)/);
});

t.test('goalText and spreadText', async (t) => {
  t.equal(goalText({ text: 'under 5 %', met: true }), '✅ under 5 %');
  t.equal(goalText({ text: 'under 5 %', met: false }), '❌ NOT MET: under 5 %');
  t.equal(spreadText(undefined), 'single');
  t.equal(spreadText({ min: 1, max: 1, n: 1 }), 'single');
  t.equal(spreadText({ min: 1, max: 9, p10: 2, p90: 8, n: 9 }), '2.000–8.000 (9 rounds)');
});

t.test('a results file keeps goals and p10/p90 through parseResults, and rejects malformed ones', async (t) => {
  const r = fig('a', 1, { spread: { min: 0.5, max: 1.5, p10: 0.6, p90: 1.4, n: 9 }, goals: [{ text: 'g', met: false }] });
  const parsed = parseResults(JSON.stringify({ results: [r] }), 'x.json').results[0]!;
  t.same(parsed.spread, r.spread);
  t.same(parsed.goals, r.goals);
  t.throws(() => parseResults(JSON.stringify({ results: [{ ...r, goals: [{ text: 'g' }] }] }), 'x.json'), {
    name: 'CompareError',
    message: /goals must be a list of \{ text, met \}/,
  });
});
