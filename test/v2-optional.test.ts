// V2 as an optional part: an installation without @daq/v2-worker (a copy of the installed tree
// where the package really is absent, test/helpers/installed-copy.ts) validates and runs the
// V4-only example, migrates a V2 configuration and runs a V4 example plan on it; a configuration
// that still asks for V2 fails with a message that says what to do. (The V4 suite runs with every
// V2 driver removed in test/v2-retirement.test.ts.)

import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installedCopy, type Result } from './helpers/installed-copy.js';

const copy = await installedCopy({ withoutV2: true });
t.teardown(() => copy.dispose());

const said = (r: Result) => `exit ${r.code}\n${r.stderr}`;

t.test('the V2 package is really absent from the copy', async (t) => {
  t.notOk(existsSync(join(copy.root, 'packages/v2-worker')), 'no packages/v2-worker');
  t.notOk(existsSync(join(copy.root, 'node_modules/@daq/v2-worker')), 'no node_modules/@daq/v2-worker');
  // Resolved from inside the broker of the copy, as the broker would.
  const probe = join(copy.root, 'packages/broker/dist/probe-v2.mjs');
  await writeFile(
    probe,
    `for (const s of ['@daq/v2-worker', '@daq/v2-worker/worker', '@daq/v4-worker']) {
       try { await import(s); console.log(s, 'found'); } catch (e) { console.log(s, e.code); }
     }
     process.exit(0);`,
  );
  const r = await copy.node([probe]);
  t.match(
    r.stdout,
    /^@daq\/v2-worker ERR_MODULE_NOT_FOUND\n@daq\/v2-worker\/worker ERR_MODULE_NOT_FOUND\n@daq\/v4-worker found/,
    said(r),
  );
});

t.test('daq validate: the V4-only example is fine; a configuration that asks for V2 is refused', async (t) => {
  const v2 = await copy.daq(['validate', 'examples/v4-only.toml', 'examples/polarization-scan.toml']);
  t.equal(v2.stdout, 'ok examples/v4-only.toml\n', 'the V4-only example is valid');
  t.equal(v2.code, 2, 'the other is invalid here, as for any configuration error');
  t.match(
    v2.stderr,
    'examples/polarization-scan.toml:36:1: v2.enabled: this installation has no V2 subsystem (package @daq/v2-worker absent), and [v2] is enabled: migrate with daq migrate examples/polarization-scan.toml -o examples/polarization-scan.v4.toml (docs/migration.md), set [v2] enabled = false, or install @daq/v2-worker',
  );
  t.notMatch(v2.stderr, /deprecated/, 'one error for the section, no deprecation warnings beside it');
});

t.test('daq run, daq migrate and daq plan run without V2', async (t) => {
  const [refused, migrated] = await Promise.all([
    copy.daq(['run', 'examples/polarization-scan.toml', '--duration', '1']),
    copy.daq(['migrate', 'examples/polarization-scan.toml', '-o', 'ps.v4.toml']),
  ]);
  t.equal(refused.code, 2, 'a configuration that asks for V2: a configuration error, nothing started');
  t.match(refused.stderr, /this installation has no V2 subsystem \(package @daq\/v2-worker absent\)/);
  t.notMatch(refused.stderr, /recording to/);

  t.equal(migrated.code, 0, `daq migrate needs no V2 (${said(migrated)})`);
  t.notMatch(await readFile(join(copy.root, 'ps.v4.toml'), 'utf8'), /^\[v2\]/m, 'the migrated file has no [v2]');

  const [run, plan] = await Promise.all([
    copy.daq(['run', 'examples/v4-only.toml', '--duration', '1', '--out', 'runs']),
    copy.daq(['plan', 'run', 'ps.v4.toml', 'examples/plans/count.toml', '--out', 'plans']),
  ]);
  t.equal(run.code, 0, `daq run of the V4-only example (${said(run)})`);
  for (const id of ['laser', 'stage', 'dmm', 'camera']) t.match(run.stderr, new RegExp(`\\n  ${id} +v4 `), `${id} ran on V4`);
  t.notMatch(run.stderr, / v2 /, 'nothing on V2');
  t.equal(plan.code, 0, `daq plan run of a V4 example plan (${said(plan)})`);
  t.match(plan.stderr, /daq plan run: success: 10 events/, 'the count plan took its 10 readings');
});
