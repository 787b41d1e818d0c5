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
  t.equal(await ask('5fw'), '5GS09', 'the move is incomplete: a status message (manual "fw")');
  await sleep(150);
  t.equal(await ask('5gs'), '5GS09', 'busy while jogging');
  t.equal(await ask('5gp'), '5GS09', 'everything but st answers busy (manual "fw")');
  t.equal(await ask('5st'), '5GS00', 'st ends the jog with a status, not a position (manual "st")');
  const at = parseHex32((await ask('5gp'))!.slice(3));
  t.not(at, 143360 - 1000, `it moved (${at})`);
  t.equal(await ask('5gs'), '5GS00');
  t.equal(sim.device('5').moving, false);
  t.equal(await ask('5st'), '5GS00', 'st with nothing moving');
  await c.write(`5ma${hex32(Math.round(90 * PER_DEGREE))}`);
  t.equal(await ask('5st'), '5GS09', 'st does not interrupt a bounded move');
  t.equal(await c.line(CRLF, 2000), `5PO${hex32(Math.round(90 * PER_DEGREE))}`, 'which runs to its end');
});

t.test('continuous motion is for ELL14/ELL16/ELL21 only: a linear stage with jog step 0 does not move', async (t) => {
  const { ask } = await bus(t, { devices: [{ address: '0', model: 'ELL20', position: 10 * 1024 }] });
  t.equal(await ask(`0sj${hex32(0)}`), '0GS00');
  t.equal(await ask('0fw'), `0PO${hex32(10 * 1024)}`, 'a move of 0 (assumption)');
  t.equal(await ask('0gs'), '0GS00', 'not moving');
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

t.test('every model identifies itself as the real device does (type = model number in hex)', async (t) => {
  const { ask } = await bus(t, {
    devices: [
      { address: '0', model: 'ELL6', serial: '10600051' },
      { address: '1', model: 'ELL9', serial: '10900106' },
      { address: '2', model: 'ELL12' },
      { address: '3', model: 'ELL15' },
      { address: '4', model: 'ELL16' },
      { address: '5', model: 'ELL18' },
      { address: '6', model: 'ELL21' },
      { address: '7', model: 'ELL22' },
    ],
  });
  t.equal(await ask('0in'), '0IN061060005120170801001F00000000', 'a real ELL6K reply: 31 mm, 0 pulses');
  t.equal(await ask('1in'), '1IN091090010620200801005D00000000', 'a real ELL9 reply: 93 mm, 0 pulses');
  t.match(await ask('2in'), /^2IN0C.{14}01005F00000000$/, 'ELL12: 6 slots at 19 mm, 0 pulses');
  t.match(await ask('3in'), /^3IN0F.{14}01000A000003E8$/, 'ELL15 iris: 1000 pulses/mm');
  t.match(await ask('4in'), /^4IN10.{14}01016800010000$/, 'ELL16: 65536 pulses/rev');
  t.match(await ask('5in'), /^5IN12.{14}01016800023000$/, 'ELL18: 143360 pulses/rev');
  t.match(await ask('6in'), /^6IN15.{14}01016800010000$/, 'ELL21: 65536 pulses/rev');
  t.match(await ask('7in'), /^7IN16.{14}01016800010000$/, 'ELL22');
});

t.test('sliders: fw/bw step one slot, ma snaps to a slot, gp reports the slot position, limits refused', async (t) => {
  const { sim, c, ask } = await bus(t, {
    devices: [
      { address: '0', model: 'ELL9' },
      { address: '1', model: 'ELL6' },
      { address: '2', model: 'ELL12', slot: 5 },
    ],
  });
  t.equal(await ask('0gp'), '0PO00000000', 'slot 0 at power-up');
  const begun = performance.now();
  t.equal(await ask('0fw', 2000), '0PO0000001F', 'forward: slot 1 at 31 mm');
  t.ok(performance.now() - begun >= 90, 'a slot change takes time');
  t.equal(await ask('0fw', 2000), '0PO0000003E');
  t.equal(await ask('0bw', 2000), '0PO0000001F');
  t.equal(await ask('0ma00000060', 2000), '0PO0000005D', 'index x 32 (as ELLO sends) reaches slot 3 at 93 mm');
  t.equal(sim.device('0').slot, 3);
  t.equal(await ask('0fw'), '0GS0C', 'no slot past the last: out of range');
  t.equal(await ask('0gs'), '0GS0C');
  t.equal(await ask('0ma0000001E', 2000), '0PO00000000', '0x1E still selects slot 0');
  t.equal(await ask('0ma0000001F', 2000), '0PO0000001F', '0x1F selects slot 1');
  t.equal(await ask('0ma0000007C'), '0GS0C', '0x7C and above: out of range');
  t.equal(await ask('0mr0000001F', 2000), '0PO0000003E', 'a relative move of one pitch');
  t.equal(await ask('0ho0', 2000), '0PO00000000', 'home: slot 0');
  t.equal(await ask('0bw'), '0GS0C', 'nothing before slot 0');
  t.equal(await ask('0go'), '0GS03', 'no home offset on sliders (manual p. 49)');
  t.equal(await ask('0so00000000'), '0GS03');
  t.equal(await ask('0gs'), '0GS03', 'the error is latched until read');
  t.equal(await ask('0gj'), '0GJ0000001F', 'the jog step is the pitch (assumption)');
  await c.write('0fw');
  t.equal(await ask('0gs'), '0GS09', 'busy while changing slot');
  t.equal(await c.line(CRLF, 2000), '0PO0000001F');
  t.equal(await ask('0gs'), '0GS00');
  t.equal(await ask('1fw', 2000), '1PO0000001F', 'ELL6: the open position');
  t.equal(await ask('1fw'), '1GS0C');
  t.equal(await ask('1i2'), '1GS03', 'the ELL6 has one motor');
  t.equal(await ask('1i1'), '1I1100B85FFFFFFFF00B7008D');
  t.equal(await ask('2gp'), '2PO0000005F', 'ELL12 started at slot 5: 5 x 19 mm');
  t.equal(await ask('2bw', 2000), '2PO0000004C');
  t.throws(() => new ElliptecBusSimulator({ devices: [{ address: '0', model: 'ELL6', slot: 2 }] }), {
    code: 'DAQ_INVALID_ARGUMENT',
  });
});

t.test('firmware quirks: short PO replies, a longer IN reply, interim GS09 before the PO', async (t) => {
  const { c, ask } = await bus(t, {
    devices: [
      { address: '3', firmwareQuirks: { shortPosition: 'trim' } },
      { address: '4', firmwareQuirks: { shortPosition: 'empty', infoSuffix: '000' } },
      { address: '5', firmwareQuirks: { interimBusy: true } },
    ],
  });
  t.equal(await ask('3gp'), '3PO0', 'position 0 as one digit');
  t.equal(await ask('3ma0000000F', 1000), '3POF');
  t.equal(await ask(`3mr${hex32(-100)}`, 1000), `3PO${(143360 - 85).toString(16).toUpperCase()}`, 'no leading zeros');
  t.equal(await ask('4gp'), '4PO', 'position 0 with no digits at all');
  t.equal((await ask('4in'))!.length, 36, 'IN with 33 data characters');
  await c.write(`5ma${hex32(1000)}`);
  t.equal(await c.line(CRLF), '5GS09', 'busy first');
  t.equal(await c.line(CRLF, 1000), `5PO${hex32(1000)}`, 'then the position');
  t.equal(await ask('5gp'), `5PO${hex32(1000)}`, 'no quirk: 8 digits');
});

t.test('start state: position, velocity, jog step, home offset', async (t) => {
  const { ask } = await bus(t, {
    devices: [
      { address: '0', position: 5000, velocity: 60, jogStep: 2000, homeOffset: 300 },
      { address: '1', model: 'ELL17' },
    ],
  });
  t.equal(await ask('0gp'), `0PO${hex32(5000)}`);
  t.equal(await ask('0gv'), '0GV3C');
  t.equal(await ask('0gj'), `0GJ${hex32(2000)}`);
  t.equal(await ask('0go'), `0HO${hex32(300)}`);
  t.equal(await ask('1go'), `1HO${hex32(1024)}`, 'default home offset 1 mm (assumption: the manual asks > 0.5 mm)');
  t.equal(await ask(`0so${hex32(Math.round(91 * PER_DEGREE))}`), '0GS04', 'an ELL14 offset beyond 90 degrees is refused');
  t.equal(await ask('1ho2', 1000), '1PO00000000', 'a linear stage ignores the direction byte');
});

t.test('a velocity setting too low stalls the motor: GS02 (mechanical time-out), no motion', async (t) => {
  const { ask } = await bus(t, { devices: [{ address: '0' }, { address: '1', model: 'ELL16' }] });
  t.equal(await ask('0sv14'), '0GS00', '20 %');
  t.equal(await ask(`0ma${hex32(1000)}`), '0GS02');
  t.equal(await ask('0gs'), '0GS02', 'latched until read');
  t.equal(await ask('0gs'), '0GS00');
  t.equal(await ask('0gp'), '0PO00000000', 'it did not move');
  t.equal(await ask('0sv19'), '0GS00', '25 %');
  t.equal(await ask(`0ma${hex32(100)}`, 1000), `0PO${hex32(100)}`, 'moves');
  t.equal(await ask('1sv28'), '1GS00', '40 %');
  t.equal(await ask(`1ma${hex32(100)}`), '1GS02', 'an ELL16 needs 50 %');
  t.equal(await ask('1f100C0'), '1GS03', 'no motor periods on an ELL16');
});

t.test('motor info and periods, frequency search, optimise and clean, stop aborts', async (t) => {
  const { c, ask } = await bus(t, {
    devices: [{ address: '0' }, { address: '1', model: 'ELL6' }, { address: '2', model: 'ELL15' }],
  });
  t.equal(await ask('0i1'), '0I1100B85FFFFFFFF00B7008D', 'a real ELL14 reply');
  t.equal(await ask('0f100C0'), '0GS00');
  t.equal(await ask('0b2808F'), '0GS00');
  t.equal(await ask('0i1'), '0I1100B85FFFFFFFF00C0008D');
  t.equal(await ask('0i2'), '0I2100B85FFFFFFFF00B7008F', 'the top bit is a flag');
  t.equal(await ask('0f18FFF'), '0GS00', '8FFF: factory setting');
  t.equal(await ask('0i1'), '0I1100B85FFFFFFFF00B7008D');
  await c.write('0s1');
  t.equal(await ask('0gs'), '0GS09', 'busy during the frequency search');
  t.equal(await c.line(CRLF, 1000), '0GS00', 'GS00 when completed');
  t.equal(await ask('0sk'), '0GS00');
  t.equal(await ask('0us'), '0GS00');
  t.equal(await ask('0om'), '0GS09', 'optimising: busy');
  t.equal(await ask('0gp'), '0GS09', 'everything else answers busy');
  t.equal(await ask('0st'), '0GS00', 'st aborts it');
  t.equal(await ask('0gp'), '0PO00000000');
  t.equal(await c.line(CRLF, 500), undefined, 'and no completion follows');
  t.equal(await ask('0cm'), '0GS09');
  t.equal(await c.line(CRLF, 1000), '0GS00', 'the cleaning cycle ends with GS00');
  t.equal(await ask('1om'), '1GS03', 'no optimisation on sliders');
  t.equal(await ask('2cm'), '2GS03', 'no cleaning on the iris');
  t.equal(await ask('0ah1'), '0GS03', 'auto-homing is for the ELL15 only');
  t.equal(await ask('2ah0'), '2PO00000000');
  t.equal(await ask('2ho0', 1000), `2PO${hex32(10000)}`, 'the iris homes wide open (assumption)');
});

t.test('group address: two sliders move together, answer in address order, then part', async (t) => {
  const { c, ask } = await bus(t, {
    devices: [
      { address: '0', model: 'ELL6' },
      { address: '2', model: 'ELL6' },
    ],
  });
  t.equal(await ask('2ga0'), '0GS00', 'answered from the group address');
  await c.write('0fw');
  t.same([await c.line(CRLF, 1000), await c.line(CRLF, 1000)], ['0PO0000001F', '2PO0000001F'], 'address 0 first');
  t.equal(await ask('2gp'), '2PO0000001F');
  t.equal(await ask('0bw', 1000), '0PO00000000', 'after the move, only address 0 answers');
  t.equal(await c.line(CRLF, 300), undefined);
  t.equal(await ask('2gp'), '2PO0000001F');
});

t.test('isolation, buttons: no answer while isolated, BS/BO sent unprompted', async (t) => {
  const { sim, c, ask } = await bus(t, { devices: [{ address: '0' }, { address: '1', model: 'ELL9' }] });
  t.equal(await ask('0is01', 300), undefined, 'isolated for a minute: no reply');
  t.equal(await ask('0gs', 300), undefined);
  t.equal(await ask('1gs'), '1GS00', 'the others answer');
  sim.device('0').isolatedUntil = performance.now() - 1; // a minute later
  t.equal(await ask('0gs'), '0GS06', 'out of isolation (assumption: reported once)');
  t.equal(await ask('0gs'), '0GS00');
  sim.pressButton('1', 'fw');
  t.equal(await c.line(CRLF), '1BS09', 'button status while moving');
  t.equal(await c.line(CRLF, 1000), '1BO0000001F', 'button position when done');
});

t.test('profile hardware: slower answers, moves at hardware speed, slow homes, a stall takes 2.5 s', async (t) => {
  const { ask } = await bus(t, {
    profile: 'hardware',
    devices: [
      { address: '0', position: Math.round(10 * PER_DEGREE) },
      { address: '1', model: 'ELL9' },
    ],
  });
  let begun = performance.now();
  await ask('0gs');
  t.ok(performance.now() - begun >= 15, 'a query takes ~15 ms');
  begun = performance.now();
  t.equal(await ask(`0ma${hex32(Math.round(46 * PER_DEGREE))}`, 2000), `0PO${hex32(Math.round(46 * PER_DEGREE))}`);
  const move = performance.now() - begun;
  t.ok(move >= 150 && move < 1000, `36 deg at 240 deg/s: ~150 ms (${Math.round(move)})`);
  begun = performance.now();
  t.equal(await ask('0ho0', 3000), '0PO00000000');
  const home = performance.now() - begun;
  t.ok(home >= (46 / 120) * 1000 + 300, `home: 46 deg at half speed, plus the search (${Math.round(home)})`);
  begun = performance.now();
  t.equal(await ask('1fw', 2000), '1PO0000001F');
  t.ok(performance.now() - begun >= 500, 'an ELL9 slot change takes over 500 ms');
  t.equal(await ask('0sv10'), '0GS00');
  begun = performance.now();
  t.equal(await ask(`0ma${hex32(100)}`, 4000), '0GS02');
  t.ok(performance.now() - begun >= 2500, 'the motor protection gives up after 2.5 s');
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
