// The MaiTai simulator through the real serialport package: long and short forms in any case,
// silent set commands, slow sequential replies, tuning that lags the command, the shutter's
// delay, warm-up, emission and modelock bits, the error buffer and the watchdog; model ranges,
// start states, the diagnostic commands, the baud-rate command, and XON/XOFF flow control.

import t from 'tap';
import { MaiTaiErrorBits, MaiTaiSimulator, type MaiTaiOptions } from '../src/index.js';
import { SerialPort } from 'serialport';
import { SerialClient } from './helpers/serial-client.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const IDN = 'Spectra Physics,MaiTai,3227/51054/40856,0245-2.00.34 / CD00000019 / 214-00.004.057';

async function laser(t: { teardown(fn: () => unknown): void }, options: MaiTaiOptions = {}) {
  const sim = new MaiTaiSimulator({ replyMs: 5, shutterMs: 50, modelockMs: 50, ...options });
  const c = await SerialClient.open(await sim.start());
  t.teardown(async () => {
    await c.close();
    await sim.close();
  });
  const ask = (command: string, timeoutMs = 1000) => c.query(`${command}\n`, '\n', timeoutMs);
  const send = async (command: string) => {
    await c.write(`${command}\n`);
    await sleep(20); // set commands answer nothing: give the laser time to take them
  };
  return { sim, c, ask, send };
}

t.test('long and short forms in any case; replies end LF; CR, LF or CR LF end a command', async (t) => {
  const { c, ask } = await laser(t);
  t.equal(await ask('*IDN?'), IDN);
  t.equal(await ask('*idn?'), IDN);
  t.same([await ask('WAVELENGTH?'), await ask('wav?'), await ask('Wavelength?')], ['820nm', '820nm', '820nm']);
  t.same([await ask('READ:WAVELENGTH?'), await ask('read:wav?'), await ask('READ:WAV?')], ['820nm', '820nm', '820nm']);
  t.same([await ask('READ:POWER?'), await ask('read:pow?'), await ask('POWER?')], ['0.00W', '0.00W', '0.00W'], 'off: no power');
  t.equal(await c.query('shut?\r', '\n'), '0', 'CR');
  t.equal(await c.query('SHUTTER?\r\n', '\n'), '0', 'CR LF');
  t.equal(await ask('READ:PCTWARMEDUP?'), '100.00%');
  t.same([await ask('WAV:MIN?'), await ask('wavelength:max?')], ['690nm', '1040nm']);
  t.equal(await ask('WAVE?', 200), undefined, 'neither short nor long form: not understood, no reply');
  t.equal(await ask('SYST:ERR?'), `${MaiTaiErrorBits.CMD_ERR | MaiTaiErrorBits.ANY_ERR} CE + AE`);
  t.equal(await ask('syst:err?'), '0', 'the buffer is empty again');
});

t.test('set commands answer nothing; queries are slow and strictly one after the other', async (t) => {
  const { c } = await laser(t, { replyMs: 150 });
  const begun = performance.now();
  await c.write('wav 800\n');
  t.equal(await c.line('\n', 200), undefined, 'the laser sends nothing unless asked');
  await c.write('wav?\nread:pow?\n');
  t.equal(await c.line('\n', 1000), '800nm');
  t.equal(await c.line('\n', 1000), '0.00W');
  t.ok(performance.now() - begun >= 3 * 150, 'three commands of 150 ms each, one after the other');
});

t.test('the wavelength command is taken at once; the actual wavelength tunes toward it over time', async (t) => {
  const { sim, ask, send } = await laser(t, { tuningNmPerS: 100 });
  const begun = performance.now();
  await send('WAVELENGTH 900');
  t.equal(await ask('wav?'), '900nm', 'commanded');
  const early = Number((await ask('read:wav?'))!.replace('nm', ''));
  t.ok(early > 820 && early < 900, `still tuning: ${early} nm`);
  while ((await ask('read:wav?')) !== '900nm') await sleep(20);
  t.ok(performance.now() - begun >= 800, '80 nm at 100 nm/s takes at least 800 ms');
  t.equal(sim.actualWavelengthNm, 900);
  await send('wav 1200');
  t.equal(await ask('wav?'), '900nm', '1200 nm is outside 690-1040 nm and refused');
  t.equal(await ask('SYSTEM:ERROR?'), '130 EE + AE', 'an execution error');
  await send('wav nine');
  t.equal(await ask('syst:err?'), '129 CE + AE', 'a malformed parameter is a command error');
  t.equal(sim.wavelengthNm, 900);
});

