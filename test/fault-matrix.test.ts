// The fault matrix: real acquisitions (or runtimes) on simulators, each with one fault
// injected mid-run. Each case checks that the run goes on where it can (the other
// instruments keep their rate), that it reports what it could not do (instrument status,
// run.json, crash reports, with the reason), and that no acknowledged row is lost (every row
// counted as flushed is in the files; per source rows in == out; nothing dropped).

import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader } from 'apache-arrow';
import { parseConfig, type InstrumentStatus } from '@daq/core';
import { Newport1830CSimulator, ScpiTcpSimulator, type SimulatorSet } from '@daq/sim';
import { Acquisition, startAcquisition, type CrashReport, type RunRecord } from '@daq/broker';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
// Each case starts worker threads, which take ~3-5 s each under tap's TypeScript loader here.
t.setTimeout(600_000);
const tmp = await mkdtemp(join(tmpdir(), 'daq-faults-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The runtime's clock: epoch nanoseconds (within a millisecond of Date.now()). */
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

interface StoredRow {
  ts: bigint;
  subsystem: string;
  instrument: string;
  value: number;
}

/** Every whole record batch of each file (a file abandoned after a write error may end mid-message). */
async function readRows(dir: string, files: string[]): Promise<{ rows: StoredRow[]; truncated: string[] }> {
  const rows: StoredRow[] = [];
  const truncated: string[] = [];
  for (const f of files) {
    const bytes = await readFile(join(dir, f));
    try {
      const reader = RecordBatchReader.from(bytes);
      reader.open();
      for (const batch of reader) {
        const ts = batch.getChild('timestamp')!.data[0]!.values as BigInt64Array;
        const [sub, inst, value] = ['subsystem', 'instrument', 'value'].map((c) => batch.getChild(c)!);
        for (let i = 0; i < batch.numRows; i++)
          rows.push({ ts: ts[i]!, subsystem: sub!.get(i), instrument: inst!.get(i), value: value!.get(i) });
      }
    } catch (e) {
      truncated.push(`${f}: ${(e as Error).message}`);
    }
  }
  return { rows, truncated };
}

const countBy = (rows: StoredRow[], key: (r: StoredRow) => string) => {
  const m: Record<string, number> = {};
  for (const r of rows) m[key(r)] = (m[key(r)] ?? 0) + 1;
  return m;
};

let runs = 0;
async function startRun(toml: string): Promise<Acquisition> {
  const out = join(tmp, `run-${++runs}`);
  const config = parseConfig(toml, `faults-${runs}.toml`).config;
  return startAcquisition({ file: `faults-${runs}.toml`, config, warnings: [] }, { out });
}

/** The simulators an acquisition started (simulate = true): not public, reached for fault injection. */
const simsOf = (acq: Acquisition) => acq.simulators as SimulatorSet;

async function instrument(acq: Acquisition, id: string): Promise<InstrumentStatus> {
  const st = await acq.runtime.status();
  const found = st.subsystems.flatMap((s) => s.instruments).find((i) => i.id === id);
  if (!found) throw new Error(`no instrument ${id}`);
  return found;
}

/**
 * After stop: the files hold exactly the rows counted as flushed, per instrument exactly what
 * its driver produced (the workers' final counts), every source delivered all it took in, and
 * nothing was dropped. Returns the stored rows.
 */
async function assertLossless(t: Test, acq: Acquisition, record: RunRecord): Promise<StoredRow[]> {
  const s = record.streams.scalars;
  const { rows, truncated } = await readRows(acq.dir, s.files);
  if (s.flushErrors === 0) t.same(truncated, [], 'every file is whole');
  t.equal(rows.length, s.rowsFlushed, `the files hold the ${s.rowsFlushed} rows counted as flushed`);
  t.equal(s.rowsAccepted, s.rowsFlushed, 'every accepted row was flushed by the end');
  t.equal(s.dropped, 0, 'nothing dropped');
  for (const [name, c] of Object.entries(s.sources)) t.equal(c.out, c.in, `${name}: rows in ${c.in} == rows out`);
  const produced: Record<string, number> = {};
  for (const sub of (await acq.runtime.status()).subsystems) for (const i of sub.instruments) produced[i.id] = i.readings;
  const stored = countBy(rows, (r) => r.instrument);
  for (const [id, n] of Object.entries(produced)) t.equal(stored[id] ?? 0, n, `${id}: ${n} readings produced, all stored`);
  t.same(s.perInstrument, stored, 'run.json counts per instrument what the files hold');
  const onDisk = JSON.parse(await readFile(join(acq.dir, 'run.json'), 'utf8')) as RunRecord;
  t.equal(onDisk.streams.scalars.rowsFlushed, s.rowsFlushed, 'run.json on disk agrees');
  return rows;
}

/** Rows of `id` stored between two instants (ns). */
const within = (rows: StoredRow[], id: string, from: bigint, to: bigint) =>
  rows.filter((r) => r.instrument === id && r.ts >= from && r.ts < to).length;

t.test(
  'a. a serial device disconnects mid-lease and comes back: errors reported, polling resumes, others unaffected',
  async (t) => {
    const link = join(tmp, 'ttyPM-a');
    const pm = new Newport1830CSimulator({ linkPath: link });
    await pm.start();
    const scpi = new ScpiTcpSimulator();
    const resource = await scpi.start();
    t.teardown(async () => {
      await pm.close();
      await scpi.close();
    });
    const t0 = performance.now();
    const acq = await startRun(`
[application]
name = "fault-a"
simulate = false
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "${link}"
poll_hz = 5
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 50
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "${resource}"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 20
`);
    await until(async () => (await instrument(acq, 'pm')).readings >= 3, 10_000, 'pm readings');
    // Slow replies keep the port leased most of the time, so the disconnect lands inside a lease.
    pm.faults.set({ latencyMs: 150 });
    await until(() => acq.resources.serial.status()[0]?.owner === 'v2:pm', 5000, 'a lease held by v2:pm');
    const heldBy = acq.resources.serial.status()[0]!;
    const lostAt = nowNs();
    pm.disconnect();
    t.equal(heldBy.owner, 'v2:pm', 'the port was leased when the device went away');
    t.comment(`a: started ${Math.round(performance.now() - t0)} ms`);
    await until(async () => (await instrument(acq, 'pm')).pollErrors >= 1, 10_000, 'the first pm poll error');
    const first = await instrument(acq, 'pm');
    t.equal(first.error?.code, 'DAQ_PORT_ERROR', `the poll in the lease failed: ${first.error?.message}`);
    // The status keeps the last error: on a loaded machine the next poll (a failed reopen, 200 ms
    // later) may already have replaced the one from inside the lease.
    if (first.pollErrors === 1) t.match(first.error?.message, `on ${link} (held by v2:pm)`, 'naming the port and the holder');
    else t.match(first.error?.message, link, `naming the port (${first.pollErrors} errors by the time it was read)`);
    await until(async () => (await instrument(acq, 'pm')).pollErrors >= 3, 10_000, 'pm poll errors');
    await sleep(1000);
    const down = await instrument(acq, 'pm');
    t.equal(down.state, 'failing', 'pm shows as failing while the device is gone');
    t.equal(down.error?.code, 'DAQ_PORT_ERROR');
    t.match(down.error?.message, link, `the error names the port: ${down.error?.message}`);
    const readingsWhileDown = down.readings;

    pm.faults.set({ latencyMs: 0 });
    pm.reconnect();
    const backAt = nowNs();
    await until(
      async () => (await instrument(acq, 'pm')).readings >= readingsWhileDown + 5,
      10_000,
      'pm readings after reconnect',
    );
    const up = await instrument(acq, 'pm');
    t.equal(up.state, 'polling', 'pm is polling again');
    t.ok(acq.resources.serial.stats(link).reopens >= 1, 'the port was reopened');
    await sleep(300);
    t.comment(`a: stopping at ${Math.round(performance.now() - t0)} ms`);
    const record = await acq.stop('completed');
    t.comment(`a: stopped at ${Math.round(performance.now() - t0)} ms`);
    t.equal(record.status, 'completed', 'the run completed');
    const rows = await assertLossless(t, acq, record);
    const outageS = Number(backAt - lostAt) / 1e9;
    const mock = within(rows, 'mock', lostAt, backAt);
    const meter = within(rows, 'meter', lostAt, backAt);
    t.ok(mock >= 50 * outageS * 0.7, `mock kept its rate during the ${outageS.toFixed(2)} s outage (${mock} rows)`);
    t.ok(meter >= 20 * outageS * 0.7, `meter kept its rate during the outage (${meter} rows)`);
    t.ok(within(rows, 'pm', backAt, nowNs()) >= 5, 'pm readings after the reconnect are stored');
    t.equal(acq.resources.serial.leasesHeld, 0, 'no lease held at the end');
    t.comment(`a: outage ${outageS.toFixed(2)} s, pm errors ${up.pollErrors}, mock ${mock}, meter ${meter}, rows ${rows.length}`);
  },
);

/** Samples instrument statuses every 50 ms for `ms`, collecting each instrument's distinct error messages. */
async function watchErrors(acq: Acquisition, ms: number): Promise<Map<string, Set<string>>> {
  const seen = new Map<string, Set<string>>();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (const sub of (await acq.runtime.status()).subsystems)
      for (const i of sub.instruments)
        if (i.error) seen.set(i.id, (seen.get(i.id) ?? new Set()).add(`${i.error.code}: ${i.error.message}`));
    await sleep(50);
  }
  return seen;
}

t.test('b. a stuck instrument: its polls time out naming port and instrument, the others keep their rate', async (t) => {
  const acq = await startRun(`
[application]
name = "fault-b"
simulate = true
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 5
timeout_ms = 1500
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 50
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.9.0.1::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 20
[[v4.instruments]]
id = "stuck"
type = "ScpiInstrument"
resource = "TCPIP0::10.9.0.2::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 10
timeout_ms = 300
`);
  const sims = simsOf(acq);
  const stuckResource = acq.config.v4.instruments.find((i) => i.id === 'stuck')!;
  const stuckSim = [...sims.scpi.values()].find((s) => 'resource' in stuckResource && s.resource === stuckResource.resource)!;
  t.ok(stuckSim, 'the stuck instrument has its own simulator');
  const pmPort = sims.serial.get('/dev/ttyPM')!;
  await until(async () => (await instrument(acq, 'stuck')).readings >= 3, 10_000, 'readings');
  const from = nowNs();
  pmPort.faults.set({ dropProbability: 1 }); // never answers
  stuckSim.faults.set({ latencyMs: 60_000 }); // answers a minute late
  const seen = await watchErrors(acq, 3000);
  const to = nowNs();
  const pm = await instrument(acq, 'pm');
  const stuck = await instrument(acq, 'stuck');
  t.ok(pm.pollErrors >= 1, `pm: ${pm.pollErrors} polls timed out`);
  t.match(
    [...(seen.get('pm') ?? [])],
    [
      /^DAQ_READ_TIMEOUT: no reply on \/dev\/pts\/\d+ within 1500 ms for v2:pm \(nothing received\): check that the instrument is on/,
    ],
    'pm: the timeout names the port and the instrument',
  );
  t.ok(stuck.pollErrors >= 5, `stuck: ${stuck.pollErrors} polls timed out`);
  t.equal(stuck.state, 'failing', 'stuck shows as failing');
  t.match(
    [...(seen.get('stuck') ?? [])],
    [/^DAQ_VISA_TIMEOUT: MEAS:VOLT:DC\? from v4:stuck timed out after 300 ms on TCPIP0::127\.0\.0\.1::\d+::SOCKET/],
    'stuck: the timeout names the resource, the instrument and the command',
  );
  t.notOk(seen.has('mock') || seen.has('meter'), 'the others have no errors');
  const readingsStuck = [pm.readings, stuck.readings];
  pmPort.faults.set({ dropProbability: 0 });
  const record = await acq.stop('completed');
  t.equal(record.status, 'completed');
  const rows = await assertLossless(t, acq, record);
  const windowS = Number(to - from) / 1e9;
  const mock = within(rows, 'mock', from, to);
  const meter = within(rows, 'meter', from, to);
  t.ok(mock >= 50 * windowS * 0.7, `mock kept its 50 Hz: ${mock} rows in ${windowS.toFixed(2)} s`);
  t.ok(meter >= 20 * windowS * 0.7, `meter kept its 20 Hz: ${meter} rows in ${windowS.toFixed(2)} s`);
  t.ok(within(rows, 'stuck', from + 400_000_000n, to) === 0, 'no reading of the stuck instrument was stored while stuck');
  t.comment(
    `b: window ${windowS.toFixed(2)} s, pm errors ${pm.pollErrors}, stuck errors ${stuck.pollErrors}, mock ${mock}, meter ${meter}, readings while stuck ${readingsStuck}`,
  );
});

t.test(
  'c. garbage and late replies: errors counted, only valid readings stored, a late reply never reaches the next holder',
  async (t) => {
    const acq = await startRun(`
[application]
name = "fault-c"
simulate = true
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "pm_v2"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 5
timeout_ms = 1500
sim = { v4_offset = 1e-3 }
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 50
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "pm_v4"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 5
timeout_ms = 1500
`);
    const pmSim = simsOf(acq).serial.get('/dev/ttyPM')!;
    await until(async () => (await instrument(acq, 'pm_v4')).readings >= 2, 10_000, 'readings');
    // After start-up (a garbled identity would fail the start, which is another case).
    pmSim.faults.set({ corruptProbability: 0.3, lateProbability: 0.3, lateMs: 2000, seed: 7 });
    const seen = await watchErrors(acq, 4000);
    pmSim.faults.set({ corruptProbability: 0, lateProbability: 0 });
    await sleep(2200); // the last late reply lands
    const faults = pmSim.counters;
    t.ok(
      faults.corrupted >= 1 && faults.late >= 1,
      `the simulator garbled ${faults.corrupted} and delayed ${faults.late} replies`,
    );
    const errors = [...(seen.get('pm_v2') ?? []), ...(seen.get('pm_v4') ?? [])];
    t.ok(
      errors.some((e) =>
        // A poll asks U? (units) then D? (the reading): either reply may be the garbled one.
        /^DAQ_INSTRUMENT: pm_v[24]: unexpected reply ".*" to "(D\?" \(expected a number such as \+\.75E-9|U\?" \(expected the units, 1-4)\)/.test(
          e,
        ),
      ),
      'a garbled reply is an error naming instrument, command and reply',
    );
    t.ok(
      errors.some((e) => /^DAQ_READ_TIMEOUT: no reply on \/dev\/pts\/\d+ within 1500 ms for v[24]:pm_v[24]/.test(e)),
      'a late reply is a timeout',
    );
    const v2 = await instrument(acq, 'pm_v2');
    const v4 = await instrument(acq, 'pm_v4');
    t.ok(v2.pollErrors + v4.pollErrors >= 2, `poll errors counted: V2 ${v2.pollErrors}, V4 ${v4.pollErrors}`);
    const record = await acq.stop('completed');
    t.equal(record.status, 'completed');
    const rows = await assertLossless(t, acq, record);
    const values = (id: string) => [...new Set(rows.filter((r) => r.instrument === id).map((r) => r.value))];
    t.same(values('pm_v2'), [1e-3], 'V2 stored only valid readings, all its own (1 mW)');
    t.same(values('pm_v4'), [2e-3], "V4 stored only valid readings, all its own (1 mW + its 1 mW offset): never V2's late reply");
    t.comment(
      `c: corrupted ${faults.corrupted}, late ${faults.late}, errors V2 ${v2.pollErrors} V4 ${v4.pollErrors}, rows pm_v2 ${rows.filter((r) => r.instrument === 'pm_v2').length} pm_v4 ${rows.filter((r) => r.instrument === 'pm_v4').length}`,
    );
  },
);

// The leak loop runs in a child process on the built code (dist): under tap's TypeScript
// loader each worker thread takes ~5 s to start, too slow for 20 cycles; a child also gives
// --expose-gc, and it proves one more thing by exiting on its own: nothing was left open.
const LEAK_CYCLES = 16;
const leakChild = (core: string, broker: string) => `
import { parseConfig } from '${core}';
import { startAcquisition } from '${broker}';
const [dir, cycles] = [process.argv[2], Number(process.argv[3])];
const config = parseConfig(\`
[application]
name = "leak"
simulate = true
[v2]
batch_interval_ms = 20
storage = { flush_interval_ms = 100 }
[[v2.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
poll_hz = 20
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 100
[v4]
batch_interval_ms = 20
storage = { flush_interval_ms = 100 }
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.9.0.9::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 50
[[v4.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "1"
poll_hz = 20
\`, 'leak.toml').config;
const count = () => {
  const m = {};
  for (const r of process.getActiveResourcesInfo()) m[r] = (m[r] ?? 0) + 1;
  return m;
};
const total = (m) => Object.values(m).reduce((a, b) => a + b, 0);
// Handles still closing right after a stop (pty streams, sockets) get up to 1 s to go.
const sample = async (baseline) => {
  for (let i = 0; i < 50 && baseline !== undefined && total(count()) > baseline; i++) await new Promise((r) => setTimeout(r, 20));
  globalThis.gc?.();
  globalThis.gc?.();
  return { heapUsed: process.memoryUsage().heapUsed, handles: count() };
};
const before = await sample();
const out = [];
for (let i = 0; i < cycles; i++) {
  const t0 = performance.now();
  const acq = await startAcquisition({ file: 'leak.toml', config, warnings: [] }, { out: dir + '/c' + i });
  while (acq.sink.rowsFlushed < 20) await new Promise((r) => setTimeout(r, 20));
  const rec = await acq.stop('completed');
  const s = rec.streams.scalars;
  out.push({
    ms: Math.round(performance.now() - t0),
    status: rec.status,
    rows: s.rowsFlushed,
    accepted: s.rowsAccepted,
    dropped: s.dropped,
    leases: acq.resources.serial.leasesHeld,
    threads: acq.runtime.subsystems.filter((n) => acq.runtime.supervisor(n).threadId !== undefined).length,
    ...(await sample(total(before.handles))),
  });
  process.stdout.write('cycle ' + i + ' ' + out.at(-1).ms + ' ms\\n');
}
process.stdout.write(JSON.stringify({ gc: typeof globalThis.gc === 'function', before, cycles: out }) + '\\n');
`;

interface LeakLoopResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}
let leakLoop: Promise<LeakLoopResult> | undefined;
/** Runs the leak loop's child process (case f). Not beside other cases: on two cores both slow down by half. */
async function startLeakLoop(): Promise<LeakLoopResult> {
  const dir = join(tmp, 'leak');
  await mkdir(dir);
  const script = join(dir, 'leak-loop.mjs');
  const dist = (p: string) => new URL(`../packages/${p}/dist/index.js`, import.meta.url).href;
  await writeFile(script, leakChild(dist('core'), dist('broker')));
  const child = spawn(process.execPath, ['--expose-gc', script, join(dir, 'runs'), String(LEAK_CYCLES)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  // A watchdog, not a time limit: the child reports each cycle, and is killed only when one
  // cycle makes no progress for 60 s (a loaded CI machine may take several seconds per cycle).
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout.on('data', (d) => {
    stdout += d;
    killer.refresh();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
  clearTimeout(killer);
  return { code, signal, stdout, stderr };
}

interface LeakCycle {
  ms: number;
  status: string;
  rows: number;
  accepted: number;
  dropped: number;
  leases: number;
  threads: number;
  heapUsed: number;
  handles: Record<string, number>;
}

t.test(
  'd. a V2 crash loop: restarts with doubling backoff until the budget, then failed and reported; V4 keeps producing',
  async (t) => {
    const faultyV2 = new URL('./fixtures/workers/faulty-v2-worker.ts', import.meta.url);
    await using rt = await testRuntime(
      `
[application]
simulate = true
[broker]
heartbeat_interval_ms = 100
# The crashes here are exceptions, not hangs: a generous deadline, so that a slow machine's
# late heartbeat is not taken for the crash under test.
heartbeat_timeout_ms = 10000
[v2]
restart = "on-failure"
max_restarts = 2
restart_backoff_ms = 100
batch_interval_ms = 20
[[v2.instruments]]
id = "rot_v2"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "0"
poll_hz = 20
[v4]
batch_interval_ms = 20
ring_block_timeout_ms = 500
[[v4.instruments]]
id = "rot_v4"
type = "Elliptec"
serial_port = "/dev/ttyBUS"
address = "1"
poll_hz = 20
`,
      { workerUrls: { v2: faultyV2 } },
    );
    await rt.runtime.start();
    const crashes: (CrashReport & { atMs: number })[] = [];
    const restarts: { attempt: number; delayMs: number; atMs: number }[] = [];
    const running: number[] = [];
    rt.runtime.on('crash', (c) => crashes.push({ ...c, atMs: performance.now() }));
    rt.runtime.on('restart', (r) => restarts.push({ ...r, atMs: performance.now() }));
    rt.runtime.on('state', (s) => s.subsystem === 'v2' && s.state === 'running' && running.push(performance.now()));
    const port = (rt.config.v2.instruments[0] as { serial_port: string }).serial_port;
    const sup = rt.runtime.supervisor('v2')!;
    // Each incarnation crashes (holding a lease on the shared bus) as soon as it produces again.
    const v4AtCrash: number[] = [];
    for (let i = 0; i < 3; i++) {
      const n = rt.v2.length;
      await until(() => sup.state === 'running' && rt.v2.length > n, 20_000, `V2 incarnation ${i + 1} producing`);
      v4AtCrash.push(rt.v4.length);
      await rt.runtime.command('rot_v2', '__crash', ['throw', port]);
      await until(() => crashes.length === i + 1, 10_000, `crash ${i + 1}`);
    }
    await until(() => sup.state === 'failed', 10_000, 'the budget to run out');
    t.same(
      restarts.map((r) => [r.attempt, r.delayMs]),
      [
        [1, 100],
        [2, 200],
      ],
      'restarted twice, the backoff doubling',
    );
    t.equal(running.length, 2, 'V2 ran again twice');
    for (const [i, r] of restarts.entries())
      t.ok(
        running[i]! - crashes[i]!.atMs >= r.delayMs - 5,
        `restart ${r.attempt} came after its backoff (${Math.round(running[i]! - crashes[i]!.atMs)} ms ≥ ${r.delayMs} ms)`,
      );
    t.same(
      crashes.map((c) => [c.subsystem, c.kind, c.willRestart]),
      [
        ['v2', 'exception', true],
        ['v2', 'exception', true],
        ['v2', 'exception', false],
      ],
      'three crashes, the last one final',
    );
    for (const c of crashes) {
      t.match(c.cause, /uncaught Error: driver bug: reading undefined/, 'the cause is reported');
      t.ok(c.leasesReleased >= 1, `the lease it held was released (${c.leasesReleased})`);
    }
    t.equal(sup.restarts, 2);
    await t.rejects(rt.runtime.command('rot_v2', 'getPosition'), {
      code: 'DAQ_WORKER',
      message: /v2 subsystem is failed \(last crash: .*driver bug: reading undefined/,
    });
    const status = await rt.runtime.status();
    t.same(
      status.subsystems.map((s) => [s.name, s.state]),
      [
        ['v2', 'failed'],
        ['v4', 'running'],
      ],
      'V2 failed, V4 running',
    );
    t.equal(status.subsystems[0]!.leasesHeld, 0, 'V2 holds no lease');
    t.notOk(
      status.serial.some((p) => p.owner?.startsWith('v2:') || p.waiters.some((w) => w.startsWith('v2:'))),
      'no V2 lease or wait is left on any port',
    );
    const v4Before = rt.v4.length;
    await until(() => rt.v4.length >= v4Before + 10, 5000, 'V4 data after V2 gave up');
    for (let i = 1; i < v4AtCrash.length; i++)
      t.ok(
        v4AtCrash[i]! > v4AtCrash[i - 1]!,
        `V4 produced between crashes ${i} and ${i + 1} (${v4AtCrash[i - 1]} → ${v4AtCrash[i]})`,
      );
    const stops = await rt.runtime.stop();
    const v4Stop = stops.find((s) => s.subsystem === 'v4')!;
    t.ok(v4Stop.clean, 'V4 stopped cleanly');
    t.equal(v4Stop.batchesReceived, v4Stop.batchesSent, 'every V4 batch arrived');
    const v4Status = (await rt.runtime.status()).subsystems.find((s) => s.name === 'v4')!;
    t.equal(rt.v4.length, v4Status.instruments[0]!.readings, `all ${rt.v4.length} V4 readings arrived through the crash loop`);
    t.equal(rt.resources.serial.leasesHeld, 0, 'no lease held');
    t.comment(
      `d: back after ${running.map((at, i) => Math.round(at - crashes[i]!.atMs)).join(', ')} ms; V4 rows ${rt.v4.length}`,
    );
  },
);

/**
 * A small disk of its own: a tmpfs of `size` mounted at a new directory under the test's
 * temporary one, unmounted at the test's end. Mounting needs root (as CI runs here); a
 * refused mount fails the test rather than skipping it, since a skip would prove nothing.
 */
async function smallDisk(t: Test, name: string, size: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `cannot mount a ${size} tmpfs at ${dir} (${(r.stderr || r.error?.message || `mount exited ${r.status}`).trim()}): the full-disk cases need root`,
    );
  t.teardown(() => void spawnSync('umount', ['-l', dir]));
  return dir;
}

/** Fills the file system of `dir` to the last byte; returns the filler's path. */
async function fillDisk(dir: string): Promise<string> {
  const { open } = await import('node:fs/promises');
  const path = join(dir, 'filler');
  const f = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = chunk.length; size >= 1;) {
      try {
        await f.write(chunk.subarray(0, size));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    await f.close();
  }
  return path;
}

t.test(
  'e. the disk fills up: the run goes on, reports the write errors, keeps the rows and writes them once space is freed',
  async (t) => {
    const mnt = await smallDisk(t, 'small-disk', '8m');
    const out = join(mnt, 'run');
    const config = parseConfig(
      `
[application]
name = "fault-e"
simulate = true
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 100
[v4]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.9.0.5::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 50
`,
      'fault-e.toml',
    ).config;
    const acq = await startAcquisition({ file: 'fault-e.toml', config, warnings: [] }, { out });
    await until(() => acq.sink.rowsFlushed > 100, 10_000, 'rows on disk');
    const filler = await fillDisk(mnt);
    await acq.sink.flush().catch(() => undefined); // whatever was accepted before the disk filled
    const flushedBefore = acq.sink.rowsFlushed;
    const firstFile = await readFile(join(out, 'scalars.arrows'));
    await until(() => acq.sink.stats.flushErrors >= 3, 10_000, 'write errors');
    const inBefore = acq.progress().rows;
    await sleep(1000);
    const full = acq.sink.stats;
    const progress = acq.progress();
    t.ok(full.flushErrors > 3, `flushes keep failing (${full.flushErrors})`);
    t.match(full.lastError, /ENOSPC|no space left on device/i, `the write error is recorded: ${full.lastError}`);
    t.ok(acq.sink.backlog > 100, `rows are kept in memory (${acq.sink.backlog} waiting)`);
    t.equal(full.rowsDropped, 0, 'none dropped');
    for (const s of ['v2', 'v4']) t.ok(progress.rows[s]! > inBefore[s]! + 20, `${s} keeps producing while the disk is full`);
    t.same(Object.values(progress.subsystems), ['running', 'running'], 'both subsystems keep running');
    // Everything flushed before the disk filled is readable.
    {
      // It may end in a half-written message (the first failed write): whole messages count.
      let n = 0;
      try {
        for (const batch of RecordBatchReader.from(firstFile)) n += batch.numRows;
      } catch {
        // the torn tail
      }
      t.equal(n, flushedBefore, `the file holds the ${n} rows flushed before the disk filled`);
    }

    await rm(filler);
    await until(() => acq.sink.backlog < 200 && acq.sink.stats.flushes > full.flushes, 10_000, 'the backlog to be written');
    const record = await acq.stop('completed');
    const s = record.streams.scalars;
    t.equal(record.status, 'completed', 'the run completed');
    t.ok(s.flushErrors >= 3, `run.json counts ${s.flushErrors} write errors`);
    t.match(s.lastError, /ENOSPC|no space left on device/i, 'and the last one');
    t.ok(s.files.length >= 2 && s.files[0] === 'scalars.arrows', `the rows went on in a new part (${s.files.join(', ')})`);
    const rows = await assertLossless(t, acq, record);
    const { summary } = await import('../packages/broker/src/commands/run.js');
    t.match(
      summary(record, out),
      new RegExp(`WRITE ERRORS: ${s.flushErrors} \\(last: .*(ENOSPC|no space left)`, 'i'),
      'the summary shows them',
    );
    const onDisk = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as RunRecord;
    t.equal(onDisk.streams.scalars.flushErrors, s.flushErrors, 'run.json on disk has them');
    t.comment(
      `e: flushed before ${flushedBefore}, errors ${s.flushErrors}, backlog at most ${full.rowsAccepted - full.rowsFlushed}, rows ${rows.length}, files ${s.files.join(', ')}`,
    );
  },
);

t.test('e2. the disk is still full when the run stops: the stop ends, says why, and releases everything', async (t) => {
  const mnt = await smallDisk(t, 'full-at-stop', '4m');
  const out = join(mnt, 'run');
  const config = parseConfig(
    `
[application]
name = "fault-e2"
simulate = true
[v2]
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 100
`,
    'fault-e2.toml',
  ).config;
  const acq = await startAcquisition({ file: 'fault-e2.toml', config, warnings: [] }, { out });
  await until(() => acq.sink.rowsFlushed > 50, 10_000, 'rows on disk');
  await fillDisk(mnt);
  await until(() => acq.sink.stats.flushErrors >= 1, 10_000, 'a write error');
  const record = await acq.stop('completed');
  t.equal(record.status, 'failed', 'not completed: the data could not all be written');
  t.match(record.reason, /closing the data files: .*(ENOSPC|no space left)/i, `says why: ${record.reason}`);
  t.match(record.reason, /run\.json could not be written to .*(ENOSPC|no space left)/i);
  t.notOk((await readdir(out)).includes('.run.json.tmp'), 'no half-written temporary left');
  const { summary } = await import('../packages/broker/src/commands/run.js');
  t.match(summary(record, out), /WRITE ERRORS/, 'the summary can still be printed');
});

t.test(`f. ${LEAK_CYCLES} start/stop cycles: heap and handles stay bounded, nothing is left running`, async (t) => {
  const { code, signal, stdout, stderr } = await (leakLoop ??= startLeakLoop());
  t.same(
    [code, signal],
    [0, null],
    `the child exited on its own: nothing kept it alive${signal ? ` (killed: no cycle ended in 60 s; it printed ${JSON.stringify(stdout.slice(-300))})` : ''}${stderr ? `\n${stderr}` : ''}`,
  );
  if (code !== 0) return;
  const {
    gc,
    before: start,
    cycles,
  } = JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as { gc: boolean; before: LeakCycle; cycles: LeakCycle[] };
  t.ok(gc, 'heap measured after global.gc()');
  t.equal(cycles.length, LEAK_CYCLES);
  for (const [i, c] of cycles.entries()) {
    if (c.status !== 'completed' || c.rows !== c.accepted || c.dropped !== 0 || c.leases !== 0 || c.threads !== 0)
      t.fail(`cycle ${i}: ${JSON.stringify(c)}`);
  }
  t.pass('every cycle completed, stored every row it accepted, dropped none, and left no lease or worker thread');
  const total = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const base = total(start.handles);
  const worst = Math.max(...cycles.map((c) => total(c.handles)));
  // Bound: the child's own stdout pipe may open after the baseline; nothing else may stay.
  t.ok(
    worst <= base + 1,
    `active handles after each cycle at most ${worst} (before the loop ${base}: ${JSON.stringify(start.handles)})`,
  );
  t.same(cycles.at(-1)!.handles, cycles[4]!.handles, 'the same handles after the 5th and the last cycle');
  // Heap: after the first cycles (module caches, JIT), growth per cycle must be small: bound 150 kB/cycle.
  const heap = cycles.map((c) => c.heapUsed);
  const from = 5;
  const growthPerCycle = (heap.at(-1)! - heap[from]!) / (heap.length - 1 - from);
  t.ok(
    growthPerCycle <= 150_000,
    `heap after gc grew ${Math.round(growthPerCycle / 1000)} kB per cycle from cycle ${from + 1} to ${heap.length} (bound 150 kB)`,
  );
  t.comment(
    `f: ${LEAK_CYCLES} cycles, ${Math.round(cycles.reduce((a, c) => a + c.ms, 0) / LEAK_CYCLES)} ms each; heap MB ${heap.map((h) => (h / 1e6).toFixed(2)).join(' ')}; handles ${JSON.stringify(cycles.at(-1)!.handles)}`,
  );
});

t.test('no workers, handles, leases or mounts left', async (t) => {
  await assertNoNewHandles(t, before);
  const mounts = await readFile('/proc/mounts', 'utf8');
  t.notMatch(mounts, tmp, 'no tmpfs left mounted');
});
