// Benchmarks of experiments (plans):
// - plan.count: points per second of `count` on a detector that answers at once (a V2
//   MockPower read through the runtime's command routing), the median of several rounds.
//   Goal: ≥ 1,000 points/s.
// - plan.overhead: a scan's time per point (an Elliptec move, then a 1830-C reading, on the
//   simulators) divided by the time per point of the same moves and reads issued directly
//   through the same routing, in interleaved rounds (direct and scan alternate, their order
//   reversed every round); the median of the per-round ratios. Goal: ≤ 1.2.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@daq/core';
import { startAcquisition } from '@daq/broker';
import { RunEngine, count, scan, type Document } from '@daq/plans';
import { interleave, median, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';

function config(dir: string): string {
  return `
[application]
name = "bench-plans"
simulate = true
data_dir = "${dir}"
[v2]
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = 0
[[v2.instruments]]
id = "rot"
type = "Elliptec"
serial_port = "/dev/ttyROT"
poll_hz = 0
[v4]
[[v4.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyPM"
filter = "fast"
poll_hz = 0
`;
}

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-plans-'));
  const acq = await startAcquisition(parseConfig(config(dir), 'bench-plans.toml'), { out: join(dir, 'run') });
  try {
    const rt = acq.runtime;
    let documents = 0;
    const onDocument = (_: Document) => void documents++;
    // plan.count, in rounds: the median rate, and its spread.
    const num = ctx.quick ? 200 : 1000;
    const countRounds = ctx.quick ? 5 : 9;
    await new RunEngine(rt, acq.config).run(count({ detectors: ['mock'], num: 50 }), { onDocument }); // warm-up
    const countRates: number[] = [];
    let events = 0;
    for (let i = 0; i < countRounds; i++) {
      const t0 = performance.now();
      const c = await new RunEngine(rt, acq.config).run(count({ detectors: ['mock'], num }), { onDocument });
      countRates.push(c.events / ((performance.now() - t0) / 1000));
      events += c.events;
    }
    const countFigure = summarize(countRates);
    const pointsPerS = countFigure.value;
    ctx.log(
      `count: ${countRounds} rounds of ${num} points: median ${pointsPerS.toFixed(0)} points/s (p10 ${countFigure.spread?.p10?.toFixed(0)}, p90 ${countFigure.spread?.p90?.toFixed(0)})`,
    );

    // plan.overhead: the same moves and reads, by hand and as a scan, alternating to share drift.
    const points = ctx.quick ? 10 : 30;
    const positions = Array.from({ length: points }, (_, i) => (i * 180) / (points - 1));
    const direct = async () => {
      const t = performance.now();
      for (const p of positions) {
        await rt.command('rot', 'moveAbs', [p]);
        await rt.command('rot', 'getPosition', []);
        await rt.command('pm', 'read', []);
      }
      await rt.command('rot', 'moveAbs', [0]);
      return (performance.now() - t) / points;
    };
    const planned = async () => {
      const t = performance.now();
      await new RunEngine(rt, acq.config).run(scan({ detectors: ['pm'], motor: 'rot', start: 0, stop: 180, num: points }), {
        onDocument,
      });
      const per = (performance.now() - t) / points;
      await rt.command('rot', 'moveAbs', [0]);
      return per;
    };
    const rounds = ctx.quick ? 4 : 8;
    await direct(); // warm-up
    await planned();
    const { direct: d, planned: s } = await interleave(rounds, { direct, planned });
    // Each round's own scan / direct ratio; the figure is their median.
    const ratioRounds = s.map((x, i) => x / d[i]!);
    const overhead = summarize(ratioRounds);
    const ratio = overhead.value;
    ctx.log(
      `overhead: scan ${median(s).toFixed(1)} ms/point, direct ${median(d).toFixed(1)} ms/point, ratio ${ratio.toFixed(3)} ` +
        `(median of ${rounds} rounds; p10 ${overhead.spread?.p10?.toFixed(3)}, p90 ${overhead.spread?.p90?.toFixed(3)})`,
    );
    return [
      {
        name: 'plan.count',
        unit: 'points/s',
        value: pointsPerS,
        better: 'higher',
        spread: countFigure.spread,
        vs: {},
        goals: [{ text: '>= 1000 points/s', met: pointsPerS >= 1000 }],
        details: { pointsPerRound: num, rounds: countRounds, events, documents, ratesPerRound: countRates.map(Math.round) },
      },
      {
        name: 'plan.overhead',
        unit: 'ratio',
        value: ratio,
        better: 'lower',
        spread: overhead.spread,
        vs: { direct: ratio },
        goals: [{ text: '<= 1.2 (median of rounds)', met: ratio <= 1.2 }],
        details: {
          scanMsPerPoint: median(s),
          directMsPerPoint: median(d),
          points,
          rounds,
          ratioPerRound: ratioRounds.map((x) => Math.round(x * 1000) / 1000),
        },
      },
    ];
  } finally {
    await acq.stop('completed');
    await rm(dir, { recursive: true, force: true });
  }
}

export const plansBenchmark: Benchmark = { subject: 'plans', run };
