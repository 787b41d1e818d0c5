// migrateConfigText: every example converts to a valid, equivalent configuration; outcomes,
// report labels, comments and the TOML it writes are checked case by case (the inputs several
// checks share, and the longer ones, are in test/fixtures/migrate/).

import t, { type Test } from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import {
  DaqError,
  INSTRUMENT_TYPES,
  TYPE_MIGRATIONS,
  instrumentTypeSpec,
  migrateConfigText,
  migrationFieldMap,
  migrationGuideLink,
  parseConfig,
  typeMigration,
  validateConfigText,
  type DaqConfig,
  type InstrumentConfig,
  type MigrationOptions,
  type MigrationResult,
} from '@daq/core';

const root = new URL('../../../', import.meta.url);
/** An input in test/fixtures/migrate/: line 1 is a comment, so its line numbers are the ones the checks name. */
const fixture = (name: string) => readFile(new URL(`fixtures/migrate/${name}`, import.meta.url), 'utf8');
const now = new Date('2026-03-01T12:00:00.000Z');

type Ok = Extract<MigrationResult, { ok: true }>;
function migrate(text: string, file = 'lab.toml', options: MigrationOptions = {}): Ok {
  const r = migrateConfigText(text, file, { now, ...options });
  if (!r.ok) throw new Error(`unexpected diagnostics: ${JSON.stringify(r.diagnostics)}`);
  return r;
}
/** The comments of a text as one line, so phrases can be matched wherever the lines wrap. */
const comments = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('# '))
    .map((l) => l.slice(2))
    .join(' ');
const byId = (list: InstrumentConfig[]) => new Map(list.map((i) => [i.id, i]));
/** The V4 config a V2 instrument should become: its fields under their V4 names. */
const asV4 = (inst: InstrumentConfig) =>
  Object.fromEntries(Object.entries(inst).map(([k, v]) => [migrationFieldMap(inst.type)[k] ?? k, v]));

/** Checks the equivalence promised by daq migrate; returns the parsed output. */
function checkEquivalent(t: Test, input: DaqConfig, r: Ok, label: string, shadow = false): DaqConfig {
  const check = validateConfigText(r.text, 'out.toml');
  t.ok(check.config, `${label}: the output is valid\n${JSON.stringify(check.diagnostics)}`);
  t.same(
    check.diagnostics.filter((d) => d.severity === 'error'),
    [],
    `${label}: no errors in the output`,
  );
  const out = check.config!;
  t.same(out.application, input.application, `${label}: [application] is equal`);
  t.same(out.broker, input.broker, `${label}: [broker] is equal`);
  const v4 = byId(out.v4.instruments);
  const v2 = byId(out.v2.instruments);
  for (const inst of input.v4.instruments) t.same(v4.get(inst.id), inst, `${label}: V4 ${inst.id} is kept as it was`);
  const inputV2 = byId(input.v2.instruments);
  t.equal(r.report.length, input.v2.instruments.length, `${label}: one report entry per V2 instrument`);
  t.same(
    r.report.map((e) => e.id),
    input.v2.instruments.map((i) => i.id),
    `${label}: in file order`,
  );
  for (const e of r.report) {
    const original = inputV2.get(e.id)!;
    t.equal(e.type, original.type);
    switch (e.outcome) {
      case 'migrated':
        t.same(v4.get(e.id), asV4(original), `${label}: ${e.id} is the same instrument in V4`);
        t.notOk(v2.has(e.id), `${label}: ${e.id} left V2`);
        break;
      case 'v2-only':
        t.notOk(v4.has(e.id) || v2.has(e.id), `${label}: ${e.id} is in neither subsystem`);
        t.match(r.text, `\n# id = ${JSON.stringify(e.id)}\n`, `${label}: ${e.id} is commented out in the output`);
        break;
      case 'kept-v2':
      case 'shadowed':
        t.same(v2.get(e.id), original, `${label}: ${e.id} stays in V2 as it was`);
        break;
      case 'already-in-v4':
        t.notOk(v4.has(e.id), `${label}: ${e.id} is not duplicated in V4`);
        if (shadow) t.same(v2.get(e.id), original, `${label}: ${e.id} stays in V2 as it was`);
        else t.match(r.text, `\n# id = ${JSON.stringify(e.id)}\n`, `${label}: ${e.id} is commented out in the output`);
        break;
    }
  }
  const ids = [...out.v2.instruments, ...out.v4.instruments].map((i) => i.id);
  t.equal(new Set(ids).size, ids.length, `${label}: ids are unique`);
  t.equal(r.v2Count, input.v2.instruments.length);
  t.equal(r.v4Kept, input.v4.instruments.length);
  return out;
}

