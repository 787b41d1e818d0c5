// Unit tests of the subsystem host's parts, with in-memory instruments (one class at a time;
// the worker, broker and simulator path is proven by the integration tests under test/).

import t from 'tap';
import { tableFromIPC } from 'apache-arrow';
import {
  BufferedSink,
  DaqError,
  ScalarBatchBuilder,
  SerialChannel,
  SerialQueue,
  SubsystemHost,
  describeCommands,
  invokeCommand,
  type BrokerApi,
  type CommandTable,
  type HostedInstrument,
  type Reading,
  type SubsystemInit,
} from '@daq/core';
import { InMemoryBroker } from '@daq/core/testing';

t.test('commands: arguments are type- and range-checked before the driver runs', async (t) => {
  const calls: unknown[][] = [];
  const table: CommandTable = {
    move: {
      params: [
        { name: 'position', type: 'number', min: -10, max: 10 },
        { name: 'axis', type: 'integer', min: 1, max: 3, optional: true },
      ],
      description: 'move',
      run: async (...a: unknown[]) => calls.push(a),
    },
    mode: { params: [{ name: 'm', type: 'string', oneOf: ['a', 'b'] }], description: 'mode', run: async () => 'ok' },
    flag: { params: [{ name: 'on', type: 'boolean' }], description: 'flag', run: async () => 'ok' },
  };
  await invokeCommand('x', table, 'move', [1.5]);
  await invokeCommand('x', table, 'move', [1.5, 2]);
  t.same(calls, [[1.5], [1.5, 2]]);
  const bad: [unknown, unknown, RegExp][] = [
    ['move', [], /x\.move: argument 1 \(position\) is missing/],
    ['move', ['1'], /must be a finite number, got "1"/],
    ['move', [NaN], /must be a finite number, got NaN/],
    ['move', [11], /must be at most 10, got 11/],
    ['move', [-11], /must be at least -10, got -11/],
    ['move', [1, 1.5], /argument 2 \(axis\) must be an integer, got 1.5/],
    ['move', [1, 2, 3], /x\.move takes 2 argument\(s\), got 3/],
    ['move', 'nope', /arguments must be an array/],
    ['mode', ['c'], /must be one of a, b, got "c"/],
    ['mode', [{}], /must be a string, got object/],
    ['flag', [1], /must be true or false, got 1/],
  ];
  for (const [m, a, re] of bad) await t.rejects(invokeCommand('x', table, m, a), { code: 'DAQ_INVALID_ARGUMENT', message: re });
  await t.rejects(invokeCommand('x', table, 'mvoe', []), {
    code: 'DAQ_UNKNOWN_COMMAND',
    message: /did you mean "move"\?; it accepts: move, mode, flag/,
  });
  await t.rejects(invokeCommand('x', table, 'toString', []), { code: 'DAQ_UNKNOWN_COMMAND' }, 'inherited names are not commands');
  await t.rejects(invokeCommand('x', table, 42, []), { code: 'DAQ_UNKNOWN_COMMAND' });
  t.equal(calls.length, 2, 'no bad call reached the driver');
  t.same(
    describeCommands(table).map((c) => c.name),
    ['move', 'mode', 'flag'],
  );
});

t.test('Arrow scalar batches: typed columns, growing dictionaries, any Arrow reader', async (t) => {
  const b = new ScalarBatchBuilder(16);
  for (let i = 0; i < 100; i++) b.append(1_700_000_000_000_000_000n + BigInt(i), i % 2 ? 'a' : 'b', 'power', i / 10, 'W');
  const first = b.cutIpc()!;
  t.equal(first.rows, 100);
  b.append(5n, 'c', 'position', -1, 'deg');
  const second = b.cutIpc()!;
  t.equal(b.cut(), undefined, 'nothing buffered: no batch');
  t.equal(b.appended, 101);
  const t1 = tableFromIPC(first.bytes);
  t.same(
    t1.schema.fields.map((f) => `${f.name}:${f.type}`),
    [
      'timestamp:Timestamp<NANOSECOND, UTC>',
      'instrument:Dictionary<Int32, Utf8>',
      'channel:Dictionary<Int32, Utf8>',
      'value:Float64',
      'unit:Dictionary<Int32, Utf8>',
      'flag:Dictionary<Int32, Utf8>',
    ],
  );
  t.equal(t1.getChild('flag')!.nullCount, 100, 'no reading flagged: the flag column is all null');
  t.equal(t1.getChild('instrument')!.get(1), 'a');
  t.equal(t1.getChild('value')!.get(99), 9.9);
  t.equal(
    (t1.getChild('timestamp')!.data[0]!.values as BigInt64Array)[99],
    1_700_000_000_000_000_099n,
    'exact int64 nanoseconds',
  );
  const t2 = tableFromIPC(second.bytes);
  t.same(
    [t2.numRows, t2.getChild('instrument')!.get(0), t2.getChild('unit')!.get(0)],
    [1, 'c', 'deg'],
    'later batches carry the grown dictionary',
  );
});

