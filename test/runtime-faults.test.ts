// A subsystem that crashes (exception, process.exit, unresponsive thread) is reported with its
// cause, its leases are released and its calls failed, and the other subsystem keeps running;
// restart on failure with a budget; a stop that overruns its deadline terminates the thread.

import t from 'tap';
import type { CrashReport } from '@daq/broker';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const faultyV2 = new URL('./fixtures/workers/faulty-v2-worker.ts', import.meta.url);

// The heartbeat deadline is long where a crash other than a hang is expected: on a loaded CI
// machine a worker under tap's TypeScript loader can miss 1 s of heartbeats, and the crash
// would then be reported as "unresponsive" before its real cause.
const config = (restart: string, maxRestarts = 3, heartbeatTimeoutMs = 10_000) => `
[application]
simulate = true
[broker]
heartbeat_interval_ms = 100
heartbeat_timeout_ms = ${heartbeatTimeoutMs}
shutdown_timeout_ms = 1500
[v2]
restart = "${restart}"
max_restarts = ${maxRestarts}
restart_backoff_ms = 50
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
`;

for (const [how, kind, cause] of [
  ['throw', 'exception', /uncaught Error: driver bug: reading undefined/],
  ['exit', 'exit', /exited with code 7/],
  ['hang', 'unresponsive', /no heartbeat answer for \d+ ms/],
] as const) {
  t.test(`a V2 worker that crashes (${how}) releases its lease; V4 keeps producing on the same bus`, async (t) => {
    await using rt = await testRuntime(config('never', 3, how === 'hang' ? 1000 : 10_000), { workerUrls: { v2: faultyV2 } });
    await rt.runtime.start();
    const crashes: CrashReport[] = [];
    rt.runtime.on('crash', (c) => crashes.push(c));
    const bus = rt.config.v2.instruments[0]!;
    const port = 'serial_port' in bus ? bus.serial_port : '';

    const lease = await rt.runtime.command('rot_v2', '__crash', [how, port]);
    t.type(lease, 'number', 'the V2 worker holds a lease on the shared bus');
    await until(() => crashes.length === 1, 60_000, 'the crash report');
    const c = crashes[0]!;
    t.match(c, { subsystem: 'v2', kind, willRestart: false }, `the crash report: ${JSON.stringify(c)}`);
    t.match(c.cause, cause);
    t.ok(c.leasesReleased >= 1, `the crashed worker's leases were released (${c.leasesReleased})`);
    t.notMatch(rt.resources.serial.status().find((p) => p.path === port)?.owner ?? '', /^v2:/, 'V2 holds nothing on the bus');

    const v4Before = rt.v4.length;
    await until(() => rt.v4.length >= v4Before + 5, 60_000, 'V4 data after the crash');
    const reached = (await rt.runtime.command('rot_v4', 'moveAbs', [30])) as number;
    t.ok(Math.abs(reached - 30) < 0.01, `V4 still moves its device on the bus (reached ${reached})`);

    const status = await rt.runtime.status();
    t.same(
      status.subsystems.map((s) => [s.name, s.state]),
      [
        ['v2', 'failed'],
        ['v4', 'running'],
      ],
    );
    t.equal(status.subsystems[0]!.leasesHeld, 0);
    await t.rejects(rt.runtime.command('rot_v2', 'getPosition'), {
      code: 'DAQ_WORKER',
      message: /v2 subsystem is failed \(last crash: /,
    });
    const stops = await rt.runtime.stop();
    t.ok(stops.every((s) => s.clean));
  });
}

t.test('restart = "on-failure" brings V2 back with backoff until max_restarts', async (t) => {
  await using rt = await testRuntime(config('on-failure', 2), { workerUrls: { v2: faultyV2 } });
  await rt.runtime.start();
  const restarts: { attempt: number; delayMs: number }[] = [];
  rt.runtime.on('restart', (r) => restarts.push(r));
  const port = (rt.config.v2.instruments[0] as { serial_port: string }).serial_port;
  const sup = rt.runtime.supervisor('v2')!;

  for (const attempt of [1, 2]) {
    await rt.runtime.command('rot_v2', '__crash', ['throw', port]);
    await until(() => restarts.length === attempt && sup.state === 'running', 60_000, `restart ${attempt}`);
    const n = rt.v2.length;
    await until(() => rt.v2.length > n + 3, 60_000, 'V2 data after the restart');
  }
  t.same(
    restarts.map((r) => [r.attempt, r.delayMs]),
    [
      [1, 50],
      [2, 100],
    ],
    'the backoff doubles',
  );
  await rt.runtime.command('rot_v2', '__crash', ['exit', port]);
  await until(() => sup.state === 'failed', 60_000, 'the budget to run out');
  t.equal(sup.restarts, 2);
  t.same(
    sup.crashes.map((c) => c.willRestart),
    [true, true, false],
  );
  t.equal(rt.runtime.supervisor('v4')!.state, 'running', 'V4 was never disturbed');
});

t.test('a stop past shutdown_timeout_ms terminates the worker and says so', async (t) => {
  await using rt = await testRuntime(config('never'), { workerUrls: { v2: faultyV2 } });
  await rt.runtime.start();
  await rt.runtime.command('rot_v2', '__stallShutdown');
  const stops = await rt.runtime.stop();
  const v2 = stops.find((s) => s.subsystem === 'v2')!;
  t.match(v2, { clean: false, terminated: true, error: /stopping v2 did not finish within 1500 ms/ });
  t.ok(v2.elapsedMs >= 1400, `waited for the deadline (${v2.elapsedMs} ms)`);
  t.match(
    stops.find((s) => s.subsystem === 'v4'),
    { clean: true, terminated: false },
  );
  t.equal(rt.runtime.supervisor('v2')!.threadId, undefined, 'the thread is gone');
  t.same(
    rt.resources.serial.status().filter((p) => p.owner),
    [],
  );
});

t.test('an instrument that fails to initialise fails the start, names it, and leaves nothing running', async (t) => {
  const toml = config('never').replace(
    'ring_block_timeout_ms = 500',
    'ring_block_timeout_ms = 500\n[[v4.instruments]]\nid = "pm"\ntype = "Newport1830C"\nserial_port = "/dev/ttyPM"\nsim = { drop_probability = 1.0 }',
  );
  await using rt = await testRuntime(toml);
  const err = await rt.runtime.start().then(
    () => undefined,
    (e: Error) => e,
  );
  t.match(err, { code: 'DAQ_INSTRUMENT', message: /v4: 1 of 2 instruments failed to initialise:\n {2}- pm \(Newport1830C\): / });
  t.same(
    rt.runtime.history,
    ['v2:starting', 'v2:ready', 'v4:starting', 'v4:failed', 'v2:stopping', 'v2:stopped'],
    'V2, already started, is stopped again',
  );
  t.same(
    rt.runtime.subsystems.map((s) => [s, rt.runtime.supervisor(s)!.threadId]),
    [
      ['v2', undefined],
      ['v4', undefined],
    ],
    'no worker thread is left',
  );
  t.same(
    rt.resources.serial.status().filter((p) => p.owner),
    [],
  );
});

t.test('no workers, handles or leases left', async (t) => {
  await assertNoNewHandles(t, before);
});