t.test('the shutter: SHUT 1 opens after about a second; SHUTTER:1 (a colon) is not understood', async (t) => {
  const { sim, ask, send } = await laser(t, { shutterMs: 600 });
  await send('SHUTTER:1');
  t.equal(await ask('shut?'), '0', 'no effect');
  t.equal(await ask('syst:err?'), '129 CE + AE');
  const begun = performance.now();
  await send('shut 1');
  t.equal(await ask('shut?'), '0', 'still closed right after the command, as the manual warns');
  while ((await ask('shut?')) !== '1') await sleep(20);
  t.ok(performance.now() - begun >= 600, 'open after the shutter time');
  t.equal(sim.shutterOpen, true);
  await send('shut 2');
  t.equal(await ask('syst:err?'), '130 EE + AE', 'shutter takes 0 or 1');
});

t.test('ON: an execution error while warming up; then emission, modelock, and power before the shutter', async (t) => {
  const { sim, ask, send } = await laser(t, { warmupPercent: 1, warmupMs: 800 });
  const warming = Number((await ask('READ:PCTW?'))!.replace('%', ''));
  t.ok(warming < 100, `warming up: ${warming}%`);
  await send('ON');
  t.equal(await ask('*STB?'), '0', 'not on');
  t.equal(await ask('SYST:ERR?'), '130 EE + AE', 'ON while 1-99 % warm: execution error');
  while ((await ask('READ:PCTW?')) !== '100.00%') await sleep(50);
  await send('on');
  t.equal(sim.emission, true);
  const stb = Number(await ask('*stb?'));
  t.equal(stb & 1, 1, 'bit 0: emission possible');
  await sleep(60);
  t.equal(await ask('*stb?'), '3', 'bit 1: modelocked');
  t.equal(await ask('read:pow?'), '3.00W', 'emitting');
  t.equal(await ask('shut?'), '0', 'ON does not open the shutter');
  t.equal(await ask('SYST:ERR?'), '64 LO', 'no error left; laser on');
  await send('wav 700');
  t.equal(Number(await ask('*stb?')) & 2, 0, 'not modelocked while tuning');
  await send('shut 1');
  await sleep(60);
  t.equal(await ask('shut?'), '1');
  await send('OFF');
  await send('ON');
  t.equal(Number(await ask('*stb?')) & 1, 1, 'ON with the shutter open is accepted (the manual does not refuse it)');
  t.same(sim.pendingErrors, []);
  await send('shut 0');
  await sleep(60);
  t.equal(await ask('read:pow?'), '3.00W', 'the power is measured inside the laser, shutter closed or not');
  await send('OFF');
  t.equal(await ask('*stb?'), '0');
  t.equal(await ask('read:pow?'), '0.00W');
  t.equal(sim.emission, false);
});

t.test('the watchdog turns the pump off when no valid command comes in time', async (t) => {
  const { sim, ask, send } = await laser(t);
  await send('ON');
  await send('TIMER:WATCHDOG 0.6');
  t.equal(Number(await ask('*stb?')) & 1, 1);
  await sleep(150);
  t.equal(Number(await ask('*stb?')) & 1, 1, 'a command within 0.6 s keeps it on');
  await sleep(800);
  t.equal(await ask('*stb?'), '0', 'silence longer than 0.6 s turned it off');
  t.equal(sim.emission, false);
  await send('TIM:WATC 0');
  await send('SAVE');
  t.same(sim.pendingErrors, []);
});

