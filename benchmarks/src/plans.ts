// Benchmarks of experiments (plans):
// - plan.count: points per second of `count` on a detector that answers at once (a V2
//   MockPower read through the runtime's command routing). Goal: ≥ 1,000 points/s.
// - plan.overhead: a scan's time per point (an Elliptec move, then a 1830-C reading, on the
//   simulators) divided by the time per point of the same moves and reads issued directly
//   through the same routing, measured in this run. Goal: ≤ 1.2.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@daq/core';
import { startAcquisition } from '@daq/broker';
import { RunEngine, count, scan, type Document } from '@daq/plans';
import { spreadOf, type BenchContext, type BenchResult, type Benchmark } from './types.js';

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
    // plan.count
    const num = ctx.quick ? 500 : 5000;
    await new RunEngine(rt, acq.config).run(count({ detectors: ['mock'], num: 50 }), { onDocument }); // warm-up
    const t0 = performance.now();
    const c = await new RunEngine(rt, acq.config).run(count({ detectors: ['mock'], num }), { onDocument });
    const countS = (performance.now() - t0) / 1000;
    const pointsPerS = c.events / countS;
    ctx.log(`count: ${c.events} points in ${countS.toFixed(2)} s = ${pointsPerS.toFixed(0)} points/s`);

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
    const rounds = ctx.quick ? 1 : 3;
    const d: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < rounds; i++) {
      d.push(await direct());
      s.push(await planned());
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const ratio = median(s) / median(d);
    ctx.log(
      `overhead: scan ${median(s).toFixed(1)} ms/point, direct ${median(d).toFixed(1)} ms/point, ratio ${ratio.toFixed(3)}`,
    );
    return [
      {
        name: 'plan.count',
        unit: 'points/s',
        value: pointsPerS,
        better: 'higher',
        vs: {},
        details: { points: c.events, seconds: countS, documents, goal: '>= 1000 points/s' },
      },
      {
        name: 'plan.overhead',
        unit: 'ratio',
        value: ratio,
        better: 'lower',
        // Each round's own scan / direct ratio.
        spread: spreadOf(s.map((x, i) => x / d[i]!)),
        vs: { direct: ratio },
        details: { scanMsPerPoint: median(s), directMsPerPoint: median(d), points, rounds, goal: '<= 1.2' },
      },
    ];
  } finally {
    await acq.stop('completed');
    await rm(dir, { recursive: true, force: true });
  }
}

export const plansBenchmark: Benchmark = { subject: 'plans', run };
