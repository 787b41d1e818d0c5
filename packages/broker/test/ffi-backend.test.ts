// The ffi VISA backend through koffi against a real C library (a fake VISA compiled here with
// gcc) that talks TCP to the SCPI simulator: round trips, timeouts and clear, locks, errors.

import t, { type Test } from 'tap';
import { DaqError, parseVisaResource } from '@daq/core';
import { ScpiTcpSimulator } from '@daq/sim';
import { FfiBackend, type FfiSession } from '../src/visa/ffi-backend.js';
import { VisaSessionManager } from '../src/visa/visa-session-manager.js';
import type { VisaOpenOptions } from '../src/visa/backend.js';
import { buildFakeVisa, fakeVisaControl } from './helpers/fake-visa.js';
import { assertNoNewHandles, handleSnapshot } from '../../../test/helpers/leaks.js';

const handlesAtStart = handleSnapshot();
const library = await buildFakeVisa();
const control = fakeVisaControl(library);
const IDN = 'DAQ Simulators,SCPI-DMM,SIM0001,1.0';
const OPTIONS: VisaOpenOptions = { writeTermination: '\n', readTermination: '\n', timeoutMs: 1000, owner: 'test' };
const VI_ATTR_TMO_VALUE = 0x3fff001a;
const VI_ATTR_TERMCHAR = 0x3fff0018;
const VI_ATTR_TERMCHAR_EN = 0x3fff0038;

let nextDevice = 0;

/** A simulator, a resource name routed to it in the fake library, and a backend; all closed at the end. */
async function setup(t: Test, latencyMs = 0) {
  const sim = new ScpiTcpSimulator({ measurementMs: 1, faults: { latencyMs } });
  await sim.start();
  const resource = `TCPIP0::127.0.0.1::inst${nextDevice++}::INSTR`;
  control.map(resource, '127.0.0.1', sim.port);
  const backend = new FfiBackend(library);
  t.teardown(async () => {
    await backend.close();
    await sim.close();
    control.map(resource, '127.0.0.1', 0);
  });
  const open = (options: Partial<VisaOpenOptions> = {}) => backend.open(parseVisaResource(resource), { ...OPTIONS, ...options });
  return { sim, resource, backend, open };
}

async function query(s: FfiSession, command: string, timeoutMs = 1000): Promise<string> {
  await s.write(command, timeoutMs);
  return s.read(timeoutMs);
}

t.test('supports TCPIP INSTR, GPIB and USB; not raw sockets or ASRL', async (t) => {
  const backend = new FfiBackend(library);
  t.teardown(() => backend.close());
  const yes = [
    'TCPIP0::10.0.0.5::inst0::INSTR',
    'TCPIP::dmm.lab::hislip0::INSTR',
    'GPIB0::22::INSTR',
    'USB0::0x0957::0x1A07::MY123::INSTR',
  ];
  const no = ['TCPIP0::10.0.0.5::5025::SOCKET', 'ASRL/dev/ttyUSB0::INSTR', 'ASRL1::INSTR'];
  for (const r of yes) t.ok(backend.supports(parseVisaResource(r)), r);
  for (const r of no) t.notOk(backend.supports(parseVisaResource(r)), r);
  await t.rejects(backend.open(parseVisaResource(no[0]!), OPTIONS), { code: 'DAQ_VISA_ERROR' });
});

t.test('*IDN? round trip; termination and timeout attributes are set on the session', async (t) => {
  const { open, sim } = await setup(t);
  const s = await open();
  t.equal(await query(s, '*IDN?'), IDN);
  t.equal(s.getAttribute(VI_ATTR_TERMCHAR), 0x0a);
  t.equal(s.getAttribute(VI_ATTR_TERMCHAR_EN), 1);
  await s.write('*OPC?', 321);
  t.equal(s.getAttribute(VI_ATTR_TMO_VALUE), 321, 'each call sets its own timeout');
  t.equal(await s.read(1000), '1');
  t.equal(sim.engine.counters.commands, 2);
});

t.test('many sequential queries each get their own, correct reply', async (t) => {
  const { open, sim } = await setup(t);
  const s = await open();
  const got: string[] = [];
  const want: string[] = [];
  for (let i = 0; i < 200; i++) {
    const v = (i - 100) / 8;
    sim.engine.setValue(v);
    want.push(sim.engine.expectedReply);
    got.push(await query(s, i % 2 ? 'READ?' : 'MEAS:VOLT:DC?'));
  }
  t.same(got, want);
  t.equal(sim.engine.counters.measurements, 200);
  t.equal(sim.connections, 1, 'one session, one connection');
});

