// V2 and V4 in their own worker threads, side by side on simulated hardware: start order,
// readiness after identity reads, data from both, command routing, status, reverse shutdown.

import t from 'tap';
import { DaqError } from '@daq/core';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

const BOTH = `
[application]
simulate = true
[broker]
heartbeat_interval_ms = 200
[v2]
batch_interval_ms = 50
[[v2.instruments]]
id = "elliptec1"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
poll_hz = 10
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 50
[v4]
batch_interval_ms = 50
[[v4.instruments]]
id = "scpi_meter"
type = "ScpiInstrument"
resource = "TCPIP0::192.168.1.100::INSTR"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 20
[[v4.instruments]]
id = "stage"
type = "ESP300"
serial_port = "/dev/ttyUSB3"
axes = [1, 2]
poll_hz = 5
[[v4.instruments]]
id = "pvcam_camera"
type = "PVCAMInstrument"
camera_name = "pvcam0"
`;

t.test('test_both_subsystems_start: V2 then V4 start, produce data, stop in reverse', async (t) => {
  await using rt = await testRuntime(BOTH);
  const ready = await rt.runtime.start();
  t.same(rt.runtime.history, ['v2:starting', 'v2:ready', 'v4:starting', 'v4:ready'], 'V2 is ready before V4 starts');
  t.same(
    ready.v2.map((s) => [s.id, s.state]),
    [
      ['elliptec1', 'ready'],
      ['mock', 'ready'],
    ],
  );
  t.match(ready.v2[0]!.identity, /^ELL14 serial/, 'the Elliptec identity was read with "in"');
  t.match(ready.v4.find((s) => s.id === 'scpi_meter')!.identity, /,/, '*IDN? was read');
  t.match(ready.v4.find((s) => s.id === 'stage')!.identity, /ESP300 Version/);

  await until(
    () => new Set(rt.v2.map((m) => m.instrument)).size === 2 && new Set(rt.v4.map((r) => r.instrument)).size === 2,
    10_000,
    'data from every instrument',
  );
  const v2e = rt.v2.find((m) => m.instrument === 'elliptec1')!;
  t.match(v2e, { channel: 'position', unit: 'deg' });
  t.equal(typeof v2e.timestampNs, 'bigint', 'V2 timestamps are bigint nanoseconds');
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  t.ok(nowNs - v2e.timestampNs < 60_000_000_000n && v2e.timestampNs <= nowNs + 1_000_000_000n, 'on the Unix epoch');
  t.same(new Set(rt.v4.filter((r) => r.instrument === 'stage').map((r) => r.channel)), new Set(['axis1', 'axis2']));
  t.ok(rt.v4.some((r) => r.instrument === 'scpi_meter' && r.channel === 'MEAS:VOLT:DC?' && r.unit === 'V'));

  const status = await rt.runtime.status();
  t.same(
    status.subsystems.map((s) => [s.name, s.state]),
    [
      ['v2', 'running'],
      ['v4', 'running'],
    ],
  );
  t.ok(
    status.subsystems.every((s) => typeof s.threadId === 'number' && s.threadId > 0),
    'each subsystem has its own thread',
  );
  t.not(status.subsystems[0]!.threadId, status.subsystems[1]!.threadId);
  t.same(
    status.notRun.map((n) => n.id),
    ['pvcam_camera'],
    'the camera is reported as not run, not silently dropped',
  );
  const elliptec = status.subsystems[0]!.instruments.find((i) => i.id === 'elliptec1')!;
  t.equal(elliptec.state, 'polling');
  t.ok(elliptec.polls > 0 && elliptec.readings === elliptec.polls);
  t.ok(status.serial.length >= 2, 'serial ports appear in the status');

  const stops = await rt.runtime.stop();
  t.same(
    stops.map((s) => s.subsystem),
    ['v4', 'v2'],
    'stopped in reverse order',
  );
  t.same(rt.runtime.history.slice(4), ['v4:stopping', 'v4:stopped', 'v2:stopping', 'v2:stopped']);
  for (const s of stops) {
    t.ok(s.clean, `${s.subsystem} stopped cleanly (${s.error ?? 'no error'})`);
    t.notOk(s.terminated, `${s.subsystem} ended by itself`);
    t.equal(s.batchesReceived, s.batchesSent, `${s.subsystem}: every batch sent arrived`);
    t.equal(s.report!.output.accepted, s.report!.output.delivered, `${s.subsystem}: every reading accepted was delivered`);
  }
  t.equal(stops[1]!.report!.output.delivered, rt.v2.length, 'V2 rows delivered = rows received');
  t.equal(stops[0]!.report!.output.delivered, rt.v4.length, 'V4 rows delivered = rows received');
  t.same(
    rt.resources.serial.status().filter((p) => p.owner),
    [],
    'no lease is held',
  );
});

