// The shadow comparator alone: pairing by nearest time within the tolerance, one to one,
// the statistics it derives, and what it does with late, missing and invalid readings.

import t from 'tap';
import { SeriesTable, emptyChunk, type ScalarChunk } from '../src/bridge/series.js';
import { ShadowComparator } from '../src/shadow/shadow-comparator.js';
import { formatShadow } from '../src/shadow/shadow-format.js';

const MS = 1_000_000n;
const T0 = 1_700_000_000_000n * MS;

interface Row {
  side: 'v2' | 'v4-shadow' | 'v4';
  instrument?: string;
  channel?: string;
  unit?: string;
  ms: number;
  value: number;
}

function chunk(table: SeriesTable, rows: Row[]): ScalarChunk {
  const c = emptyChunk(rows.length);
  rows.forEach((r, i) => {
    c.ts[i] = T0 + BigInt(Math.round(r.ms * 1e6));
    c.value[i] = r.value;
    c.series[i] = table.id(r.side, r.instrument ?? 'pm', r.channel ?? 'power', r.unit ?? 'W');
  });
  c.length = rows.length;
  return c;
}

/** Rows of both sides in time order, as the bridge emits them. */
function feed(cmp: ShadowComparator, table: SeriesTable, rows: Row[]): void {
  const sorted = [...rows].sort((a, b) => a.ms - b.ms);
  for (let i = 0; i < sorted.length; i += 7) cmp.write(chunk(table, sorted.slice(i, i + 7)), table);
}

function series(side: Row['side'], n: number, periodMs: number, startMs: number, value: (i: number) => number): Row[] {
  return Array.from({ length: n }, (_, i) => ({ side, ms: startMs + i * periodMs, value: value(i) }));
}

/** One laser channel read by V2 at 0 ms and by its V4 shadow at 1 ms: [unit, value] per side. */
function laserPair(channel: string, v2: [unit: string, value: number], v4: [unit: string, value: number]): Row[] {
  return [
    { side: 'v2', instrument: 'laser', channel, unit: v2[0], ms: 0, value: v2[1] },
    { side: 'v4-shadow', instrument: 'laser', channel, unit: v4[0], ms: 1, value: v4[1] },
  ];
}

t.test('identical readings pair up one to one with zero difference', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 50 }]);
  feed(cmp, table, [...series('v2', 100, 100, 0, () => 1e-3), ...series('v4-shadow', 100, 100, 37, () => 1e-3)]);
  cmp.finish();
  const r = cmp.report();
  t.equal(r.final, true);
  const pm = r.instruments.pm!;
  t.equal(pm.pairs, 100);
  t.same(pm.unmatched, { v2: 0, v4: 0 });
  const c = pm.channels.power!;
  t.equal(c.unit, 'W');
  t.same(c.readings, { v2: 100, v4: 100 });
  t.equal(c.meanDiff, 0);
  t.equal(c.maxAbsDiff, 0);
  t.equal(c.maxRelDiff, 0);
  t.equal(Math.round(c.meanDtMs! * 1000), 37000, 'each pair is 37 ms apart');
  t.same(c.pending, { v2: 0, v4: 0 });
});

t.test('a known offset is measured exactly: mean, max, relative, and the worst moments', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 50 }], { worst: 3 });
  const v2 = series('v2', 50, 100, 0, () => 2e-3);
  // V4 reads 1e-5 W high, except three moments that are further off.
  const extra = new Map([
    [10, 4e-5],
    [20, 9e-5],
    [30, 2e-5],
  ]);
  const v4 = series('v4-shadow', 50, 100, 10, (i) => 2e-3 + 1e-5 + (extra.get(i) ?? 0));
  feed(cmp, table, [...v2, ...v4]);
  cmp.finish();
  const c = cmp.report().instruments.pm!.channels.power!;
  t.equal(c.pairs, 50);
  const mean = (50 * 1e-5 + 4e-5 + 9e-5 + 2e-5) / 50;
  t.ok(Math.abs(c.meanDiff! - mean) < 1e-12, `mean ${c.meanDiff} is ${mean}`);
  t.ok(Math.abs(c.meanAbsDiff! - mean) < 1e-12);
  t.ok(Math.abs(c.maxAbsDiff! - 1e-4) < 1e-12, 'largest is 1e-5 + 9e-5');
  t.ok(Math.abs(c.maxRelDiff! - 1e-4 / 2e-3) < 1e-9);
  t.equal(c.worst.length, 3);
  t.same(
    c.worst.map((w) => Math.round(w.diff * 1e6)),
    [100, 50, 30],
    'largest first',
  );
  t.equal(c.worst[0]!.timestampNs, String(T0 + 2000n * MS), 'the moment is V2 reading 20');
  t.equal(c.worst[0]!.dtMs, 10);
  t.equal(c.worst[0]!.timestamp, new Date(Number((T0 + 2000n * MS) / MS)).toISOString());
});