t.test('a flagged reading (overload, not-a-number) becomes a null value with its flag, never a number', async (t) => {
  const b = new ScalarBatchBuilder(16);
  b.append(1n, 'dmm', 'V', 1.5, 'V');
  b.append(2n, 'dmm', 'V', 9.9e37, 'V', 'overload');
  b.append(3n, 'dmm', 'V', Number.NaN, 'V', 'not-a-number');
  b.append(4n, 'dmm', 'V', 2.5, 'V');
  const table = tableFromIPC(b.cutIpc()!.bytes);
  t.same(table.getChild('value')!.toArray().length, 4);
  t.same(
    [0, 1, 2, 3].map((i) => table.getChild('value')!.get(i)),
    [1.5, null, null, 2.5],
    'flagged values are null',
  );
  t.same(
    [0, 1, 2, 3].map((i) => table.getChild('flag')!.get(i)),
    [null, 'overload', 'not-a-number', null],
    'the flag says why',
  );
  t.equal(table.getChild('value')!.nullCount, 2);
});

class ListSink extends BufferedSink {
  rows: string[] = [];
  sent: number[] = [];
  private buf: string[] = [];
  protected append(instrument: string, r: Reading, ts: bigint): void {
    this.buf.push(`${instrument}.${r.channel}=${r.value}@${ts}`);
  }
  refuse = false;
  protected send(rows: number): boolean {
    if (this.refuse) {
      this.buf.length = 0;
      return false;
    }
    this.sent.push(rows);
    this.rows.push(...this.buf.splice(0));
    return true;
  }
}

t.test('buffered sink: batches by size and by age; counts in equal counts out', async (t) => {
  const s = new ListSink(3, 30);
  s.accept(
    'i',
    [1, 2, 3, 4].map((v) => ({ channel: 'c', value: v, unit: '' })),
    7n,
  );
  t.same(s.sent, [3], 'a full batch leaves at once');
  await new Promise((r) => setTimeout(r, 60));
  t.same(s.sent, [3, 1], 'the rest leaves after batch_interval_ms');
  s.accept('i', [{ channel: 'c', value: 5, unit: '', timestampNs: 9n }], 7n);
  s.flush();
  s.flush();
  t.same(s.rows.at(-1), 'i.c=5@9', "a driver's own timestamp wins");
  t.same(s.counts(), { accepted: 5, delivered: 5, batches: 3, dropped: 0, droppedBatches: 0 });
  s.refuse = true; // a full ring under drop-newest, say
  s.accept(
    'i',
    [6, 7].map((v) => ({ channel: 'c', value: v, unit: '' })),
    7n,
  );
  s.flush();
  t.same(
    s.counts(),
    { accepted: 7, delivered: 5, batches: 3, dropped: 2, droppedBatches: 1 },
    'a refused batch is counted as dropped',
  );
});

t.test('serial queue: one at a time, in order, errors do not block the queue', async (t) => {
  const q = new SerialQueue();
  const order: string[] = [];
  const slow = q.run(async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push('a');
  });
  const failing = q.run(async () => {
    order.push('b');
    throw new Error('b failed');
  });
  const c = q.run(async () => order.push('c'));
  t.equal(q.pending, 3);
  await slow;
  await t.rejects(failing, /b failed/);
  await c;
  await q.idle();
  t.same(order, ['a', 'b', 'c']);
  t.equal(q.pending, 0);
});

t.test('serial channel: the lease is released on success and on failure', async (t) => {
  // A broker whose writes are refused (the lease was revoked) and whose second release fails.
  class RevokingBroker extends InMemoryBroker {
    releases = 0;
    override async serialWrite(): Promise<void> {
      throw new DaqError('DAQ_LEASE_REVOKED', 'revoked');
    }
    override async releaseSerial(lease: number): Promise<void> {
      await super.releaseSerial(lease);
      if (++this.releases === 2) throw new Error('already gone');
    }
  }
  const broker = new RevokingBroker('v2');
  const line = broker.serialLine('/dev/x', () => 'reply\n');
  const ch = new SerialChannel(broker, '/dev/x', { instrument: 'i' });
  t.equal(await ch.query('Q', '\n', 100), 'reply');
  t.same(line.written, ['Q']);
  await t.rejects(
    ch.transaction((io) => io.write('W')),
    { code: 'DAQ_LEASE_REVOKED' },
    'the original error is kept even when the release fails too',
  );
  t.same(broker.counts, { granted: 2, released: 2 }, 'both leases were given back');
  t.equal(broker.openLeases, 0);
  t.same([ch.transactions, ch.failures], [1, 1]);
});

