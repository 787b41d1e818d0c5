// The broker endpoint over Comlink: identity bound by the broker, lease handles private to
// the endpoint that granted them, errors with codes across the boundary, and everything a
// worker held released when its thread exits.

import t from 'tap';
import { Worker } from 'node:worker_threads';
import { DaqError, parseConfig, type BrokerApi } from '@daq/core';
import { SharedResources } from '../src/shared-resources.js';
import { BrokerEndpoint, attachWorker } from '../src/rpc/broker-endpoint.js';
import { Comlink, nodeEndpoint } from '../src/rpc/comlink.js';
import { MemoryLineFactory } from './helpers/memory-line.js';

const config = parseConfig(`
[broker]
serial_lease_timeout_ms = 500
[v2]
instruments = [{ id = "elliptec1", type = "Elliptec", serial_port = "/dev/ttyUSB0" }]
[v4]
instruments = [{ id = "elliptec2", type = "Elliptec", serial_port = "/dev/ttyUSB0", address = "1" }]
`).config;

const responder = new MemoryLineFactory((_, w) => (w === '0in' ? { reply: '0IN0E1140051720231701016800023000\r\n' } : undefined));

async function resources() {
  return SharedResources.create(config, { lineFactory: responder });
}

function client(endpoint: BrokerEndpoint) {
  return Comlink.wrap<BrokerApi>(nodeEndpoint(endpoint.workerPort));
}

t.test('the broker binds identity to the endpoint; handles are private to it', async (t) => {
  const r = await resources();
  const v2e = new BrokerEndpoint(r, 'v2');
  const v4e = new BrokerEndpoint(r, 'v4');
  const v2 = client(v2e);
  const v4 = client(v4e);
  t.teardown(async () => {
    v2e.close();
    v4e.close();
    v2[Comlink.releaseProxy]();
    v4[Comlink.releaseProxy]();
    await r.close();
  });
  t.equal(await v2.whoami(), 'v2');
  const lease = await v2.leaseSerial('/dev/ttyUSB0', 'elliptec1');
  t.equal(r.serial.status()[0]!.owner, 'v2:elliptec1', 'the owner is the endpoint identity plus the instrument label');
  t.equal(await v2.serialQuery(lease, '0in', '\r\n', 500), '0IN0E1140051720231701016800023000');
  t.same(
    await v2.serialQueryMany(lease, ['0in', '0in'], '\r\n', 500),
    ['0IN0E1140051720231701016800023000', '0IN0E1140051720231701016800023000'],
    'serialQueryMany: several queries under the lease in one message',
  );
  t.match(
    await v2.serialQueryMany(lease, ['0in', '0gs'], '\r\n', 100).catch((e: unknown) => e),
    { code: 'DAQ_READ_TIMEOUT', message: /\(command 2 of 2 in one queryMany: "0gs"; 1 replies received\)$/, facts: { index: 1 } },
    'a failed serialQueryMany names the command it stopped at',
  );
  t.equal(r.serial.status()[0]!.owner, 'v2:elliptec1', 'and the lease is still held');

  const stolen = await v4.releaseSerial(lease).catch((e: unknown) => e);
  t.ok(stolen instanceof DaqError, 'a DaqError crosses Comlink as a DaqError');
  t.match(stolen, {
    code: 'DAQ_INVALID_ARGUMENT',
    message: `lease ${lease} is not held by v4 (released, revoked, or never granted to it)`,
  });
  t.equal(r.serial.status()[0]!.owner, 'v2:elliptec1', "v4 could not release v2's lease");

  const busy = await v4.tryLeaseSerial('/dev/ttyUSB0', 'elliptec2').catch((e: unknown) => e);
  t.match(busy, { code: 'DAQ_PORT_BUSY', facts: { owner: 'v2:elliptec1', port: '/dev/ttyUSB0' } });
  await v2.releaseSerial(lease);
  const v4lease = await v4.tryLeaseSerial('/dev/ttyUSB0', 'elliptec2');
  t.equal(r.serial.status()[0]!.worker, 'v4');
  await t.rejects(v2.serialWrite(lease, 'x'), { code: 'DAQ_INVALID_ARGUMENT' }, 'a released handle is dead');
  await v4.releaseSerial(v4lease);
});

