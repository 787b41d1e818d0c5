// Benchmark of how many instruments the runtime serves at their full rate (issue: performance,
// "scaling with instruments, and saying so"):
// - scale.instruments: the largest number N of V4 SCPI meters, each on its own simulated TCP
//   instrument and polled at 200 Hz, for which every one of them is polled at >= 99 % of its
//   rate over a measuring window after a warm-up. Found by search: N doubles from 1 until a
//   count fails (or 128 is reached), then halves the gap between the last count that passed and
//   the first that failed until it is 1 or at most an eighth of the count. Each count is a fresh headless
//   acquisition (simulators, V4 worker, storage), as `daq run` starts it. The rate of each meter
//   is its polls in the window / the window (the worker's own counts, InstrumentStatus.polls);
//   the CPU it costs is this process's CPU time (every thread: the broker, the V4 worker and
//   storage) over the window, in cores. The simulated meters run in a `daq sim` child process,
//   as a lab's instruments are outside the acquisition process (in the same process they took
//   about a third of the main thread, see docs/benchmarks.md).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@daq/core';
import { startAcquisition, type Acquisition } from '@daq/broker';
import { startSim, stopSim, type SimProcess } from './sim-process.js';
import { median, type BenchContext, type BenchResult, type Benchmark } from './types.js';

const POLL_HZ = 200;
const SERVED = 0.99;
const MAX = 128;

function simConfig(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++)
    lines.push(
      '[[v4.instruments]]',
      `id = "meter${i}"`,
      'type = "ScpiInstrument"',
      `resource = "TCPIP0::10.0.${Math.floor(i / 250)}.${(i % 250) + 1}::5025::SOCKET"`,
    );
  return `${lines.join('\n')}\n`;
}

/** The acquisition's configuration: not simulated; each meter at the address its simulator listens on. */
function config(n: number, dir: string, endpoints: SimProcess['endpoints']): string {
  const lines = ['[application]', 'name = "bench-scale"', `data_dir = "${dir}"`, '[v4]'];
  for (let i = 0; i < n; i++)
    lines.push(
      '[[v4.instruments]]',
      `id = "meter${i}"`,
      'type = "ScpiInstrument"',
      `resource = "${endpoints.get(`meter${i}`)!.resource}"`,
      'poll_query = "SIMulation:VALue?"',
      'unit = "V"',
      `poll_hz = ${POLL_HZ}`,
    );
  return `${lines.join('\n')}\n`;
}

interface Trial {
  instruments: number;
  /** The least served meter's share of its 200 Hz, and the median's. */
  minServed: number;
  medianServed: number;
  /** Queries per second over all meters. */
  queriesPerSecond: number;
  cpuCores: number;
  passed: boolean;
}

async function trial(n: number, dir: string, warmupS: number, windowS: number): Promise<Trial> {
  const out = join(dir, `n${n}`);
  const sim = await startSim(simConfig(n));
  let acq: Acquisition;
  try {
    acq = await startAcquisition(parseConfig(config(n, dir, sim.endpoints), 'bench-scale.toml'), { out });
  } catch (e) {
    await stopSim(sim);
    throw e;
  }
  try {
    await new Promise((r) => setTimeout(r, warmupS * 1000));
    const polls = async () => {
      const s = await acq.runtime.status();
      const v4 = s.subsystems.find((x) => x.name === 'v4')!;
      return new Map(v4.instruments.map((i) => [i.id, i.polls - i.pollErrors]));
    };
    const p0 = await polls();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const p1 = await polls();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const served = [...p1].map(([id, v]) => (v - (p0.get(id) ?? 0)) / seconds / POLL_HZ);
    if (served.length !== n) throw new Error(`scale: ${served.length} of ${n} meters reported`);
    const minServed = Math.min(...served);
    return {
      instruments: n,
      minServed,
      medianServed: median(served),
      queriesPerSecond: served.reduce((a, b) => a + b, 0) * POLL_HZ,
      cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
      passed: minServed >= SERVED,
    };
  } finally {
    const record = await acq.stop('completed');
    await stopSim(sim);
    await rm(out, { recursive: true, force: true });
    if (record.status !== 'completed')
      throw new Error(`scale: the run with ${n} meters ended ${record.status}: ${record.reason}`);
  }
}

export const scaleBenchmark: Benchmark = {
  subject: 'scale',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const dir = await mkdtemp(join(tmpdir(), 'daq-bench-scale-'));
    const warmupS = ctx.quick ? 1 : 2;
    const windowS = ctx.quick ? 2 : 5;
    const trials: Trial[] = [];
    const run = async (n: number) => {
      const tr = await trial(n, dir, warmupS, windowS);
      trials.push(tr);
      ctx.log(
        `  ${n} meters at ${POLL_HZ} Hz: least served ${(tr.minServed * 100).toFixed(1)} %, median ${(tr.medianServed * 100).toFixed(1)} %, ` +
          `${tr.queriesPerSecond.toFixed(0)} queries/s, ${tr.cpuCores.toFixed(2)} cores: ${tr.passed ? 'served' : 'short'}`,
      );
      return tr.passed;
    };
    try {
      let good = 0;
      let bad = 0;
      for (let n = 1; n <= MAX; n *= 2) {
        if (await run(n)) good = n;
        else {
          bad = n;
          break;
        }
      }
      while (bad && bad - good > Math.max(1, good / 8)) {
        const mid = Math.round((good + bad) / 2);
        if (await run(mid)) good = mid;
        else bad = mid;
      }
      const best = trials.find((tr) => tr.instruments === good);
      ctx.log(
        `scale.instruments: ${good} meters at ${POLL_HZ} Hz served at >= ${SERVED * 100} %` +
          (best ? ` (${best.queriesPerSecond.toFixed(0)} queries/s, ${best.cpuCores.toFixed(2)} cores)` : '') +
          (bad ? `; ${bad} were not` : `; the search stopped at ${MAX}`),
      );
      return [
        {
          name: 'scale.instruments',
          unit: `instruments at ${POLL_HZ} Hz`,
          value: good,
          better: 'higher',
          vs: {},
          goals: [
            {
              // Before the RPC work (simulators in the same process): 8.
              text: `value > 8: more ${POLL_HZ} Hz SCPI instruments each polled at >= ${SERVED * 100} % of its rate than before the RPC work`,
              met: good > 8,
            },
          ],
          details: {
            served: SERVED,
            pollHz: POLL_HZ,
            firstShort: bad || null,
            warmupSeconds: warmupS,
            windowSeconds: windowS,
            cpuCoresAtBest: best ? Math.round(best.cpuCores * 1000) / 1000 : null,
            queriesPerSecondAtBest: best ? Math.round(best.queriesPerSecond) : null,
            trials: trials.map((tr) => ({
              ...tr,
              minServed: Math.round(tr.minServed * 1e4) / 1e4,
              medianServed: Math.round(tr.medianServed * 1e4) / 1e4,
              queriesPerSecond: Math.round(tr.queriesPerSecond),
              cpuCores: Math.round(tr.cpuCores * 1000) / 1000,
            })),
          },
        },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