t.test('faults apply to the laser like any instrument', async (t) => {
  const { sim, ask } = await laser(t);
  sim.injectOnce({ kind: 'drop' });
  t.equal(await ask('*idn?', 200), undefined);
  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await ask('wav?');
  t.equal(garbled?.length, 5);
  t.not(garbled, '820nm');
  t.equal(await ask('wav?'), '820nm');
});

t.test('ON at 0 % starts the diode stabilisation; the pump stays off until ON at 100 %', async (t) => {
  const { sim, ask, send } = await laser(t, { warmupPercent: 0, warmupMs: 500 });
  t.equal(await ask('read:pctw?'), '0.00%');
  await sleep(100);
  t.equal(await ask('read:pctw?'), '0.00%', 'at 0 % nothing happens by itself');
  await send('ON');
  t.same(sim.pendingErrors, [], 'ON at 0 % is not an error');
  t.equal(await ask('*stb?'), '0', 'stabilising, not emitting');
  t.ok(sim.warmupPercent > 0, `climbing: ${sim.warmupPercent}%`);
  while ((await ask('READ:PCTW?')) !== '100.00%') await sleep(50);
  t.equal(Number(await ask('*stb?')) & 1, 0, 'still off when warm');
  await send('ON');
  t.equal(Number(await ask('*stb?')) & 1, 1, 'ON at 100 % turns it on');
});