t.test('bad RPC arguments get a clear error and change nothing', async (t) => {
  const r = await resources();
  const e = new BrokerEndpoint(r, 'v4');
  const api = client(e);
  t.teardown(async () => {
    e.close();
    api[Comlink.releaseProxy]();
    await r.close();
  });
  const cases: [() => Promise<unknown>, string, RegExp][] = [
    [() => api.leaseSerial('/dev/ttyS9', 'x'), 'DAQ_PORT_UNKNOWN', /serial port "\/dev\/ttyS9" is not configured/],
    [() => api.leaseSerial(42 as never, 'x'), 'DAQ_INVALID_ARGUMENT', /port must be a non-empty string, got 42/],
    [() => api.leaseSerial('/dev/ttyUSB0', 'v2:elliptec1'), 'DAQ_INVALID_ARGUMENT', /instrument must be an instrument id/],
    [
      () => api.leaseSerial('/dev/ttyUSB0', 'x', { timeoutMs: -5 }),
      'DAQ_INVALID_ARGUMENT',
      /timeoutMs must be a non-negative number of milliseconds, got -5/,
    ],
    [() => api.leaseSerial('/dev/ttyUSB0', 'x', { maxHoldMs: 'soon' as never }), 'DAQ_INVALID_ARGUMENT', /maxHoldMs/],
    [() => api.serialWrite(999, 'x'), 'DAQ_INVALID_ARGUMENT', /lease 999 is not held by v4/],
    [() => api.serialReadLine(1, '\n', Number.POSITIVE_INFINITY), 'DAQ_INVALID_ARGUMENT', /timeoutMs/],
    [() => api.visaQuery('TCPIP0::', 'x', '*IDN?'), 'DAQ_INVALID_ARGUMENT', /"TCPIP0::" is not a VISA resource name/],
    [() => api.visaQuery('TCPIP0::10.1.1.1::5025::SOCKET', 'x', '*IDN?'), 'DAQ_INVALID_ARGUMENT', /is not configured/],
    [
      () => api.visaQueryMany('TCPIP0::10.1.1.1::5025::SOCKET', 'x', []),
      'DAQ_INVALID_ARGUMENT',
      /commands must be a list of 1 to 1024 strings, got 0 commands/,
    ],
    [
      () => api.visaQueryMany('TCPIP0::10.1.1.1::5025::SOCKET', 'x', '*IDN?' as never),
      'DAQ_INVALID_ARGUMENT',
      /commands must be a list .*, got "\*IDN\?"/,
    ],
    [
      () => api.visaQueryMany('TCPIP0::10.1.1.1::5025::SOCKET', 'x', Array(1025).fill('*OPC?')),
      'DAQ_INVALID_ARGUMENT',
      /got 1025 commands/,
    ],
    [
      () => api.visaQueryMany('TCPIP0::10.1.1.1::5025::SOCKET', 'x', ['*OPC?', 7 as never]),
      'DAQ_INVALID_ARGUMENT',
      /commands\[1\] must be a non-empty string, got 7/,
    ],
    [() => api.serialQueryMany(1, [], '\n', 100), 'DAQ_INVALID_ARGUMENT', /commands must be a list/],
    [() => api.serialQueryMany(999, ['x'], '\n', 100), 'DAQ_INVALID_ARGUMENT', /lease 999 is not held by v4/],
  ];
  for (const [call, code, message] of cases) await t.rejects(call(), { code, message });
  t.equal(r.serial.leasesHeld, 0);
  t.equal(r.serial.stats('/dev/ttyUSB0').acquisitions, 0);
});

for (const how of ['exit', 'throw', 'hang'] as const) {
  t.test(
    `a lease is released when its worker ${how === 'hang' ? 'is terminated' : how === 'exit' ? 'calls process.exit' : 'crashes'}`,
    async (t) => {
      const r = await resources();
      t.teardown(() => r.close());
      const worker = new Worker(new URL('./fixtures/lease-worker.ts', import.meta.url), {
        workerData: { port: '/dev/ttyUSB0', how },
      });
      worker.on('error', () => undefined); // the 'throw' case: the crash is the point
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      let released: { leases: number; commands: number } | undefined;
      const endpoint = attachWorker(worker, 'v2', r, (rel) => (released = rel));
      // Not events.once: it rejects on 'error', which can overtake the message in the crash case.
      const msg = await new Promise<{ leased: number; me: string }>((resolve) => worker.once('message', resolve));
      t.equal(msg.me, 'v2');
      t.equal(r.serial.status()[0]!.owner, 'v2:elliptec1');
      // V4 is waiting for the port while the worker dies.
      const v4 = r.acquireSerial('/dev/ttyUSB0', { owner: 'v4:elliptec2', timeoutMs: 5000 });
      if (how === 'hang') await worker.terminate();
      t.equal(await exited, how === 'exit' ? 3 : 1);
      const lease = await v4;
      t.equal(lease.owner, 'v4:elliptec2', 'the waiting subsystem got the port');
      t.same(released, { leases: 1, commands: 0 });
      t.equal(endpoint.leasesHeld, 0);
      await lease.release();
      t.equal(r.serial.leasesHeld, 0);
    },
  );
}
