// VisaSessionManager over real TCP sockets: FIFO per resource, one command in flight,
// replies routed to their callers, recovery after timeouts, transactions, worker cleanup.

import t, { type Test } from 'tap';
import { DaqError } from '@daq/core';
import { VisaSessionManager } from '../src/visa/visa-session-manager.js';
import { SocketBackend } from '../src/visa/socket-backend.js';
import { LineServer } from './helpers/line-server.js';

// "Q<client>:<n>?" → "R<client>:<n>"; "SLOW?" answers after 150 ms; "MUTE" never answers.
function scpiLike(line: string) {
  if (line === 'SLOW?') return { reply: 'SLOW', delayMs: 150 };
  if (line === 'MUTE') return undefined;
  const m = /^Q(.*)\?$/.exec(line);
  return m ? { reply: `R${m[1]}` } : undefined;
}

async function setup(t: Test, handler = scpiLike, opts: { queueTimeoutMs?: number } = {}) {
  const server = new LineServer(handler);
  const resource = await server.start();
  const visa = new VisaSessionManager({ backends: [new SocketBackend()], defaultTimeoutMs: 1000, ...opts });
  visa.register(resource);
  t.teardown(async () => {
    await visa.close();
    await server.close();
  });
  return { server, resource, visa };
}

t.test('five concurrent clients x ten commands through one session: every reply correct and in order', async (t) => {
  const { resource, visa, server } = await setup(t);
  const clients = [1, 2, 3, 4, 5].map(async (c) => {
    const got: string[] = [];
    for (let n = 0; n < 10; n++) got.push(await visa.query(resource, `Q${c}:${n}?`, { owner: `v4:client${c}` }));
    return got;
  });
  const results = await Promise.all(clients);
  results.forEach((got, i) =>
    t.same(
      got,
      Array.from({ length: 10 }, (_, n) => `R${i + 1}:${n}`),
      `client ${i + 1}`,
    ),
  );
  const s = visa.stats(resource);
  t.equal(s.commands, 50);
  t.same(s.perOwner, { 'v4:client1': 10, 'v4:client2': 10, 'v4:client3': 10, 'v4:client4': 10, 'v4:client5': 10 });
  t.equal(s.latencyMs.count, 50);
  t.equal(s.timeouts + s.errors, 0);
  t.equal(server.connections, 1, 'one session, one connection');
});

t.test('after a timeout the late reply is discarded and the next command gets its own', async (t) => {
  const { resource, visa } = await setup(t);
  const slow = visa.query(resource, 'SLOW?', { owner: 'v4:a', timeoutMs: 40 }).catch((e: DaqError) => e);
  const next = visa.query(resource, 'Q9:1?', { owner: 'v4:b' });
  t.match(await slow, {
    code: 'DAQ_VISA_TIMEOUT',
    facts: { resource, owner: 'v4:a', command: 'SLOW?', timeoutMs: 40 },
    message: /^SLOW\? from v4:a timed out after 40 ms on TCPIP0::127\.0\.0\.1::\d+::SOCKET: no reply from /,
  });
  t.equal(await next, 'R9:1', 'not "SLOW"');
  await new Promise((r) => setTimeout(r, 200)); // the late SLOW arrives now, on the dropped connection
  t.equal(await visa.query(resource, 'Q9:2?', { owner: 'v4:b' }), 'R9:2');
  const s = visa.stats(resource);
  t.equal(s.timeouts, 1);
  t.equal(s.clears, 1);
});

/** A handler that answers each query after `delayMs` and notes, per line, how many replies had been sent when it arrived. */
function delayed(delayMs: number) {
  const sentBefore: number[] = [];
  let sent = 0;
  const handler = (line: string) => {
    sentBefore.push(sent);
    const r = scpiLike(line);
    if (!r) return undefined;
    setTimeout(() => sent++, delayMs - 1);
    return { ...r, delayMs };
  };
  return { handler, sentBefore };
}

t.test('queryMany pipelines on a socket: all commands written before the first reply, replies in order', async (t) => {
  const d = delayed(30);
  const { resource, visa, server } = await setup(t, d.handler);
  const commands = Array.from({ length: 8 }, (_, n) => `Qm:${n}?`);
  const other = visa.query(resource, 'Qo:1?', { owner: 'v4:other' });
  const replies = await visa.queryMany(resource, commands, { owner: 'v4:many' });
  t.same(
    replies,
    Array.from({ length: 8 }, (_, n) => `Rm:${n}`),
    'each reply to its own command, in order',
  );
  t.equal(await other, 'Ro:1', 'FIFO: the command queued first ran first and got its own reply');
  t.same(d.sentBefore.slice(1), Array(8).fill(1), 'the 8 commands reached the instrument before any of their replies left it');
  t.same(server.lines, ['Qo:1?', ...commands]);
  const s = visa.stats(resource);
  t.equal(s.commands, 9, 'each command of the queryMany is counted');
  t.same(s.perOwner, { 'v4:other': 1, 'v4:many': 8 });
  t.equal(s.latencyMs.count, 2, 'one queue turn each');
});

