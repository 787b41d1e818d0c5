// The broker's hardware layer on real transports: serial leases over pseudo-terminals with
// the real serialport package, VISA over real TCP to the SCPI simulator, ASRL and direct
// serial users sharing one port, every injected fault, and nothing left open at the end.

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaqError, parseConfig } from '@daq/core';
import { Newport1830CSimulator, ScpiTcpSimulator, ElliptecBusSimulator } from '@daq/sim';
import { SerialPortPool, SharedResources, VisaSessionManager, SocketBackend } from '@daq/broker';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';
import { buildFakeVisa, fakeVisaControl } from '../packages/broker/test/helpers/fake-visa.js';

const before = handleSnapshot();

t.test('V2 holds a port, V4 is refused, after release V4 gets it and the owner reads v4 (real pty)', async (t) => {
  const sim = new Newport1830CSimulator({ echo: true, powerW: 7.5e-10 });
  const path = await sim.start();
  const pool = new SerialPortPool();
  pool.configure(path);
  t.teardown(async () => {
    await pool.close();
    await sim.close();
  });
  const v2 = await pool.lease(path, { owner: 'v2:power' });
  await v2.write('E0\n');
  t.equal(await v2.readLine('\n', { timeoutMs: 500 }), 'E0', 'the echo of E0 itself');
  t.equal(await v2.query('D?\n', { terminator: '\n', timeoutMs: 1000 }), '+.7500E-9');
  await t.rejects(pool.tryLease(path, { owner: 'v4:power' }), { code: 'DAQ_PORT_BUSY', facts: { owner: 'v2:power' } });
  await v2.release();
  const v4 = await pool.tryLease(path, { owner: 'v4:power' });
  t.equal(pool.status()[0]!.worker, 'v4');
  t.equal(await v4.query('D?\n', { terminator: '\n', timeoutMs: 1000 }), '+.7500E-9');
  await v4.release();
  t.equal(pool.leasesHeld, 0);
});

t.test('contended leases on one Elliptec bus: FIFO, each holder gets its own replies', async (t) => {
  const sim = new ElliptecBusSimulator({ devices: [{ address: '0' }, { address: '1' }] });
  const path = await sim.start();
  const pool = new SerialPortPool({ defaultLeaseTimeoutMs: 5000 });
  pool.configure(path);
  t.teardown(async () => {
    await pool.close();
    await sim.close();
  });
  const order: string[] = [];
  const clients = ['v2', 'v4'].flatMap((w) =>
    ['0', '1'].map(async (addr) => {
      for (let i = 0; i < 5; i++) {
        await using lease = await pool.lease(path, { owner: `${w}:ell${addr}` });
        order.push(`${w}:${addr}`);
        t.equal(await lease.query(`${addr}gs`, { terminator: '\r\n', timeoutMs: 500 }), `${addr}GS00`);
      }
    }),
  );
  await Promise.all(clients);
  t.equal(order.length, 20);
  const s = pool.stats(path);
  t.equal(s.acquisitions, 20);
  t.ok(s.contended >= 15, `most acquisitions waited (${s.contended})`);
  t.equal(s.readTimeouts + s.leaseTimeouts, 0);
  t.equal(sim.counters.commands, 20);
});

t.test('every injected serial fault gives a clear error and the next operation works', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-hw-'));
  const link = join(dir, 'ttyNEWPORT');
  const sim = new Newport1830CSimulator({ echo: true, powerW: 1e-3, linkPath: link });
  await sim.start();
  const pool = new SerialPortPool();
  pool.configure(link);
  t.teardown(async () => {
    await pool.close();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });
  const q = { terminator: '\n', timeoutMs: 3000 };
  {
    await using l = await pool.lease(link, { owner: 'v2:p' });
    await l.write('E0\n');
    await l.readLine('\n', q);
  }
  // Generous unless the timeout is what a case checks: the suite must not be timing-flaky under load.
  const ask = async (timeoutMs = 3000) => {
    await using l = await pool.lease(link, { owner: 'v2:p' });
    return await l.query('D?\n', { terminator: '\n', timeoutMs }); // not `return l.query`: the lease would be released first
  };
  sim.injectOnce({ kind: 'drop' });
  await t.rejects(ask(300), {
    code: 'DAQ_READ_TIMEOUT',
    message: /no reply on .*ttyNEWPORT within 300 ms for v2:p \(nothing received\)/,
  });
  t.equal(await ask(), '+.1000E-2', 'after a dropped reply');

  sim.injectOnce({ kind: 'corrupt' });
  const garbage = await ask();
  t.not(garbage, '+.1000E-2', 'a corrupted reply is delivered as it came (drivers validate replies)');
  t.equal(garbage.length, 9, 'and stays within its line');
  t.equal(await ask(), '+.1000E-2', 'after a corrupted reply');

  sim.injectOnce({ kind: 'late', lateMs: 600 });
  await t.rejects(ask(300), { code: 'DAQ_READ_TIMEOUT' });
  t.equal(await ask(), '+.1000E-2', 'the late reply was discarded before the next lease');
  t.ok(pool.stats(link).settles >= 1);

  sim.faults.set({ latencyMs: 100 });
  t.equal(await ask(), '+.1000E-2', 'added latency within the timeout');
  sim.faults.set({ latencyMs: 0 });

  const l = await pool.lease(link, { owner: 'v2:p' });
  sim.disconnect();
  const lost = await l.query('D?\n', q).catch((e: DaqError) => e);
  t.match(lost, {
    code: 'DAQ_PORT_ERROR',
    facts: { port: link, owner: 'v2:p' },
    message: /release this lease: the port is reopened on the next lease/,
  });
  await l.release();
  sim.reconnect();
  t.equal(await ask(), '+.1000E-2', 'the port was reopened on the next lease');
  t.equal(pool.stats(link).reopens, 1);
});

