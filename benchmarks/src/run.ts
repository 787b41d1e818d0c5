// `npm run bench [-- --quick] [-- --only SUBJECT] [-- --compare BASELINE]`: runs every benchmark in
// one process and writes benchmarks/results/latest.json and latest.md (each figure's median, its
// p10–p90 spread, its ratios and its goals met or not: compare.ts formatLatest). Each figure carries
// ratios against baselines measured in the same run, so results from different machines stay comparable.
// With --compare, the run's figures are then compared with a stored results file (compare.ts);
// with --compare and --against, two stored files are compared and nothing is run.

import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CompareError,
  DEFAULT_BAND,
  compareResults,
  describe,
  formatLatest,
  formatMarkdown,
  formatText,
  readResults,
  type ResultsFile,
} from './compare.js';
import { describeMachine } from './machine.js';
import type { Benchmark, BenchResult } from './types.js';

/**
 * Every benchmark subject; each issue that adds one registers it here. Each is loaded when it runs,
 * so that comparing two stored files (--compare with --against) loads none of them.
 */
const BENCHMARKS: { subject: string; load(): Promise<Benchmark> }[] = [
  { subject: 'hardware', load: async () => (await import('./hardware.js')).hardwareBenchmark },
  { subject: 'scalar', load: async () => (await import('./scalar.js')).scalarBenchmark },
  { subject: 'ring', load: async () => (await import('./ring.js')).ringBenchmark },
  { subject: 'camera', load: async () => (await import('./camera.js')).cameraBenchmark },
  { subject: 'shadow', load: async () => (await import('./shadow.js')).shadowBenchmark },
  { subject: 'plans', load: async () => (await import('./plans.js')).plansBenchmark },
  { subject: 'serve', load: async () => (await import('./serve.js')).serveBenchmark },
  { subject: 'scale', load: async () => (await import('./scale.js')).scaleBenchmark },
  { subject: 'publish', load: async () => (await import('./publish.js')).publishBenchmark },
];

const USAGE = `usage: npm run bench -- [options]      (or: node benchmarks/dist/run.js [options])

  --quick            shorter runs (under a minute for most groups; figures are noisier)
  --only SUBJECT     run one group: ${BENCHMARKS.map((b) => b.subject).join(', ')}
  --out DIR          write latest.json, latest.md and compare.md to DIR (default benchmarks/results/)
  --compare FILE     after the run, compare its figures with FILE (a results file, e.g.
                     benchmarks/results/baseline.json or a lab's own baseline); prints a table and
                     writes compare.md; exit status 1 if any figure is WORSE by more than its band
  --against FILE     with --compare: compare FILE with the baseline instead of running anything
  --band PCT         noise band, in % of the baseline's value, for figures without a measured
                     spread (default ${DEFAULT_BAND * 100})
  --help             this text

exit status: 0; 1 when --compare finds a figure WORSE; 2 on a usage error, a file that is not a
results file, or figures whose units (or directions) differ. See docs/benchmarks.md.
`;

class UsageError extends Error {}

function parseCli() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        out: { type: 'string' },
        compare: { type: 'string' },
        against: { type: 'string' },
        band: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.only && !BENCHMARKS.some((b) => b.subject === values.only))
    throw new UsageError(`--only ${values.only}: no such group (${BENCHMARKS.map((b) => b.subject).join(', ')})`);
  if (values.against && !values.compare) throw new UsageError('--against FILE needs --compare BASELINE');
  if (values.against && (values.quick || values.only))
    throw new UsageError('--against compares two stored files: --quick and --only apply to a run, not to it');
  const band = values.band === undefined ? DEFAULT_BAND : Number(values.band) / 100;
  if (!Number.isFinite(band) || band < 0) throw new UsageError(`--band ${values.band}: a percentage (0 or more) is expected`);
  return { ...values, band };
}

async function run(quick: boolean, only: string | undefined, out: URL): Promise<ResultsFile> {
  const selected = BENCHMARKS.filter((b) => !only || b.subject === only);
  const machine = describeMachine();
  const results: BenchResult[] = [];
  const started = Date.now();
  for (const entry of selected) {
    process.stderr.write(`bench: ${entry.subject}\n`);
    const bench = await entry.load();
    results.push(...(await bench.run({ quick, log: (m) => process.stderr.write(`  ${m}\n`) })));
  }
  for (const r of results.filter((x) => !x.better))
    process.stderr.write(
      `bench: ${r.name} does not say which way it improves (better: 'higher' | 'lower'); --compare needs it\n`,
    );
  await mkdir(out, { recursive: true });
  const seconds = (Date.now() - started) / 1000;
  const report = { date: new Date().toISOString(), quick, only: only ?? null, seconds, machine, results };
  await writeFile(new URL('latest.json', out), `${JSON.stringify(report, null, 2)}\n`);
  const md = formatLatest(report);
  await writeFile(new URL('latest.md', out), md);
  process.stdout.write(md);
  process.stderr.write(
    `bench: ${results.length} results in ${seconds.toFixed(1)} s → ${fileURLToPath(new URL('latest.json', out))}\n`,
  );
  return report;
}

async function main(): Promise<number> {
  const cli = parseCli();
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const out = cli.out ? pathToFileURL(`${resolve(cli.out)}/`) : new URL('../results/', import.meta.url);
  // The baseline is read before the run, so that a wrong path fails at once and not after it.
  const baseline = cli.compare ? await readResults(cli.compare) : undefined;
  const current = cli.against ? await readResults(cli.against) : await run(cli.quick, cli.only, out);
  if (!baseline || !cli.compare) return 0;
  const comparison = compareResults(baseline, current, cli.band);
  const baselineLabel = describe(cli.compare, baseline);
  const currentLabel = describe(cli.against ?? 'this run', current);
  await mkdir(out, { recursive: true });
  await writeFile(new URL('compare.md', out), formatMarkdown(comparison, baselineLabel, currentLabel));
  process.stdout.write(formatText(comparison, baselineLabel, currentLabel));
  process.stderr.write(`bench: comparison → ${fileURLToPath(new URL('compare.md', out))}\n`);
  return comparison.worse > 0 ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  if (!(e instanceof UsageError || e instanceof CompareError)) throw e;
  process.stderr.write(`bench: ${e.message}\n${e instanceof UsageError ? `\n${USAGE}` : ''}`);
  process.exitCode = 2;
}
