// All four serial simulators together, as a lab would run them: each on its own pty at its own
// speed, every fault kind on a real instrument, a disconnect and reconnect through the stable
// link with the instrument's state kept, and nothing left open once they are closed.
// (Per-instrument behaviour: elliptec-bus, newport-1830c, esp300, maitai .test.ts.)

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElliptecBusSimulator, Esp300Simulator, MaiTaiSimulator, Newport1830CSimulator, hex32 } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('four simulators side by side, each at its own speed, answer their own protocol', async (t) => {
  const ell = new ElliptecBusSimulator({ devices: [{ address: '0' }, { address: '1', model: 'ELL17' }] });
  const pm = new Newport1830CSimulator({ powerW: 2e-3, echo: false, filter: 3 });
  const esp = new Esp300Simulator();
  const laser = new MaiTaiSimulator({ replyMs: 5 });
  const sims = [ell, pm, esp, laser];
  const paths = await Promise.all(sims.map((s) => s.start()));
  t.equal(new Set(paths).size, 4, `four ptys: ${paths.join(' ')}`);
  const clients = await Promise.all(sims.map((s, i) => SerialClient.open(paths[i]!, s.baudRate)));
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sims.map((s) => s.close()));
  });
  const [e, p, m, l] = clients as [SerialClient, SerialClient, SerialClient, SerialClient];
  t.same(await Promise.all([e.query('1in', '\r\n'), p.query('D?\n'), m.query('VE?\r', '\r\n'), l.query('wav?\n')]), [
    '1IN111140051120231701001C00000400',
    '+.2000E-2',
    'ESP300 Version 3.04 07/27/01',
    '820nm',
  ]);
  t.same(
    sims.map((s) => s.baudRate),
    [9600, 9600, 19200, 9600],
  );
});

t.test('every fault kind on a real instrument: latency, drop, corrupt, late, and the line recovers', async (t) => {
  const sim = new Newport1830CSimulator({ powerW: 1e-3, echo: false, filter: 3 });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  sim.injectOnce({ kind: 'drop' });
  t.equal(await c.query('D?\n', '\n', 300), undefined, 'dropped');
  t.equal(await c.query('D?\n'), '+.1000E-2', 'recovered');
  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await c.query('D?\n');
  t.not(garbled, '+.1000E-2');
  t.equal(garbled?.length, '+.1000E-2'.length, 'garbage of the same length, LF kept');
  sim.injectOnce({ kind: 'late', lateMs: 400 });
  t.equal(await c.query('D?\n', '\n', 150), undefined, 'not within the caller timeout');
  t.equal(await c.line('\n', 1000), '+.1000E-2', 'but it does arrive, late');
  sim.faults.set({ latencyMs: 200 });
  const begun = performance.now();
  t.equal(await c.query('W?\n'), '0633');
  t.ok(performance.now() - begun >= 200, 'latency');
  sim.faults.set({ latencyMs: 0 });
  t.match(sim.counters, { dropped: 1, corrupted: 1, late: 1, decided: 5, replies: 4, connects: 1 });
});

t.test('an Elliptec bus unplugged mid-move and plugged back: same link, the devices kept their state', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sim-'));
  const link = join(dir, 'ttyELL');
  const sim = new ElliptecBusSimulator({ devices: [{ address: '0' }], linkPath: link });
  t.equal(await sim.start(), link);
  let c = await SerialClient.open(link);
  t.teardown(async () => {
    await c.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });
  const target = 143360 / 4;
  await c.write(`0ma${hex32(target)}`);
  await sleep(50);
  sim.disconnect();
  // EIO when the write meets the hung-up pty; EBADF when the read side saw the hang-up first
  // and serialport closed its descriptor: either way the write fails and says why.
  await t.rejects(c.write('0gs'), /EIO|EBADF|closed/i, 'the client learns at its next write');
  for (let i = 0; i < 50 && !c.closed; i++) await sleep(20);
  t.ok(c.closed, 'its port closed');
  await c.close();
  await sleep(300);
  t.equal(sim.reconnect(), link);
  c = await SerialClient.open(link);
  t.equal(await c.line('\r\n', 300), undefined, 'the PO of the move went with the old line');
  t.equal(await c.query('0gp', '\r\n'), `0PO${hex32(target)}`, 'the mount finished its move while unplugged');
  t.equal(sim.counters.connects, 2);
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