t.test('readings with no partner within the tolerance are counted unmatched, per side', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 20 }]);
  // V4 misses every fifth reading; and two extra V4 readings far from any V2 one.
  const v2 = series('v2', 40, 100, 0, () => 1);
  const v4 = series('v4-shadow', 40, 100, 5, () => 1).filter((_, i) => i % 5 !== 1);
  v4.push({ side: 'v4-shadow', ms: 1050, value: 1 }, { side: 'v4-shadow', ms: 2250, value: 1 });
  feed(cmp, table, [...v2, ...v4]);
  cmp.finish();
  const pm = cmp.report().instruments.pm!;
  t.equal(pm.pairs, 32);
  t.same(pm.unmatched, { v2: 8, v4: 2 });
  t.same(pm.outside, { v2: 0, v4: 0 });
  t.equal(pm.channels.power!.readings.v4, 34);
});

t.test('nearest wins: a reading gives way to a nearer one of its own side', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 10 }]);
  feed(cmp, table, [
    { side: 'v2', ms: 0, value: 1 },
    { side: 'v2', ms: 9, value: 2 },
    { side: 'v4-shadow', ms: 10, value: 2.5 },
  ]);
  cmp.finish();
  const c = cmp.report().instruments.pm!.channels.power!;
  t.equal(c.pairs, 1);
  t.same(c.unmatched, { v2: 1, v4: 0 });
  t.equal(c.meanDiff, 0.5, 'paired with the reading at 9 ms, not 0 ms');
});

t.test('readings wait until the stream has passed them by twice the tolerance', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 100 }]);
  cmp.write(chunk(table, [{ side: 'v2', ms: 0, value: 1 }]), table);
  let c = cmp.report().instruments.pm!.channels.power!;
  t.same(c.pending, { v2: 1, v4: 0 }, 'undecided');
  t.equal(cmp.report().final, false);
  cmp.write(chunk(table, [{ side: 'v4-shadow', ms: 150, value: 1 }]), table);
  t.equal(cmp.report().instruments.pm!.channels.power!.pending.v2, 1, 'still inside 2 x tolerance');
  // Another instrument's row moves the stream on.
  cmp.write(chunk(table, [{ side: 'v2', instrument: 'other', ms: 201, value: 0 }]), table);
  c = cmp.report().instruments.pm!.channels.power!;
  t.same(c.outside, { v2: 1, v4: 0 }, '150 ms is beyond the 100 ms tolerance, and before V4 began');
  t.same(c.pending, { v2: 0, v4: 1 });
  cmp.finish();
  c = cmp.report().instruments.pm!.channels.power!;
  t.same(c.outside, { v2: 1, v4: 1 }, 'and the V4 reading came after V2 ended');
  t.same(c.unmatched, { v2: 0, v4: 0 });
  t.same(c.pending, { v2: 0, v4: 0 });
  t.equal(cmp.report().instruments.other, undefined, 'only shadowed instruments are reported');
});

t.test('a reading that arrives after its moment was decided is unmatched; invalid ones are counted', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 10 }]);
  feed(cmp, table, [...series('v2', 10, 100, 0, () => 1), ...series('v4-shadow', 10, 100, 1, () => 1)]);
  // Late: older than readings already paired.
  cmp.write(chunk(table, [{ side: 'v4-shadow', ms: 350, value: 1 }]), table);
  cmp.write(chunk(table, [{ side: 'v2', ms: 1000, value: NaN }]), table);
  cmp.write(chunk(table, [{ side: 'v4-shadow', ms: 1001, value: Infinity }]), table);
  cmp.finish();
  const c = cmp.report().instruments.pm!.channels.power!;
  t.equal(c.pairs, 10);
  t.same(c.unmatched, { v2: 0, v4: 1 });
  t.same(c.invalid, { v2: 1, v4: 1 });
  t.same(c.readings, { v2: 11, v4: 12 });
});

t.test('an out-of-order arrival not yet decided is placed in time order', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 100 }]);
  cmp.write(chunk(table, [{ side: 'v4-shadow', ms: 100, value: 3 }]), table);
  cmp.write(chunk(table, [{ side: 'v4-shadow', ms: 50, value: 2 }]), table);
  cmp.write(chunk(table, [{ side: 'v2', ms: 49, value: 2 }]), table);
  cmp.write(chunk(table, [{ side: 'v2', ms: 101, value: 3 }]), table);
  cmp.finish();
  const c = cmp.report().instruments.pm!.channels.power!;
  t.equal(c.pairs, 2);
  t.equal(c.maxAbsDiff, 0, 'each paired with its own moment');
});

