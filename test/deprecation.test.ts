// Retiring V2 through the command line, in-process: deprecation warnings once per instrument in
// every command that loads a configuration, allow_deprecated = false as a configuration error,
// and daq migrate --audit (text and --json).

import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@daq/broker';
import { HELP } from '@daq/broker/cli';
import { captureIo } from './helpers/cli.js';

const root = fileURLToPath(new URL('../', import.meta.url));
process.chdir(root);

async function daq(args: string[]) {
  const io = captureIo();
  const code = await main(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const dir = await mkdtemp(join(tmpdir(), 'daq-deprecation-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const lab = join(dir, 'lab.toml');
const config = (v2 = '') => `[v2]
enabled = true
${v2}
[[v2.instruments]]
id = "pm1"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
[[v2.instruments]]
id = "mock"
type = "MockPower"
`;

t.test('daq validate: one warning per deprecated instrument; allow_deprecated = false makes it an error', async (t) => {
  await writeFile(lab, config());
  const ok = await daq(['validate', lab]);
  t.equal(ok.code, 0);
  t.equal(
    ok.stderr,
    `${lab}:4:1: warning: v2.instruments[0]: Newport1830C "pm1" is deprecated in batch 1 (Newport 1830-C and Elliptec): its V2 driver will be removed; migrate it with: daq migrate ${lab} -o ${join(dir, 'lab.v4.toml')} --keep-v2 (docs/migration.md#batch-1)\n`,
  );
  await writeFile(lab, config('allow_deprecated = false'));
  const strict = await daq(['validate', lab]);
  t.equal(strict.code, 2, 'invalid, exit 2 as any configuration error');
  t.match(strict.stderr, `${lab}:4:1: v2.instruments[0]: Newport1830C "pm1" is deprecated in batch 1`);
  t.match(strict.stderr, `${lab}: 1 error\n`);
  const run = await daq(['run', lab, '--duration', '1']);
  t.equal(run.code, 2, 'daq run refuses it as it refuses any invalid configuration');
  t.notMatch(run.stderr, /recording to/, 'nothing started');
  const migrated = await daq(['migrate', lab, '--keep-v2']);
  t.equal(migrated.code, 0, 'daq migrate takes it: migrating is the remedy');
});

t.test('every command that loads a configuration prints the warnings once', async (t) => {
  const r = await daq(['plan', 'check', 'examples/polarization-scan.toml', 'examples/plans/polarizer.toml']);
  t.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('is deprecated'));
  t.same(warnings, [
    'examples/polarization-scan.toml:38:1: warning: v2.instruments[0]: Elliptec "rot" is deprecated in batch 1 (Newport 1830-C and Elliptec): its V2 driver will be removed; migrate it with: daq migrate examples/polarization-scan.toml -o examples/polarization-scan.v4.toml (docs/migration.md#batch-1)',
  ]);
});

t.test('daq migrate --audit: per configuration, per type, per batch; --json', async (t) => {
  t.match(HELP, 'daq migrate --audit CONFIG... [--json]');
  const files = ['examples/v4-only.toml', 'examples/shadow.toml', 'examples/demo.toml'];
  const text = await daq(['migrate', '--audit', ...files]);
  t.equal(text.code, 0, text.stderr);
  t.equal(text.stderr, '', 'the audit does not warn: it reports');
  t.match(text.stdout, 'examples/v4-only.toml: no V2 ([v2] absent or disabled)\n');
  t.match(
    text.stdout,
    /examples\/shadow\.toml: V2 enabled, 2 instruments on V2\n  line  id +type +batch  note\n  19 +power_meter  Newport1830C  1 +shadowed by V4\n/,
  );
  t.match(
    text.stdout,
    /  42 +mock_power +MockPower +- +no V4 driver: goes with the V2 package\n  migrate with: daq migrate examples\/demo\.toml -o examples\/demo\.v4\.toml --keep-v2\n/,
  );
  t.match(text.stdout, 'Summary: 3 configurations; 2 start V2 (examples/shadow.toml, examples/demo.toml)\n');
  t.match(text.stdout, /\n  Elliptec +1 +2 +2\n/);
  t.match(text.stdout, /batch 1 \(Newport 1830-C and Elliptec\): not yet: 4 instruments in 2 configurations/);
  t.match(text.stdout, /batch 2 \(MaiTai\): not yet: 1 instrument in 1 configuration \(examples\/demo\.toml: laser_v2\)/);

  const json = await daq(['migrate', '--audit', '--json', 'examples/v4-only.toml', 'examples/shadow.toml']);
  t.equal(json.code, 0);
  const { configurations, summary } = JSON.parse(json.stdout);
  t.equal(configurations.length, 2);
  t.same(
    summary.batches.map((b: { batch: number; removable: boolean }) => [b.batch, b.removable]),
    [
      [1, false],
      [2, true],
    ],
    'batch 2 could be removed today: no audited configuration runs MaiTai on V2',
  );
  t.same(summary.v2Package, { removable: false, usedBy: ['examples/shadow.toml'] });

  const bad = await daq([
    'migrate',
    '--audit',
    'examples/v4-only.toml',
    'test/fixtures/invalid/bad-visa-resource.toml',
    join(dir, 'none.toml'),
  ]);
  t.equal(bad.code, 1, 'an unreadable file: exit 1 (as daq validate)');
  t.match(bad.stdout, /bad-visa-resource\.toml: not audited: /);
  t.match(bad.stdout, /none\.toml: not audited: cannot read: no such file or directory/);
  t.match(bad.stdout, /batch 2 \(MaiTai\): unknown: 2 configurations not audited/);

  t.equal((await daq(['migrate', '--audit'])).code, 2, 'no file: usage');
  const mixed = await daq(['migrate', '--audit', '-o', 'x.toml', 'examples/demo.toml']);
  t.equal(mixed.code, 2);
  t.match(mixed.stderr, 'daq migrate --audit: --out goes with a conversion, not with --audit');
  const json2 = await daq(['migrate', '--json', 'examples/demo.toml']);
  t.equal(json2.code, 2);
  t.match(json2.stderr, '--json goes with --audit');
});
