// `daq migrate` through main(): the report on stderr, where the new configuration goes, and
// that nothing is written when anything fails.

import t from 'tap';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '@daq/broker';
import { parseConfig, validateConfigText } from '@daq/core';
import { captureIo } from './helpers/cli.js';

const root = fileURLToPath(new URL('../', import.meta.url));

async function daq(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo();
  const code = await main(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** "exits 0", with what it printed when it did not. */
const exits0 = (r: { code: number; stderr: string }, what = 'exits 0') => (r.code === 0 ? what : `${what}\n${r.stderr}`);

/** A fresh directory, removed when the test ends. */
async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-migrate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const seedShaped = `[application]
name = "lab"

[v2]
enabled = true

[[v2.instruments]]
id = "elliptec1"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"

[[v2.instruments]]
id = "newport1"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"

[[v2.instruments]]
id = "mockpower"
type = "MockPower"
`;

const mockpowerAdvice =
  '    MockPower has no V4 driver: keep it on V2 with --keep-v2, or replace it (docs/migration.md#mockpower); its settings are commented out at the end of the new file';

t.test('the report has the shape of the seed, with advice under the skipped instrument', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'config.toml'), seedShaped);
  const cwd = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(cwd));
  const r = await daq(['migrate', 'config.toml', '-o', 'config.v4.toml']);
  t.equal(r.code, 0, exits0(r));
  t.equal(
    r.stderr,
    [
      'Converting V2 configuration...',
      '  Found 3 instruments',
      '  - elliptec1: V2 -> V4 (serial adapter, fully compatible)',
      '  - newport1: V2 -> V4 (power meter, fully compatible)',
      '  - mockpower: V2-only (skipped, create manually)',
      mockpowerAdvice,
      '  Note: [v4] added (enabled), with the supervision, batching and storage settings of [v2]',
      'Conversion complete: config.v4.toml',
      '',
    ].join('\n'),
  );
  t.equal(r.stdout, '', 'nothing on stdout when writing a file');
  const text = await readFile(join(dir, 'config.v4.toml'), 'utf8');
  const out = parseConfig(text).config;
  t.same(
    out.v4.instruments.map((i) => i.id),
    ['elliptec1', 'newport1'],
  );
  t.same(out.v2.instruments, [], 'nothing left in V2');
  t.match(text, '# [[v2.instruments]]\n# id = "mockpower"\n# type = "MockPower"\n', 'MockPower is there, commented out');
  t.same((await readdir(dir)).sort(), ['config.toml', 'config.v4.toml'], 'no temporary file is left');
  t.equal(await readFile(join(dir, 'config.toml'), 'utf8'), seedShaped, 'the input is untouched');
});

t.test('without -o the configuration goes to standard output', async (t) => {
  const r = await daq(['migrate', join(root, 'examples/v2-only.toml')]);
  t.equal(r.code, 0, exits0(r));
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.at(-1), 'Conversion complete: written to standard output');
  t.equal(lines[0], 'Converting V2 configuration...');
  const out = validateConfigText(r.stdout, 'stdout');
  t.ok(out.config, 'stdout holds a valid configuration');
  t.same(
    out.config!.v4.instruments.map((i) => i.id),
    ['rotator', 'power'],
  );
});

t.test('every example converts through the command, and daq validate accepts the result', async (t) => {
  const dir = await tempDir(t);
  const examples = (await readdir(join(root, 'examples'))).filter((f) => f.endsWith('.toml'));
  t.ok(examples.length >= 5);
  for (const name of examples) {
    for (const flags of [[], ['--keep-v2'], ['--shadow']]) {
      const out = join(dir, `${name}${flags.join('')}.toml`);
      const r = await daq(['migrate', join(root, 'examples', name), '-o', out, ...flags]);
      t.equal(r.code, 0, exits0(r, `${name} ${flags.join(' ')} exits 0`));
      t.equal(r.stderr.trimEnd().split('\n').at(-1), `Conversion complete: ${out}`);
      const v = await daq(['validate', out]);
      t.equal(v.code, 0, exits0(v, `${name} ${flags.join(' ')}: daq validate accepts the output`));
    }
  }
});

