// Experiments end to end on the simulated optical bench (examples/polarization-scan.toml):
// `daq plan run` with a V2 rotator and a V4 meter recovers Malus's law and the polarizer's
// axis; a wavelength scan; pause, resume and abort through the real runtime; a suspender
// fired by closing the laser's shutter. Every document validates against the event-model
// schemas, and the Arrow event table holds what the events hold.

import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import { loadConfig } from '@daq/core';
import { main, startAcquisition, type CliIo } from '@daq/broker';
import { RunEngine, RunOutput, documentErrors, listScan, scan, type Document } from '@daq/plans';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
t.setTimeout(400_000);
const root = fileURLToPath(new URL('../', import.meta.url));
const BENCH = join(root, 'examples/polarization-scan.toml');
const tmp = await mkdtemp(join(tmpdir(), 'daq-plans-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

function io(): CliIo & { stdout: string; stderr: string } {
  const o = { stdout: '', stderr: '', out: (s: string) => void (o.stdout += s), err: (s: string) => void (o.stderr += s) };
  return o as CliIo & { stdout: string; stderr: string };
}

async function documents(dir: string): Promise<Document[]> {
  return (await readFile(join(dir, 'documents.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Document);
}

type EventData = { seq_num: number; data: Record<string, number> };

/** A configuration with one simulated SCPI meter `dmm` (its extra lines last), written to `name`. */
async function dmmConfig(name: string, dataDir: string, extra: string, sections = ''): Promise<string> {
  const file = join(tmp, name);
  await writeFile(
    file,
    `[application]\nsimulate = true\ndata_dir = "${dataDir}"\n${sections}[v4]\n[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "TCPIP0::10.0.0.9::5025::SOCKET"\npoll_query = "MEAS:VOLT:DC? 10"\npoll_hz = 0\n${extra}\n`,
  );
  return file;
}

t.test('daq plan run: a polarizer scan (V2 motor, V4 detector) recovers cos² and the axis', async (t) => {
  const out = join(tmp, 'polarizer');
  const cli = io();
  const code = await main(
    ['plan', 'run', BENCH, join(root, 'examples/plans/polarizer.toml'), '--out', out, '--md', 'operator=test'],
    cli,
  );
  t.equal(code, 0, `exit 0 (${cli.stderr})`);
  t.match(cli.stderr, /daq plan run: success: 37 events, 0 points skipped, 0 suspensions/);
  const docs = await documents(out);
  for (const d of docs) t.same(documentErrors(d.name, d.doc), [], `${d.name} is valid event-model`);
  t.same(
    docs.map((d) => d.name),
    ['start', 'descriptor', ...Array(37).fill('event'), 'stop'],
  );
  const start = docs[0]!.doc as Record<string, unknown>;
  t.match(start, {
    plan_name: 'scan',
    motors: ['rot'],
    detectors: ['pm'],
    operator: 'test',
    sample: 'simulated polarizer',
    lab: 'simulated optical bench',
  });
  t.match(start.instruments, { rot: { subsystem: 'v2', type: 'Elliptec' }, pm: { subsystem: 'v4', type: 'Newport1830C' } });
  const events = docs.filter((d) => d.name === 'event').map((d) => d.doc as unknown as EventData);
  // Least squares for P = a·cos²(θ − φ) + c = A + B cos 2θ + C sin 2θ: φ = atan2(C, B) / 2.
  const rows = events.map((e) => [
    1,
    Math.cos((2 * e.data.rot! * Math.PI) / 180),
    Math.sin((2 * e.data.rot! * Math.PI) / 180),
    e.data['pm-power']!,
  ]);
  const ata = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const atb = [0, 1, 2].map((i) => rows.reduce((s, r) => s + r[i]! * r[3]!, 0));
  const [, B, C] = solve3(ata, atb);
  const axis = ((Math.atan2(C!, B!) * 180) / Math.PI / 2 + 180) % 180;
  t.ok(Math.abs(axis - 30) < 1.5, `the polarizer's axis is found at ${axis.toFixed(2)}° (configured 30°)`);
  const peak = Math.max(...events.map((e) => e.data['pm-power']!));
  const dark = Math.min(...events.map((e) => e.data['pm-power']!));
  t.ok(dark < peak / 100, `extinction: ${dark.toExponential(2)} W at the minimum vs ${peak.toExponential(2)} W at the peak`);
  // The Arrow event table holds what the events hold.
  const table = tableFromIPC(await readFile(join(out, 'events-primary.arrows')));
  t.equal(table.numRows, 37);
  t.same(
    Array.from(table.getChild('seq_num')!.toArray() as Int32Array),
    events.map((e) => e.seq_num),
  );
  t.same(
    Array.from(table.getChild('pm-power')!.toArray() as Float64Array),
    events.map((e) => e.data['pm-power']),
  );
  const plan = JSON.parse(await readFile(join(out, 'plan.json'), 'utf8'));
  t.match(plan, { plan: 'scan', points: 37, events: 37, exitStatus: 'success', skipped: [], suspensions: [] });
  const inspect = io();
  t.equal(await main(['inspect', out], inspect), 0);
  t.match(inspect.stdout, /plan: scan success: 37 of 37 points, 0 skipped, 0 suspensions/);
});

t.test('daq plan check: a bad plan is refused with positions and nothing runs', async (t) => {
  const file = join(tmp, 'bad.toml');
  await writeFile(
    file,
    'plan = "scan"\ndetectors = ["pm", "meter"]\nmotor = "laser.wavelength"\nstart = 400\nstop = 800\nnum = 3\n',
  );
  const cli = io();
  t.equal(await main(['plan', 'check', BENCH, file], cli), 2);
  t.match(cli.stderr, /bad\.toml:2:20: detectors\.1: no instrument "meter" is configured/);
  t.match(cli.stderr, /bad\.toml:4:1: start: point 1: laser\.wavelength = 400 is outside its limits 600 to 1100/);
  const ok = io();
  t.equal(await main(['plan', 'check', BENCH, join(root, 'examples/plans/polarizer.toml')], ok), 0);
  t.match(ok.stdout, /^ok .*polarizer\.toml: scan, 37 points, motors rot, detectors pm/);
  const list = io();
  t.equal(await main(['plan', 'list'], list), 0);
  t.match(list.stdout, /grid_scan .*snake/s);
});

t.test('through the runtime: pause, resume, a suspender on the shutter, abort', async (t) => {
  const loaded = await loadConfig(BENCH);
  const acq = await startAcquisition(loaded, { out: join(tmp, 'control') });
  t.teardown(() => acq.stop('completed'));
  const output = new RunOutput(acq.dir);
  const docs: Document[] = [];
  const onDocument = (d: Document) => {
    docs.push(d);
    output.accept(d);
  };

  // A wavelength scan: the laser tunes, the meter follows its tuning curve.
  const wl = await new RunEngine(acq.runtime, acq.config).run(
    scan({ detectors: ['pm'], motor: 'laser.wavelength', start: 760, stop: 840, num: 3 }),
    {
      onDocument,
    },
  );
  t.equal(wl.exitStatus, 'success', wl.reason);
  const wlEvents = docs.filter((d) => d.name === 'event').map((d) => d.doc as unknown as EventData);
  t.same(
    wlEvents.map((e) => Math.round(e.data['laser-wavelength']!)),
    [760, 800, 840],
    'the actual wavelength reached each point',
  );
  t.ok(wlEvents[1]!.data['pm-power']! > wlEvents[0]!.data['pm-power']!, 'more power at the peak of the tuning curve');

  // A suspender: the shutter closes during the scan; the plan holds until it reopens.
  const engine = new RunEngine(acq.runtime, acq.config);
  const states: string[] = [];
  const running = engine.run(listScan({ detectors: ['pm'], motor: 'rot', positions: [0, 10, 20, 30, 40, 50] }), {
    onDocument,
    suspenders: [{ instrument: 'laser', channel: 'shutter', op: '==', value: 0, resumeAfterMs: 300 }],
    suspenderPollMs: 50,
    onProgress: (p) => {
      states.push(p.state);
      if (p.done === 2)
        void acq.runtime
          .command('laser', 'setShutter', [false])
          .then(() => setTimeout(() => void acq.runtime.command('laser', 'setShutter', [true]), 500));
    },
  });
  const r = await running;
  t.equal(r.exitStatus, 'success', r.reason);
  t.equal(r.events, 6);
  t.ok(r.suspensions.length >= 1, `suspended ${r.suspensions.length} time(s): ${JSON.stringify(r.suspensions)}`);
  t.ok(r.suspensions[0]!.until! - r.suspensions[0]!.since >= 0.3, 'held until the shutter had been open for resume_after_ms');

  // Pause, resume, then abort mid-plan.
  const e2 = new RunEngine(acq.runtime, acq.config);
  const run2 = e2.run(listScan({ detectors: ['pm'], motor: 'rot', positions: [0, 90, 180, 270, 0, 90, 180, 270] }), {
    onDocument,
    onProgress: (p) => {
      if (p.done === 2 && p.state === 'running') e2.pause('deferred');
    },
  });
  while (e2.currentState !== 'paused') await new Promise((res) => setTimeout(res, 10));
  const held = docs.length;
  await new Promise((res) => setTimeout(res, 300));
  t.equal(docs.length, held, 'no documents while paused');
  e2.resume();
  while (docs.filter((d) => d.name === 'event').length < 6 + 3 + 3) await new Promise((res) => setTimeout(res, 5));
  e2.abort('enough');
  const r2 = await run2;
  t.equal(r2.exitStatus, 'abort');
  t.match(r2.reason, /^enough/);
  t.ok(r2.events >= 3 && r2.events < 8, `${r2.events} events before the abort`);
  for (const d of docs) t.same(documentErrors(d.name, d.doc), [], `${d.name} is valid event-model`);
  t.same(
    docs.filter((d) => d.name === 'stop').map((d) => (d.doc as { exit_status: string }).exit_status),
    ['success', 'success', 'abort'],
  );
});

t.test('a 2-axis ESP300 grid with camera frames at each point: frames referenced by stream datum', async (t) => {
  const out = join(tmp, 'grid');
  const planFile = join(tmp, 'grid.toml');
  await writeFile(
    planFile,
    `plan = "grid_scan"
detectors = ["scpi_meter", "camera"]
frames_per_point = 2
snake = true
axes = [
  { motor = "stage.axis1", start = 0, stop = 1, num = 2 },
  { motor = "stage.axis2", start = 0, stop = 2, num = 3 },
]
`,
  );
  const cli = io();
  const code = await main(['plan', 'run', join(root, 'examples/demo.toml'), planFile, '--out', out], cli);
  t.equal(code, 0, `exit 0 (${cli.stderr})`);
  const docs = await documents(out);
  for (const d of docs) t.same(documentErrors(d.name, d.doc), [], `${d.name} is valid event-model`);
  const descriptor = docs.find((d) => d.name === 'descriptor')!.doc as unknown as {
    uid: string;
    data_keys: Record<string, Record<string, unknown>>;
  };
  t.match(descriptor.data_keys['camera-frames'], {
    dtype: 'array',
    external: 'STREAM:',
    shape: [2, 512, 512],
    dtype_numpy: '<u2',
  });
  const resources = docs
    .filter((d) => d.name === 'stream_resource')
    .map((d) => d.doc as { uid: string; data_key: string; uri: string });
  t.match(resources, [{ data_key: 'camera-frames', uri: 'frames/camera/' }], 'one stream resource for the camera');
  const datums = docs
    .filter((d) => d.name === 'stream_datum')
    .map(
      (d) =>
        d.doc as {
          stream_resource: string;
          descriptor: string;
          indices: { start: number; stop: number };
          seq_nums: { start: number; stop: number };
        },
    );
  t.equal(datums.length, 6, 'one datum per point');
  t.ok(
    datums.every((d, i) => d.seq_nums.start === i + 1 && d.seq_nums.stop === i + 2 && d.indices.stop - d.indices.start === 2),
    'each point has its 2 frames, for its own event',
  );
  t.ok(
    datums.every((d, i) => i === 0 || d.indices.start >= datums[i - 1]!.indices.stop),
    'frame ranges follow each other in time',
  );
  // Every datum precedes its event, and the events carry no camera key.
  const order = docs.map((d) => d.name).filter((n) => n === 'stream_datum' || n === 'event');
  t.same(order, Array(6).fill(['stream_datum', 'event']).flat());
  const events = docs.filter((d) => d.name === 'event').map((d) => d.doc as unknown as EventData);
  t.notOk('camera-frames' in events[0]!.data);
  t.same(
    events.map((e) => [e.data['stage-axis1'], e.data['stage-axis2']]),
    [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 2],
      [1, 1],
      [1, 0],
    ],
    'the stage visited the grid, snaking',
  );
  // The frames referenced were stored: the run stored at least as many as the last datum needs.
  const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
  t.ok(run.streams.frames.camera.stored >= datums.at(-1)!.indices.stop, `${run.streams.frames.camera.stored} frames stored`);
});

t.test('a SCPI instrument as a motor through its configured set and read commands', async (t) => {
  const dir = join(tmp, 'scpi-motor');
  // The simulator's own command sets what it measures: a source and a meter in one.
  const config = await dmmConfig(
    'scpi.toml',
    dir,
    'unit = "V"\nmotor = { set = "SIM:VAL {value}", read = "SIM:VAL?", unit = "V", min = -5, max = 5 }',
  );
  const plan = join(tmp, 'scpi-scan.toml');
  await writeFile(plan, 'plan = "scan"\ndetectors = ["dmm"]\nmotor = "dmm"\nstart = -2\nstop = 2\nnum = 5\n');
  const cli = io();
  t.equal(await main(['plan', 'run', config, plan, '--out', join(dir, 'run')], cli), 0, cli.stderr);
  const events = (await documents(join(dir, 'run'))).filter((d) => d.name === 'event').map((d) => d.doc as unknown as EventData);
  t.same(
    events.map((e) => e.data.dmm),
    [-2, -1, 0, 1, 2],
    'the motor read back what was set',
  );
  t.ok(
    events.every((e) => Math.abs(e.data['dmm-MEAS_VOLT_DC__10']! - e.data.dmm!) < 1e-6),
    'the meter measured each value set',
  );
  await writeFile(plan, 'plan = "scan"\ndetectors = ["dmm"]\nmotor = "dmm"\nstart = 0\nstop = 9\nnum = 2\n');
  const bad = io();
  t.equal(await main(['plan', 'check', config, plan], bad), 2);
  t.match(bad.stderr, /point 2: dmm = 9 is outside its limits -5 to 5/);
});

t.test('a failing point on the simulators: retried, skipped and recorded, or the run fails', async (t) => {
  const dir = join(tmp, 'failing');
  // The meter drops a reply now and then (seeded, so the same ones every run).
  const config = await dmmConfig(
    'failing.toml',
    dir,
    'sim = { drop_probability = 0.3, seed = 3 }',
    '[broker]\nvisa_timeout_ms = 300\n',
  );
  const plan = join(tmp, 'failing-plan.toml');
  const runPlan = async (policy: string, out: string) => {
    await writeFile(plan, `plan = "count"\ndetectors = ["dmm"]\nnum = 12\n${policy}`);
    const cli = io();
    const code = await main(['plan', 'run', config, plan, '--out', join(dir, out)], cli);
    return { code, cli, summary: JSON.parse(await readFile(join(dir, out, 'plan.json'), 'utf8')) };
  };
  const skip = await runPlan('[on_failure]\nthen = "skip"\n', 'skip');
  t.equal(skip.code, 0, skip.cli.stderr);
  t.ok(skip.summary.skipped.length > 0, `${skip.summary.skipped.length} points skipped`);
  t.equal(skip.summary.events + skip.summary.skipped.length, 12, 'every point either an event or recorded as skipped');
  t.match(skip.summary.skipped[0], { point: Number, error: /timed out/ });
  const retry = await runPlan('[on_failure]\nretries = 10\nthen = "abort"\n', 'retry');
  t.equal(retry.code, 0, retry.cli.stderr);
  t.equal(retry.summary.events, 12, 'with retries every point succeeds');
  const abort = await runPlan('', 'abort');
  t.equal(abort.code, 1);
  t.equal(abort.summary.exitStatus, 'fail');
  t.match(abort.summary.reason, /^point \d+ failed after 1 attempt\(s\): .*timed out/);
  t.ok(abort.summary.events < 12);
});

/** A 60-point scan slow enough (200 ms settle) to be interrupted mid-run; the file's path. */
async function slowScan(): Promise<string> {
  const file = join(tmp, 'slow.toml');
  await writeFile(file, 'plan = "scan"\ndetectors = ["pm"]\nmotor = "rot"\nstart = 0\nstop = 180\nnum = 60\nsettle_ms = 200\n');
  return file;
}

t.test('Ctrl-C without a terminal aborts the plan cleanly: motion stopped, documents closed, exit 1', async (t) => {
  const out = join(tmp, 'sigint');
  const planFile = await slowScan();
  const child = spawn(
    process.execPath,
    [join(root, 'packages/broker/bin/daq.js'), 'plan', 'run', BENCH, planFile, '--out', out],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve) =>
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/daq plan: [1-9]\d*\/60 points/.test(stderr)) resolve();
    }),
  );
  child.kill('SIGINT');
  t.equal(await exited, 1, 'exit 1: aborted');
  t.match(stderr, /daq plan run: abort \(interrupted \(Ctrl-C\)\)/);
  const docs = await documents(out);
  const stop = docs.at(-1)!;
  t.equal(stop.name, 'stop');
  t.match(stop.doc, { exit_status: 'abort', reason: /interrupted \(Ctrl-C\)/ });
  for (const d of docs) t.same(documentErrors(d.name, d.doc), [], `${d.name} is valid event-model`);
  const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
  t.equal(run.status, 'interrupted', 'the acquisition was stopped and its record closed');
});