t.test('five concurrent clients x ten transactions on the SCPI simulator: each gets its own values', async (t) => {
  const sim = new ScpiTcpSimulator();
  const resource = await sim.start();
  const visa = new VisaSessionManager({ backends: [new SocketBackend()] });
  visa.register(resource);
  t.teardown(async () => {
    await visa.close();
    await sim.close();
  });
  const clients = [1, 2, 3, 4, 5].map(async (c) => {
    const got: string[] = [];
    for (let n = 0; n < 10; n++) {
      got.push(
        await visa.transaction(resource, { owner: `v4:c${c}` }, async (tx) => {
          await tx.write(`*ESE ${c * 10 + n}`);
          return tx.query('*ESE?');
        }),
      );
    }
    return got;
  });
  const results = await Promise.all(clients);
  results.forEach((got, i) =>
    t.same(
      got,
      Array.from({ length: 10 }, (_, n) => String((i + 1) * 10 + n)),
      `client ${i + 1} in order`,
    ),
  );
  t.equal(visa.stats(resource).transactions, 50);
  t.equal(await visa.query(resource, 'SYST:ERR?', { owner: 'v4:c1' }), '0,"No error"');
});

t.test('every injected VISA fault gives a clear error and the next command works', async (t) => {
  const sim = new ScpiTcpSimulator();
  const resource = await sim.start();
  const visa = new VisaSessionManager({ backends: [new SocketBackend()], defaultTimeoutMs: 200 });
  visa.register(resource);
  t.teardown(async () => {
    await visa.close();
    await sim.close();
  });
  const idn = () => visa.query(resource, '*IDN?', { owner: 'v4:m' });
  const good = await idn();
  sim.injectOnce({ kind: 'drop' });
  await t.rejects(idn(), { code: 'DAQ_VISA_TIMEOUT', facts: { owner: 'v4:m', command: '*IDN?' } });
  t.equal(await idn(), good);
  sim.injectOnce({ kind: 'late', lateMs: 400 });
  await t.rejects(idn(), { code: 'DAQ_VISA_TIMEOUT' });
  t.equal(await visa.query(resource, '*OPC?', { owner: 'v4:m' }), '1', 'its own reply, not the late *IDN? one');
  await new Promise((r) => setTimeout(r, 450));
  t.equal(await visa.query(resource, '*OPC?', { owner: 'v4:m' }), '1', 'still not the late one');
  sim.injectOnce({ kind: 'corrupt' });
  t.not(await idn(), good);
  t.equal(await idn(), good);
  const inflight = visa.query(resource, 'MEAS:VOLT:DC?', { owner: 'v4:m', timeoutMs: 1000 });
  sim.disconnect();
  await t.rejects(inflight, { code: /DAQ_VISA_(ERROR|TIMEOUT)/ });
  t.equal(await idn(), good, 'reconnected');
  const s = visa.stats(resource);
  t.ok(s.clears >= 3);
});

t.test('a VISA ASRL user and a direct serial user share one port through leases', async (t) => {
  const sim = new Newport1830CSimulator({ echo: true, powerW: 2e-3 });
  const path = await sim.start();
  const { config } = parseConfig(`
[[v2.instruments]]
id = "power"
type = "Newport1830C"
serial_port = "${path}"
[[v4.instruments]]
id = "terminal"
type = "ScpiInstrument"
resource = "ASRL${path}::INSTR"
`);
  const r = await SharedResources.create(config);
  t.teardown(async () => {
    await r.close();
    await sim.close();
  });
  {
    await using l = await r.acquireSerial(path, { owner: 'v2:power' });
    await l.write('E0\n');
    await l.readLine('\n', { timeoutMs: 500 });
  }
  const direct = (async () => {
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      await using l = await r.acquireSerial(path, { owner: 'v2:power' });
      got.push(await l.query('D?\n', { terminator: '\n', timeoutMs: 1000 }));
    }
    return got;
  })();
  const viaVisa = (async () => {
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(await r.executeVisa(`ASRL${path}::INSTR`, 'D?', { owner: 'v4:terminal' }));
    return got;
  })();
  t.same(await direct, Array(5).fill('+.2000E-2'));
  t.same(await viaVisa, Array(5).fill('+.2000E-2'));
  t.equal(r.serial.stats(path).acquisitions, 11, 'one lease per command, from both users');
  t.equal(r.visa.stats(`ASRL${path}::INSTR`).backend, 'asrl');
});

