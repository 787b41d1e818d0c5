// The serial simulators speak their protocols through the real serialport package on a
// pty, with timing lower bounds and every fault kind. (SCPI: scpi-*.test.ts.)

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElliptecBusSimulator, Newport1830CSimulator, formatWatts, hex32 } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;

t.test('Newport 1830-C: echo at power-up, then readings in W and dBm, wavelength, filter', async (t) => {
  const sim = new Newport1830CSimulator({ powerW: 7.5e-10 });
  const path = await sim.start();
  t.match(path, /^\/dev\/pts\/\d+$/);
  const c = await SerialClient.open(path);
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  t.equal(await c.query('D?\n'), 'D?', 'echo on at power-up: the command comes back first');
  t.equal(await c.line(), '+.7500E-9');
  await c.write('E0\n');
  t.equal(await c.line(), 'E0', 'E0 itself is still echoed');
  await c.write('W0800\n');
  t.equal(await c.query('W?\n'), '0800', 'set commands are silent after E0');
  await c.write('W1500\n');
  t.equal(await c.query('W?\n'), '0800', 'out of range (300-1100 nm) is ignored');
  await c.write('U2\n');
  t.equal(await c.query('D?\n'), (10 * Math.log10(7.5e-10 / 1e-3)).toFixed(2));
  await c.write('U1\nF1\n');
  const started = performance.now();
  t.equal(await c.query('D?\n'), '+.7500E-9');
  t.ok(performance.now() - started >= 500, 'the slow filter takes ~0.5 s per reading');
  sim.powerW = 5;
  t.equal(await c.query('D?\n'), 'SAT');
  t.same([await c.query('F?\n'), await c.query('A?\n'), await c.query('R?\n'), await c.query('U?\n')], ['1', '0', '0', '1']);
  await c.write('FOO\n');
  t.equal(await c.line('\n', 100), undefined, 'unknown commands are ignored');
  t.equal(sim.unknownCommands, 1);
  t.equal(formatWatts(1.234e-3), '+.1234E-2');
  t.equal(formatWatts(0), '+.0000E+0');
});

t.test('Elliptec bus: two devices on one port, identity, moves that take time, errors', async (t) => {
  const sim = new ElliptecBusSimulator({ devices: [{ address: '0' }, { address: '2', model: 'ELL20' }] });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  t.equal(await c.query('0in', '\r\n'), '0IN0E1140051020231701016800023000', 'ELL14: 360°, 143360 pulses/rev');
  t.equal(await c.query('2in', '\r\n'), '2IN141140051220231701003C00000400', 'ELL20: 60 mm, 1024 pulses/mm');
  t.equal(await c.query('3in', '\r\n', 150), undefined, 'nobody answers an empty address');
  t.equal(await c.query('0xx', '\r\n'), '0GS03', 'unknown command');
  const target = 143360 / 4; // 90°
  const started = performance.now();
  await c.write(`0ma${hex32(target)}`);
  t.equal(await c.query('0gs', '\r\n'), '0GS09', 'busy while moving');
  t.equal(await c.line('\r\n', 2000), `0PO${hex32(target)}`, 'PO when the move ends');
  t.ok(performance.now() - started >= 250, 'a 90° move takes at least 250 ms at 360°/s');
  t.equal(await c.query('0gp', '\r\n'), `0PO${hex32(target)}`);
  t.equal(await c.query(`0mr${hex32(-target * 2)}`, '\r\n', 2000), `0PO${hex32(143360 - target)}`, 'a rotation mount wraps');
  t.equal(await c.query(`2ma${hex32(61 * 1024)}`, '\r\n'), '2GS0C', 'a linear stage refuses a move beyond its travel');
  t.equal(await c.query('2gp', '\r\n'), '2PO00000000', 'and does not move');
  t.equal(await c.query('0gj', '\r\n'), `0GJ${hex32(3980)}`);
  t.equal(await c.query(`0sj${hex32(100)}`, '\r\n'), '0GS00');
  t.equal(await c.query('0fw', '\r\n'), `0PO${hex32(143360 - target + 100)}`);
  t.equal(await c.query(`0so${hex32(50)}`, '\r\n'), '0GS00');
  t.equal(await c.query('0go', '\r\n'), `0HO${hex32(50)}`);
  t.equal(await c.query('0ho0', '\r\n', 2000), `0PO${hex32(50)}`, 'home goes to the home offset');
  t.equal(await c.query('0st', '\r\n'), '0GS00');
  t.equal(await c.query('0gp\r\n', '\r\n'), `0PO${hex32(50)}`, 'a trailing CR LF is tolerated');
  t.equal(sim.device('0').position, 50);
});

t.test('serial faults: drop, corrupt (terminator kept), late, latency; disconnect and reconnect', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sim-'));
  const link = join(dir, 'newport');
  const sim = new Newport1830CSimulator({ powerW: 1e-3, linkPath: link });
  t.equal(await sim.start(), link);
  let c = await SerialClient.open(link);
  t.teardown(async () => {
    await c.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });
  await c.write('E0\n');
  await c.line();
  sim.injectOnce({ kind: 'drop' });
  t.equal(await c.query('D?\n', '\n', 200), undefined, 'dropped');
  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await c.query('D?\n');
  t.not(garbled, '+.1000E-2');
  t.equal(garbled?.length, '+.1000E-2'.length, 'same length, terminator kept');
  sim.injectOnce({ kind: 'late', lateMs: 300 });
  t.equal(await c.query('D?\n', '\n', 150), undefined, 'not within the caller timeout');
  t.equal(await c.line('\n', 1000), '+.1000E-2', 'but it does arrive, late');
  sim.faults.set({ latencyMs: 200 });
  const started = performance.now();
  t.equal(await c.query('D?\n'), '+.1000E-2');
  t.ok(performance.now() - started >= 200);
  sim.faults.set({ latencyMs: 0 });
  t.match(sim.counters, { dropped: 1, corrupted: 1, late: 1, connects: 1 });

  sim.disconnect();
  // A serialport client learns of it at its next I/O (its read poller may be idle).
  await t.rejects(c.write('D?\n'), /EIO/, 'the next write fails: the device is gone');
  for (let i = 0; i < 50 && !c.closed; i++) await new Promise((r) => setTimeout(r, 20));
  t.match(c.closed, { disconnected: true }, 'and the port closes as disconnected');
  await c.close();
  sim.reconnect();
  c = await SerialClient.open(link);
  t.equal(await c.query('D?\n'), '+.1000E-2', 'the same path works again (echo stays off: the meter kept its state)');
  t.equal(sim.counters.connects, 2);
});

t.test('probabilistic faults are repeatable with a seed', async (t) => {
  const run = async () => {
    const sim = new Newport1830CSimulator();
    const c = await SerialClient.open(await sim.start());
    await c.query('E0\n');
    sim.faults.set({ dropProbability: 0.5, seed: 42 }); // a new seed restarts the sequence
    const got: boolean[] = [];
    for (let i = 0; i < 8; i++) got.push((await c.query('W?\n', '\n', 60)) !== undefined);
    await c.close();
    await sim.close();
    return got;
  };
  const a = await run();
  t.same(await run(), a);
  t.ok(a.includes(true) && a.includes(false), `a mix of answers and drops: ${a}`);
});

t.test('no handles are left open', async (t) => {
  await new Promise((r) => setTimeout(r, 100));
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
