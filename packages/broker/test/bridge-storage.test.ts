// The MeasurementBridge and the ScalarFileSink on their own: merge order, late rows (delivered
// and counted), out-of-order sources, counts in == out, Arrow batches from V4, dictionary
// growth starting a new part file, and a write failure reported rather than hidden.

import t from 'tap';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { Clock, ScalarBatchBuilder, type Measurement } from '@daq/core';
import { MeasurementBridge, ScalarFileSink, type BridgeSink, type ScalarChunk, type SeriesTable } from '../src/index.js';

class Collect implements BridgeSink {
  rows: { ts: bigint; key: string; value: number }[] = [];
  writes = 0;
  write(c: ScalarChunk, table: SeriesTable): void {
    this.writes++;
    for (let i = 0; i < c.length; i++) {
      const k = table.keys[c.series[i]!]!;
      this.rows.push({ ts: c.ts[i]!, key: `${k.subsystem}/${k.instrument}/${k.channel}/${k.unit}`, value: c.value[i]! });
    }
  }
}

/** A clock frozen at `now` ns, moved by the test. */
class FakeClock extends Clock {
  now = 0n;
  override nowNs(): bigint {
    return this.now;
  }
}

const m = (instrument: string, ts: bigint, value: number): Measurement => ({
  instrument,
  channel: 'c',
  timestampNs: ts,
  value,
  unit: 'u',
});

t.test('rows are merged across sources in time order once older than the lateness window', async (t) => {
  const clock = new FakeClock();
  const out = new Collect();
  const bridge = new MeasurementBridge({ latenessMs: 1, clock }, [out]);
  bridge.pushMeasurements('v2', 'v2', [m('a', 10n, 1), m('a', 30n, 3), m('a', 2_000_000n, 9)]);
  bridge.pushMeasurements('v4', 'v4', [m('b', 20n, 2), m('b', 40n, 4)]);
  clock.now = 1_000_100n; // watermark 100 ns
  t.equal(bridge.tick(), 4);
  t.same(
    out.rows.map((r) => r.value),
    [1, 2, 3, 4],
    'interleaved by timestamp',
  );
  t.equal(bridge.tick(), 0, 'the young row waits');
  t.same(bridge.counts().v2, { in: 3, out: 2, late: 0, buffered: 1, batches: 1 });
  t.equal(bridge.drain(), 1, 'drain emits the rest');
  t.same(
    Object.values(bridge.counts()).map((c) => [c.in, c.out, c.buffered]),
    [
      [3, 3, 0],
      [2, 2, 0],
    ],
  );
});

t.test('a late row is delivered and counted, never dropped; a source out of its own order is sorted', async (t) => {
  const clock = new FakeClock();
  const out = new Collect();
  const bridge = new MeasurementBridge({ latenessMs: 0, clock }, [out]);
  bridge.pushMeasurements('v2', 'v2', [m('a', 100n, 1)]);
  clock.now = 1000n;
  bridge.tick();
  bridge.pushMeasurements('v4', 'v4', [m('b', 50n, 2), m('b', 150n, 3)]);
  t.equal(bridge.counts().v4!.late, 1, 'the row older than what was emitted is late');
  bridge.pushMeasurements('v2', 'v2', [m('a', 300n, 5), m('a', 200n, 4)]);
  bridge.pushMeasurements('v2', 'v2', [m('a', 250n, 4.5)]);
  bridge.drain();
  t.same(
    out.rows.map((r) => r.value),
    [1, 2, 3, 4, 4.5, 5],
    'everything delivered; the late row first in its tick',
  );
  const c = bridge.counts();
  t.equal(c.v2!.in, c.v2!.out);
  t.equal(c.v4!.in, c.v4!.out);
});

t.test('V4 Arrow batches become series of the bridge', async (t) => {
  const out = new Collect();
  const bridge = new MeasurementBridge({ latenessMs: 0 }, [out]);
  const b = new ScalarBatchBuilder(4);
  for (let i = 0; i < 10; i++) b.append(BigInt(i), i % 2 ? 'x' : 'y', 'pos', i, 'mm');
  t.equal(bridge.pushArrow('v4', 'v4', b.cutIpc()!.bytes), 10);
  bridge.drain();
  t.same(out.rows.slice(0, 2), [
    { ts: 0n, key: 'v4/y/pos/mm', value: 0 },
    { ts: 1n, key: 'v4/x/pos/mm', value: 1 },
  ]);
  t.equal(bridge.series.size, 2);
});

