// Retiring V2: the batch table agrees with the drivers that exist, the loader warns once per
// deprecated instrument (an error with allow_deprecated = false, except when V4 shadows it),
// refuses what this installation has no V2 for, and the audit says which batch could go today.

import t from 'tap';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  INSTRUMENT_TYPES,
  RETIREMENT_BATCHES,
  TYPE_MIGRATIONS,
  V2_DRIVER_MODULES,
  auditConfigText,
  instrumentTypeSpec,
  migrateCommandFor,
  parseConfig,
  retirementBatchOf,
  summarizeAudit,
  validateConfigText,
  type ConfigDiagnostic,
} from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const brief = (ds: ConfigDiagnostic[]) => ds.map((d) => `${d.line}:${d.column}: ${d.severity}: ${d.path}: ${d.message}`);
const v2Types = INSTRUMENT_TYPES.filter((s) => s.subsystems.includes('v2')).map((s) => s.type);

t.test('the batch table agrees with the drivers that exist', async (t) => {
  const batched = RETIREMENT_BATCHES.flatMap((b) => b.types);
  t.same(
    RETIREMENT_BATCHES.map((b) => b.batch),
    RETIREMENT_BATCHES.map((_, i) => i + 1),
    'batches are numbered 1, 2, ... in order',
  );
  t.equal(new Set(batched).size, batched.length, 'a type is in one batch at most');
  for (const type of v2Types) {
    const hasV4 = instrumentTypeSpec('v4', type) !== undefined;
    t.equal(batched.includes(type), hasV4, `${type}: in a batch exactly when it has a V4 driver`);
    t.equal(type in TYPE_MIGRATIONS, hasV4, `${type}: in the migration table exactly when it has a V4 driver`);
  }
  t.same(
    batched.sort(),
    v2Types.filter((x) => instrumentTypeSpec('v4', x)).sort(),
    'every batch type is a V2 type with a V4 driver',
  );
  t.equal(retirementBatchOf('MockPower'), undefined, 'MockPower (no V4 driver) is in no batch: it goes with the V2 package');
  t.same(RETIREMENT_BATCHES[0]!.types, ['Newport1830C', 'Elliptec'], 'the roadmap: Newport 1830-C and Elliptec first');

  t.same(Object.keys(V2_DRIVER_MODULES).sort(), [...v2Types].sort(), 'a driver module for every V2 type');
  for (const [type, module] of Object.entries(V2_DRIVER_MODULES)) {
    const file = `${root}packages/v2-worker/src/drivers/${module}.ts`;
    const removed = retirementBatchOf(type)?.removed === true;
    t.equal(
      existsSync(file),
      !removed,
      `${type}: packages/v2-worker/src/drivers/${module}.ts ${removed ? 'removed with its batch' : 'exists'}`,
    );
    if (removed) continue;
    const { v2Driver } = (await import(file)) as { v2Driver: { type: string } };
    t.equal(v2Driver.type, type, `${module}.ts exports the V2 driver of ${type}`);
  }

  const guide = await readFile(`${root}docs/migration.md`, 'utf8');
  t.match(guide, /^## Deprecation batches$/m, 'docs/migration.md#deprecation-batches');
  for (const b of RETIREMENT_BATCHES) {
    t.match(guide, new RegExp(`^### Batch ${b.batch}$`, 'm'), `docs/migration.md#batch-${b.batch} (its removal procedure)`);
    for (const type of b.types)
      t.match(guide, `packages/v2-worker/src/drivers/${V2_DRIVER_MODULES[type]}.ts`, `the procedure names ${type}'s driver file`);
  }
});

const lab = (v2 = '', shadow = '') => `[application]
simulate = true
[v2]
enabled = true
${v2}
[[v2.instruments]]
id = "pm1"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
[[v2.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyML"
[[v2.instruments]]
id = "mock"
type = "MockPower"
[v4]
enabled = true
[[v4.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "/dev/ttyEL"
${shadow}`;

t.test('a deprecated V2 instrument warns once, with its batch and the command that migrates it', async (t) => {
  const { config, warnings } = parseConfig(lab(), 'lab.toml');
  t.ok(config);
  t.same(brief(warnings), [
    '6:1: warning: v2.instruments[0]: Newport1830C "pm1" is deprecated in batch 1 (Newport 1830-C and Elliptec): its V2 driver will be removed; migrate it with: daq migrate lab.toml -o lab.v4.toml --keep-v2 (docs/migration.md#batch-1)',
    '10:1: warning: v2.instruments[1]: MaiTai "laser" is deprecated in batch 2 (MaiTai): its V2 driver will be removed; migrate it with: daq migrate lab.toml -o lab.v4.toml --keep-v2 (docs/migration.md#batch-2)',
  ]);
  t.equal(
    parseConfig(lab(), 'lab.toml', { deprecations: false }).warnings.length,
    0,
    'deprecations: false (daq migrate) reports none',
  );
  const v4Only = lab().replace('enabled = true', 'enabled = false');
  t.same(parseConfig(v4Only, 'lab.toml').warnings, [], 'a disabled [v2] runs nothing: no warning');
});

t.test('allow_deprecated = false turns the warnings into errors, except for a shadowed instrument', async (t) => {
  const r = validateConfigText(lab('allow_deprecated = false'), 'lab.toml');
  t.equal(r.config, undefined, 'the configuration does not load');
  t.match(brief(r.diagnostics), [
    /^6:1: error: v2\.instruments\[0\]: Newport1830C "pm1" is deprecated in batch 1 /,
    /^10:1: error: v2\.instruments\[1\]: MaiTai "laser" is deprecated in batch 2 /,
  ]);
  t.equal(r.diagnostics.length, 2, 'MockPower is never deprecated');

  t.match(
    r.diagnostics[0]!.message,
    /and \[v2\] allow_deprecated = false: migrate it with: daq migrate lab\.toml -o lab\.v4\.toml --keep-v2 \(docs\/migration\.md#batch-1\), or set allow_deprecated = true meanwhile$/,
  );

  const shadowed = validateConfigText(lab('allow_deprecated = false', '[v4.shadow]\ninstruments = ["pm1"]'), 'lab.toml');
  t.same(
    shadowed.diagnostics.map((d) => `${d.severity} ${d.path}`),
    ['warning v2.instruments[0]', 'error v2.instruments[1]'],
    'pm1 is shadowed by V4: on its way, it still warns; laser is not: an error',
  );
  t.match(
    shadowed.diagnostics[0]!.message,
    /V4 shadows it already \(\[v4\.shadow\]\): when the two agree, migrate it with: daq migrate/,
  );
});

t.test('what this installation lacks of V2 is an error', async (t) => {
  const absent = validateConfigText(lab(), 'lab.toml', { v2: { installed: false } });
  t.equal(absent.config, undefined);
  t.same(brief(absent.diagnostics), [
    '4:1: error: v2.enabled: this installation has no V2 subsystem (package @daq/v2-worker absent), and [v2] is enabled: migrate with daq migrate lab.toml -o lab.v4.toml --keep-v2 (docs/migration.md), set [v2] enabled = false, or install @daq/v2-worker',
  ]);
  const noSection = validateConfigText('[[v2.instruments]]\nid = "m"\ntype = "MockPower"\n', 'm.toml', {
    v2: { installed: false },
  });
  t.match(brief(noSection.diagnostics), [/^1:1: error: v2: this installation has no V2 subsystem/], 'no [v2] header: at the top');
  t.same(
    validateConfigText(lab().replace('enabled = true', 'enabled = false'), 'lab.toml', { v2: { installed: false } }).diagnostics,
    [],
    'a disabled [v2] asks nothing of V2: fine without it',
  );

  const batch1Removed = { installed: true, types: new Set(['MaiTai', 'MockPower']) };
  const removed = validateConfigText(lab(), 'lab.toml', { v2: batch1Removed });
  t.equal(removed.config, undefined);
  t.same(brief(removed.diagnostics), [
    '6:1: error: v2.instruments[0]: Newport1830C "pm1": this installation\'s V2 has no Newport1830C driver (removed with batch 1, Newport 1830-C and Elliptec): migrate it with: daq migrate lab.toml -o lab.v4.toml --keep-v2 (docs/migration.md#batch-1)',
    '10:1: warning: v2.instruments[1]: MaiTai "laser" is deprecated in batch 2 (MaiTai): its V2 driver will be removed; migrate it with: daq migrate lab.toml -o lab.v4.toml --keep-v2 (docs/migration.md#batch-2)',
  ]);
});

t.test('the command that migrates names the file, and keeps V2 for types without a V4 driver', async (t) => {
  const v2 = (types: string[]) =>
    ({ v2: { instruments: types.map((type) => ({ type })) } }) as Parameters<typeof migrateCommandFor>[1];
  t.equal(migrateCommandFor('lab.toml', v2(['Elliptec'])), 'daq migrate lab.toml -o lab.v4.toml');
  t.equal(migrateCommandFor('configs/lab', v2(['MockPower'])), 'daq migrate configs/lab -o configs/lab.v4.toml --keep-v2');
  t.equal(migrateCommandFor("my lab's.toml", v2([])), `daq migrate 'my lab'\\''s.toml' -o 'my lab'\\''s.v4.toml'`);
});

t.test('the audit: per configuration, per type, and which batch could be removed today', async (t) => {
  const a = auditConfigText(lab('', '[v4.shadow]\ninstruments = ["pm1"]'), 'a.toml');
  t.equal(a.ok, true);
  t.same(
    a.instruments.map((i) => [i.line, i.id, i.type, i.batch ?? '-', i.v4Driver, i.shadowed, i.runs]),
    [
      [6, 'pm1', 'Newport1830C', 1, true, true, true],
      [10, 'laser', 'MaiTai', 2, true, false, true],
      [14, 'mock', 'MockPower', '-', false, false, true],
    ],
  );
  t.equal(a.migrate, 'daq migrate a.toml -o a.v4.toml --keep-v2');
  const b = auditConfigText(
    '[v2]\nenabled = true\nallow_deprecated = false\n[[v2.instruments]]\nid = "l"\ntype = "MaiTai"\nserial_port = "/dev/ttyL"\n',
    'b.toml',
  );
  t.equal(b.ok, true, 'allow_deprecated = false does not stop an audit');
  const off = auditConfigText(lab().replace('enabled = true', 'enabled = false'), 'off.toml');
  t.same(
    [off.v2Enabled, off.instruments.every((i) => !i.runs), off.migrate],
    [false, true, undefined],
    'a disabled [v2]: listed, not run',
  );
  const v4 = auditConfigText('[v4]\n[[v4.instruments]]\nid = "s"\ntype = "ESP300"\nserial_port = "/dev/ttyS"\n', 'v4.toml');

  const s = summarizeAudit([a, b, off, v4]);
  t.same(s.onV2, ['a.toml', 'b.toml']);
  t.same(
    s.types.map((x) => [x.type, x.batch ?? '-', x.instruments, x.configurations]),
    [
      ['Newport1830C', 1, 1, ['a.toml']],
      ['MaiTai', 2, 2, ['a.toml', 'b.toml']],
      ['MockPower', '-', 1, ['a.toml']],
    ],
  );
  t.same(
    s.batches.map((x) => [x.batch, x.removable, x.usedBy.map((u) => `${u.file}:${u.id}`)]),
    [
      [1, false, ['a.toml:pm1']],
      [2, false, ['a.toml:laser', 'b.toml:l']],
    ],
  );
  t.same(s.v2Package, { removable: false, usedBy: ['a.toml', 'b.toml'] });

  const later = summarizeAudit([b, off, v4]);
  t.same(
    later.batches.map((x) => [x.batch, x.removable]),
    [
      [1, true],
      [2, false],
    ],
    'batch 1 can go once no configuration runs its types on V2 (a disabled [v2] does not count)',
  );
  const bad = auditConfigText('[v2]\nenabled = "yes"\n', 'bad.toml');
  t.same([bad.ok, bad.errors.length > 0], [false, true]);
  const unknown = summarizeAudit([v4, bad]);
  t.same(
    [unknown.batches.map((x) => x.removable), unknown.v2Package.removable],
    [[null, null], null],
    'a configuration that could not be audited leaves removability unknown',
  );
  t.same(summarizeAudit([v4]).v2Package, { removable: true, usedBy: [] }, 'no [v2] anywhere: the V2 package can go');
});