t.test('models: tuning range, refused sets outside it, identity and formats', async (t) => {
  const { sim, ask, send } = await laser(t, { model: 'early-750-850' });
  t.same([await ask('WAV:MIN?'), await ask('WAV:MAX?')], ['750nm', '850nm']);
  t.equal(await ask('wav?'), '820nm');
  t.equal(await ask('*IDN?'), 'Spectra-Physics, MaiTai, xxx, 0453-8620A/5.10/J40-4420H', "the manual's example");
  t.equal(await ask('READ:PCTW?'), '100%', "the manual's format");
  await send('WAV 800');
  await send('WAV 900');
  t.equal(await ask('WAV?'), '800nm', '900 nm refused: WAV? keeps the last accepted value');
  t.equal(await ask('SYST:ERR?'), '130 EE + AE', 'an execution error');
  t.equal(sim.wavelengthNm, 800);
  t.equal(await ask('READ:HUM?', 300), undefined, 'no humidity query on the early head');
  t.equal(await ask('SYST:ERR?'), '129 CE + AE');
  const range = await laser(t, { model: 'early-780-920' });
  t.same([await range.ask('wav:min?'), await range.ask('wav:max?')], ['780nm', '920nm']);
  const custom = await laser(t, { minNm: 700, maxNm: 1000, wavelengthNm: 710 });
  t.same([await custom.ask('wav:min?'), await custom.ask('wav:max?'), await custom.ask('wav?')], ['700nm', '1000nm', '710nm']);
  t.throws(() => new MaiTaiSimulator({ model: 'early-750-850', wavelengthNm: 900 }), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('start states: emitting, shutter open, wavelength, warm-up, watchdog', async (t) => {
  const { sim, ask } = await laser(t, { emission: true, shutterOpen: true, wavelengthNm: 900, watchdogS: 0.4 });
  t.same([await ask('*stb?'), await ask('shut?'), await ask('wav?'), await ask('read:wav?')], ['3', '1', '900nm', '900nm']);
  t.equal(await ask('read:pow?'), '3.00W');
  t.equal(await ask('TIM:WATC?'), '0.40');
  await sleep(600);
  t.equal(await ask('*stb?'), '0', 'the start watchdog applies');
  t.equal((await ask('PLAS:AHIS?'))!.split(' ')[0], '056', 'pump history: watchdog expired');
  t.equal(sim.shutterOpen, true, 'the watchdog does not close the shutter');
  const fresh = await laser(t);
  t.equal(await fresh.ask('TIMER:WATCHDOG?'), '3.00', 'power-up watchdog: 3 s (Setup menu)');
  t.same([await fresh.ask('*stb?'), await fresh.ask('shut?'), await fresh.ask('MODE?')], ['0', '0', 'PPOW']);
  t.throws(() => new MaiTaiSimulator({ emission: true, warmupPercent: 50 }), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('diagnostic commands: pump, diodes, SHG, RF, history, humidity, unknown ones', async (t) => {
  const { ask, send } = await laser(t);
  t.equal(await ask('READ:HUM?'), '7.26%');
  t.equal(await ask('PLASER:POWER?'), '13.43W', 'commanded pump power');
  t.equal(await ask('READ:PLAS:POW?'), '0.00W', 'off: no pump power');
  await send('ON');
  await send('PLAS:POW 12.5');
  t.same([await ask('PLAS:POW?'), await ask('READ:PLASER:POWER?')], ['12.50W', '12.50W']);
  await send('wav 830');
  t.equal(await ask('PLAS:POW?'), '13.43W', 'WAVelength resets the pump power to the factory value');
  t.same([await ask('READ:PLAS:DIOD1:CURR?'), await ask('READ:PLASER:DIODE2:TEMPERATURE?')], ['75.1%', '20.7']);
  t.equal(await ask('READ:PLAS:DIOD3:CURR?', 300), undefined, 'two diodes only');
  t.equal(await ask('SYST:ERR?'), '193 CE + LO + AE');
  t.same([await ask('READ:PLAS:SHGS?'), await ask('READ:PLAS:PCUR?'), await ask('PLAS:ERRC?')], ['0S', '75.1%', '0']);
  t.same([await ask('CONT:PHA?'), await ask('CONTROL:MLENABLE?'), await ask('READ:PDIT?')], ['50.00', '1', '443']);
  await send('MODE PCUR');
  await send('PLAS:PCUR 12.5');
  t.same([await ask('MODE?'), await ask('PLAS:PCUR?'), await ask('READ:PLAS:PCUR?')], ['PCUR', '12.5', '12.5%']);
  await send('MODE banana');
  t.equal(await ask('SYST:ERR?'), '194 EE + LO + AE');
  const head = (await ask('READ:AHIS?'))!.split(' ');
  t.equal(head.length, 16);
  t.same(head.slice(0, 5), ['407', '431', '430', '405', '400'], 'most recent first: mode, stable, moving, on, boot');
  t.equal((await ask('PLAS:HIST?'))!.split(' ')[0], '001', 'pump on, power mode');
  await send('CONT:MLEN 0');
  t.equal(Number(await ask('*stb?')) & 2, 0, 'modelocker disabled: not modelocked');
  t.equal(await ask('CONTROL:DSMPOS?', 300), undefined, 'a DeepSee command: not a Mai Tai one');
  t.equal(await ask('POWER?'), '3.00W', 'POWer? on the later head');
  t.equal(await ask('READ:WAVELENGTH??', 300), undefined, 'a doubled ? is not understood');
  t.equal(await ask('SYST:ERR?'), '193 CE + LO + AE');
  t.equal(await ask('SYST:ERR?'), '193 CE + LO + AE');
  t.equal(await ask('SYST:ERR?'), '64 LO');
});

t.test('SYSTem:COMMunications:SERial:BAUD: the laser talks at the new rate', async (t) => {
  const sim = new MaiTaiSimulator({ replyMs: 5 });
  t.teardown(() => sim.close());
  const path = await sim.start();
  const c = await SerialClient.open(path, 9600);
  await c.write('SYST:COMM:SER:BAUD 115200\n');
  await sleep(20);
  t.equal(await c.query('syst:err?\n'), '130 EE + AE', "115200 is not in the manual's list");
  await c.write('SYST:COMM:SER:BAUD 19200\n');
  await sleep(20);
  t.equal(await c.query('wav?\n', '\n', 300), undefined, 'at 9600 the laser no longer understands');
  await c.close();
  const fast = await SerialClient.open(path, 19200);
  t.teardown(() => fast.close());
  t.equal(await fast.query('wav?\n'), '820nm');
  t.equal(sim.baudRate, 19200);
});

/** A port with XON/XOFF (termios IXON|IXOFF), collecting every byte it receives. */
async function flowPort(path: string, xon: boolean) {
  const port = new SerialPort({ path, baudRate: 9600, xon, xoff: xon, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const chunks: Buffer[] = [];
  port.on('data', (d: Buffer) => chunks.push(d));
  const write = (text: string) => new Promise<void>((resolve, reject) => port.write(text, (e) => (e ? reject(e) : resolve())));
  const received = () => Buffer.concat(chunks);
  const close = () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
  return { write, received, close };
}

t.test('XON/XOFF: a client that waits for XON after each XOFF loses nothing', async (t) => {
  // The client honours flow control itself (its tty does not), so no test ever holds a tty
  // stopped by XOFF; the kernel path (IXON) is exercised by the pyserial client in
  // test/third-party-clients.test.ts.
  const sim = new MaiTaiSimulator({ profile: 'hardware', replyMs: 300, setMs: 300 });
  t.teardown(() => sim.close());
  const p = await flowPort(await sim.start(), false);
  t.teardown(() => p.close());
  /** Resolves once the laser has sent XON after its last XOFF (it is ready for input again). */
  const ready = async () => {
    const begun = performance.now();
    for (;;) {
      const data = p.received();
      const off = data.lastIndexOf(0x13);
      if (off < 0 || data.indexOf(0x11, off) > off) return performance.now() - begun;
      if (performance.now() - begun > 5000) throw new Error('no XON within 5 s');
      await sleep(10);
    }
  };
  await p.write('*idn?\n');
  while (!p.received().includes(0x13)) await sleep(10); // processing started: XOFF
  const held = await ready();
  await p.write('wav?\n');
  await sleep(20);
  while (!p.received().toString('latin1').includes('nm\n')) await sleep(10);
  await ready();
  const text = p.received().toString('latin1');
  t.equal(text.replace(/[\x11\x13]/g, ''), `${IDN}\n820nm\n`, 'both commands answered');
  t.ok(held >= 200, `XON came when the laser was free again, ${held.toFixed(0)} ms after XOFF`);
  t.equal(sim.flowCounters.overrunCommands, 0, 'nothing lost');
  t.equal(sim.flowCounters.xoffSent, 2, 'one XOFF per command');
});

t.test('XON/XOFF: a client without flow control sees the bytes, and what it sends while busy is lost', async (t) => {
  const sim = new MaiTaiSimulator({ profile: 'hardware', replyMs: 300, setMs: 300 });
  t.teardown(() => sim.close());
  const p = await flowPort(await sim.start(), false);
  t.teardown(() => p.close());
  await p.write('*idn?\n');
  await sleep(60);
  await p.write('wav?\n'); // arrives while the laser is busy: lost
  await sleep(800);
  const data = p.received();
  t.equal(data[0], 0x13, 'XOFF first');
  t.ok(data.includes(0x11), 'then XON');
  t.equal(data.toString('latin1').replace(/[\x11\x13]/g, ''), `${IDN}\n`, 'only the first command was answered');
  t.same(sim.flowCounters, { xoffSent: 1, overrunBytes: 5, overrunCommands: 1 });
  await p.write('wav?\n');
  await sleep(500);
  t.match(
    p
      .received()
      .toString('latin1')
      .replace(/[\x11\x13]/g, ''),
    /820nm\n$/,
    'after XON it is heard again',
  );
});

t.test('profile fast sends no XON/XOFF; profile hardware answers in 2 s by default', async (t) => {
  const fast = new MaiTaiSimulator({ replyMs: 5 });
  t.teardown(() => fast.close());
  const f = await flowPort(await fast.start(), false);
  t.teardown(() => f.close());
  await f.write('wav?\nread:wav?\n');
  await sleep(150);
  t.equal(f.received().toString('latin1'), '820nm\n820nm\n', 'no flow-control bytes, nothing lost');
  const hw = new MaiTaiSimulator({ profile: 'hardware' });
  t.teardown(() => hw.close());
  const h = await flowPort(await hw.start(), true);
  t.teardown(() => h.close());
  const begun = performance.now();
  await h.write('wav?\n');
  while (!h.received().includes(0x0a) && performance.now() - begun < 4000) await sleep(20);
  const ms = performance.now() - begun;
  t.ok(ms >= 2000 && ms < 2500, `one reply in ${ms.toFixed(0)} ms`);
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