t.test('queryMany where the session cannot pipeline: one command at a time, same replies', async (t) => {
  const d = delayed(5);
  const server = new LineServer(d.handler);
  const resource = await server.start();
  // The same socket without writeMany, as the ASRL and VISA-library sessions are.
  class OneByOne extends SocketBackend {
    override async open(...a: Parameters<SocketBackend['open']>) {
      const s = await super.open(...a);
      return {
        resource: s.resource,
        write: s.write.bind(s),
        read: s.read.bind(s),
        clear: s.clear.bind(s),
        close: s.close.bind(s),
      };
    }
  }
  const visa = new VisaSessionManager({ backends: [new OneByOne()], defaultTimeoutMs: 1000 });
  visa.register(resource);
  t.teardown(async () => {
    await visa.close();
    await server.close();
  });
  t.same(await visa.queryMany(resource, ['Qa:1?', 'Qa:2?', 'Qa:3?'], { owner: 'v4:a' }), ['Ra:1', 'Ra:2', 'Ra:3']);
  t.same(d.sentBefore, [0, 1, 2], 'each command was written after the reply before it');
});

t.test('a queryMany that times out names the command; the session is cleared; late replies reach nobody', async (t) => {
  const { resource, visa } = await setup(t);
  const many = visa
    .queryMany(resource, ['Qm:1?', 'SLOW?', 'Qm:3?'], { owner: 'v4:many', timeoutMs: 40 })
    .catch((e: DaqError) => e);
  const next = visa.query(resource, 'Q9:1?', { owner: 'v4:b' });
  t.match(await many, {
    code: 'DAQ_VISA_TIMEOUT',
    facts: { resource, owner: 'v4:many', timeoutMs: 40, command: 'SLOW? (command 2 of 3 in one queryMany; 1 reply received)' },
    message: /^SLOW\? \(command 2 of 3 in one queryMany; 1 reply received\) from v4:many timed out after 40 ms on /,
  });
  t.equal(await next, 'R9:1', 'not "SLOW" nor "Rm:3"');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(await visa.query(resource, 'Q9:2?', { owner: 'v4:b' }), 'R9:2');
  const s = visa.stats(resource);
  t.equal(s.timeouts, 1);
  t.equal(s.clears, 1);
  await t.rejects(visa.queryMany(resource, [], { owner: 'v4:a' }), { code: 'DAQ_INVALID_ARGUMENT', message: /non-empty list/ });
  await t.rejects(visa.queryMany(resource, ['Q1:1?', ''], { owner: 'v4:a' }), {
    code: 'DAQ_INVALID_ARGUMENT',
    message: /non-empty string, got ""/,
  });
});

t.test('a transaction holds the session; others wait in order', async (t) => {
  const { resource, visa } = await setup(t);
  const order: string[] = [];
  const tx = visa.transaction(resource, { owner: 'v4:tx' }, async (s) => {
    const a = await s.query('Qtx:1?');
    await new Promise((r) => setTimeout(r, 20));
    await s.write('MUTE');
    const b = await s.query('Qtx:2?');
    order.push('tx');
    return [a, b];
  });
  const other = visa.query(resource, 'Qo:1?', { owner: 'v4:other' }).then((r) => {
    order.push('other');
    return r;
  });
  t.same(await tx, ['Rtx:1', 'Rtx:2']);
  t.equal(await other, 'Ro:1');
  t.same(order, ['tx', 'other']);
  t.equal(visa.stats(resource).transactions, 1);
});

t.test('a transaction has its own timeout and cannot be used after it ends', async (t) => {
  const { resource, visa } = await setup(t);
  const err = await visa
    .transaction(resource, { owner: 'v4:tx', timeoutMs: 60 }, async (s) => {
      await s.query('Qa?');
      return s.query('SLOW?');
    })
    .catch((e: DaqError) => e);
  t.match(err, { code: 'DAQ_VISA_TIMEOUT' });
  let leaked: import('../src/visa/visa-session-manager.js').VisaTransaction | undefined;
  await visa.transaction(resource, { owner: 'v4:tx' }, async (s) => {
    leaked = s;
  });
  await t.rejects(leaked!.query('Qb?'), { code: 'DAQ_VISA_ERROR', message: /transaction on .* has ended/ });
  t.equal(await visa.query(resource, 'Qc?', { owner: 'v4:x' }), 'Rc');
});

t.test('a lost connection fails the command in flight; the next one reconnects', async (t) => {
  // Drop the connection once the server holds DROP? (a fixed sleep raced the connect under load).
  let arrived: () => void = () => {};
  const held = new Promise<void>((r) => (arrived = r));
  const { resource, visa, server } = await setup(t, (line) => {
    if (line !== 'DROP?') return scpiLike(line);
    arrived();
    return undefined;
  });
  const dropped = visa.query(resource, 'DROP?', { owner: 'v4:a' }).catch((e: DaqError) => e);
  await held;
  server.dropClients();
  t.match(await dropped, { code: 'DAQ_VISA_ERROR', message: /connection to .* was lost/ });
  t.equal(await visa.query(resource, 'Q1?', { owner: 'v4:a' }), 'R1');
  t.ok(server.connections >= 2);
});

