// The seed's 1F.2: one Newport 1830-C configured in both V2 and V4 (the same serial port), and
// one Elliptec bus shared by a V2 device and a V4 device at different addresses. Both
// subsystems initialise and acquire valid readings, interleaved by the lease, with no conflict.

import t from 'tap';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const example = fileURLToPath(new URL('../examples/shared-port.toml', import.meta.url));

t.test('V2 and V4 share a power meter and an Elliptec bus through leases', async (t) => {
  // The shipped example, polled faster so a few seconds give many interleaved exchanges.
  const toml = (await readFile(example, 'utf8'))
    .replace(/\[v2\]\nenabled = true/, '[v2]\nenabled = true\nbatch_interval_ms = 50')
    .replace(/\[v4\]\nenabled = true/, '[v4]\nenabled = true\nbatch_interval_ms = 50')
    .replace(/(type = "(Elliptec|Newport1830C)")/g, '$1\npoll_hz = 8');
  await using rt = await testRuntime(toml);
  const ready = await rt.runtime.start();
  t.same(
    [...ready.v2, ...ready.v4].map((s) => [s.id, s.state]),
    [
      ['rotator_a', 'ready'],
      ['power_v2', 'ready'],
      ['rotator_b', 'ready'],
      ['power_v4', 'ready'],
      ['laser_terminal', 'ready'],
    ],
    'every instrument initialised, both users of each shared device included',
  );
  t.match(ready.v2[0]!.identity, /at address 0/);
  t.match(ready.v4[0]!.identity, /at address 1/);
  t.match(ready.v4[2]!.identity, /^[^,]+,[^,]+,[^,]+,/, 'the ASRL SCPI instrument answered *IDN? through the serial pool');

  const count = (id: string) => rt.v2.filter((m) => m.instrument === id).length + rt.v4.filter((r) => r.instrument === id).length;
  await until(
    () => ['rotator_a', 'power_v2', 'rotator_b', 'power_v4'].every((id) => count(id) >= 12),
    20_000,
    '12 readings each',
  );

  // Both moves happen while both subsystems keep polling the same bus.
  const [a, b] = await Promise.all([
    rt.runtime.command('rotator_a', 'moveAbs', [90]),
    rt.runtime.command('rotator_b', 'moveAbs', [180]),
  ]);
  t.same([a, b], [90, 180], 'each device moved to its own target');
  t.ok(Math.abs(((await rt.runtime.command('rotator_a', 'getPosition')) as number) - 90) < 0.01, 'device 0 stayed at 90');
  t.ok(Math.abs(((await rt.runtime.command('rotator_b', 'position')) as number) - 180) < 0.01, 'device 1 stayed at 180');

  const stops = await rt.runtime.stop();
  t.ok(stops.every((s) => s.clean && s.batchesReceived === s.batchesSent));

  // Valid readings on both sides, no errors.
  const powers = [...rt.v2.filter((m) => m.instrument === 'power_v2'), ...rt.v4.filter((r) => r.instrument === 'power_v4')];
  t.ok(
    powers.every((p) => p.unit === 'W' && Number.isFinite(p.value) && p.value > 0 && p.value < 10),
    'every power reading is a plausible W value',
  );
  const status = stops.map((s) => s.report!);
  t.ok(status.every((r) => r.output.accepted === r.output.delivered));
  const final = await rt.runtime.status();
  for (const sub of final.subsystems)
    for (const i of sub.instruments) t.equal(i.pollErrors, 0, `${i.id}: no failed poll (${i.error?.message ?? 'ok'})`);

  // Interleaved by the lease: both owners used each shared port, many times, with no timeouts.
  const [bus, meter] = [rt.config.v2.instruments[0]!, rt.config.v2.instruments[1]!].map(
    (i) => (i as { serial_port: string }).serial_port,
  );
  for (const [port, v2, v4] of [
    [bus!, 'v2:rotator_a', 'v4:rotator_b'],
    [meter!, 'v2:power_v2', 'v4:power_v4'],
  ] as const) {
    const stats = rt.resources.serial.stats(port);
    t.ok(
      stats.byOwner[v2]! >= 10 && stats.byOwner[v4]! >= 10,
      `${port}: ${v2} ${stats.byOwner[v2]} leases, ${v4} ${stats.byOwner[v4]}`,
    );
    t.equal(stats.leaseTimeouts, 0, `${port}: no lease timed out`);
    t.equal(stats.readTimeouts, 0, `${port}: no read timed out`);
    t.equal(stats.revocations, 0);
  }
  // Interleaved in time, not one after the other: the V4 readings fall inside the V2 span.
  const v2Times = rt.v2.filter((m) => m.instrument === 'power_v2').map((m) => m.timestampNs);
  const v4Times = rt.v4.filter((r) => r.instrument === 'power_v4').map((r) => r.timestamp);
  const inside = v4Times.filter((x) => x > v2Times[0]! && x < v2Times.at(-1)!).length;
  t.ok(inside >= v4Times.length / 2, `${inside} of ${v4Times.length} V4 readings fall between V2 readings`);
});

t.test('no workers, handles or leases left', async (t) => {
  await assertNoNewHandles(t, before);
});