const examples = (await readdir(new URL('examples/', root))).filter((f) => f.endsWith('.toml'));

/** What each example must become; a new example must be added here. */
const expected: Record<string, Record<string, string>> = {
  'demo.toml': { rotator_v2: 'migrated', power_v2: 'migrated', laser_v2: 'migrated', mock_power: 'v2-only' },
  'polarization-scan.toml': { rot: 'migrated' },
  'seed.toml': { elliptec1: 'migrated' },
  'shared-port.toml': { rotator_a: 'migrated', power_v2: 'already-in-v4' },
  'shadow.toml': { power_meter: 'migrated', rotator: 'migrated' },
  'v2-only.toml': { rotator: 'migrated', power: 'migrated', mock: 'v2-only' },
  'v4-only.toml': {},
};

t.test('every example migrates to a valid and equivalent configuration', async (t) => {
  t.same(examples.sort(), Object.keys(expected).sort(), 'every example has its expected outcomes');
  for (const name of examples) {
    const file = `examples/${name}`;
    const text = await readFile(new URL(file, root), 'utf8');
    const input = parseConfig(text, file).config;
    const r = migrate(text, file);
    const out = checkEquivalent(t, input, r, name);
    t.same(Object.fromEntries(r.report.map((e) => [e.id, e.outcome])), expected[name], `${name}: outcomes`);
    t.notOk('v2' in (parseToml(r.text) as object), `${name}: no [v2] section once nothing stays in V2`);
    t.equal(out.v4.enabled, true, `${name}: V4 runs`);
    t.same(out.v4.shadow.instruments, [], `${name}: nothing is shadowed after migrating`);
    t.match(r.text, `# Generated by \`daq migrate\` from ${file} on 2026-03-01T12:00:00.000Z.`, `${name}: header`);

    const kept = checkEquivalent(t, input, migrate(text, file, { keepV2: true }), `${name} --keep-v2`);
    const v2only = r.report.filter((e) => e.outcome === 'v2-only').map((e) => e.id);
    t.same(
      kept.v2.instruments.map((i) => i.id),
      v2only,
      `${name} --keep-v2: exactly the instruments without a V4 driver stay in V2`,
    );

    const s = migrate(text, file, { shadow: true });
    const shadowOut = checkEquivalent(t, input, s, `${name} --shadow`, true);
    t.same(
      shadowOut.v4.shadow.instruments,
      r.report.filter((e) => e.outcome === 'migrated').map((e) => e.id),
      `${name} --shadow: lists what a migration would move`,
    );
    t.same(shadowOut.v2.instruments, input.v2.instruments, `${name} --shadow: V2 is unchanged`);
  }
});

const seedShaped = await fixture('seed-shaped.toml');

