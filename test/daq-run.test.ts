// Headless acquisition end to end on simulators: every configured instrument in the file with
// exactly the rows its driver produced, timestamps in order, files readable by apache-arrow and
// by polars (Rust Arrow); SIGINT mid-run leaves valid files and an "interrupted" run.json;
// kill -9 leaves everything flushed before it readable.

import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { tableFromIPC } from 'apache-arrow';
import { parseConfig } from '@daq/core';
import { Acquisition, startAcquisition, inspectPath, main, type CliIo } from '@daq/broker';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const root = fileURLToPath(new URL('../', import.meta.url));
const pl = createRequire(import.meta.url)('nodejs-polars') as typeof import('nodejs-polars');
const tmp = await mkdtemp(join(tmpdir(), 'daq-run-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const CONFIG = `
[application]
name = "e2e"
simulate = true
data_dir = "${tmp}/data"
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "rot_v2"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "0"
poll_hz = 10
[[v2.instruments]]
id = "power_v2"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 5
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 100
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "rot_v4"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "1"
poll_hz = 10
[[v4.instruments]]
id = "power_v4"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 5
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.1.1.1::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 50
`;

t.test(
  'an acquisition stores exactly what the drivers produced, in time order, readable by two Arrow implementations',
  async (t) => {
    const loaded = { file: 'e2e.toml', config: parseConfig(CONFIG, 'e2e.toml').config, warnings: [] };
    const acq = await startAcquisition(loaded);
    await until(() => acq.progress().stored > 300, 20_000, '300 stored rows');
    const record = await acq.stop('completed');
    t.equal(record.status, 'completed');

    // What each driver produced, from the workers' own final status.
    const produced = new Map<string, number>();
    for (const s of record.subsystems) {
      t.ok(s.stop?.clean, `${s.name} stopped cleanly`);
      t.equal(s.stop?.batchesReceived, s.stop?.batchesSent, `${s.name}: every batch arrived`);
    }
    const status = (await acq.runtime.status()).subsystems;
    for (const sub of status) for (const i of sub.instruments) produced.set(i.id, i.readings);
    t.same(
      [...produced.keys()].sort(),
      ['meter', 'mock', 'power_v2', 'power_v4', 'rot_v2', 'rot_v4'],
      'every configured instrument ran',
    );

    const files = (await readdir(acq.dir)).sort();
    t.same(files, ['run.json', 'scalars.arrows']);
    const bytes = await readFile(join(acq.dir, 'scalars.arrows'));
    const table = tableFromIPC(bytes);
    const perInstrument = new Map<string, number>();
    const inst = table.getChild('instrument')!;
    for (let i = 0; i < table.numRows; i++) perInstrument.set(inst.get(i), (perInstrument.get(inst.get(i)) ?? 0) + 1);
    for (const [id, n] of produced) t.equal(perInstrument.get(id), n, `${id}: ${n} readings produced, all stored`);
    t.equal(table.numRows, record.streams.scalars.rowsFlushed, 'run.json counts what the file holds');
    for (const [name, c] of Object.entries(record.streams.scalars.sources)) t.equal(c.in, c.out, `${name}: rows in == rows out`);

    const ts = table.getChild('timestamp')!.data.flatMap((d) => [...(d.values as BigInt64Array).subarray(0, d.length)]);
    let ordered = true;
    for (let i = 1; i < ts.length; i++) if (ts[i]! < ts[i - 1]!) ordered = false;
    t.ok(ordered, 'timestamps never decrease');
    t.equal(
      Object.values(record.streams.scalars.sources).reduce((n, c) => n + c.late, 0),
      0,
      'no late rows',
    );
    t.same(
      [...new Set(table.getChild('subsystem')!.toArray())].sort(),
      ['v2', 'v4'],
      'the subsystem column tells V2 and V4 apart',
    );

    // polars (Rust Arrow) reads the same file and agrees.
    const df = pl.readIPCStream(bytes);
    t.same(df.columns, ['timestamp', 'subsystem', 'instrument', 'channel', 'value', 'unit', 'flag']);
    t.equal(df.height, table.numRows);
    const counts = df.groupBy('instrument').len().sort('instrument');
    t.same(
      Object.fromEntries(
        (counts.getColumn('instrument').toArray() as string[]).map((id, i) => [id, counts.getColumn('len').toArray()[i]]),
      ),
      Object.fromEntries(perInstrument),
      'polars counts the same rows per instrument',
    );
    const arrowSum = (table.getChild('value')!.toArray() as Float64Array).reduce((a, b) => a + b, 0);
    t.ok(
      Math.abs(Number(df.getColumn('value').sum()) - arrowSum) <= 1e-9 * Math.max(1, Math.abs(arrowSum)),
      'and the same values',
    );

    const inspected = await inspectPath(acq.dir);
    t.equal(inspected.rows, table.numRows);
    t.equal(inspected.run?.status, 'completed');
    t.same(new Set(inspected.channels.map((c) => c.instrument)), new Set(produced.keys()));
  },
);

async function startDaq(args: string[]) {
  const child = spawn(process.execPath, [`${root}packages/broker/bin/daq.js`, 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

async function runJson(dir: string) {
  try {
    return JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

t.test('SIGINT mid-run: clean files, run.json "interrupted", exit 130', async (t) => {
  const cfg = join(tmp, 'sigint.toml');
  await writeFile(cfg, CONFIG);
  const out = join(tmp, 'sigint-run');
  const daq = await startDaq([cfg, '--out', out]);
  await until(async () => ((await runJson(out))?.streams?.scalars?.rowsFlushed ?? 0) > 50, 30_000, 'rows on disk');
  daq.child.kill('SIGINT');
  t.equal(await daq.exited, 130, daq.stderr());
  const run = await runJson(out);
  t.match(run, { status: 'interrupted', reason: 'stopped by SIGINT' });
  t.match(daq.stderr(), /daq run: interrupted \(stopped by SIGINT\)/);
  t.match(daq.stderr(), /rot_v2 +v2 +Elliptec +\d+/, 'the summary lists the instruments');
  const inspected = await inspectPath(out);
  t.same(
    inspected.files.map((f) => [f.file, f.truncated]),
    [['scalars.arrows', undefined]],
    'the file is complete',
  );
  t.equal(inspected.rows, run.streams.scalars.rowsFlushed);
  const bytes = await readFile(join(out, 'scalars.arrows'));
  t.same([...bytes.subarray(bytes.length - 8)], [255, 255, 255, 255, 0, 0, 0, 0], 'it ends with the end-of-stream marker');
  t.equal(pl.readIPCStream(bytes).height, inspected.rows);

  // The same directory through `daq inspect`, as a user sees it.
  const o = { out: '', err: '' };
  const cli: CliIo = { out: (x) => void (o.out += x), err: (x) => void (o.err += x) };
  t.equal(await main(['inspect', out], cli), 0, o.err);
  t.match(o.out, /run: e2e, status interrupted \(stopped by SIGINT\)/);
  t.match(o.out, new RegExp(`file scalars\\.arrows: ${inspected.rows} rows in \\d+ batches`));
  t.match(o.out, /timestamp: Timestamp<NANOSECOND, UTC> not null/);
  t.match(o.out, /time span: \d{4}-\d\d-\d\dT.* to .* \(\d+\.\d{3} s\)/);
  t.match(
    o.out,
    /meter +v4 +MEAS:VOLT:DC\? +V +\d+ +1\.23457 \/ 1\.23457 \/ 1\.23457/,
    'per-instrument channels with min/mean/max',
  );
  const json = { out: '', err: '' };
  t.equal(
    await main(['inspect', join(out, 'scalars.arrows'), '--json'], {
      out: (x) => void (json.out += x),
      err: (x) => void (json.err += x),
    }),
    0,
  );
  t.equal(JSON.parse(json.out).rows, inspected.rows, '--json, on a single file');
});

t.test('kill -9 mid-run: every row flushed before the kill is readable', async (t) => {
  const cfg = join(tmp, 'kill.toml');
  await writeFile(cfg, CONFIG);
  const out = join(tmp, 'kill-run');
  const daq = await startDaq([cfg, '--out', out]);
  await until(async () => ((await runJson(out))?.streams?.scalars?.rowsFlushed ?? 0) > 100, 30_000, 'rows on disk');
  const recorded = (await runJson(out)).streams.scalars.rowsFlushed as number;
  daq.child.kill('SIGKILL');
  await daq.exited;
  const inspected = await inspectPath(out);
  t.equal(inspected.run?.status, 'running', 'run.json shows the run never ended');
  t.equal(inspected.files[0]!.truncated, undefined, 'whole messages only: nothing half-written');
  t.ok(inspected.rows >= recorded, `${inspected.rows} rows readable, ${recorded} were recorded as flushed`);
  const bytes = await readFile(join(out, 'scalars.arrows'));
  t.equal(pl.readIPCStream(bytes).height, inspected.rows, 'polars reads them too');
  // The simulators died with the process; nothing is left to clean up but the files.
});

t.test('bad usage and bad configs are refused before anything starts', async (t) => {
  const io = () => {
    const o = { out: '', err: '' };
    const cli: CliIo = { out: (s) => void (o.out += s), err: (s) => void (o.err += s) };
    return { o, cli };
  };
  let x = io();
  t.equal(await main(['run'], x.cli), 2);
  t.match(x.o.err, /name a configuration file/);
  x = io();
  t.equal(await main(['run', 'x.toml', '--duration=-1'], x.cli), 2);
  t.match(x.o.err, /--duration must be a positive number/);
  x = io();
  const bad = join(tmp, 'bad.toml');
  await writeFile(bad, '[v2]\n[[v2.instruments]]\nid = "x"\ntype = "Elliptik"\n');
  t.equal(await main(['run', bad], x.cli), 2);
  t.match(x.o.err, /bad\.toml:4:1: v2\.instruments\[0\]\.type: "Elliptik" is not one of/);
  x = io();
  const nonEmpty = join(tmp, 'occupied');
  await mkdir(nonEmpty);
  await writeFile(join(nonEmpty, 'keep.txt'), 'x');
  await writeFile(join(tmp, 'ok.toml'), CONFIG);
  t.equal(await main(['run', join(tmp, 'ok.toml'), '--out', nonEmpty, '--duration', '1'], x.cli), 1);
  t.match(x.o.err, /the output directory .*occupied is not empty \(keep\.txt\); name a new directory/);
  x = io();
  t.equal(await main(['inspect', join(tmp, 'nope')], x.cli), 1);
  t.match(x.o.err, /daq inspect: cannot read/);
});

t.test('no workers, handles or leases left', async (t) => {
  await assertNoNewHandles(t, before);
});
