// The shadow verdict (one place: shadow-verdict.ts) and the daemon's live view of a comparison:
// agreement by max_rel_diff, the edge cases (no pairs yet, V2 reading 0, V4 not running), the
// verdict in the comparator's report and in the text of the summary and `daq inspect`, the
// pairs kept for the live plot, and a plan run's comparison over its own span.

import t from 'tap';
import { Clock } from '@daq/core';
import { SeriesTable, emptyChunk, type ScalarChunk } from '../src/bridge/series.js';
import { ShadowComparator } from '../src/shadow/shadow-comparator.js';
import { formatShadow } from '../src/shadow/shadow-format.js';
import { PairTrace, ShadowLive } from '../src/shadow/shadow-live.js';
import { channelVerdict, shadowVerdict, withVerdicts } from '../src/shadow/shadow-verdict.js';

const MS = 1_000_000n;
const T0 = 1_700_000_000_000n * MS;
const ch = (pairs: number, maxRelDiff: number | null, relUndefined = 0) => ({ pairs, maxRelDiff, relUndefined });

t.test('a channel agrees at or under the tolerance, differs above it, and has no verdict without pairs', async (t) => {
  t.equal(channelVerdict(ch(10, 0.01), 0.01), 'agrees', 'equal to the tolerance agrees');
  t.equal(channelVerdict(ch(10, 0.0100001), 0.01), 'differs');
  t.equal(channelVerdict(ch(0, null), 0.01), 'no-pairs');
  t.equal(channelVerdict(ch(10, 0, 1), 0.01), 'differs', 'V2 read 0 and V4 did not: not agreement');
  t.equal(channelVerdict(ch(3, null, 3), 0.5), 'differs', 'every pair with V2 at 0');
});

t.test('the verdict over instruments: differs names the channels, else failed, agrees, or no pairs', async (t) => {
  const pm = { channels: { power: ch(10, 0.02) } };
  const rot = { channels: { position: ch(10, 0) } };
  const v = shadowVerdict({ pm, rot }, 0.01, false);
  t.equal(v.state, 'differs');
  t.equal(v.text, 'V4 differs: see the worst moments (pm.power: max rel 2.00 % > 1.00 %)');
  t.same(v.differs, ['pm.power']);
  t.equal(shadowVerdict({ pm, rot }, 0.05, false).text, 'V4 agrees');
  t.equal(shadowVerdict({ pm }, 0.01, false).text, 'V4 differs: see the worst moments (power: max rel 2.00 % > 1.00 %)');
  const zero = shadowVerdict({ pm: { channels: { power: ch(4, 0.001, 2) } } }, 0.01, true);
  t.equal(zero.text, 'V4 differs: see the worst moments (power: 2 pairs where V2 read 0 and V4 did not)');
  t.same(shadowVerdict({}, 0.01, false), { state: 'no-pairs', text: 'no pairs yet', maxRelDiff: 0.01, differs: [] });
  t.equal(shadowVerdict({ pm: { channels: {} } }, 0.01, true).text, 'no pairs: nothing was compared');
  t.equal(
    shadowVerdict({ rot, pm: { channels: { power: ch(0, null) } } }, 0.01, false).text,
    'V4 agrees (no pairs yet for pm.power)',
    'agreement says which channels were not compared',
  );
  const failed = shadowVerdict({ rot, pm: { channels: {}, v4Error: 'no V4 driver' } }, 0.01, true);
  t.same([failed.state, failed.text], ['failed', 'V4 could not run pm (no V4 driver)']);
});

/** Rows of both sides in time order: V2 reads `v2`, V4 reads `v4`, every 100 ms from `startMs`. */
function rows(table: SeriesTable, n: number, startMs: number, v2: number, v4: number): ScalarChunk {
  const c = emptyChunk(2 * n);
  for (let i = 0; i < n; i++)
    for (const [k, side, value] of [
      [0, 'v2', v2],
      [1, 'v4-shadow', v4],
    ] as const) {
      const j = 2 * i + k;
      c.ts[j] = T0 + BigInt(startMs + i * 100 + k * 10) * MS;
      c.value[j] = value;
      c.series[j] = table.id(side, 'pm', 'power', 'W');
    }
  c.length = 2 * n;
  return c;
}

