// Coverage per package, from the json-summary tap writes (.taprc coverage-report), checked
// against a floor for the coexistence code: the broker, core and protocols must each stay at or above
// 85 % of lines, statements, functions and branches. tap's own thresholds (.taprc) apply to
// everything together; this keeps a well-covered package from hiding a poorly covered one.
// Usage: node scripts/coverage-by-package.mjs [SUMMARY_JSON]   (exit 1 below the floor)

import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const FLOOR = 85;
const CHECKED = ['packages/broker/src', 'packages/core/src', 'packages/protocols/src'];
const METRICS = ['lines', 'statements', 'functions', 'branches'];
const root = resolve(import.meta.dirname, '..');
const file = process.argv[2] ?? resolve(root, '.tap/report/coverage-summary.json');

let summary;
try {
  summary = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
  console.error(`coverage-by-package: cannot read ${file} (${e.message}); run the tests first (npm test)`);
  process.exit(1);
}

const packages = new Map();
for (const [path, m] of Object.entries(summary)) {
  if (path === 'total') continue;
  const rel = relative(root, path);
  const pkg = rel.match(/^(packages\/[^/]+\/src|benchmarks\/src|test)/)?.[1] ?? rel.split('/').slice(0, 2).join('/');
  const sum = packages.get(pkg) ?? Object.fromEntries(METRICS.map((k) => [k, { total: 0, covered: 0 }]));
  for (const k of METRICS) {
    sum[k].total += m[k].total;
    sum[k].covered += m[k].covered;
  }
  packages.set(pkg, sum);
}

const pct = (s) => (s.total === 0 ? 100 : (100 * s.covered) / s.total);
let failed = false;
console.log(`coverage by package (floor ${FLOOR} % for ${CHECKED.join(', ')}):`);
console.log(`  ${'package'.padEnd(26)} ${METRICS.map((k) => k.padStart(10)).join(' ')}`);
for (const [pkg, sum] of [...packages].sort()) {
  const checked = CHECKED.includes(pkg);
  const low = METRICS.filter((k) => checked && pct(sum[k]) < FLOOR);
  if (low.length) failed = true;
  console.log(
    `  ${pkg.padEnd(26)} ${METRICS.map((k) => `${pct(sum[k]).toFixed(2)}${low.includes(k) ? '!' : ' '}`.padStart(10)).join(' ')}${low.length ? `  BELOW ${FLOOR} %: ${low.join(', ')}` : ''}`,
  );
}
for (const pkg of CHECKED)
  if (!packages.has(pkg)) {
    console.error(`coverage-by-package: no coverage recorded for ${pkg}`);
    failed = true;
  }
if (failed) {
  console.error(`coverage-by-package: below the ${FLOOR} % floor (marked "!"): add tests for that code`);
  process.exit(1);
}