t.test('the queued commands of a worker that exits are failed; others still run', async (t) => {
  const { resource, visa } = await setup(t);
  const first = visa.query(resource, 'SLOW?', { owner: 'v2:a' });
  const mine = [visa.query(resource, 'Q1?', { owner: 'v2:b' }), visa.query(resource, 'Q2?', { owner: 'v2:c' })].map((p) =>
    p.catch((e: DaqError) => e),
  );
  const theirs = visa.query(resource, 'Q3?', { owner: 'v4:d' });
  t.same(visa.status()[0]!.queued, ['v2:b', 'v2:c', 'v4:d']);
  t.equal(visa.failOwner('v2'), 2);
  for (const p of mine) t.match(await p, { code: 'DAQ_WORKER', message: /queued command of v2:[bc] on .* failed: v2 is gone/ });
  t.equal(await first, 'SLOW', 'the command in flight completes');
  t.equal(await theirs, 'R3');
});

t.test('a command that waits too long in the queue fails with its position', async (t) => {
  const { resource, visa } = await setup(t, scpiLike, { queueTimeoutMs: 50 });
  const slow = visa.query(resource, 'SLOW?', { owner: 'v4:a' });
  const starved = visa.query(resource, 'Q1?', { owner: 'v4:b' }).catch((e: DaqError) => e);
  t.match(await starved, { code: 'DAQ_VISA_TIMEOUT', message: /v4:b's command waited 50 ms in the queue of .* \(position 1\)/ });
  t.equal(await slow, 'SLOW');
});

t.test('bad calls are rejected before they reach the queue', async (t) => {
  const { resource, visa } = await setup(t);
  const cases: [() => Promise<unknown>, string, RegExp][] = [
    [
      () => visa.query('TCPIP0::10.0.0.9::5025::SOCKET', '*IDN?', { owner: 'v4:a' }),
      'DAQ_INVALID_ARGUMENT',
      /is not configured \(configured: TCPIP0::127\.0\.0\.1::\d+::SOCKET\)/,
    ],
    [() => visa.query('nonsense', '*IDN?', { owner: 'v4:a' }), 'DAQ_INVALID_ARGUMENT', /not a VISA resource name/],
    [() => visa.query(resource, '', { owner: 'v4:a' }), 'DAQ_INVALID_ARGUMENT', /non-empty string/],
    [() => visa.query(resource, '*IDN?', { owner: '' }), 'DAQ_INVALID_ARGUMENT', /needs an owner/],
    [
      () => visa.write(resource, 'X', { owner: 'v4:a', timeoutMs: 0 }),
      'DAQ_INVALID_ARGUMENT',
      /timeoutMs must be a positive number/,
    ],
  ];
  for (const [call, code, message] of cases) await t.rejects(call(), { code, message });
  const s = visa.stats(resource);
  t.equal(s.commands + s.errors + s.timeouts, 0, 'nothing was counted');
  t.equal(visa.status()[0]!.open, false, 'no session was opened');
});

t.test('an INSTR resource without a VISA library says what to configure', async (t) => {
  const visa = new VisaSessionManager({ backends: [new SocketBackend()] });
  visa.register('TCPIP0::192.168.1.100::INSTR');
  t.teardown(() => visa.close());
  await t.rejects(visa.query('tcpip0::192.168.1.100::inst0::instr', '*IDN?', { owner: 'v4:m' }), {
    code: 'DAQ_VISA_ERROR',
    message:
      /no VISA backend can open TCPIP0::192\.168\.1\.100::inst0::INSTR: INSTR resources over TCPIP, GPIB and USB need \[broker\] visa_library/,
  });
  t.equal(visa.stats('TCPIP0::192.168.1.100::INSTR').errors, 1);
});

t.test('an unreachable instrument fails with where and what to check', async (t) => {
  const server = new LineServer(scpiLike);
  const resource = await server.start();
  await server.close(); // nothing listens there now
  const visa = new VisaSessionManager({ backends: [new SocketBackend()] });
  visa.register(resource);
  t.teardown(() => visa.close());
  await t.rejects(visa.query(resource, '*IDN?', { owner: 'v4:m' }), {
    code: 'DAQ_VISA_ERROR',
    message: /cannot connect to .*ECONNREFUSED.*check host, port/,
  });
});

t.test('closing fails what is queued and closes the sessions', async (t) => {
  const server = new LineServer(scpiLike);
  const resource = await server.start();
  t.teardown(() => server.close());
  const visa = new VisaSessionManager({ backends: [new SocketBackend()] });
  visa.register(resource);
  const inFlight = visa.query(resource, 'SLOW?', { owner: 'v4:a' });
  const queued = visa.query(resource, 'Q1?', { owner: 'v4:b' }).catch((e: DaqError) => e);
  await new Promise((r) => setTimeout(r, 10));
  await visa.close();
  t.equal(await inFlight, 'SLOW', 'the command in flight finished first');
  t.match(await queued, { code: 'DAQ_CLOSED' });
  t.equal(visa.pending, 0);
  await t.rejects(visa.query(resource, 'Q?', { owner: 'v4:a' }), { code: 'DAQ_CLOSED' });
});