t.test('a mixed configuration: V4 instruments kept, a device V4 already drives not duplicated', async (t) => {
  const r = await daq(['migrate', join(root, 'examples/shared-port.toml')]);
  t.equal(r.code, 0, exits0(r));
  t.same(r.stderr.split('\n').slice(0, 7), [
    'Converting V2 configuration...',
    '  Found 2 instruments',
    '  Keeping 3 V4 instruments as they are',
    '  - rotator_a: V2 -> V4 (serial adapter, fully compatible)',
    '  - power_v2: already in V4 as power_v4 (not duplicated)',
    '    V4 already drives this device as power_v4, whose settings are kept; its readings continue under that id',
    'Conversion complete: written to standard output',
  ]);
  const out = parseConfig(r.stdout).config;
  t.same(
    out.v4.instruments.map((i) => i.id),
    ['rotator_a', 'rotator_b', 'power_v4', 'laser_terminal'],
  );
});

t.test('--keep-v2 and --shadow', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'lab.toml');
  await writeFile(file, seedShaped);

  const kept = await daq(['migrate', file, '--keep-v2']);
  t.equal(kept.code, 0, exits0(kept));
  t.match(kept.stderr, '\n  - mockpower: V2-only (kept in V2)\n    MockPower has no V4 driver: it stays on V2');
  const keptOut = parseConfig(kept.stdout).config;
  t.same(
    keptOut.v2.instruments.map((i) => i.id),
    ['mockpower'],
  );

  const shadow = await daq(['migrate', file, '--shadow']);
  t.equal(shadow.code, 0, exits0(shadow));
  t.same(shadow.stderr.split('\n').slice(0, 5), [
    'Converting V2 configuration to shadow mode...',
    '  Found 3 instruments',
    '  - elliptec1: V2 + V4 shadow (compare before migrating)',
    '  - newport1: V2 + V4 shadow (compare before migrating)',
    '  - mockpower: V2-only (kept in V2)',
  ]);
  const out = validateConfigText(shadow.stdout, 'shadow.toml');
  t.ok(out.config, 'the shadow configuration is valid');
  t.same(out.config!.v4.shadow.instruments, ['elliptec1', 'newport1']);
  t.same(
    out.config!.v2.instruments.map((i) => i.id),
    ['elliptec1', 'newport1', 'mockpower'],
    'V2 keeps every instrument',
  );
  t.same(out.config!.v4.instruments, [], 'V4 gets no instruments of its own');
});

t.test('-o refuses an existing file unless --force, and refuses the input itself', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'lab.toml');
  const out = join(dir, 'lab.v4.toml');
  await writeFile(file, seedShaped);
  await writeFile(out, 'keep me\n');

  const refused = await daq(['migrate', file, '-o', out]);
  t.equal(refused.code, 1);
  t.equal(refused.stderr, `daq migrate: ${out} already exists; choose another file, or add --force to replace it\n`);
  t.equal(await readFile(out, 'utf8'), 'keep me\n', 'the existing file is untouched');

  const forced = await daq(['migrate', file, '-o', out, '--force']);
  t.equal(forced.code, 0, exits0(forced));
  t.ok(validateConfigText(await readFile(out, 'utf8'), out).config, '--force replaces it with the new configuration');

  const same = await daq(['migrate', file, '-o', join(dir, '.', 'lab.toml'), '--force']);
  t.equal(same.code, 2);
  t.match(same.stderr, 'is the input file; use --in-place');
  t.equal(await readFile(file, 'utf8'), seedShaped, 'the input is untouched');
  t.same((await readdir(dir)).sort(), ['lab.toml', 'lab.v4.toml'], 'no temporary file is left');
});

t.test('--in-place keeps a backup equal to the original and replaces the file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'lab.toml');
  await writeFile(file, seedShaped);

  const r = await daq(['migrate', file, '--in-place']);
  t.equal(r.code, 0, exits0(r));
  t.equal(await readFile(`${file}.v2.bak`, 'utf8'), seedShaped, 'the backup holds the original');
  const migrated = await readFile(file, 'utf8');
  t.same(
    parseConfig(migrated).config.v4.instruments.map((i) => i.id),
    ['elliptec1', 'newport1'],
    'the file now holds the V4 configuration',
  );
  t.match(r.stderr, `\n  Original kept as ${file}.v2.bak\nConversion complete: ${file}\n`);
  t.equal(r.stdout, '');

  // A second run does not overwrite the first backup.
  const again = await daq(['migrate', file, '--in-place']);
  t.equal(again.code, 0, exits0(again));
  t.match(again.stderr, `Original kept as ${file}.v2.bak.1\n`);
  t.equal(await readFile(`${file}.v2.bak`, 'utf8'), seedShaped, 'the first backup is untouched');
  t.equal(await readFile(`${file}.v2.bak.1`, 'utf8'), migrated, 'the second holds what the second run converted');
  t.same((await readdir(dir)).sort(), ['lab.toml', 'lab.toml.v2.bak', 'lab.toml.v2.bak.1']);
});