t.test('a reply longer than one viRead buffer comes back whole (VI_SUCCESS_MAX_CNT, then more)', async (t) => {
  const { open } = await setup(t);
  const s = await open();
  const n = 600; // 600 × 36 bytes > the backend's 16 KiB read chunk
  const reply = await query(s, Array.from({ length: n }, () => '*IDN?').join(';'));
  t.equal(reply.length, n * IDN.length + n - 1);
  t.same(new Set(reply.split(';')), new Set([IDN]));
});

t.test('an empty read termination ends reads on the instrument END instead', async (t) => {
  const { open } = await setup(t);
  const s = await open({ readTermination: '' });
  t.equal(s.getAttribute(VI_ATTR_TERMCHAR_EN), 0);
  t.equal(await query(s, '*OPC?'), '1\n', 'nothing stripped: the caller asked for no termination');
});

t.test('a multi-character read termination is refused with a clear error', async (t) => {
  const { open } = await setup(t);
  await t.rejects(open({ readTermination: '\r\n' }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /"\\r\\n" .* has 2 characters, but VISA ends a read on one termination character/,
  });
  t.equal(control.openSessions(), 0, 'nothing was opened');
});

t.test('a timeout gives DAQ_VISA_TIMEOUT; after clear() the next query gets its own reply, not the late one', async (t) => {
  const { open, sim, resource } = await setup(t);
  const s = await open();
  sim.injectOnce({ kind: 'late', lateMs: 300 });
  await s.write('*IDN?', 1000);
  const err = await s.read(100).catch((e: unknown) => e);
  t.ok(err instanceof DaqError);
  t.match(err, {
    code: 'DAQ_VISA_TIMEOUT',
    facts: { resource, statusHex: '0xBFFF0015', operation: 'viRead', timeoutMs: 100 },
    message:
      /^no reply from TCPIP0::127\.0\.0\.1::inst\d+::INSTR within 100 ms \[VISA viRead returned 0xBFFF0015: VI_ERROR_TMO: .*\]: check/,
  });
  await s.clear();
  sim.engine.setValue(4);
  t.equal(await query(s, 'READ?'), '+4.00000000E+00', 'its own reply');
  await new Promise((r) => setTimeout(r, 350)); // the late *IDN? reply is due now
  t.equal(await query(s, '*OPC?'), '1', 'the late reply never shows up');
  t.equal(sim.faults.counts.late, 1);
});

t.test('without clear() the late reply would be taken for the next one (why clear() exists)', async (t) => {
  const { open, sim } = await setup(t);
  const s = await open();
  sim.injectOnce({ kind: 'late', lateMs: 200 });
  await s.write('*IDN?', 1000);
  await t.rejects(s.read(50), { code: 'DAQ_VISA_TIMEOUT' });
  t.equal(await query(s, '*OPC?'), IDN, 'the stale reply');
});

t.test('the VISA manager over the ffi backend recovers from a timeout by itself', async (t) => {
  const { sim, resource, backend } = await setup(t);
  const visa = new VisaSessionManager({ backends: [backend], defaultTimeoutMs: 1000 });
  t.teardown(() => visa.close());
  visa.register(resource);
  sim.injectOnce({ kind: 'late', lateMs: 250 });
  const slow = visa.query(resource, '*IDN?', { owner: 'v4:a', timeoutMs: 80 }).catch((e: DaqError) => e);
  const next = visa.query(resource, '*OPC?', { owner: 'v4:b' });
  t.match(await slow, { code: 'DAQ_VISA_TIMEOUT', facts: { resource, owner: 'v4:a', command: '*IDN?' } });
  t.equal(await next, '1');
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await visa.query(resource, 'SYST:ERR?', { owner: 'v4:b' }), '0,"No error"');
  t.match(visa.stats(resource), { backend: 'ffi', commands: 3, timeouts: 1, clears: 1 });
});