t.test('Ctrl-C on a terminal pauses and asks: resume repeats the point, stop ends cleanly', async (t) => {
  // A real pseudo-terminal (Python's pty module) is the plan's controlling terminal, so the
  // Ctrl-C typed into it reaches `daq` as the kernel's SIGINT, and the answer is read from it.
  const out = join(tmp, 'terminal');
  const planFile = await slowScan();
  const child = spawn(
    '/usr/bin/python3',
    [
      join(root, 'test/fixtures/on-a-terminal.py'),
      process.execPath,
      join(root, 'packages/broker/bin/daq.js'),
      'plan',
      'run',
      BENCH,
      planFile,
      '--out',
      out,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let screen = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const waiters: { re: RegExp; from: number; resolve: () => void }[] = [];
  child.stdout.on('data', (d) => {
    screen += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(screen.slice(w.from))) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr.on('data', (d) => (screen += d));
  /** Resolves when `re` appears on the screen after what is there now. */
  const see = (re: RegExp) =>
    new Promise<void>((resolve) => {
      const from = screen.length;
      waiters.push({ re, from, resolve });
    });
  await see(/daq plan: [1-9]\d*\/60 points/);
  let prompt = see(/paused\. resume, stop \(end cleanly\) or abort\? \[r\/s\/a\]/);
  child.stdin.write('\\x03\n');
  await prompt;
  const progress = see(/daq plan: [1-9]\d*\/60 points/);
  child.stdin.write('r\n');
  await progress;
  prompt = see(/paused\. resume, stop \(end cleanly\) or abort\? \[r\/s\/a\]/);
  child.stdin.write('\\x03\n');
  await prompt;
  child.stdin.write('s\n');
  const code = await exited;
  if (code !== 0) t.comment(screen);
  t.equal(code, 0, 'exit 0: stopped cleanly');
  t.match(screen, /daq plan run: success/);
  const docs = await documents(out);
  for (const d of docs) t.same(documentErrors(d.name, d.doc), [], `${d.name} is valid event-model`);
  const stop = docs.at(-1)!;
  t.equal(stop.name, 'stop');
  t.match(stop.doc, { exit_status: 'success' });
  const events = docs.filter((d) => d.name === 'event').map((d) => d.doc as unknown as EventData);
  t.ok(events.length > 1 && events.length < 60, `stopped early: ${events.length} of 60 points`);
  t.same(
    events.map((e) => e.seq_num),
    events.map((_, i) => i + 1),
    'one event per point, in order: the interrupted point was repeated, not lost or doubled',
  );
  events.forEach((e, i) => t.ok(Math.abs(e.data.rot! - (i * 180) / 59) < 0.1, `point ${i + 1} at ${e.data.rot}°`));
  const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8'));
  t.equal(run.status, 'completed');
});

t.test('no handles left', async (t) => {
  await assertNoNewHandles(t, before);
});

/** Solves a 3×3 linear system (Cramer's rule). */
function solve3(a: number[][], b: number[]): number[] {
  const det = (m: number[][]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(a);
  return [0, 1, 2].map((k) => det(a.map((row, i) => row.map((v, j) => (j === k ? b[i]! : v)))) / d);
}
