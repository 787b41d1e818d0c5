// `npm run bench [-- --quick] [-- --only SUBJECT]`: runs every benchmark in one process and
// writes benchmarks/results/latest.json and latest.md. Each figure carries ratios against
// baselines measured in the same run, so results from different machines stay comparable.

import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeMachine } from './machine.js';
import type { Benchmark, BenchResult } from './types.js';
import { hardwareBenchmark } from './hardware.js';
import { scalarBenchmark } from './scalar.js';
import { ringBenchmark } from './ring.js';
import { cameraBenchmark } from './camera.js';
import { shadowBenchmark } from './shadow.js';
import { plansBenchmark } from './plans.js';
import { serveBenchmark } from './serve.js';

/** Every benchmark subject; each issue that adds one registers it here. */
const BENCHMARKS: Benchmark[] = [
  hardwareBenchmark,
  scalarBenchmark,
  ringBenchmark,
  cameraBenchmark,
  shadowBenchmark,
  plansBenchmark,
  serveBenchmark,
];

function markdown(results: BenchResult[], machine: ReturnType<typeof describeMachine>, quick: boolean): string {
  const lines = [
    `# Benchmark results${quick ? ' (quick)' : ''}`,
    '',
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}`,
    '',
    '| name | value | unit | vs |',
    '|---|---:|---|---|',
  ];
  for (const r of results) {
    const vs = Object.entries(r.vs)
      .map(([k, v]) => `${k}: ${v.toFixed(3)}`)
      .join(', ');
    lines.push(`| ${r.name} | ${r.value.toPrecision(4)} | ${r.unit} | ${vs} |`);
  }
  if (results.length === 0) lines.push('| (no benchmarks registered yet) | | | |');
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
  const quick = values.quick ?? false;
  const selected = BENCHMARKS.filter((b) => !values.only || b.subject === values.only);
  const machine = describeMachine();
  const results: BenchResult[] = [];
  const started = Date.now();
  for (const bench of selected) {
    process.stderr.write(`bench: ${bench.subject}\n`);
    results.push(...(await bench.run({ quick, log: (m) => process.stderr.write(`  ${m}\n`) })));
  }
  const dir = new URL('../results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const report = { date: new Date().toISOString(), quick, seconds: (Date.now() - started) / 1000, machine, results };
  await writeFile(new URL('latest.json', dir), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(new URL('latest.md', dir), markdown(results, machine, quick));
  process.stdout.write(markdown(results, machine, quick));
  process.stderr.write(`bench: ${results.length} results in ${report.seconds.toFixed(1)} s → benchmarks/results/latest.json\n`);
}

await main();
