// Shadow mode end to end on simulators: V4 runs its own drivers for two V2 instruments on
// the same simulated hardware (ports shared through leases). The power meter's simulator
// answers V4 2e-5 W high (sim.v4_offset), the Elliptec bus answers both alike: the
// comparison must find exactly that offset on one and zero difference on the other, V2's
// readings must stay the ones in scalars.arrows, and V4's must be stored apart, flagged.

import t from 'tap';
import type { SimulatorSet } from '@daq/sim';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { parseConfig } from '@daq/core';
import { Acquisition, startAcquisition, inspectPath, main } from '@daq/broker';
import { summary } from '../packages/broker/src/commands/run.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';
import { testRuntime, until } from './helpers/runtime.js';
import { captureIo } from './helpers/cli.js';

const faultyV4 = new URL('./fixtures/workers/faulty-v4-worker.ts', import.meta.url);

const before = handleSnapshot();
const tmp = await mkdtemp(join(tmpdir(), 'daq-shadow-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const OFFSET_W = 2e-5;
const config = (extra = '') => `
[application]
name = "shadow"
simulate = true
data_dir = "${tmp}/data"
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "pm1"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
filter = "fast"
poll_hz = 5
sim = { v4_offset = ${OFFSET_W} }
[[v2.instruments]]
id = "rot1"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "0"
poll_hz = 5
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 20
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "rot4"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "1"
poll_hz = 5
[v4.shadow]
instruments = ["pm1", "rot1"]
${extra}
`;

async function rowsOf(dir: string, file: string) {
  const table = tableFromIPC(await readFile(join(dir, file)));
  return table.toArray().map((r) => ({
    subsystem: String(r.subsystem),
    instrument: String(r.instrument),
    channel: String(r.channel),
    value: r.value as number,
  }));
}

t.test('a known V4 offset is found and quantified; identical readings differ by zero', async (t) => {
  const acq = await startAcquisition(parseConfig(config(), 'shadow.toml'), { out: join(tmp, 'run1') });
  await new Promise((r) => setTimeout(r, 4000));
  const record = await acq.stop('completed');
  t.equal(record.status, 'completed', record.reason ?? '');

  // V2's readings are the ones used: scalars.arrows has no shadow rows.
  const stored = await rowsOf(acq.dir, 'scalars.arrows');
  t.notOk(
    stored.some((r) => r.subsystem === 'v4-shadow'),
    'no V4 shadow reading in scalars.arrows',
  );
  const pmV2 = stored.filter((r) => r.instrument === 'pm1');
  t.ok(pmV2.length >= 10, `V2 read pm1 ${pmV2.length} times`);
  t.ok(
    pmV2.every((r) => r.subsystem === 'v2' && Math.abs(r.value - 1e-3) < 1e-12),
    'V2 reads the true power',
  );
  t.ok(
    stored.some((r) => r.instrument === 'rot4' && r.subsystem === 'v4'),
    'the plain V4 instrument is stored as before',
  );

  // V4's readings of the shadowed instruments: stored apart, flagged.
  const shadow = await rowsOf(acq.dir, 'shadow.arrows');
  t.ok(shadow.length > 0);
  t.ok(
    shadow.every((r) => r.subsystem === 'v4-shadow'),
    'every row flagged v4-shadow',
  );
  t.same([...new Set(shadow.map((r) => r.instrument))].sort(), ['pm1', 'rot1']);
  t.ok(
    shadow.filter((r) => r.instrument === 'pm1').every((r) => Math.abs(r.value - (1e-3 + OFFSET_W)) < 1e-12),
    'V4 got the offset reading',
  );

  // The comparison.
  const report = JSON.parse(await readFile(join(acq.dir, 'shadow.json'), 'utf8'));
  t.equal(report.format, 'daq-shadow/1');
  t.equal(report.final, true);
  const pm = report.instruments.pm1;
  t.equal(pm.toleranceMs, 100, 'half the 5 Hz poll period');
  const power = pm.channels.power;
  t.equal(power.unit, 'W');
  t.ok(power.pairs >= 10, `${power.pairs} pairs`);
  // How many readings pair up depends on the two pollers' timing, which a loaded machine
  // stretches (a figure for benchmarks, not a pass/fail check); what must hold is that every
  // reading is accounted for, paired, unmatched or outside, as checked below.
  t.comment(`unmatched ${JSON.stringify(power.unmatched)} beside ${power.pairs} pairs`);
  t.ok(power.outside.v2 > 0, `V2 read before V4 started (${power.outside.v2}): not compared`);
  t.equal(power.readings.v2, power.pairs + power.unmatched.v2 + power.outside.v2, 'every V2 reading accounted for');
  t.equal(power.readings.v4, power.pairs + power.unmatched.v4 + power.outside.v4, 'every V4 reading accounted for');
  t.equal(power.readings.v2, pmV2.length, 'the comparison saw every V2 reading');
  t.ok(Math.abs(power.meanDiff - OFFSET_W) < 1e-12, `mean diff ${power.meanDiff}`);
  t.ok(Math.abs(power.maxAbsDiff - OFFSET_W) < 1e-12);
  t.ok(Math.abs(power.meanRelDiff - 0.02) < 1e-9, `relative ${power.meanRelDiff}`);
  t.ok(power.worst.length > 0 && power.worst.length <= 5);
  t.ok(power.worst.every((w: { dtMs: number }) => Math.abs(w.dtMs) <= 100));

  const rot = report.instruments.rot1;
  t.ok(rot.pairs >= 10, `${rot.pairs} rotator pairs`);
  t.equal(rot.channels.position.maxAbsDiff, 0, 'identical readings: zero difference');
  t.equal(rot.channels.position.meanDiff, 0);
  t.equal(report.instruments.mock, undefined, 'only shadowed instruments are compared');

  // run.json and the summary, and daq inspect.
  const run = JSON.parse(await readFile(join(acq.dir, 'run.json'), 'utf8'));
  t.equal(run.shadow.file, 'shadow.json');
  t.equal(run.shadow.instruments.pm1.pairs, pm.pairs);
  t.equal(run.streams.shadow.rowsFlushed, shadow.length);
  t.equal(run.streams.scalars.rowsNotStored, 0, 'shadow rows are not counted as unstored V2/V4 rows');
  const entries = run.instruments.filter((i: { subsystem: string }) => i.subsystem === 'v4-shadow');
  t.same(entries.map((i: { id: string }) => i.id).sort(), ['pm1', 'rot1']);
  t.equal(
    entries.reduce((n: number, i: { rows: number }) => n + i.rows, 0),
    shadow.length,
  );
  const inspected = await inspectPath(acq.dir);
  t.equal(inspected.shadow?.instruments.pm1?.pairs, pm.pairs);
  const io = captureIo();
  t.equal(await main(['inspect', acq.dir], io), 0);
  t.match(io.stdout, /shadow \(V4 beside V2/);
  t.match(io.stdout, /pm1 \(Newport1830C, pairs within 100 ms\): \d+ pairs/);
  t.match(io.stdout, /power \[W\]: \d+ pairs .*mean diff \+2\.000e-5, .*max rel 2\.00 %/);
  t.match(io.stdout, /worst at /);
  t.match(io.stdout, /v4-shadow/);
});

t.test('daq run prints the comparison in its summary', async (t) => {
  const io = captureIo();
  const file = join(tmp, 'shadow.toml');
  await writeFile(file, config());
  const { runCommand } = await import('../packages/broker/src/commands/run.js');
  const code = await runCommand(file, { durationS: 2, out: join(tmp, 'run2'), progress: 'none' }, io);
  t.equal(code, 0, io.stderr);
  t.match(io.stderr, /shadow\.arrows \(V4 shadow readings: \d+ rows\)/);
  t.match(io.stderr, /shadow\.json \(the comparison/);
  t.match(io.stderr, /pm1 \(Newport1830C, pairs within 100 ms\)/);
  t.match(io.stderr, /rot1 .*\n.*position \[\w+\]: \d+ pairs .*max \|diff\| 0,/);
  t.match(io.stderr, /pm1 +v4-shadow +Newport1830C/);
});

t.test('a shadow instrument V4 cannot start leaves V2 running; a plain V4 one still fails the start', async (t) => {
  const toml = (shadowed: string) => `
[application]
simulate = true
[v2]
batch_interval_ms = 20
[[v2.instruments]]
id = "broken_pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
filter = "fast"
poll_hz = 10
[v4]
batch_interval_ms = 20
[[v4.instruments]]
id = "broken_rot"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
${shadowed}
`;
  {
    await using rt = await testRuntime(
      toml('[v4.shadow]\ninstruments = ["broken_pm"]').replace(/\[\[v4\.instruments\]\][^[]*/, ''),
      {
        workerUrls: { v4: faultyV4 },
      },
    );
    const ready = await rt.runtime.start();
    t.equal(ready.v4.find((s) => s.id === 'broken_pm')?.state, 'failed', 'V4 could not run its shadow');
    const failed = rt.runtime.supervisor('v4')!.optionalFailed;
    t.same(
      failed.map((f) => f.id),
      ['broken_pm'],
    );
    t.match(failed[0]!.error?.message, /no reply to the identity query/);
    const n = rt.v2.length;
    await until(() => rt.v2.length >= n + 5, 5000, 'V2 readings after the shadow failed');
    t.equal(rt.runtime.supervisor('v2')!.state, 'running');
    t.equal(rt.runtime.supervisor('v4')!.state, 'running');
  }
  {
    await using rt = await testRuntime(toml(''), { workerUrls: { v4: faultyV4 } });
    await t.rejects(rt.runtime.start(), /v4: 1 of 1 instruments failed to initialise:\n {2}- broken_rot/);
  }
});

t.test('failed polls and their last error are in run.json and the summary', async (t) => {
  const dir = join(tmp, 'run4');
  const acq = await startAcquisition(parseConfig(config(), 'shadow.toml'), { out: dir });
  // The meter stops answering after start-up: every poll of V2 and of its V4 shadow times out.
  const sims = acq.simulators as SimulatorSet;
  sims.serial.get('/dev/ttyPM')!.faults.set({ dropProbability: 1 });
  await new Promise((r) => setTimeout(r, 3500));
  const record = await acq.stop('completed');
  const pm = record.instruments.find((i) => i.id === 'pm1' && i.subsystem === 'v2')!;
  t.ok((pm.pollErrors ?? 0) >= 1, `${pm.pollErrors} failed polls recorded`);
  t.match(
    pm.lastError,
    /^DAQ_READ_TIMEOUT: no reply on \/dev\/pts\/\d+ within \d+ ms for v2:pm1/,
    'the last error with its code',
  );
  const rot = record.instruments.find((i) => i.id === 'rot1' && i.subsystem === 'v2')!;
  t.equal(rot.pollErrors, 0, 'the other instrument polls without errors');
  const text = summary(record, dir);
  t.match(
    text,
    /pm1 +v2 +Newport1830C +\d+ +[\d.]+ \(5\)(  BELOW ITS POLL RATE: \d+ polls missed)? +\d+ failed polls, last: DAQ_READ_TIMEOUT/,
  );
});

t.test('no leaks: ports, workers and handles released', async () => {
  await assertNoNewHandles(t, before);
});
