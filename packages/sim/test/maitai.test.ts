// The MaiTai simulator through the real serialport package: long and short forms in any case,
// silent set commands, slow sequential replies, tuning that lags the command, the shutter's
// delay, warm-up, emission and modelock bits, the error buffer and the watchdog.

import t from 'tap';
import { MaiTaiErrorBits, MaiTaiSimulator, type MaiTaiOptions } from '../src/index.js';
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
  const { sim, ask, send } = await laser(t, { warmupMs: 800 });
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

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
