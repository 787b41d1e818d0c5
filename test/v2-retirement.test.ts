// The removal procedure of each retirement batch (docs/migration.md#deprecation-batches), on a
// copy of the installed tree (test/helpers/installed-copy.ts) with the batch's V2 driver files
// really deleted, and the batches before it, as a lab removes them in order: the V4-only example
// validates and runs, a configuration that still runs a removed type on V2 is refused with the
// batch and the command that migrates it, V2 still runs the types that remain, and the whole V4
// suite (packages/v4-worker/test) passes. By default the V4 suite runs once, in the copy with
// every batch removed (the most removed); DAQ_RETIREMENT_FULL=1 runs it for each batch too.

import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RETIREMENT_BATCHES, V2_DRIVER_MODULES } from '@daq/core';
import { batchModules, installedCopy, repo, type Result } from './helpers/installed-copy.js';

const said = (r: Result) => `exit ${r.code}\n${r.stderr}`;
const full = process.env.DAQ_RETIREMENT_FULL === '1';
const last = RETIREMENT_BATCHES.at(-1)!.batch;
const v4Suite = (await readdir(join(repo, 'packages/v4-worker/test')))
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `packages/v4-worker/test/${f}`);

/** A simulated V2 configuration with one instrument of each given type (ports as the simulators make them). */
function v2Config(types: readonly string[]): string {
  const tables = types.map(
    (type, i) =>
      `[[v2.instruments]]\nid = "${type.toLowerCase()}"\ntype = "${type}"\n${type === 'MockPower' ? '' : `serial_port = "/dev/ttyV2${i}"\n`}${type === 'Elliptec' ? 'sim = { model = "ELL14" }\n' : ''}`,
  );
  return `[application]\nsimulate = true\n[v2]\nenabled = true\n${tables.join('')}`;
}

for (const b of RETIREMENT_BATCHES) {
  const removedBatches = RETIREMENT_BATCHES.filter((x) => x.batch <= b.batch).map((x) => x.batch);
  const removedTypes = RETIREMENT_BATCHES.filter((x) => x.batch <= b.batch).flatMap((x) => x.types);
  const remaining = Object.keys(V2_DRIVER_MODULES).filter((type) => !removedTypes.includes(type));

  t.test(`batch ${b.batch} (${b.title}) removed`, async (t) => {
    const copy = await installedCopy({ removeBatches: removedBatches, sources: true });
    t.teardown(() => copy.dispose());
    for (const m of batchModules(removedBatches)) {
      t.notOk(existsSync(join(copy.root, `packages/v2-worker/src/drivers/${m}.ts`)), `src/drivers/${m}.ts removed`);
      t.notOk(existsSync(join(copy.root, `packages/v2-worker/dist/drivers/${m}.js`)), `dist/drivers/${m}.js removed`);
    }
    await writeFile(join(copy.root, 'removed.toml'), v2Config(b.types));
    await writeFile(join(copy.root, 'remaining.toml'), v2Config(remaining));

    const checked = await copy.daq(['validate', 'examples/v4-only.toml', 'remaining.toml', 'removed.toml']);
    t.equal(checked.code, 2, 'removed.toml is invalid here');
    t.equal(
      checked.stdout,
      'ok examples/v4-only.toml\nok remaining.toml\n',
      'the V4-only example and the remaining V2 types are valid',
    );
    b.types.forEach((type, i) =>
      t.match(
        checked.stderr,
        `:1: v2.instruments[${i}]: ${type} "${type.toLowerCase()}": this installation's V2 has no ${type} driver (removed with batch ${b.batch}, ${b.title}): migrate it with: daq migrate removed.toml -o removed.v4.toml (docs/migration.md#batch-${b.batch})`,
      ),
    );

    const runs = [
      copy.daq(['run', 'examples/v4-only.toml', '--duration', '1', '--out', 'v4-run']),
      copy.daq(['run', 'remaining.toml', '--duration', '1', '--out', 'v2-run']),
      copy.daq(['run', 'removed.toml', '--duration', '1']),
    ];
    const suite = full || b.batch === last ? copy.tests(v4Suite) : undefined;
    const [v4Run, v2Run, refused] = await Promise.all(runs);
    t.equal(v4Run.code, 0, `daq run of the V4-only example (${said(v4Run)})`);
    for (const id of ['laser', 'stage', 'dmm', 'camera']) t.match(v4Run.stderr, new RegExp(`\\n  ${id} +v4 `), `${id} ran on V4`);
    t.equal(v2Run.code, 0, `V2 runs the types that remain (${said(v2Run)})`);
    for (const type of remaining) {
      const row = new RegExp(`\\n  ${type.toLowerCase()} +v2 +${type} +(\\d+)`).exec(v2Run.stderr);
      t.ok(row && Number(row[1]) > 0, `${type} took readings on V2`);
      const warnings = v2Run.stderr.split('\n').filter((l) => l.includes(`${type} "${type.toLowerCase()}" is deprecated`));
      t.equal(
        warnings.length,
        type === 'MockPower' ? 0 : 1,
        `${type}: ${type === 'MockPower' ? 'never deprecated' : 'one deprecation warning'}`,
      );
    }
    t.equal(refused.code, 2, 'a removed type on V2: a configuration error, nothing started');
    t.match(refused.stderr, /V2 has no .* driver \(removed with batch/);

    if (suite) {
      const r = await suite;
      const failed = r.stdout.split('\n').filter((l) => /^\s*not ok/.test(l));
      t.equal(r.code, 0, `the V4 suite passes (${v4Suite.join(', ')})\n${failed.join('\n')}\n${r.stderr.slice(-2000)}`);
      const plan = /^1\.\.(\d+)$/m.exec(r.stdout);
      t.ok(plan && Number(plan[1]) >= 20, `the V4 suite ran its ${plan?.[1]} top-level tests`);
    }
  });
}
