// The SCPI meter over real TCP sockets (node:net clients): framing per connection, shared
// instrument state, ordered replies, each fault kind, disconnects, and a clean close.

import t, { type Test } from 'tap';
import { createConnection, type Socket } from 'node:net';
import { ScpiTcpSimulator, type ScpiTcpSimulatorOptions } from '../src/scpi-tcp-simulator.js';
import { ScpiEngine } from '../src/scpi-engine.js';
import { assertNoNewHandles, handleSnapshot } from '../../../test/helpers/leaks.js';

const IDN = 'DAQ Simulators,SCPI-DMM,SIM0001,1.0';
const handlesAtStart = handleSnapshot();

/** A line client as any user program would write one. */
interface Client {
  socket: Socket;
  /** Every complete line received, in order (for asserting order and counts). */
  lines: string[];
  /** Raw bytes received (for asserting terminators). */
  raw: Buffer[];
  /** The next line, or undefined when none arrives within `timeoutMs`. */
  next(timeoutMs?: number): Promise<string | undefined>;
  ask(command: string, timeoutMs?: number): Promise<string | undefined>;
  closed: Promise<void>;
}

async function connect(t: Test, port: number): Promise<Client> {
  const socket = createConnection({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const lines: string[] = [];
  const raw: Buffer[] = [];
  let taken = 0;
  let buffer = '';
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    raw.push(chunk);
    buffer += chunk.toString('latin1');
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
    wake?.();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const next = async (timeoutMs = 1000): Promise<string | undefined> => {
    const end = performance.now() + timeoutMs;
    while (taken >= lines.length) {
      const left = end - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return lines[taken++];
  };
  const client: Client = {
    socket,
    lines,
    raw,
    next,
    ask: (command, timeoutMs) => (socket.write(`${command}\n`), next(timeoutMs)),
    closed,
  };
  t.teardown(() => void socket.destroy());
  return client;
}

async function simulator(t: Test, options: ScpiTcpSimulatorOptions = {}): Promise<ScpiTcpSimulator> {
  const sim = new ScpiTcpSimulator({ measurementMs: 1, ...options });
  await sim.start();
  t.teardown(() => sim.close());
  return sim;
}

t.test('listens on 127.0.0.1, an ephemeral port by default, and names itself as a VISA SOCKET resource', async (t) => {
  const sim = await simulator(t);
  t.ok(sim.port > 0);
  t.equal(sim.resource, `TCPIP0::127.0.0.1::${sim.port}::SOCKET`);
  const c = await connect(t, sim.port);
  t.equal(await c.ask('*IDN?'), IDN);
  t.equal(await c.ask('MEAS:VOLT:DC?'), sim.engine.expectedReply);
  t.same(Buffer.concat(c.raw).toString('latin1'), `${IDN}\n+1.23456789E+00\n`, 'LF-terminated, nothing else');
});

t.test('every command over the wire, including the error queue and ";"-joined commands', async (t) => {
  const sim = await simulator(t, { value: -0.5 });
  const c = await connect(t, sim.port);
  t.equal(await c.ask('BOGUS', 100), undefined, 'a bad command gets no reply');
  t.equal(await c.ask('SYST:ERR?'), '-113,"Undefined header"');
  t.equal(await c.ask('SYSTem:ERRor:NEXT?'), '0,"No error"');
  c.socket.write('CONF:VOLT:DC 5000\r\n'); // CR LF also ends a line
  t.equal(await c.ask('*ESR?'), String(32 | 16), 'command error (BOGUS) and execution error bits');
  t.equal(await c.ask('SYST:ERR?'), '-222,"Data out of range"');
  t.equal(await c.ask('*ESE 4;*ESE?;*SRE 8;*SRE?;*STB?;*OPC?'), '4;8;16;1', 'MAV: two replies wait in the output queue');
  t.equal(await c.ask('*RST;*CLS;CONF:VOLT:DC;:READ?'), '-5.00000000E-01');
  t.equal(await c.ask('measure:voltage?'), '-5.00000000E-01');
  sim.engine.setValue(2, 0.25);
  t.equal(await c.ask('READ?'), '+2.25000000E+00', 'the setter changes what the client reads');
  for (let i = 0; i < 25; i++) c.socket.write('X\n');
  t.equal(await c.ask('*OPC?'), '1');
  t.equal(sim.engine.errorQueue.length, 20);
  t.same(sim.engine.errorQueue[19], { code: -350, message: 'Queue overflow' });
  t.equal(await c.ask('*STB?'), '4');
  t.equal(await c.ask('*CLS;SYST:ERR?'), '0,"No error"');
  t.equal(sim.engine.counters.errors, 27);
});

t.test('pipelined commands on one connection answer in order', async (t) => {
  const sim = await simulator(t, { value: 3 });
  const c = await connect(t, sim.port);
  c.socket.write('MEAS:VOLT?\n*IDN?\nBOGUS\nSYST:ERR?\n*OPC?\n');
  const got = [await c.next(), await c.next(), await c.next(), await c.next()];
  t.same(got, ['+3.00000000E+00', IDN, '-113,"Undefined header"', '1']);
  t.equal(await c.next(50), undefined, 'nothing for the bad command');
  t.equal(sim.replies, 4);
});

t.test('each connection frames its own input; all share one instrument', async (t) => {
  const sim = await simulator(t);
  const a = await connect(t, sim.port);
  const b = await connect(t, sim.port);
  a.socket.write('*ID');
  await new Promise((r) => setTimeout(r, 20));
  t.equal(await b.ask('SIM:VAL 4.5;:READ?'), '+4.50000000E+00', 'b is not confused by a half line on a');
  a.socket.write('N?\n');
  t.equal(await a.next(), IDN);
  t.equal(await a.ask('READ?'), '+4.50000000E+00', 'a sees the value b set');
  await b.ask('*CLS');
  a.socket.write('BOGUS\n');
  t.equal(await b.ask('SYST:ERR?'), '-113,"Undefined header"', 'one error queue for everybody');
  t.equal(sim.connections, 2);
  t.equal(sim.openConnections, 2);

  // Many clients at once, each a burst of queries: every reply reaches its sender, in order.
  const clients = await Promise.all([0, 1, 2, 3].map(() => connect(t, sim.port)));
  await Promise.all(
    clients.map(async (c, i) => {
      c.socket.write(Array.from({ length: 10 }, () => `SIM:VAL?;*OPC?\n`).join(''));
      for (let n = 0; n < 10; n++) t.equal(await c.next(), '+4.50000000E+00;1', `client ${i} reply ${n}`);
    }),
  );
});

t.test('drop: the reply is never sent; the next command gets its own', async (t) => {
  const sim = await simulator(t);
  const c = await connect(t, sim.port);
  sim.injectOnce({ kind: 'drop' });
  t.equal(await c.ask('*OPC?', 100), undefined);
  t.equal(await c.ask('*IDN?'), IDN);
  t.equal(sim.faults.counts.dropped, 1);
  t.equal(sim.replies, 1);
});

t.test('corrupt: garbage of the same length, still LF-terminated', async (t) => {
  const sim = await simulator(t);
  const c = await connect(t, sim.port);
  sim.injectOnce({ kind: 'corrupt' });
  const garbled = await c.ask('*IDN?');
  t.not(garbled, IDN);
  t.equal(garbled?.length, IDN.length);
  t.notMatch(garbled!, /[\r\n]/);
  t.equal(await c.ask('*IDN?'), IDN, 'only that one reply');
  t.equal(sim.faults.counts.corrupted, 1);
});

t.test('late: the reply arrives after the caller gave up, and later replies wait behind it', async (t) => {
  const sim = await simulator(t);
  const c = await connect(t, sim.port);
  sim.injectOnce({ kind: 'late', lateMs: 150 });
  const started = performance.now();
  t.equal(await c.ask('*IDN?', 50), undefined, 'nothing within the caller timeout');
  c.socket.write('*OPC?\n');
  t.equal(await c.next(1000), IDN, 'the late reply arrives');
  t.ok(performance.now() - started >= 140);
  t.equal(await c.next(), '1', 'then the next one, never before it');
  t.equal(sim.faults.counts.late, 1);
});

t.test('latency and probabilities from the fault settings', async (t) => {
  const sim = await simulator(t, { faults: { latencyMs: 25 } });
  const c = await connect(t, sim.port);
  const started = performance.now();
  t.equal(await c.ask('*OPC?'), '1');
  t.ok(performance.now() - started >= 24, 'every reply waits the configured latency');
  sim.faults.set({ latencyMs: 0, dropProbability: 1 });
  t.equal(await c.ask('*OPC?', 50), undefined, 'all dropped');
  sim.faults.set({ dropProbability: 0 });
  t.equal(await c.ask('*OPC?'), '1');
  t.same(sim.faults.counts, { replies: 3, dropped: 1, corrupted: 0, late: 0 });
});

t.test('disconnect() drops every client; new connections are still accepted', async (t) => {
  const sim = await simulator(t);
  const a = await connect(t, sim.port);
  const b = await connect(t, sim.port);
  t.equal(await a.ask('*OPC?'), '1');
  sim.injectOnce({ kind: 'late', lateMs: 100 });
  a.socket.write('*IDN?\n'); // its late reply must not go anywhere after the drop
  await new Promise((r) => setTimeout(r, 10));
  t.equal(sim.disconnect(), 2);
  await Promise.all([a.closed, b.closed]);
  const c = await connect(t, sim.port);
  t.equal(await c.ask('*OPC?'), '1');
  await new Promise((r) => setTimeout(r, 150));
  t.same(c.lines, ['1'], 'the late reply of a dropped client never reaches a new one');
  t.equal(sim.connections, 3);
  t.equal(sim.openConnections, 1);
});

t.test('an engine can be shared with another transport; close() leaves it running', async (t) => {
  const engine = new ScpiEngine({ measurementMs: 0, value: 8 });
  t.teardown(() => engine.close());
  const sim = new ScpiTcpSimulator({ engine });
  await sim.start();
  const c = await connect(t, sim.port);
  t.equal(await c.ask('READ?'), '+8.00000000E+00');
  await sim.close();
  t.equal(await engine.execute('*OPC?'), '1');
});

t.test('close() releases the server, every socket and timer, even with replies pending', async (t) => {
  const sim = new ScpiTcpSimulator({ measurementMs: 5000 });
  await sim.start();
  const c = await connect(t, sim.port);
  sim.injectOnce({ kind: 'late', lateMs: 10_000 });
  c.socket.write('*IDN?\nREAD?\n');
  await new Promise((r) => setTimeout(r, 20));
  await sim.close();
  await c.closed;
  await sim.close(); // idempotent
  const refused = createConnection({ port: sim.port, host: '127.0.0.1' });
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve));
  t.equal(err.code, 'ECONNREFUSED');
  t.same(c.lines, [], 'no reply escaped after close');
});

t.test('no handles are left open', async (t) => {
  await assertNoNewHandles(t, handlesAtStart);
});