t.test('the file sink: one stream file, a new part when a new series appears, rows only from stored subsystems', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sink-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sink = new ScalarFileSink(dir, { flushIntervalMs: 60_000, storeSubsystems: new Set(['v4']), sync: false });
  const bridge = new MeasurementBridge({ latenessMs: 0 }, [sink]);
  bridge.pushMeasurements('v4', 'v4', [m('a', 1n, 1), m('a', 2n, 2)]);
  bridge.pushMeasurements('v2', 'v2', [m('z', 3n, 3)]);
  bridge.drain();
  await sink.flush();
  bridge.pushMeasurements('v4', 'v4', [m('a', 4n, 4)]);
  bridge.drain();
  await sink.flush();
  bridge.pushMeasurements('v4', 'v4', [m('new', 5n, 5)]);
  bridge.drain();
  await sink.close();
  await sink.close();
  const s = sink.stats;
  t.same(s.files, ['scalars.arrows', 'scalars-2.arrows'], 'the new instrument started a new part');
  t.same([s.rowsFlushed, s.rowsNotStored, s.flushes], [4, 1, 3]);
  t.same(s.perInstrument, { a: 3, new: 1 });
  t.same((await readdir(dir)).sort(), ['scalars-2.arrows', 'scalars.arrows']);
  const first = tableFromIPC(await readFile(join(dir, 'scalars.arrows')));
  const second = tableFromIPC(await readFile(join(dir, 'scalars-2.arrows')));
  t.same([first.numRows, first.batches.length, second.numRows], [3, 2, 1], 'two flushes appended to one stream');
  t.same(first.getChild('value')!.toArray(), new Float64Array([1, 2, 4]));
  t.equal(second.getChild('instrument')!.get(0), 'new');
  t.throws(
    () =>
      sink.write({ ts: new BigInt64Array(0), value: new Float64Array(0), series: new Int32Array(0), length: 0 }, bridge.series),
    {
      code: 'DAQ_CLOSED',
    },
  );
});

t.test('a failing write is reported and counted; the rows are kept and written once the disk recovers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sink-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const target = join(dir, 'later');
  const sink = new ScalarFileSink(target, { flushIntervalMs: 60_000, storeSubsystems: new Set(['v2']), maxBacklogRows: 3 });
  const bridge = new MeasurementBridge({ latenessMs: 0 }, [sink]);
  bridge.pushMeasurements('v2', 'v2', [m('a', 1n, 1), m('a', 2n, 2)]);
  bridge.drain();
  await t.rejects(sink.flush(), {
    code: 'DAQ_WORKER',
    message: /cannot write 2 rows to .*later: ENOENT.*kept in memory and retried at the next flush; 2 rows waiting/,
  });
  t.match(sink.stats, { flushErrors: 1, rowsFlushed: 0, rowsDropped: 0, lastError: /ENOENT/ });
  bridge.pushMeasurements('v2', 'v2', [m('a', 3n, 3), m('a', 4n, 4)]);
  bridge.drain();
  await t.rejects(sink.flush());
  t.equal(sink.stats.rowsDropped, 1, 'beyond maxBacklogRows the oldest row is dropped, and counted');
  await mkdir(target); // the disk "recovers"
  await sink.close();
  t.match(sink.stats, { rowsFlushed: 3, rowsDropped: 1, flushErrors: 2 });
  const table = tableFromIPC(await readFile(join(target, 'scalars.arrows')));
  t.same(table.getChild('value')!.toArray(), new Float64Array([2, 3, 4]), 'the kept rows, in order');
});

t.test(
  'flagged readings (SCPI overload, not-a-number) are stored as null with their flag and counted per instrument',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'daq-sink-flag-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const sink = new ScalarFileSink(dir, { flushIntervalMs: 60_000, storeSubsystems: new Set(['v2', 'v4']), sync: false });
    const bridge = new MeasurementBridge({ latenessMs: 0 }, [sink]);
    const b = new ScalarBatchBuilder(4);
    b.append(1n, 'dmm', 'MEAS:VOLT:DC?', 1.25, 'V');
    b.append(3n, 'dmm', 'MEAS:VOLT:DC?', 9.9e37, 'V', 'overload');
    b.append(5n, 'dmm', 'MEAS:VOLT:DC?', Number.NaN, 'V', 'not-a-number');
    b.append(7n, 'dmm', 'MEAS:VOLT:DC?', 1.5, 'V');
    t.equal(bridge.pushArrow('v4', 'v4', b.cutIpc()!.bytes), 4);
    bridge.pushMeasurements('v2', 'v2', [m('old', 2n, 0.5), { ...m('old', 4n, Number.NaN), flag: 'overload' }]);
    bridge.drain();
    await sink.close();
    const table = tableFromIPC(await readFile(join(dir, 'scalars.arrows')));
    const rows = [...Array(table.numRows).keys()].map((i) => [
      table.getChild('instrument')!.get(i),
      table.getChild('value')!.get(i),
      table.getChild('flag')!.get(i),
    ]);
    t.same(rows, [
      ['dmm', 1.25, null],
      ['old', 0.5, null],
      ['dmm', null, 'overload'],
      ['old', null, 'overload'],
      ['dmm', null, 'not-a-number'],
      ['dmm', 1.5, null],
    ]);
    t.same(sink.stats.perInstrument, { dmm: 4, old: 2 }, 'flagged rows are rows too');
    t.same(sink.stats.flaggedPerInstrument, { dmm: { overload: 1, 'not-a-number': 1 }, old: { overload: 1 } });
  },
);
