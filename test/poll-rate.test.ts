// An instrument that cannot be polled as fast as its poll_hz asks is reported, not hidden: its
// requested and achieved rate and missed polls in the run summary and run.json, a warning in
// both, and the progress line naming it. The slow meter's simulator answers each query after
// 40 ms (sim latency_ms), so at most 25 of the 100 polls a second asked can happen however
// fast the machine is; the calm one asks 5 a second and gets them.

import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '@daq/broker';
import { captureIo } from './helpers/cli.js';

const tmp = await mkdtemp(join(tmpdir(), 'daq-poll-rate-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const meter = (id: string, ip: number, hz: number, sim = '') => `[[v4.instruments]]
id = "${id}"
type = "ScpiInstrument"
resource = "TCPIP0::10.0.0.${ip}::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = ${hz}
${sim}`;

t.test("daq run reports each polled instrument's rate and warns about the one that falls short", async (t) => {
  const file = join(tmp, 'rates.toml');
  await writeFile(
    file,
    `[application]\nname = "rates"\nsimulate = true\n[v4]\n${meter('slow', 1, 100, 'sim = { latency_ms = 40 }\n')}${meter('calm', 2, 5)}`,
  );
  const io = captureIo();
  const { runCommand } = await import('../packages/broker/src/commands/run.js');
  const out = join(tmp, 'run');
  const code = await runCommand(file, { durationS: 4, out, progress: 'lines', progressEveryS: 1.5 }, io);
  t.equal(code, 0, io.stderr);

  const progress = io.stderr.split('\n').filter((l) => /^daq run: \d+ s,/.test(l));
  t.ok(
    progress.some((l) => /; BELOW poll rate: v4\.slow [\d.]+\/100 Hz$/.test(l)),
    `a progress line names the slow meter: ${progress.join(' | ')}`,
  );
  t.notOk(
    progress.some((l) => /calm/.test(l)),
    'and not the calm one',
  );

  t.match(io.stderr, /instrument +subsystem +type +rows +polled \(Hz, asked\)/, 'the summary has the rate column');
  t.match(io.stderr, /\n {2}slow +v4 +ScpiInstrument +\d+ +[\d.]+ \(100\) +BELOW ITS POLL RATE: \d+ polls missed/);
  t.match(io.stderr, /\n {2}calm +v4 +ScpiInstrument +\d+ +[\d.]+ \(5\)\n/);
  t.match(
    io.stderr,
    /warning: v4\.slow: polled at [\d.]+ Hz of the 100 Hz asked \(\d+ % short, \d+ polls missed\): its polls take longer than the period/,
  );

  const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as RunRecord;
  const slow = run.instruments.find((i) => i.id === 'slow')!.rate!;
  const calm = run.instruments.find((i) => i.id === 'calm')!.rate!;
  t.equal(slow.requestedHz, 100);
  t.ok(slow.achievedHz > 0 && slow.achievedHz <= 25.5, `the slow meter got at most 25 Hz (${slow.achievedHz})`);
  t.ok(slow.missedPolls > 0.5 * 100 * slow.polledS, `most of its polls were missed (${slow.missedPolls} in ${slow.polledS} s)`);
  t.equal(calm.requestedHz, 5);
  t.ok(Math.abs(calm.achievedHz - 5) <= 0.5, `the calm one got its 5 Hz (${calm.achievedHz})`);
  t.ok(calm.missedPolls <= 0.05 * 5 * calm.polledS + 1, `and missed none to speak of (${calm.missedPolls})`);
  const rateWarnings = run.warnings.filter((w) => /poll/.test(w));
  t.equal(rateWarnings.length, 1, 'one rate warning in run.json, not one per refresh');
  t.match(rateWarnings[0], /^v4\.slow: polled at/);
});