t.test('per channel: units, relative differences that do not exist, V4 rows of other instruments', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'laser', type: 'MaiTai', toleranceMs: 10 }], { worst: 0 });
  feed(cmp, table, [
    ...laserPair('shutter', ['', 0], ['', 1]),
    ...laserPair('wavelength', ['nm', 800], ['um', 0.8]),
    { side: 'v4', instrument: 'laser', channel: 'power', unit: 'W', ms: 0, value: 5 },
    { side: 'v4', instrument: 'stage', channel: 'position', unit: 'mm', ms: 0, value: 5 },
  ]);
  cmp.finish();
  const laser = cmp.report().instruments.laser!;
  t.same(Object.keys(laser.channels).sort(), ['shutter', 'wavelength'], 'plain V4 rows are not shadow rows');
  const shutter = laser.channels.shutter!;
  t.equal(shutter.relUndefined, 1);
  t.equal(shutter.meanRelDiff, null);
  t.equal(shutter.maxAbsDiff, 1);
  t.same(shutter.worst, [], 'worst = 0 keeps none');
  t.equal(laser.channels.wavelength!.unit, 'nm');
  t.equal(laser.channels.wavelength!.v4Unit, 'um', 'a unit mismatch is shown');
  t.equal(laser.maxAbsDiff, 799.2);
  t.equal(laser.pairs, 2);
});

t.test('readings while the other side was not running are outside the comparison, not unmatched', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 20 }]);
  // V2 runs 0-2000 ms; V4 starts at 500 and stops at 1500, with one reading missing at 1000.
  const v2 = series('v2', 21, 100, 0, () => 1);
  const v4 = series('v4-shadow', 11, 100, 502, () => 1).filter((r) => r.ms !== 1002);
  feed(cmp, table, [...v2, ...v4]);
  cmp.finish();
  const pm = cmp.report().instruments.pm!;
  t.equal(pm.pairs, 10);
  t.same(pm.outside, { v2: 10, v4: 0 }, '0-400 before V4 began, 1600-2000 after it ended');
  t.same(pm.unmatched, { v2: 1, v4: 0 }, 'the gap at 1000 ms is a real miss');
});

t.test('an instrument V4 could not run, and one without readings', async (t) => {
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 10 }]);
  cmp.v4Failed('pm', 'no reply from /dev/ttyUSB1');
  cmp.finish();
  const pm = cmp.report().instruments.pm!;
  t.equal(pm.v4Error, 'no reply from /dev/ttyUSB1');
  t.equal(pm.pairs, 0);
  t.equal(pm.maxAbsDiff, null);
  t.same(pm.channels, {});
  t.same(cmp.ids, ['pm']);
  // Rows after the end change nothing.
  const table = new SeriesTable();
  cmp.write(chunk(table, [{ side: 'v2', instrument: 'pm', ms: 0, value: 1 }]), table);
  t.same(cmp.report().instruments.pm!.channels, {});
});

t.test('a tolerance that is not a positive number is refused', async (t) => {
  for (const toleranceMs of [0, -1, NaN, Infinity])
    t.throws(() => new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs }]), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('long runs keep memory bounded: decided readings are let go', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 5 }]);
  const n = 20000;
  feed(cmp, table, [...series('v2', n, 10, 0, (i) => i), ...series('v4-shadow', n, 10, 1, (i) => i + 0.5)]);
  const c = cmp.report().instruments.pm!.channels.power!;
  t.ok(c.pending.v2 + c.pending.v4 <= 4, `only the last readings wait (${JSON.stringify(c.pending)})`);
  t.equal(c.pairs, n - c.pending.v2);
  t.equal(c.meanDiff, 0.5);
});

t.test('the text form says what a reader needs: failures, unit mismatches, missing numbers', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator(
    [
      { id: 'laser', type: 'MaiTai', toleranceMs: 12.5 },
      { id: 'pm', type: 'Newport1830C', toleranceMs: 10 },
      { id: 'idle', type: 'Elliptec', toleranceMs: 10 },
    ],
    { worst: 1 },
  );
  cmp.v4Failed('pm', 'no reply');
  feed(cmp, table, [
    ...laserPair('wavelength', ['nm', 800], ['um', 0.8]),
    ...laserPair('power', ['W', 2.5e7], ['W', 2.5e7]),
    ...laserPair('shutter', ['', 0], ['', 1]),
    { side: 'v2', instrument: 'laser', channel: 'shutter', unit: '', ms: 500, value: NaN },
    { side: 'v2', instrument: 'pm', channel: 'power', unit: 'W', ms: 0, value: 1 },
  ]);
  const running = formatShadow(cmp.report().instruments, { final: false, indent: '' });
  t.match(running[0], /not final/);
  cmp.finish();
  const text = formatShadow(cmp.report().instruments, { final: true }).join('\n');
  t.notMatch(text, /not final/);
  t.match(text, /laser \(MaiTai, pairs within 12\.50 ms\): 3 pairs/);
  t.match(text, /wavelength \[nm; V4 reports um\]: 1 pairs .*mean diff -799\.2/);
  t.match(text, /power \[W\]: 1 pairs .*mean diff 0, .*max \|diff\| 0,/);
  t.match(text, /shutter: 1 pairs .*mean rel -, max rel -; not numbers: V2 1 \/ V4 0/);
  t.match(text, /worst at .*V2 0, V4 1, diff \+1 \(V4 \+1 ms later\)/);
  t.match(text, /pm \(Newport1830C.*\n.*V4 COULD NOT RUN IT: no reply/);
  t.match(text, /not compared, the other side not running: V2 1 \/ V4 0/);
  t.match(text, /idle \(Elliptec, pairs within 10 ms\): 0 pairs.*\n\s+no readings to compare/);
});
