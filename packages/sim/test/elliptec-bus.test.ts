// The Elliptec bus simulator through the real serialport package: several devices on one port,
// identity, status codes, moves that take time, jogs, home, settings, framing without a
// terminator, and faults on the bus.

import t from 'tap';
import { ElliptecBusSimulator, ElliptecStatus, hex32, parseHex32, type ElliptecBusOptions } from '../src/index.js';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CRLF = '\r\n';
const PER_DEGREE = 143360 / 360;

async function bus(t: { teardown(fn: () => unknown): void }, options: ElliptecBusOptions) {
  const sim = new ElliptecBusSimulator(options);
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const ask = (command: string, timeoutMs = 1000) => c.query(command, CRLF, timeoutMs);
  return { sim, c, ask };
}

t.test('two devices on one port: each answers its own address, an empty address never answers', async (t) => {
  const { sim, ask } = await bus(t, {
    devices: [
      { address: '2', model: 'ELL14', serial: '11400517', year: 2023, firmware: '17' },
      { address: 'A', model: 'ELL20', serial: '11200042', year: 2022, firmware: '15' },
    ],
  });
  t.equal(await ask('2in'), '2IN0E1140051720231701016800023000', 'the manual example: ELL14, 360 deg, 143360 pulses/rev');
  t.equal(await ask('Ain'), 'AIN1411200042202215' + '01' + '003C' + '00000400', 'ELL20: 60 mm, 1024 pulses/mm');
  t.equal(await ask('3in', 300), undefined, 'nobody at address 3: the caller times out');
  t.equal(await ask('ain', 300), undefined, 'addresses are uppercase hex: "a" is not A');
  t.equal(sim.devices.size, 2);
  t.equal(sim.device('a').address, 'A');
  t.throws(() => sim.device('3'), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => new ElliptecBusSimulator({ devices: [{ address: 'G' }] }), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => new ElliptecBusSimulator({ devices: [{ address: '1' }, { address: '1' }] }), {
    code: 'DAQ_INVALID_ARGUMENT',
  });
});

t.test('status: unknown command GS03, errors are read once by gs, then GS00', async (t) => {
  const { ask } = await bus(t, { devices: [{ address: '0' }] });
  t.equal(await ask('0gs'), '0GS00');
  t.equal(await ask('0xx'), '0GS03', 'command not understood');
  t.equal(await ask('0gs'), '0GS03', 'the error stays until the status is read');
  t.equal(await ask('0gs'), '0GS00', 'reading it cleared it');
  t.equal(await ask('0maFFFFfff0'), '0GS04', 'lowercase hex data is not accepted');
});

t.test('a move takes time in proportion to its distance, answers PO when done, GS09 while moving', async (t) => {
  // 90 deg/s so that the move (1 s) outlasts the queries made during it on a busy machine.
  const { sim, c, ask } = await bus(t, {
    devices: [
      { address: '0', speed: 90 },
      { address: '1', model: 'ELL17' },
    ],
  });
  const target = Math.round(90 * PER_DEGREE);
  const begun = performance.now();
  await c.write(`0ma${hex32(target)}`);
  t.equal(await ask('0gs'), '0GS09', 'busy while moving');
  t.equal(await ask('1gs'), '1GS00', 'another device on the bus answers meanwhile');
  const moving = parseHex32((await ask('0gp'))!.slice(3));
  t.ok(moving > 0 && moving < target, `gp during the move is on the way (${moving})`);
  t.equal(await ask(`0ma${hex32(0)}`), '0GS09', 'a new move while moving is refused as busy');
  t.equal(await c.line(CRLF, 2000), `0PO${hex32(target)}`, 'PO when the move ends');
  t.ok(performance.now() - begun >= 1000, 'a 90 deg move at 90 deg/s takes at least 1 s');
  t.equal(await ask('0gs'), '0GS09', 'the refused move left a busy error');
  t.equal(await ask('0gs'), '0GS00');
  t.equal(await ask('0gp'), `0PO${hex32(target)}`);
  t.equal(sim.device('0').position, target);
  t.equal(sim.device('0').moving, false);

  t.equal(
    await ask(`0mr${hex32(Math.round(-180 * PER_DEGREE))}`, 4000),
    `0PO${hex32(143360 - Math.round(90 * PER_DEGREE))}`,
    'a rotation mount wraps within one turn',
  );
  t.equal(await ask(`1ma${hex32(29 * 1024)}`), '1GS0C', 'beyond the ELL17 travel of 28 mm: out of range');
  t.equal(await ask('1gp'), '1PO00000000', 'and it did not move');
  t.equal(await ask(`1mr${hex32(-1)}`), '1GS0C', 'nor below 0');
  const linear = performance.now();
  t.equal(await ask(`1ma${hex32(6 * 1024)}`, 2000), `1PO${hex32(6 * 1024)}`);
  t.ok(performance.now() - linear >= 100, '6 mm at 60 mm/s takes at least 100 ms');
  t.equal(hex32(-1), 'FFFFFFFF', "positions are 32-bit two's complement");
  t.equal(parseHex32('FFFFFC00'), -1024);
});

