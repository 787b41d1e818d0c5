// Benchmark of shadow mode (issue: migration and shadow mode):
// - shadow.overhead: how much V2's acquisition rate drops when V4 shadows the same
//   instruments. Two headless acquisitions on the same simulated instruments, one after the
//   other in this run: V2 alone, then V2 with [v4.shadow] listing every instrument (V4 then
//   polls the same devices through the same ports, taking turns through leases). V2's rate
//   is taken from its reading timestamps after a warm-up: (n - 1) / (last - first) per
//   instrument, summed. The two alternate in rounds (ABBA: the order is reversed every round, so a
//   drift of the machine over the run cancels out); each round gives an overhead in %
//   (1 - with / without). value = the median of the rounds' overheads, with their spread;
//   vs.withoutShadow = the median of the rounds' rate ratios. Goal: under 5 % (on the median).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@daq/core';
import { Acquisition, startAcquisition, type BridgeSink, type ScalarChunk, type SeriesTable } from '@daq/broker';
import { interleave, median, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';

/** Shadowable V2 instruments at lab-typical but busy rates: each line is shared by V2 and V4. */
const INSTRUMENTS = [
  { id: 'pm1', toml: 'type = "Newport1830C"\nserial_port = "/dev/ttyPM1"\nfilter = "fast"\npoll_hz = 10' },
  { id: 'pm2', toml: 'type = "Newport1830C"\nserial_port = "/dev/ttyPM2"\nfilter = "fast"\npoll_hz = 10' },
  { id: 'rot1', toml: 'type = "Elliptec"\nserial_port = "/dev/ttyBUS"\naddress = "0"\npoll_hz = 10' },
  { id: 'rot2', toml: 'type = "Elliptec"\nserial_port = "/dev/ttyBUS"\naddress = "1"\npoll_hz = 10' },
];

function config(dir: string, shadow: boolean): string {
  return `
[application]
name = "bench-shadow"
simulate = true
data_dir = "${dir}"
[v2]
batch_interval_ms = 50
${INSTRUMENTS.map((i) => `[[v2.instruments]]\nid = "${i.id}"\n${i.toml}`).join('\n')}
[v4]
batch_interval_ms = 50
[v4.shadow]
instruments = [${shadow ? INSTRUMENTS.map((i) => `"${i.id}"`).join(', ') : ''}]
`;
}

/** Collects V2's reading times per instrument, as the bridge emits them. */
class V2Times implements BridgeSink {
  readonly times = new Map<string, bigint[]>();
  write(chunk: ScalarChunk, table: SeriesTable): void {
    for (let i = 0; i < chunk.length; i++) {
      const k = table.keys[chunk.series[i]!]!;
      if (k.subsystem !== 'v2') continue;
      let list = this.times.get(k.instrument);
      if (!list) this.times.set(k.instrument, (list = []));
      list.push(chunk.ts[i]!);
    }
  }
}

/** Acquisitions started so far: each writes to a directory of its own. */
let acquisitions = 0;

async function v2Rate(shadow: boolean, seconds: number, warmupS: number, dir: string) {
  const acq = await startAcquisition(parseConfig(config(dir, shadow), 'bench-shadow.toml'), {
    out: join(dir, `${shadow ? 'with' : 'without'}-${++acquisitions}`),
  });
  const times = new V2Times();
  acq.bridge.addSink(times);
  const startNs = acq.runtime.clock.nowNs() + BigInt(Math.round(warmupS * 1e9));
  await new Promise((r) => setTimeout(r, (warmupS + seconds) * 1000));
  const record = await acq.stop('completed');
  if (record.status !== 'completed') throw new Error(`shadow bench run ${record.status}: ${record.reason}`);
  let rate = 0;
  const perInstrument: Record<string, number> = {};
  for (const [id, ts] of times.times) {
    const steady = ts.filter((t) => t >= startNs);
    if (steady.length < 2) continue;
    const r = (steady.length - 1) / (Number(steady[steady.length - 1]! - steady[0]!) / 1e9);
    perInstrument[id] = Math.round(r * 1000) / 1000;
    rate += r;
  }
  return {
    rate,
    perInstrument,
    pairs: record.shadow ? Object.values(record.shadow.instruments).reduce((n, i) => n + i.pairs, 0) : 0,
  };
}

export const shadowBenchmark: Benchmark = {
  subject: 'shadow',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'daq-bench-shadow-'));
    try {
      const seconds = ctx.quick ? 1.5 : 6;
      const warmupS = ctx.quick ? 0.5 : 1;
      const rounds = ctx.quick ? 3 : 5;
      type Run = Awaited<ReturnType<typeof v2Rate>>;
      const runs: { without: Run[]; with: Run[] } = { without: [], with: [] };
      await interleave(rounds, {
        without: async () => {
          const r = await v2Rate(false, seconds, warmupS, dir);
          runs.without.push(r);
          return r.rate;
        },
        with: async () => {
          const r = await v2Rate(true, seconds, warmupS, dir);
          runs.with.push(r);
          return r.rate;
        },
      });
      // interleave runs `with` first in odd rounds, so pair the runs by round, not by order of call.
      const ratios = runs.with.map((w, i) => w.rate / runs.without[i]!.rate);
      const { value: overhead, spread } = summarize(ratios.map((r) => (1 - r) * 100));
      const ratio = median(ratios);
      const without = runs.without.map((r) => r.rate);
      const withShadow = runs.with.map((r) => r.rate);
      ctx.log(
        `shadow.overhead: V2 ${median(without).toFixed(2)} readings/s alone, ${median(withShadow).toFixed(2)} with V4 shadowing: ` +
          `${overhead.toFixed(2)} % (median of ${rounds} rounds; p10 ${spread?.p10?.toFixed(2)}, p90 ${spread?.p90?.toFixed(2)}); ` +
          `${runs.with.reduce((n, r) => n + r.pairs, 0)} pairs compared`,
      );
      return [
        {
          name: 'shadow.overhead',
          unit: '%',
          value: overhead,
          better: 'lower',
          spread,
          vs: { withoutShadow: ratio },
          goals: [{ text: 'under 5 % (median of rounds)', met: overhead < 5 }],
          details: {
            seconds,
            rounds,
            instruments: INSTRUMENTS.map((i) => i.id),
            overheadPerRound: ratios.map((r) => Math.round((1 - r) * 100000) / 1000),
            v2RateWithout: without,
            v2RateWith: withShadow,
            perInstrumentWithout: runs.without.map((r) => r.perInstrument),
            perInstrumentWith: runs.with.map((r) => r.perInstrument),
            pairsCompared: runs.with.map((r) => r.pairs),
          },
        },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