t.test('SharedResources: identity read once, defaults applied, everything released on close', async (t) => {
  const scpi = new ScpiTcpSimulator();
  const resource = await scpi.start();
  const ell = new ElliptecBusSimulator({ devices: [{ address: '0' }] });
  const path = await ell.start();
  const { config } = parseConfig(`
[broker]
serial_lease_timeout_ms = 100
[[v2.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "${path}"
[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "${resource.toLowerCase()}"
`);
  const r = await SharedResources.create(config);
  t.teardown(async () => {
    await scpi.close();
    await ell.close();
  });
  const [a, b] = await Promise.all([r.identifyVisa(resource, 'v4:dmm'), r.identifyVisa(resource, 'v2:other')]);
  t.equal(a, b);
  t.equal(r.visa.stats(resource).commands, 1, '*IDN? was asked once');
  t.equal(a.model, scpi.engine.identity.model);
  t.equal(await r.executeVisa(resource, '*ESE 5', { owner: 'v4:dmm' }), '');
  t.equal(await r.executeVisa(resource, '*ESE?', { owner: 'v4:dmm' }), '5');
  const held = await r.acquireSerial(path, { owner: 'v2:rot' });
  await t.rejects(
    r.acquireSerial(path, { owner: 'v4:rot' }),
    { code: 'DAQ_LEASE_TIMEOUT', facts: { waitedMs: 100 } },
    'serial_lease_timeout_ms applies',
  );
  t.same(r.releaseOwner('v2'), { leases: 1, commands: 0 });
  t.equal(held.state, 'released');
  t.match(r.status(), {
    serial: [{ path, open: true, owner: null }],
    visa: [{ backend: 'socket' }],
    devices: [{ model: scpi.engine.identity.model }],
  });
  await r.close();
  t.equal(r.serial.leasesHeld, 0);
  t.equal(r.visa.pending, 0);
  await t.rejects(r.acquireSerial(path, { owner: 'v2:rot' }), { code: 'DAQ_CLOSED' });
});

t.test('[broker] visa_library drives INSTR resources through the VISA C library (fake, compiled by gcc)', async (t) => {
  const library = await buildFakeVisa();
  const sim = new ScpiTcpSimulator();
  await sim.start();
  const instr = 'TCPIP0::127.0.0.1::inst0::INSTR';
  fakeVisaControl(library).map(instr, '127.0.0.1', sim.port);
  const { config, warnings } = parseConfig(
    `[broker]\nvisa_library = "${library}"\n[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "${instr}"\n`,
  );
  t.same(warnings, [], 'no "needs a VISA library" warning: the library serves INSTR resources');
  const r = await SharedResources.create(config);
  t.teardown(async () => {
    await r.close();
    fakeVisaControl(library).map(instr, '127.0.0.1', 0);
    await sim.close();
  });
  t.equal(r.visa.stats(instr).backend, 'ffi');
  const id = await r.identifyVisa(instr, 'v4:dmm');
  t.equal(id.model, sim.engine.identity.model);
  sim.injectOnce({ kind: 'late', lateMs: 300 });
  await t.rejects(r.executeVisa(instr, '*IDN?', { owner: 'v4:dmm', timeoutMs: 100 }), {
    code: 'DAQ_VISA_TIMEOUT',
    facts: { resource: instr },
  });
  t.equal(await r.executeVisa(instr, '*OPC?', { owner: 'v4:dmm' }), '1', 'viClear kept the late reply away');
});

t.test('a VISA library that cannot be loaded fails at start-up with the path', async (t) => {
  const { config } = parseConfig(
    '[broker]\nvisa_library = "/nonexistent/libvisa.so"\n[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "GPIB0::22::INSTR"\n',
  );
  await t.rejects(SharedResources.create(config), { code: 'DAQ_VISA_ERROR', message: /\/nonexistent\/libvisa\.so/ });
});

t.test('a serial port that does not exist fails at start-up with what to check', async (t) => {
  const { config } = parseConfig('[[v2.instruments]]\nid = "p"\ntype = "Newport1830C"\nserial_port = "/dev/ttyDOESNOTEXIST"\n');
  await t.rejects(SharedResources.create(config), {
    code: 'DAQ_PORT_ERROR',
    message: /cannot open serial port \/dev\/ttyDOESNOTEXIST: .*check that the device is connected/,
  });
});

t.test('no handles, leases or sockets are left open', async (t) => {
  await assertNoNewHandles(t, before);
});