/** An instrument in memory: readings count up; behaviour switches for the host's edge cases. */
class FakeInstrument implements HostedInstrument {
  readonly type = 'Fake';
  reads = 0;
  failReads = false;
  slowMs = 0;
  /** The next read takes this long (once), whenever it comes. */
  slowOnceMs = 0;
  shutDown = false;
  constructor(
    readonly id: string,
    readonly pollHz: number,
    private readonly failInit = false,
  ) {}
  readonly commands: CommandTable = {
    wait: {
      params: [{ name: 'ms', type: 'number', min: 0 }],
      description: 'waits',
      run: async (ms: number) => {
        await new Promise((r) => setTimeout(r, ms));
        return ms;
      },
    },
  };
  async initialize(): Promise<string> {
    if (this.failInit) throw new DaqError('DAQ_READ_TIMEOUT', `${this.id} did not answer`);
    return `${this.id} v1`;
  }
  async read(): Promise<Reading[]> {
    const once = this.slowOnceMs;
    this.slowOnceMs = 0;
    if (this.slowMs || once) await new Promise((r) => setTimeout(r, this.slowMs + once));
    if (this.failReads) throw new Error('no reply');
    return [{ channel: 'n', value: ++this.reads, unit: '' }];
  }
  async shutdown(): Promise<void> {
    this.shutDown = true;
  }
  channels() {
    return [{ channel: 'n', unit: '' }];
  }
}

const INIT: SubsystemInit = { instruments: [], epochOffsetNs: 0n, leaseTimeoutMs: 100, batchRows: 1000, batchIntervalMs: 10 };

function host(instruments: FakeInstrument[]) {
  const sink = new ListSink(1000, 10);
  const byId = new Map(instruments.map((i) => [i.id, i]));
  const h = new SubsystemHost(
    'vX',
    {} as BrokerApi,
    (c) => byId.get(c.id)!,
    () => sink,
  );
  const init = { ...INIT, instruments: instruments.map((i) => ({ id: i.id, type: 'MockPower' }) as never) };
  return { h, sink, init };
}

t.test('host: the achieved poll rate and the polls missed, for one that keeps up and one that cannot', async (t) => {
  const keeps = new FakeInstrument('keeps', 10); // instant reads, 100 ms period
  const slow = new FakeInstrument('slow', 100); // each read takes 40 ms: at most 25 polls/s of the 100 asked
  slow.slowMs = 40;
  const { h, init } = host([keeps, slow]);
  await h.init(init);
  const before = (await h.status()).instruments;
  t.same(
    before.map((s) => [s.pollingS, s.missedPolls, s.achievedHz]),
    [
      [0, 0, 0],
      [0, 0, 0],
    ],
    'nothing before polling starts',
  );
  await h.startPolling();
  await new Promise((r) => setTimeout(r, 1200));
  await h.stopPolling();
  const [k, s] = (await h.status()).instruments;
  t.ok(k!.pollingS >= 1.1 && k!.pollingS < 3, `polled for ${k!.pollingS} s`);
  t.ok(Math.abs(k!.achievedHz - 10) < 1.5, `keeps up: ${k!.achievedHz} Hz of 10`);
  t.ok(k!.missedPolls <= 1, `no polls missed (${k!.missedPolls})`);
  t.ok(s!.achievedHz > 5 && s!.achievedHz <= 25.5, `the slow one gets at most 25 Hz of 100 (${s!.achievedHz})`);
  t.equal(
    s!.missedPolls,
    Math.floor(s!.pollingS * 100) - s!.polls,
    'missed = what poll_hz asked in the time polled, less the polls',
  );
  t.ok(s!.missedPolls > 60, `and they are many (${s!.missedPolls})`);
  await new Promise((r) => setTimeout(r, 150));
  t.equal((await h.status()).instruments[0]!.pollingS, k!.pollingS, 'the time polled stops growing when polling stops');
  await h.shutdown();
});

t.test('host: a short hiccup is caught up (rate kept), a long one is skipped (polls missed, counted)', async (t) => {
  // 5 Hz (200 ms periods), so the margins (180 ms below the 3-period limit, 1.2 s beyond it)
  // hold on a loaded machine; each slow poll is one poll, whenever it comes.
  const hiccup = new FakeInstrument('hiccup', 5);
  const stall = new FakeInstrument('stall', 5);
  const { h, init } = host([hiccup, stall]);
  await h.init(init);
  await h.startPolling();
  await new Promise((r) => setTimeout(r, 300));
  hiccup.slowOnceMs = 420; // one poll 2.1 periods long: within the 3 periods caught up
  stall.slowOnceMs = 2000; // one poll 10 periods long: beyond, skipped
  await new Promise((r) => setTimeout(r, 3000));
  await h.stopPolling();
  const [a, b] = (await h.status()).instruments;
  t.ok(a!.overruns > 0, `the hiccup made polls late (${a!.overruns})`);
  t.ok(a!.missedPolls <= 1, `and was caught up: ${a!.missedPolls} polls missed`);
  t.ok(b!.missedPolls >= 5, `the stall was skipped, its polls missed and counted (${b!.missedPolls})`);
  await h.shutdown();
});

