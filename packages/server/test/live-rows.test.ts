// The live stream's rows: V2 measurement batches and V4 Arrow batches (as the workers make
// them) become rows keyed by id; encoding gives the documented Arrow columns, filtered by a
// subscription, with V4's rows of a shadowed instrument labelled v4-shadow.

import t from 'tap';
import { RecordBatchStreamWriter, tableFromIPC } from 'apache-arrow';
import { ScalarBatchBuilder } from '@daq/core';
import { LiveRows } from '../src/hub.js';

const NS = 1_796_600_000_000_000_000n;

function v4Bytes(rows: [bigint, string, string, number, string?][]): Uint8Array {
  const b = new ScalarBatchBuilder();
  for (const [ts, inst, ch, v, flag] of rows) b.append(ts, inst, ch, v, 'W', flag);
  return RecordBatchStreamWriter.writeAll([b.cut()!]).toUint8Array(true);
}

t.test('V2 and V4 batches to rows, encoded and filtered', async (t) => {
  const live = new LiveRows(new Set(['pm']));
  const a = live.fromEvent({
    type: 'measurements',
    subsystem: 'v2',
    items: [
      { instrument: 'pm', channel: 'power', timestampNs: NS, value: 1.5, unit: 'W' },
      { instrument: 'rot', channel: 'position', timestampNs: NS + 1_000_000n, value: 30, unit: 'deg' },
    ],
  });
  const b = live.fromEvent({
    type: 'arrow',
    subsystem: 'v4',
    bytes: v4Bytes([
      [NS + 2_000_000n, 'pm', 'power', 1.6],
      [NS + 3_000_000n, 'dmm', 'volts', 0.25],
      [NS + 4_000_000n, 'dmm', 'volts', 9e9, 'overload'],
    ]),
  });
  t.same(live.keys, ['pm.power', 'rot.position', 'dmm.volts']);
  t.equal(live.rowsIn, 5);
  t.equal(live.batchesIn, 2);

  const all = tableFromIPC(live.encode(b, undefined).bytes);
  t.same(
    all.schema.fields.map((f) => f.name),
    ['time', 'ts_ns', 'key', 'value', 'subsystem'],
  );
  t.same(all.getChild('key')!.toArray(), ['pm.power', 'dmm.volts', 'dmm.volts']);
  t.same(all.getChild('subsystem')!.toArray(), ['v4-shadow', 'v4', 'v4'], "V4's rows of a shadowed instrument");
  const values = [...all.getChild('value')!.toArray()];
  t.same(values.slice(0, 2), [1.6, 0.25]);
  t.ok(Number.isNaN(values[2]), 'a flagged reading has no value');
  t.equal(all.getChild('ts_ns')!.get(0), NS + 2_000_000n);
  t.ok(Math.abs(all.getChild('time')!.get(0) - Number(NS / 1000n) / 1e6 - 0.002) < 1e-6, 'time in epoch seconds');

  const only = tableFromIPC(live.encode(a, live.mask(new Set(['rot.position']))).bytes);
  t.equal(only.numRows, 1);
  t.same(only.getChild('key')!.toArray(), ['rot.position']);
  t.same(only.getChild('subsystem')!.toArray(), ['v2']);
  t.equal(live.encode(a, live.mask(new Set(['nothing.here']))).rows, 0);

  t.same(live.last('pm.power', 'v2'), { value: 1.5, time: Number(NS / 1000n) / 1e6 });
  t.equal(live.last('pm.power', 'v4-shadow')!.value, 1.6);
  t.equal(live.last('pm.power', 'v4'), undefined);
  t.equal(live.last('nope.x', 'v2'), undefined);
});