t.test('--in-place writes nothing when every backup name is taken', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'lab.toml');
  await writeFile(file, seedShaped);
  await writeFile(`${file}.v2.bak`, 'old');
  for (let n = 1; n < 1000; n++) await writeFile(`${file}.v2.bak.${n}`, 'old');
  const r = await daq(['migrate', file, '--in-place']);
  t.equal(r.code, 1);
  t.equal(r.stderr, `daq migrate: ${file}.v2.bak through ${file}.v2.bak.999 all exist; remove old backups first\n`);
  t.equal(await readFile(file, 'utf8'), seedShaped, 'the input is untouched');
  t.equal((await readdir(dir)).length, 1001, 'no file was added');
});

t.test('invalid input exits 2 with its diagnostics and writes nothing', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.toml');
  const bad = '[v2]\n[[v2.instruments]]\nid = "x"\ntype = "Elliptec"\nbaud_rate = 1234\n';
  await writeFile(file, bad);

  const r = await daq(['migrate', file, '-o', join(dir, 'out.toml')]);
  t.equal(r.code, 2);
  t.match(r.stderr, `${file}:2:1: v2.instruments[0]: required key "serial_port" is missing\n`);
  t.match(r.stderr, `${file}:5:1: v2.instruments[0].baud_rate: 1234 is not one of`);
  t.match(r.stderr, `${file}: 2 errors; nothing was converted\n`);
  t.notMatch(r.stderr, 'Converting', 'no report');
  t.equal(r.stdout, '');

  const inPlace = await daq(['migrate', file, '--in-place']);
  t.equal(inPlace.code, 2);
  t.equal(await readFile(file, 'utf8'), bad, 'the input is untouched');
  t.same(await readdir(dir), ['bad.toml'], 'no output, no backup');
});

t.test('unreadable input and unwritable output exit 1 and write nothing', async (t) => {
  const dir = await tempDir(t);
  const missing = await daq(['migrate', join(dir, 'nope.toml'), '-o', join(dir, 'out.toml')]);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, `${join(dir, 'nope.toml')}: cannot read: no such file or directory\n`);

  await mkdir(join(dir, 'a-directory'));
  const directory = await daq(['migrate', join(dir, 'a-directory')]);
  t.equal(directory.code, 1);
  t.match(directory.stderr, 'cannot read: is a directory');

  const file = join(dir, 'lab.toml');
  await writeFile(file, seedShaped);
  const target = join(dir, 'no-such-dir', 'out.toml');
  const unwritable = await daq(['migrate', file, '-o', target]);
  t.equal(unwritable.code, 1);
  t.equal(
    unwritable.stderr,
    `daq migrate: cannot write ${target}: no such file or directory; nothing was written\n`,
    'no report for a conversion that was not written',
  );
  t.equal(unwritable.stdout, '');
  t.same((await readdir(dir)).sort(), ['a-directory', 'lab.toml']);
});

t.test('bad usage exits 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['migrate'], /name the configuration to convert/],
    [['migrate', 'examples/seed.toml', '-o', 'x.toml', '--in-place'], /-o and --in-place exclude each other/],
    [['migrate', 'examples/seed.toml', 'examples/demo.toml'], /one configuration at a time/],
    [['migrate', 'examples/seed.toml', '--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, text] of cases) {
    const r = await daq(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, text);
    t.equal(r.stdout, '');
  }
  const help = await daq(['--help']);
  t.match(help.stdout, 'daq migrate CONFIG [-o FILE | --in-place] [--keep-v2] [--shadow] [--force]');
  t.match(help.stdout, 'Guide: docs/migration.md');
});