t.test('commands are routed by instrument id and checked', async (t) => {
  await using rt = await testRuntime(BOTH);
  await rt.runtime.start();
  t.equal(rt.runtime.ownerOf('elliptec1'), 'v2');
  t.equal(rt.runtime.ownerOf('stage'), 'v4');
  t.equal(await rt.runtime.command('elliptec1', 'moveAbs', [45]), 45);
  t.ok(Math.abs(((await rt.runtime.command('elliptec1', 'getPosition')) as number) - 45) < 0.01);
  t.equal(await rt.runtime.command('stage', 'moveAbs', [2.5, 2]), 2.5);
  t.ok(Math.abs(((await rt.runtime.command('stage', 'waitSettled', [2])) as number) - 2.5) < 1e-6);
  t.match(await rt.runtime.command('scpi_meter', 'identify'), /,/);

  await t.rejects(rt.runtime.command('elliptek1', 'moveAbs', [1]), {
    code: 'DAQ_UNKNOWN_INSTRUMENT',
    message: /did you mean "elliptec1"/,
  });
  await t.rejects(rt.runtime.command('elliptec1', 'movAbs', [1]), {
    code: 'DAQ_UNKNOWN_COMMAND',
    message: /did you mean "moveAbs"/,
  });
  await t.rejects(rt.runtime.command('elliptec1', 'moveAbs', ['45']), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /argument 1 \(position\) must be a finite number/,
  });
  await t.rejects(rt.runtime.command('stage', 'moveAbs', [1, 3]), { code: 'DAQ_INVALID_ARGUMENT', message: /no axis 3/ });
  await t.rejects(rt.runtime.command('pvcam_camera', 'start'), { code: 'DAQ_WORKER' });
  t.ok(Math.abs(((await rt.runtime.command('elliptec1', 'getPosition')) as number) - 45) < 0.01, 'bad calls changed nothing');
  t.ok(DaqError);
});

t.test('only V2 or only V4 configured', async (t) => {
  for (const only of ['v2', 'v4'] as const) {
    const toml =
      only === 'v2'
        ? `[application]\nsimulate = true\n[v2]\n[[v2.instruments]]\nid = "mock"\ntype = "MockPower"\npoll_hz = 50\n`
        : `[application]\nsimulate = true\n[v4]\n[[v4.instruments]]\nid = "m"\ntype = "ScpiInstrument"\nresource = "TCPIP0::h::5025::SOCKET"\npoll_query = "MEAS:VOLT:DC?"\npoll_hz = 20\n`;
    await using rt = await testRuntime(toml);
    await rt.runtime.start();
    t.same(rt.runtime.subsystems, [only], `only ${only} runs`);
    await until(() => (only === 'v2' ? rt.v2.length : rt.v4.length) > 0, 5000, `${only} data`);
    const stops = await rt.runtime.stop();
    t.same(
      stops.map((s) => [s.subsystem, s.clean]),
      [[only, true]],
    );
    t.equal(only === 'v2' ? rt.v4.length : rt.v2.length, 0, 'nothing from the absent subsystem');
  }
});

t.test('no workers, handles or leases left', async (t) => {
  await assertNoNewHandles(t, before);
});