t.test('the report carries its verdicts, and is judged again by another tolerance', async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 50 }], { maxRelDiff: 0.01 });
  t.equal(cmp.report().verdict.text, 'no pairs yet');
  cmp.write(rows(table, 20, 0, 1e-3, 1.02e-3), table);
  cmp.finish();
  const r = cmp.report();
  t.equal(r.maxRelDiff, 0.01);
  t.equal(r.verdict.state, 'differs');
  t.equal(r.instruments.pm!.verdict.text, 'V4 differs: see the worst moments (power: max rel 2.00 % > 1.00 %)');
  t.equal(r.instruments.pm!.channels.power!.verdict, 'differs');
  const again = withVerdicts(r, 0.05);
  t.equal(again.verdict.text, 'V4 agrees');
  t.equal(again.instruments.pm!.channels.power!.verdict, 'agrees');
  t.equal(r.verdict.state, 'differs', 'the original is left as it was');

  const text = formatShadow(r.instruments, { final: true }).join('\n');
  t.match(text, /verdict \(V4 agrees when max rel diff <= 1\.00 %\): V4 differs: see the worst moments/);
  t.match(text, /max rel 2\.00 %: DIFFERS/);
  t.match(
    formatShadow(r.instruments, { final: true, maxRelDiff: 0.05 }).join('\n'),
    /V4 agrees\n[^]*max rel 2\.00 %: agrees/,
    'the tolerance given (the configuration) wins over the one the report was judged by',
  );
  // A report written before verdicts existed: judged only when a tolerance is given.
  const old = JSON.parse(JSON.stringify(r.instruments));
  delete old.pm.verdict;
  t.notMatch(formatShadow(old, { final: true }).join('\n'), /verdict/);
  t.match(formatShadow(old, { final: true, maxRelDiff: 0.01 }).join('\n'), /V4 differs/);
});

t.test('pairs kept: the newest in a ring, or the whole run thinned', async (t) => {
  const p = (i: number) => ({ instrument: 'pm', channel: 'power', tsNs: T0 + BigInt(i) * MS, v2: i, v4: i + 1, dtNs: 0n });
  const ring = new PairTrace(10, 'ring');
  for (let i = 1; i <= 40; i++) ring.add(p(i), i);
  t.ok(ring.t.length >= 10 && ring.t.length <= 13, `bounded (${ring.t.length})`);
  t.equal(ring.v2[ring.v2.length - 1], 40, 'the newest kept');
  t.same(ring.after(37).v2, [38, 39, 40], 'after a sequence number');
  t.same(ring.after(40).t, []);
  const whole = new PairTrace(10, 'whole');
  for (let i = 1; i <= 100; i++) whole.add(p(i), i);
  t.ok(whole.t.length <= 10 && whole.t.length >= 5, `bounded (${whole.t.length})`);
  t.equal(whole.v2[0], 1, 'from the start');
  t.ok(whole.v2[whole.v2.length - 1]! > 80, 'to near the end');
});

t.test("the daemon's view: live pairs since a number, and a plan run's comparison over its span only", async (t) => {
  const table = new SeriesTable();
  const cmp = new ShadowComparator([{ id: 'pm', type: 'Newport1830C', toleranceMs: 50 }]);
  let now = T0 + 1000n * MS;
  const clock = { nowNs: () => now } as Clock;
  const live = new ShadowLive(cmp, { maxRelDiff: 0.05, worst: 3, clock, settleTimeoutMs: 50 });
  const feed = (c: ScalarChunk) => {
    cmp.write(c, table);
    live.write(c, table);
  };
  feed(rows(table, 10, 0, 1e-3, 1.02e-3)); // 0-900 ms: before the plan run
  const v = live.view(0);
  t.same(v.instruments, ['pm']);
  t.equal(v.report!.verdict.text, 'V4 agrees', 'judged by the configured 5 %');
  const first = v.traces['pm.power']!;
  t.equal(first.t.length, v.seq, 'every pair so far');
  t.ok(first.v4.every((x, i) => Math.abs(x - first.v2[i]! - 2e-5) < 1e-15));

  const w = live.window(); // starts at 1000 ms
  feed(rows(table, 10, 1000, 1e-3, 1.1e-3)); // 1000-1900 ms: the plan run, 10 % apart
  now = T0 + 2000n * MS;
  const ending = w.end();
  feed(rows(table, 10, 2000, 1e-3, 1e-3)); // after its end: not its rows
  const r = await ending;
  t.equal(r.final, true);
  t.equal(r.instruments.pm!.channels.power!.pairs, 10, "the run's pairs only");
  t.ok(Math.abs(r.instruments.pm!.channels.power!.maxRelDiff! - 0.1) < 1e-9);
  t.equal(r.verdict.state, 'differs');
  t.equal(r.traces['pm.power']!.t.length, 10);
  t.equal(r.instruments.pm!.channels.power!.worst.length, 3, 'worst as configured');
  t.same(r.window, { start: new Date(1_700_000_001_000).toISOString(), end: new Date(1_700_000_002_000).toISOString() });

  const later = live.view(v.seq);
  t.ok(later.traces['pm.power']!.t.length >= 10, 'the pairs decided since');
  t.ok(later.traces['pm.power']!.t.every((x) => x >= 1_700_000_000.9));

  // A run whose stream never passes its end (nothing reads any more) ends by the timeout.
  const quiet = live.window();
  t.equal((await quiet.end()).instruments.pm!.pairs, 0);
});