t.test('the report of the seed: labels per type, V2-only with advice and commented out', async (t) => {
  const r = migrate(seedShaped, 'config.toml');
  t.same(
    r.report.map((e) => `${e.id}: ${e.label}`),
    [
      'elliptec1: V2 -> V4 (serial adapter, fully compatible)',
      'newport1: V2 -> V4 (power meter, fully compatible)',
      'mockpower: V2-only (skipped, create manually)',
    ],
  );
  t.same(
    r.report.map((e) => e.outcome),
    ['migrated', 'migrated', 'v2-only'],
  );
  t.equal(r.report[0]!.advice, undefined, 'nothing to advise for a plain migration');
  const advice = r.report[2]!.advice!;
  t.match(advice, '--keep-v2');
  t.match(advice, 'docs/migration.md#mockpower');
  t.match(
    r.text,
    '# [[v2.instruments]]\n# id = "mockpower"\n# type = "MockPower"\n# poll_hz = 10\n# power_w = 0.001\n# noise = 0.01\n',
    'the V2-only instrument is kept as a comment, defaults explicit',
  );
  t.match(r.text, 'From config.toml:18 ([[v2.instruments]] #3)', 'the comment says where it came from');
  t.match(r.text, 'Migrated from config.toml:8 ([[v2.instruments]] #1)', 'each migrated table says where it came from');
  t.match(comments(r.text), 'Migrated from config.toml:13 ([[v2.instruments]] #2); same id, so its data series continue.');
  t.match(r.text, /# newport1: Newport 1830-C optical power meter/, 'the type description is above the table');
  t.match(r.text, '# wavelength_nm not set: the meter is left as it is\n', 'unset optional fields are explained');
  t.notMatch(r.text, /^wavelength_nm =/m, 'and left out');
  t.notMatch(r.text, 'sim not set', 'no word about simulator faults when not simulating');
  t.match(r.text, '# 3 V2 instruments: 2 migrated to V4', 'the header says what happened');
  const out = parseConfig(r.text).config;
  t.same(
    out.v4.instruments.map((i) => i.id),
    ['elliptec1', 'newport1'],
  );
});

t.test('a new [v4] takes V2 supervision, batching and storage, and V4 ring defaults, all explicit', async (t) => {
  const r = migrate(`
[v2]
restart = "never"
max_restarts = 7
restart_backoff_ms = 250
batch_rows = 50
batch_interval_ms = 20
storage = { enabled = false, flush_interval_ms = 300 }
[[v2.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyUSB2"
wavelength_nm = 800
`);
  const out = parseConfig(r.text).config;
  t.same(
    {
      enabled: out.v4.enabled,
      restart: out.v4.restart,
      max_restarts: out.v4.max_restarts,
      restart_backoff_ms: out.v4.restart_backoff_ms,
      batch_rows: out.v4.batch_rows,
      batch_interval_ms: out.v4.batch_interval_ms,
      storage: out.v4.storage,
    },
    {
      enabled: true,
      restart: 'never',
      max_restarts: 7,
      restart_backoff_ms: 250,
      batch_rows: 50,
      batch_interval_ms: 20,
      storage: { enabled: false, flush_interval_ms: 300 },
    },
  );
  for (const line of [
    'enabled = true',
    'ring_bytes = 16777216',
    'ring_policy = "block"',
    'ring_block_timeout_ms = 2000',
    'pvcam_library = "libpvcam.so.2"',
    'name = "daq"',
    'serial_lease_timeout_ms = 2000',
    'processing_threads = 1',
    'wavelength_nm = 800',
    'baud_rate = 9600',
    'poll_hz = 1',
  ])
    t.match(r.text, `\n${line}\n`, `${line} is written out`);
  t.notMatch(r.text, /^\[v2/m, 'no [v2] section is left');
  t.same(r.notes, ['[v4] added (enabled), with the supervision, batching and storage settings of [v2]']);
  t.match(r.text, '# [v4] added (enabled)', 'and the header says so');
});

const mixed = await fixture('mixed.toml');

t.test('a mixed configuration keeps V4 as it is and does not duplicate a device V4 drives', async (t) => {
  const input = parseConfig(mixed).config;
  const r = migrate(mixed, 'mixed.toml');
  const out = checkEquivalent(t, input, r, 'mixed');
  t.same(
    r.report.map((e) => [e.id, e.outcome, e.label]),
    [
      ['rot_a', 'migrated', 'V2 -> V4 (serial adapter, fully compatible)'],
      ['meter_v2', 'already-in-v4', 'already in V4 as meter_v4 (not duplicated)'],
      ['rot_same', 'already-in-v4', 'already in V4 as rot_b (not duplicated)'],
    ],
  );
  t.match(r.report[1]!.advice, 'V4 already drives this device as meter_v4, whose settings are kept');
  t.match(r.report[1]!.advice, 'V2 settings that differ: sim { latency_ms = 5,');
  t.match(r.report[1]!.advice, 'seed = 1, profile = "fast" } (V4: { seed = 2, latency_ms = 0,');
  t.match(r.report[1]!.advice, 'late_ms = 0, profile = "fast" }), poll_hz 1 (V4: 2), filter "slow" (V4: not set)');
  t.match(r.report[2]!.advice, 'its readings continue under that id');
  t.notMatch(r.report[2]!.advice, 'differ', 'no differences to list for an identical twin');
  t.same(
    out.v4.instruments.map((i) => i.id),
    ['rot_a', 'meter_v4', 'rot_b'],
    'migrated first, then the kept ones',
  );
  t.equal(out.v4.ring_policy, 'drop-oldest', 'existing [v4] settings are kept');
  t.equal(out.v4.batch_rows, 500, 'not replaced by V2 values');
  t.match(
    comments(r.text),
    'Also configured in V2 as meter_v2 at mixed.toml:15 ([[v2.instruments]] #2); that entry was dropped, not duplicated.',
  );
  t.match(r.text, '\naddress = "A"\n', 'an integer address is written as its hex digit');
  t.match(r.text, '# sim not set: no simulator faults', 'simulator faults are mentioned when simulating');
  t.match(
    r.text,
    '# sim = { latency_ms = 5, drop_probability = 0, corrupt_probability = 0, late_probability = 0, late_ms = 0, seed = 1, profile = "fast" }',
    'an inline table has every key explicit',
  );
});

t.test('an input [v4.shadow] entry for a migrated instrument is dropped and reported', async (t) => {
  const text = await fixture('shadow-entry.toml');
  const r = migrate(text);
  const out = parseConfig(r.text).config;
  t.same(out.v4.shadow, { instruments: [], tolerance_ms: 40, worst: 3, max_rel_diff: 0.01 }, 'the entry goes, the settings stay');
  t.match(r.report[0]!.advice, 'its [v4.shadow] entry was removed');
  t.equal(r.report[1]!.advice, undefined);
  t.same(r.notes, ['[v4.shadow] no longer lists meter: migrated instruments run on V4 only']);
  t.same(
    out.v4.instruments.map((i) => i.id),
    ['meter', 'rot'],
  );

  const s = migrate(text, 'lab.toml', { shadow: true });
  t.same(parseConfig(s.text).config.v4.shadow, { instruments: ['meter', 'rot'], tolerance_ms: 40, worst: 3, max_rel_diff: 0.01 });
  t.same(
    s.report.map((e) => e.outcome),
    ['shadowed', 'shadowed'],
  );
});

t.test('--keep-v2 keeps instruments without a V4 driver in [v2] with its settings', async (t) => {
  const r = migrate(seedShaped.replace('enabled = true', 'enabled = true\nmax_restarts = 9'), 'lab.toml', {
    keepV2: true,
  });
  const out = parseConfig(r.text).config;
  t.same(r.report[2], {
    id: 'mockpower',
    type: 'MockPower',
    outcome: 'kept-v2',
    label: 'V2-only (kept in V2)',
    advice:
      'MockPower has no V4 driver: it stays on V2, so V2 keeps running; replace it before you retire V2 (docs/migration.md#mockpower)',
  });
  t.same(
    out.v2.instruments.map((i) => i.id),
    ['mockpower'],
  );
  t.equal(out.v2.max_restarts, 9, 'V2 settings are kept');
  t.equal(out.v4.max_restarts, 9, 'and copied to the new [v4]');
  t.notMatch(r.text, '# id = "mockpower"', 'nothing is commented out');
});

t.test('--shadow keeps the configuration and lists the instruments V4 can shadow', async (t) => {
  const input = parseConfig(mixed).config;
  const r = migrate(mixed, 'mixed.toml', { shadow: true });
  const out = checkEquivalent(t, input, r, 'mixed --shadow', true);
  t.same(out.v4.shadow.instruments, ['rot_a'], 'not the devices V4 already drives');
  t.same(
    r.report.map((e) => [e.outcome, e.label]),
    [
      ['shadowed', 'V2 + V4 shadow (compare before migrating)'],
      ['already-in-v4', 'already in V4 as meter_v4 (not shadowed)'],
      ['already-in-v4', 'already in V4 as rot_b (not shadowed)'],
    ],
  );
  t.same(out.v2.batch_rows, 10, 'V2 settings are kept');
  t.match(r.text, 'Generated by `daq migrate --shadow` from mixed.toml');
  t.match(r.text, 'shadow.json', 'the header says where the comparison goes');

  const seed = migrate(seedShaped, 'lab.toml', { shadow: true });
  const seedOut = parseConfig(seed.text).config;
  t.same(seedOut.v4.shadow.instruments, ['elliptec1', 'newport1']);
  t.equal(seedOut.v4.enabled, true, '[v4] is added, enabled');
  t.equal(seed.report[2]!.outcome, 'kept-v2', 'MockPower stays on V2');

  const idle = migrate(seedShaped.replace('serial_port = "/dev/ttyUSB1"', 'serial_port = "/dev/ttyUSB1"\npoll_hz = 0'), 'x', {
    shadow: true,
  });
  t.match(idle.report[1]!.advice, 'poll_hz = 0', 'an instrument that takes no readings has nothing to compare');

  const v2Off = migrateConfigText(seedShaped.replace('enabled = true', 'enabled = false') + '[v4]\n', 'off.toml', {
    shadow: true,
  });
  t.equal(v2Off.ok, false, 'shadowing a disabled V2 is refused');
  if (!v2Off.ok) {
    t.equal(v2Off.diagnostics.length, 1);
    t.match(v2Off.diagnostics[0], { file: 'off.toml', line: 6, path: 'v2.enabled', severity: 'error' });
  }
});

t.test('a disabled [v4] is enabled when it receives instruments, and a disabled [v2] is noted', async (t) => {
  const r = migrate(
    seedShaped +
      '\n[v4]\nenabled = false\n[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "TCPIP0::10.0.0.5::5025::SOCKET"\n',
  );
  const out = parseConfig(r.text).config;
  t.equal(out.v4.enabled, true);
  t.match(r.notes[0], '[v4] was disabled (enabled = false): it is enabled now');
  t.match(r.notes[0], 'its 1 instrument will run too');

  const off = migrate(seedShaped.replace('enabled = true', 'enabled = false') + '\n[v4]\n');
  t.match(off.report[0]!.advice, '[v2] was disabled, so it did not run');
});

t.test('strings, numbers and keys are written as valid TOML that reads back the same', async (t) => {
  const text = `
[application]
name = "lab \\"A\\" \\\\ \\u00fc \\u007f tab\\t"
data_dir = "/data/runs with spaces"
[v4]
[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "ASRL/dev/ttyS0::INSTR"
poll_query = "MEAS:VOLT:DC?"
read_termination = "\\r\\n"
unit = "\\u00b5V"
timeout_ms = 1500
baud_rate = 115200
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 0.125
roi = { x = 8, y = 16, width = 256, height = 128 }
cpu = 0
`;
  const input = parseConfig(text).config;
  const r = migrate(text);
  const out = checkEquivalent(t, input, r, 'strings');
  t.equal(out.application.name, 'lab "A" \\ ü \u007f tab\t');
  t.match(r.text, 'name = "lab \\"A\\" \\\\ ü \\u007f tab\\t"', 'DEL is escaped, as TOML requires');
  t.match(r.text, '\nroi = { x = 8, y = 16, width = 256, height = 128 }\n', 'an inline table');
  t.match(r.text, '\nexposure_ms = 0.125\n');
  t.match(r.text, '# No V2 instruments: nothing to migrate.');
  t.match(r.text, '# 2 V4 instruments kept as they were.');
});

t.test('the field map and the rules cover every type with both drivers', async (t) => {
  const both = INSTRUMENT_TYPES.filter((s) => s.subsystems.includes('v2') && s.subsystems.includes('v4')).map((s) => s.type);
  t.same(both.sort(), Object.keys(TYPE_MIGRATIONS).sort(), 'one rule per type with a V2 and a V4 driver');
  for (const type of both) {
    const map = migrationFieldMap(type);
    const v2Fields = Object.keys(instrumentTypeSpec('v2', type)!.fields);
    t.same(Object.keys(map).sort(), ['id', 'type', ...v2Fields].sort(), `${type}: every V2 field is mapped`);
    for (const [from, to] of Object.entries(map)) t.equal(to, from, `${type}.${from} keeps its name today`);
    t.equal(typeMigration(type)!.compatibility, 'fully compatible');
  }
  t.equal(typeMigration('MockPower'), undefined, 'MockPower has no V4 driver');
  t.equal(typeMigration('ESP300'), undefined, 'ESP300 has no V2 driver');
  t.throws(() => migrationFieldMap('MockPower'), { code: 'DAQ_INVALID_ARGUMENT' });
  t.equal(migrationGuideLink('Newport1830C'), 'docs/migration.md#newport1830c');
  const doc = await readFile(new URL('docs/migration.md', root), 'utf8');
  for (const type of [...both, 'MockPower'])
    t.match(doc, new RegExp(`^## ${type}$`, 'm'), `docs/migration.md has the section ${migrationGuideLink(type)}`);
  t.match(doc, /^## Shadow mode$/m, 'and #shadow-mode');
});

t.test('invalid input is not converted: its diagnostics are returned', async (t) => {
  const text = '[v2]\n[[v2.instruments]]\nid = "x"\ntype = "Elliptec"\n';
  const r = migrateConfigText(text, 'bad.toml');
  t.equal(r.ok, false);
  if (!r.ok) t.same(r.diagnostics, validateConfigText(text, 'bad.toml').diagnostics);
  const syntax = migrateConfigText('[v2\n', 'syntax.toml');
  t.equal(syntax.ok, false);
  if (!syntax.ok) t.match(syntax.diagnostics[0], { file: 'syntax.toml', line: 1, message: /TOML syntax/ });
});

t.test('an output that does not validate is a bug: DaqError with the diagnostics', async (t) => {
  let calls = 0;
  const { migrateConfigText: mocked } = await t.mockImport<typeof import('../src/config/migrate.js')>(
    '../src/config/migrate.js',
    {
      '../src/config/load.js': {
        validateConfigText: (text: string, file: string) =>
          ++calls === 1
            ? validateConfigText(text, file)
            : {
                diagnostics: [{ file, line: 3, column: 1, path: 'v4', message: 'broken on purpose', severity: 'error' }],
              },
      },
    },
  );
  let thrown: unknown;
  try {
    mocked(seedShaped, 'seed.toml');
  } catch (e) {
    thrown = e;
  }
  const err = thrown as DaqError; // a DaqError of the freshly imported module graph
  t.equal(err?.name, 'DaqError', 'it throws');
  t.equal(err.code, 'DAQ_CONFIG');
  t.match(err.message, 'a bug in daq migrate');
  t.match(err.message, '3:1: v4: broken on purpose');
  t.match(err.facts.diagnostics, [{ message: 'broken on purpose' }]);
  t.equal(calls, 2, 'the input and the output were validated');
});
