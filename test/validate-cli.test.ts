// `daq validate` over every example and every invalid fixture: the fixtures carry their
// expected diagnostics in `# expect: LINE:COL: PATH: MESSAGE` comments.

import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { main } from '@daq/broker';
import { captureIo } from './helpers/cli.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const daqBin = `${root}packages/broker/bin/daq.js`;
const run = promisify(execFile);

async function daq(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [daqBin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const examples = (await readdir(`${root}examples`)).filter((f) => f.endsWith('.toml')).map((f) => `examples/${f}`);
const fixtures = (await readdir(`${root}test/fixtures/invalid`)).filter((f) => f.endsWith('.toml'));

t.test('every example is valid', async (t) => {
  t.ok(examples.length >= 5, 'seed, demo, v2-only, v4-only, shared-port');
  const io = captureIo();
  process.chdir(root);
  t.equal(await main(['validate', ...examples], io), 0, io.stderr);
  t.same(io.stdout.trim().split('\n').sort(), examples.map((f) => `ok ${f}`).sort());
});

t.test(`each of the ${fixtures.length} invalid fixtures is rejected with its message and position`, async (t) => {
  t.ok(fixtures.length >= 12, 'at least a dozen invalid configurations');
  for (const name of fixtures) {
    const file = `test/fixtures/invalid/${name}`;
    const expects = (await readFile(`${root}${file}`, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('# expect: '))
      .map((l) => `${file}:${l.slice('# expect: '.length)}`);
    t.ok(expects.length > 0, `${name} says what it expects`);
    const io = captureIo();
    t.equal(await main(['validate', file], io), 2, `${name} exits 2`);
    const errors = io.stderr
      .split('\n')
      .filter((l) => l.startsWith(`${file}:`) && !l.includes(': warning: ') && /:\d+:\d+: /.test(l));
    t.equal(errors.length, expects.length, `${name}: exactly the expected errors\n${io.stderr}`);
    expects.forEach((expected, i) => t.ok(errors[i]?.startsWith(expected), `${name}: ${expected}\n  got: ${errors[i]}`));
    t.equal(io.stdout, '', 'nothing on stdout for an invalid file');
  }
});

t.test('the daq binary: exit codes and streams', async (t) => {
  const ok = await daq(['validate', 'examples/seed.toml', 'examples/demo.toml']);
  t.equal(ok.code, 0);
  t.equal(ok.stdout, 'ok examples/seed.toml\nok examples/demo.toml\n');
  t.match(
    ok.stderr,
    /^examples\/seed\.toml:24:1: warning: v4\.instruments\[0\]\.resource: TCPIP0::192\.168\.1\.100::inst0::INSTR needs a VISA library/m,
  );

  const invalid = await daq(['validate', 'examples/demo.toml', 'test/fixtures/invalid/bad-visa-resource.toml']);
  t.equal(invalid.code, 2, 'one invalid file makes the run fail');
  t.equal(invalid.stdout, 'ok examples/demo.toml\n', 'the valid one is still reported');
  t.match(
    invalid.stderr,
    'test/fixtures/invalid/bad-visa-resource.toml:14:1: v4.instruments[1].resource: "TCPIP0::" is not a VISA resource name',
  );

  const unreadable = await daq(['validate', 'examples/no-such.toml']);
  t.equal(unreadable.code, 1);
  t.equal(unreadable.stderr, 'examples/no-such.toml: cannot read: no such file\n');

  // `npx daq` works because the root package depends on @daq/broker, so npm links its bin.
  const linked = await run(`${root}node_modules/.bin/daq`, ['--version'], { cwd: root });
  t.match(linked.stdout, /^daq \d+\.\d+\.\d+\n$/, 'node_modules/.bin/daq is linked');

  const help = await daq(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /daq validate CONFIG\.\.\./);
});

t.test('usage errors are explained', async (t) => {
  const cases: [string[], number, RegExp][] = [
    [[], 2, /Usage:/],
    [['frobnicate'], 2, /unknown command "frobnicate"/],
    [['validate'], 2, /name at least one configuration file/],
    [['validate', '--strict', 'x.toml'], 2, /Unknown option '--strict'/],
    [['validate', 'examples'], 1, /examples: cannot read: is a directory/],
    [['--version'], 0, /^daq \d+\.\d+\.\d+/],
  ];
  for (const [args, code, text] of cases) {
    const io = captureIo();
    t.equal(await main(args, io), code, args.join(' '));
    t.match(io.stdout + io.stderr, text);
  }
  const io = captureIo();
  t.equal(await main(['schema'], io), 0);
  t.equal(JSON.parse(io.stdout).title, 'DAQ runtime configuration');
});