t.test('a blocking read does not stall the event loop', async (t) => {
  const { open, sim } = await setup(t);
  const s = await open();
  sim.injectOnce({ kind: 'late', lateMs: 200 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  t.teardown(() => clearInterval(timer));
  t.equal(await query(s, '*IDN?', 2000), IDN);
  clearInterval(timer);
  t.ok(ticks >= 5, `timers kept firing while viRead waited (${ticks} ticks)`);
});

t.test('locks: an exclusive lock keeps a second session off; a shared lock admits those with its key', async (t) => {
  const { open, resource } = await setup(t);
  const a = await open();
  const b = await open();
  t.equal(await a.lock(500), '', 'exclusive locks have no key');
  t.equal(await query(a, '*OPC?'), '1', 'the holder works as usual');
  await t.rejects(b.write('*OPC?', 500), {
    code: 'DAQ_VISA_ERROR',
    facts: { resource, statusHex: '0xBFFF000F' },
    message: /VI_ERROR_RSRC_LOCKED.*another VISA session .* holds a lock on it/,
  });
  await t.rejects(b.lock(100), { code: 'DAQ_VISA_TIMEOUT', message: /exclusive lock on .* not obtained within 100 ms/ });
  const waiting = b.lock(5000);
  await new Promise((r) => setTimeout(r, 50));
  await a.unlock();
  t.equal(await waiting, '', 'b gets the lock as soon as a releases it');
  await t.rejects(query(a, '*OPC?'), { code: 'DAQ_VISA_ERROR', facts: { statusHex: '0xBFFF000F' } }, 'now a is locked out');
  t.equal(await query(b, '*OPC?'), '1');
  await b.unlock();
  t.equal(await query(a, '*OPC?'), '1', 'unlocked: both work again');

  const key = await a.lock(500, 'shared');
  t.match(key, /\S/, 'a shared lock has a key');
  await t.rejects(b.write('*OPC?', 500), { code: 'DAQ_VISA_ERROR', facts: { statusHex: '0xBFFF000F' } }, 'b has not joined it');
  t.equal(await b.lock(500, 'shared', key), key);
  t.equal(await query(b, '*OPC?'), '1', 'b joined with the key');
  await a.unlock();
  await b.unlock();
  await t.rejects(b.unlock(), { code: 'DAQ_VISA_ERROR', message: /VI_ERROR_SESN_NLOCKED/ });
  await a.close();
  await b.close();
  await t.rejects(a.write('*OPC?', 100), { code: 'DAQ_CLOSED' });
});

t.test('closing a session that holds a lock releases it', async (t) => {
  const { open } = await setup(t);
  const a = await open();
  const b = await open();
  await a.lock(500);
  await a.close();
  t.equal(await query(b, '*OPC?'), '1');
});

t.test('a lost connection is an error; clear() reconnects', async (t) => {
  const { open, sim } = await setup(t);
  const s = await open();
  t.equal(await query(s, '*OPC?'), '1');
  sim.disconnect();
  await new Promise((r) => setTimeout(r, 20));
  await t.rejects(query(s, '*OPC?'), { code: 'DAQ_VISA_ERROR', message: /VI_ERROR_CONN_LOST/ });
  await s.clear();
  t.equal(await query(s, '*IDN?'), IDN);
  t.equal(sim.connections, 2);
});

t.test('an unknown or unreachable resource is an error that names it', async (t) => {
  const backend = new FfiBackend(library);
  t.teardown(() => backend.close());
  const unknown = 'GPIB0::17::INSTR';
  await t.rejects(backend.open(parseVisaResource(unknown), OPTIONS), {
    code: 'DAQ_VISA_ERROR',
    facts: { resource: unknown, statusHex: '0xBFFF0011', operation: 'viOpen' },
    message:
      /^opening GPIB0::17::INSTR failed \[VISA viOpen returned 0xBFFF0011: VI_ERROR_RSRC_NFOUND: .*\]: check the resource name/,
  });
  const sim = new ScpiTcpSimulator();
  await sim.start();
  const port = sim.port;
  await sim.close(); // nothing listens there any more
  const gone = 'TCPIP0::127.0.0.1::gone::INSTR';
  control.map(gone, '127.0.0.1', port);
  t.teardown(() => control.map(gone, '127.0.0.1', 0));
  await t.rejects(backend.open(parseVisaResource(gone), OPTIONS), {
    code: 'DAQ_VISA_ERROR',
    facts: { resource: gone, statusHex: '0xBFFF0011' },
  });
});

t.test('a missing or wrong library is a clear error naming the path', async (t) => {
  const missing = '/nonexistent/lib/libvisa.so';
  t.throws(() => new FfiBackend(missing), {
    name: 'DaqError',
    code: 'DAQ_VISA_ERROR',
    facts: { library: missing },
    message: /^cannot load the VISA library \/nonexistent\/lib\/libvisa\.so: .*point \[broker\] visa_library at it/,
  });
  t.throws(() => new FfiBackend('libm.so.6'), {
    code: 'DAQ_VISA_ERROR',
    message: /^libm\.so\.6 is not a usable VISA library: .*viOpenDefaultRM/,
  });
});

t.test('close() closes every session and the resource manager', async (t) => {
  const { backend, open } = await setup(t);
  const before = control.openSessions();
  const sessions = await Promise.all([open(), open(), open()]);
  t.equal(backend.openSessions, 3);
  t.equal(control.openSessions(), before + 4, 'three sessions and the resource manager');
  await sessions[0]!.close();
  t.equal(backend.openSessions, 2);
  await backend.close();
  t.equal(backend.openSessions, 0);
  t.equal(control.openSessions(), before);
  await t.rejects(sessions[1]!.read(100), { code: 'DAQ_CLOSED' });
  await t.rejects(open(), { code: 'DAQ_CLOSED' });
});

t.test('no handles are left open, in Node or in the library', async (t) => {
  await assertNoNewHandles(t, handlesAtStart);
  t.equal(control.openSessions(), 0);
});