t.test('home answers PO00000000; the direction decides which way a mount turns', async (t) => {
  const { ask } = await bus(t, { devices: [{ address: '0', position: Math.round(10 * PER_DEGREE) }] });
  let begun = performance.now();
  t.equal(await ask('0ho0', 2000), '0PO00000000', 'cw');
  const cw = performance.now() - begun;
  t.ok(cw >= 10 * (1000 / 360), '10 deg back to home');
  t.equal(await ask(`0ma${hex32(Math.round(10 * PER_DEGREE))}`, 2000), `0PO${hex32(Math.round(10 * PER_DEGREE))}`);
  begun = performance.now();
  t.equal(await ask('0ho1', 3000), '0PO00000000', 'ccw, the long way round');
  t.ok(performance.now() - begun >= 350 * (1000 / 360), 'ccw from 10 deg turns 350 deg');
  t.equal(await ask('0ho2'), '0GS04', 'the direction is 0 or 1');
});

t.test('jog step, forward and backward jogs, continuous jog ended by st', async (t) => {
  const { sim, c, ask } = await bus(t, { devices: [{ address: '5' }] });
  t.equal(await ask('5gj'), `5GJ${hex32(398)}`, 'default step: 1 deg');
  t.equal(await ask(`5sj${hex32(1000)}`), '5GS00');
  t.equal(await ask('5gj'), `5GJ${hex32(1000)}`);
  t.equal(await ask('5fw', 2000), `5PO${hex32(1000)}`);
  t.equal(await ask('5bw', 2000), `5PO${hex32(0)}`);
  t.equal(await ask('5bw', 2000), `5PO${hex32(143360 - 1000)}`, 'backward past 0 wraps');
  t.equal(await ask(`5sj${hex32(0)}`), '5GS00', 'step 0: continuous jog');
  await c.write('5fw');
  await sleep(150);
  t.equal(await ask('5gs'), '5GS09', 'busy while jogging');
  const stopped = await ask('5st');
  const at = parseHex32(stopped!.slice(3));
  t.match(stopped, /^5PO[0-9A-F]{8}$/, 'st ends the jog with the position');
  t.not(at, 143360 - 1000, `it moved (${at})`);
  t.equal(await ask('5gs'), '5GS00');
  t.equal(sim.device('5').moving, false);
  t.equal(await ask('5st'), '5GS00', 'st with nothing moving');
  await c.write(`5ma${hex32(Math.round(90 * PER_DEGREE))}`);
  t.equal(await ask('5st'), '5GS09', 'st does not interrupt a bounded move');
  t.equal(await c.line(CRLF, 2000), `5PO${hex32(Math.round(90 * PER_DEGREE))}`, 'which runs to its end');
});

