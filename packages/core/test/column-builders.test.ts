// Tests of the shared Arrow column builders: growable typed columns keep their rows through every
// growth and requeue, validity bitmaps and interned dictionaries are exact, and columns assembled
// with the helpers round-trip through an Arrow IPC stream.

import t from 'tap';
import { Field, Float64, Schema, Uint16, tableFromIPC } from 'apache-arrow';
import * as builders from '../src/arrow/column-builders.js';

const { GrowableColumns, Interner, allNull, dictionaryColumn, dictionaryField, grown, ipcStream } = builders;
const { numericColumn, recordBatch, timestampField, validityBitmap } = builders;

t.test('grown: same type, new length, the first `keep` elements copied, the rest zero', async (t) => {
  const a = new Uint16Array([1, 2, 3, 4]);
  const b = grown(a, 8);
  t.ok(b instanceof Uint16Array);
  t.not(b, a, 'a new array');
  t.same([...b], [1, 2, 3, 4, 0, 0, 0, 0]);
  t.same([...grown(new BigInt64Array([5n, -6n, 7n]), 5, 2)], [5n, -6n, 0n, 0n, 0n], 'only `keep` elements');
  t.same([...grown(new Float64Array([0.5, 1.5]), 2, 0)], [0, 0]);
});

t.test('GrowableColumns: rows survive doubling, columns grow together', async (t) => {
  const cols = new GrowableColumns({ ts: new BigInt64Array(2), v: new Float64Array(2), id: new Int32Array(2) });
  t.equal(cols.capacity, 2);
  const before = cols.columns.ts;
  cols.ensure(2);
  t.equal(cols.columns.ts, before, 'no growth while the rows fit');
  for (let i = 0; i < 11; i++) {
    cols.ensure(i + 1, i);
    cols.columns.ts[i] = BigInt(i) * 1_000_000_000_000n;
    cols.columns.v[i] = i / 4;
    cols.columns.id[i] = -i;
  }
  t.equal(cols.capacity, 16, 'doubled 2 → 4 → 8 → 16');
  for (const c of Object.values(cols.columns)) t.equal(c.length, 16, 'every column has the capacity');
  t.equal(cols.columns.ts[10], 10_000_000_000_000n);
  t.equal(cols.columns.v[7], 1.75);
  t.equal(cols.columns.id[3], -3);
  cols.ensure(100, 11);
  t.equal(cols.capacity, 128, 'one call doubles as often as needed');
  t.equal(cols.columns.id[10], -10, 'kept rows survive a big growth');

  const s = cols.slice(3);
  t.same([...s.ts], [0n, 1_000_000_000_000n, 2_000_000_000_000n]);
  t.same([...s.v], [0, 0.25, 0.5]);
  s.id[0] = 42;
  t.equal(cols.columns.id[0], 0, 'slices are copies');

  t.throws(() => new GrowableColumns({ a: new Int32Array(2), b: new Int32Array(3) }), RangeError, 'unequal lengths');
  t.throws(() => new GrowableColumns({ a: new Int32Array(0) }), RangeError, 'no room at all');
});

t.test('GrowableColumns.unshift: earlier rows go back in front of later ones', async (t) => {
  const cols = new GrowableColumns({ ts: new BigInt64Array(4), v: new Float64Array(4) });
  const earlier = { ts: new BigInt64Array([1n, 2n, 3n, 4n, 5n]), v: new Float64Array([10, 20, 30, 40, 50]) };
  cols.columns.ts.set([6n, 7n]);
  cols.columns.v.set([60, 70]);
  const rows = cols.unshift(earlier, 2, 5, 2, 4);
  t.equal(rows, 5, 'three earlier rows plus two later ones');
  t.equal(cols.capacity, 5, 'at least the rows');
  t.same([...cols.columns.ts], [3n, 4n, 5n, 6n, 7n]);
  t.same([...cols.columns.v], [30, 40, 50, 60, 70]);
  t.equal(cols.unshift(earlier, 4, 5, 0, 64), 1);
  t.equal(cols.capacity, 64, 'minCapacity when the rows are fewer');
  t.same([...cols.columns.v.subarray(0, 2)], [50, 0]);
});

t.test('validityBitmap: LSB-first bits, exact null count, no bitmap when all are valid', async (t) => {
  t.same(
    validityBitmap(5, () => true),
    { nullCount: 0 },
  );
  const v = validityBitmap(10, (i) => i !== 1 && i !== 8);
  t.equal(v.nullCount, 2);
  t.same([...v.nullBitmap!], [0b11111101, 0b00000010]);
  const none = allNull(9);
  t.equal(none.nullCount, 9);
  t.same([...none.nullBitmap!], [0, 0]);
});

t.test('Interner: first-seen indices that never change; the vector follows growth', async (t) => {
  const d = new Interner();
  t.equal(d.id('W'), 0);
  t.equal(d.id('V'), 1);
  t.equal(d.id('W'), 0, 'a known string keeps its index');
  const v1 = d.toVector();
  t.equal(d.toVector(), v1, 'cached while the dictionary does not grow');
  t.same(v1.toArray(), ['W', 'V']);
  t.equal(d.id('deg'), 2);
  t.same(d.toVector().toArray(), ['W', 'V', 'deg'], 'a new string makes a new vector');
  t.same(d.values, ['W', 'V', 'deg']);
});

t.test('columns assembled with the helpers read back from an IPC stream', async (t) => {
  const schema = new Schema([
    timestampField(),
    dictionaryField('instrument', 0),
    new Field('value', new Float64(), true),
    new Field('count', new Uint16(), false),
    dictionaryField('flag', 1, true),
  ]);
  const f = schema.fields;
  const names = new Interner();
  const ids = Int32Array.from(['pm', 'dmm', 'pm'], (s) => names.id(s));
  const batch = recordBatch(schema, 3, [
    numericColumn(f[0]!.type, 3, new BigInt64Array([1n, 2n, 1_700_000_000_000_000_003n])),
    dictionaryColumn(f[1]!.type, 3, ids, names.toVector()),
    numericColumn(
      f[2]!.type,
      3,
      new Float64Array([1.5, Number.NaN, -2]),
      validityBitmap(3, (i) => i !== 1),
    ),
    numericColumn(f[3]!.type, 3, new Uint16Array([7, 8, 65535])),
    dictionaryColumn(
      f[4]!.type,
      3,
      new Int32Array(3),
      ['overload'],
      validityBitmap(3, (i) => i === 1),
    ),
  ]);
  t.equal(batch.numRows, 3);
  const table = tableFromIPC(ipcStream(batch));
  t.same(
    table.schema.fields.map((x) => `${x.name}:${x.type}:${x.nullable}`),
    [
      'timestamp:Timestamp<NANOSECOND, UTC>:false',
      'instrument:Dictionary<Int32, Utf8>:false',
      'value:Float64:true',
      'count:Uint16:false',
      'flag:Dictionary<Int32, Utf8>:true',
    ],
  );
  t.equal((table.getChild('timestamp')!.data[0]!.values as BigInt64Array)[2], 1_700_000_000_000_000_003n);
  t.same(table.getChild('instrument')!.toArray(), ['pm', 'dmm', 'pm']);
  t.same(
    [0, 1, 2].map((i) => table.getChild('value')!.get(i)),
    [1.5, null, -2],
  );
  t.same([...table.getChild('count')!.toArray()], [7, 8, 65535]);
  t.same(
    [0, 1, 2].map((i) => table.getChild('flag')!.get(i)),
    [null, 'overload', null],
  );
});