t.test('host: init per instrument, polling at poll_hz, failing and recovering, overruns', async (t) => {
  const a = new FakeInstrument('a', 50);
  const b = new FakeInstrument('b', 0);
  const dead = new FakeInstrument('dead', 10, true);
  const { h, sink, init } = host([a, b, dead]);
  const statuses = await h.init(init);
  t.same(
    statuses.map((s) => [s.id, s.state, s.identity ?? s.error?.code]),
    [
      ['a', 'ready', 'a v1'],
      ['b', 'ready', 'b v1'],
      ['dead', 'failed', 'DAQ_READ_TIMEOUT'],
    ],
  );
  await t.rejects(h.init(init), { code: 'DAQ_INVALID_ARGUMENT' }, 'init runs once');
  await t.rejects(h.command('dead', 'wait', [1]), {
    code: 'DAQ_INSTRUMENT',
    message: /dead failed to initialise \(dead did not answer\)/,
  });
  await h.startPolling();
  await t.rejects(h.startPolling(), { code: 'DAQ_INVALID_ARGUMENT' });
  await new Promise((r) => setTimeout(r, 200));
  a.failReads = true;
  await new Promise((r) => setTimeout(r, 120));
  let s = (await h.status()).instruments.find((i) => i.id === 'a')!;
  t.equal(s.state, 'failing', 'three failed polls in a row: failing');
  t.match(s.error, { code: 'DAQ_INSTRUMENT', message: 'no reply' });
  a.failReads = false;
  a.slowMs = 50; // slower than the 20 ms period
  await new Promise((r) => setTimeout(r, 200));
  s = (await h.status()).instruments.find((i) => i.id === 'a')!;
  t.equal(s.state, 'polling', 'a good poll recovers');
  t.ok(s.overruns > 0, `late polls are counted (${s.overruns})`);
  t.equal(b.reads, 0, 'poll_hz = 0 is never polled');
  await h.stopPolling();
  const polls = s.polls;
  t.ok(polls > 5);
  const report = await h.shutdown();
  t.same(report.instruments, [
    { id: 'a', ok: true },
    { id: 'b', ok: true },
    { id: 'dead', ok: true },
  ]);
  t.ok(a.shutDown && b.shutDown && !dead.shutDown, 'only initialised instruments are shut down');
  t.equal(report.output.accepted, a.reads, 'every reading reached the sink');
  t.equal(sink.rows.length, a.reads);
  t.same(
    sink.rows.slice(0, 3).map((r) => r.split('@')[0]),
    ['a.n=1', 'a.n=2', 'a.n=3'],
    'in order',
  );
  t.equal((await h.status()).state, 'stopped');
});

t.test('host: shutdown lets queued commands finish and refuses new ones', async (t) => {
  const a = new FakeInstrument('a', 0);
  const { h, init } = host([a]);
  await h.init(init);
  await h.startPolling();
  const running = h.command('a', 'wait', [80]);
  const queued = h.command('a', 'wait', [10]);
  t.equal((await h.status()).instruments[0]!.queue, 2, 'the queue length is visible');
  const shutdown = h.shutdown();
  await t.rejects(h.command('a', 'wait', [1]), { code: 'DAQ_CLOSED', message: /vX is shutting down; a\.wait was not run/ });
  const report = await shutdown;
  t.same([await running, await queued], [80, 10]);
  t.same([report.commandsFinished, report.commandsFailed], [2, 0]);
  await t.rejects(h.command('nope', 'wait', [1]), {
    code: 'DAQ_UNKNOWN_INSTRUMENT',
    message: /vX has no instrument "nope"; it runs: a/,
  });
  await t.rejects(h.command('a', 'wait', [-1]), { code: 'DAQ_CLOSED' });
  t.equal(typeof (await h.ping()), 'bigint');
});

t.test('host: a command error is counted and kept as the last error', async (t) => {
  const a = new FakeInstrument('a', 0);
  const { h, init } = host([a]);
  await h.init(init);
  await t.rejects(h.command('a', 'wait', ['x']), { code: 'DAQ_INVALID_ARGUMENT' });
  const s = (await h.status()).instruments[0]!;
  t.same([s.commands, s.commandErrors, s.error?.code], [1, 1, 'DAQ_INVALID_ARGUMENT']);
  await h.shutdown();
});