t.test('a linear stage jogging continuously stops at the end of its travel', async (t) => {
  const { sim, c, ask } = await bus(t, { devices: [{ address: '0', model: 'ELL20', speed: 600 }] });
  t.equal(await ask(`0sj${hex32(0)}`), '0GS00');
  await c.write('0fw');
  await sleep(250); // 60 mm at 600 mm/s: 100 ms
  t.equal(await ask('0gs'), '0GS00', 'no longer moving');
  t.equal(await ask('0gp'), `0PO${hex32(60 * 1024)}`, 'at the end of travel');
  t.equal(sim.device('0').range, 60 * 1024);
});

t.test('home offset, velocity and address settings', async (t) => {
  const { sim, ask } = await bus(t, { devices: [{ address: '0' }, { address: '1' }] });
  t.equal(await ask(`0so${hex32(2000)}`), '0GS00');
  t.equal(await ask('0go'), `0HO${hex32(2000)}`);
  t.equal(await ask('0gv'), '0GV64', '100 % at power-up');
  t.equal(await ask('0sv32'), '0GS00', '50 %');
  t.equal(await ask('0gv'), '0GV32');
  const begun = performance.now();
  t.equal(await ask(`0ma${hex32(Math.round(90 * PER_DEGREE))}`, 3000), `0PO${hex32(Math.round(90 * PER_DEGREE))}`);
  t.ok(performance.now() - begun >= 500, 'at half speed 90 deg takes at least 500 ms');
  t.equal(await ask('0svC8'), '0GS04', '200 % is out of range');
  t.equal(await ask('0ca1'), '0GS04', 'address 1 is taken');
  t.equal(await ask('0ca7'), '7GS00', 'the device answers from its new address');
  t.equal(await ask('0in', 300), undefined, 'and no longer from the old one');
  t.match(await ask('7in'), /^7IN0E/);
  t.equal(sim.device('7').address, '7');
  t.equal(await ask('7us'), '7GS00');
});

t.test('framing: no terminator needed, CR LF tolerated, CR inside a packet discards it, 2 s timeout', async (t) => {
  const { sim, c, ask } = await bus(t, { devices: [{ address: '0' }] });
  await c.write('0gs0gp');
  t.same([await c.line(CRLF), await c.line(CRLF)], ['0GS00', '0PO00000000'], 'two packets in one write');
  t.equal(await ask('0gp\r\n'), '0PO00000000', 'a trailing CR LF is tolerated');
  await c.write('0g');
  await sleep(30);
  t.equal(await ask('s'), '0GS00', 'a packet split across writes');
  t.equal(await ask('0ma0000\r', 300), undefined, 'CR clears a half-received packet');
  t.equal(sim.discardedPackets, 1);
  t.equal(await ask('0gs'), '0GS00');
  await c.write('xyz');
  t.equal(await ask('0gs'), '0GS00', 'bytes that are no address are skipped');
  t.ok(sim.garbageBytes >= 3);
  await c.write('0ma1234');
  await sleep(2100);
  t.equal(await ask('0gs'), '0GS01', 'a packet left incomplete for 2 s is dropped: communication time-out');
  t.equal(sim.discardedPackets, 2);
  t.equal(await ask('0gp'), '0PO00000000', 'and did not move the device');
  t.equal(sim.counters.commands, 8);
});

t.test('faults on the bus: corrupt keeps CR LF, drop loses a move end, latency', async (t) => {
  const { sim, c, ask } = await bus(t, { devices: [{ address: '0' }] });
  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await ask('0in');
  t.equal(garbled?.length, 33, 'as long as an IN reply, still ending CR LF');
  t.not(garbled, await ask('0in'));
  sim.injectOnce({ kind: 'drop' });
  await c.write(`0ma${hex32(1000)}`);
  t.equal(await c.line(CRLF, 500), undefined, 'the PO of the move was dropped');
  t.equal(await ask('0gp'), `0PO${hex32(1000)}`, 'but the device moved');
  sim.faults.set({ latencyMs: 100 });
  const begun = performance.now();
  t.equal(await ask('0gs'), '0GS00');
  t.ok(performance.now() - begun >= 100);
  t.match(sim.counters, { corrupted: 1, dropped: 1 });
  t.equal(ElliptecStatus.BUSY, 9);
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
