// Benchmark of shadow mode (issue: migration and shadow mode):
// - shadow.overhead: how much V2's acquisition rate drops when V4 shadows the same
//   instruments. Two headless acquisitions on the same simulated instruments, one after the
//   other in this run: V2 alone, then V2 with [v4.shadow] listing every instrument (V4 then
//   polls the same devices through the same ports, taking turns through leases). V2's rate
//   is taken from its reading timestamps after a warm-up: (n - 1) / (last - first) per
//   instrument, summed. value = overhead in % (1 - with / without); vs.withoutShadow = the
//   ratio of the rates. Goal: under 5 %.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@daq/core';
import { Acquisition, startAcquisition, type BridgeSink, type ScalarChunk, type SeriesTable } from '@daq/broker';
import type { BenchContext, BenchResult, Benchmark } from './types.js';

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

async function v2Rate(shadow: boolean, seconds: number, warmupS: number, dir: string) {
  const acq = await startAcquisition(parseConfig(config(dir, shadow), 'bench-shadow.toml'), {
    out: join(dir, shadow ? 'with' : 'without'),
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
      const seconds = ctx.quick ? 1.5 : 15;
      const warmupS = ctx.quick ? 0.5 : 2;
      const without = await v2Rate(false, seconds, warmupS, dir);
      const withShadow = await v2Rate(true, seconds, warmupS, dir);
      const ratio = withShadow.rate / without.rate;
      const overhead = (1 - ratio) * 100;
      ctx.log(
        `shadow.overhead: V2 ${without.rate.toFixed(2)} readings/s alone, ${withShadow.rate.toFixed(2)} with V4 shadowing (${overhead.toFixed(2)} %); ${withShadow.pairs} pairs compared`,
      );
      return [
        {
          name: 'shadow.overhead',
          unit: '%',
          value: overhead,
          better: 'lower',
          vs: { withoutShadow: ratio },
          details: {
            goal: 'under 5 %',
            met: overhead < 5,
            seconds,
            instruments: INSTRUMENTS.map((i) => i.id),
            v2RateWithout: without.rate,
            v2RateWith: withShadow.rate,
            perInstrumentWithout: without.perInstrument,
            perInstrumentWith: withShadow.perInstrument,
            pairsCompared: withShadow.pairs,
          },
        },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
