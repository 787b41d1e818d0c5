// Benchmarks of the broker's hardware layer (issue: serial leases and the VISA queue):
// - serial.lease_query: a lease + query + release from a worker thread on a simulator pty,
//   vs.direct = that time / the same query made directly on the main thread.
// - visa.queue: queued VISA queries from two worker threads sharing one session over real
//   TCP, in queries/s; vs.direct = time per query / a direct socket query's time. The main
//   figure sends 8 queries per message (visaQueryMany, pipelined on the socket);
//   visa.queue.single one query per message. Interleaved rounds with the direct baseline.
// The simulators run in a `daq sim` child process, so they do not share this event loop.

import { createConnection } from 'node:net';
import { Worker } from 'node:worker_threads';
import { SerialPort } from 'serialport';
import { parseConfig, parseVisaResource } from '@daq/core';
import { SharedResources, attachWorker } from '@daq/broker';
import { startSim, stopSim } from './sim-process.js';
import { interleave, median, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';

const workerFile = new URL('./workers/broker-client.js', import.meta.url);

async function runWorkers(resources: SharedResources, jobs: object[]): Promise<{ times: number[]; elapsedMs: number }[]> {
  const workers = jobs.map((job) => new Worker(workerFile, { workerData: job }));
  workers.forEach((w, i) => attachWorker(w, `w${i}`, resources));
  await new Promise((r) => setTimeout(r, 300)); // let the workers load
  const results = workers.map(
    (w) =>
      new Promise<{ times: number[]; elapsedMs: number }>(
        (resolve, reject) => (w.once('message', resolve), w.once('error', reject)),
      ),
  );
  workers.forEach((w) => w.postMessage('go'));
  const out = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  return out;
}

async function serialLeaseQuery(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 100 : 300;
  const rounds = ctx.quick ? 3 : 5;
  const sim = await startSim(
    '[[v2.instruments]]\nid = "rot"\ntype = "Elliptec"\nserial_port = "/dev/ttyBENCH"\nbaud_rate = 115200\n',
  );
  try {
    const path = sim.endpoints.get('rot')!.serial_port!;
    // Direct: the same query on the main thread, the port opened once per round, no pool.
    const direct = async (): Promise<number> => {
      const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      let pending: (() => void) | undefined;
      let buf = '';
      port.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf.endsWith('\r\n')) {
          buf = '';
          pending?.();
        }
      });
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          pending = resolve;
          port.write('0gs');
        });
        times.push(performance.now() - t0);
      }
      await new Promise<void>((resolve) => port.close(() => resolve()));
      return median(times) * 1000;
    };
    // Through the broker: a worker leases, queries, releases.
    const { config } = parseConfig(
      `[[v2.instruments]]\nid = "rot"\ntype = "Elliptec"\nserial_port = "${path}"\nbaud_rate = 115200\n`,
    );
    const leased = async (): Promise<number> => {
      const resources = await SharedResources.create(config);
      try {
        const [r] = await runWorkers(resources, [
          { kind: 'serial', target: path, command: '0gs', terminator: '\r\n', count: n, concurrency: 1 },
        ]);
        return median(r!.times) * 1000;
      } finally {
        await resources.close();
      }
    };
    const us = await interleave(rounds, { direct, leased });
    const value = summarize(us.leased);
    const ratio = summarize(us.leased.map((x, i) => x / us.direct[i]!));
    const base = median(us.direct);
    ctx.log(
      `serial.lease_query: lease+query median ${value.value.toFixed(0)} µs, direct query median ${base.toFixed(0)} µs, ratio ${ratio.value.toFixed(2)} (medians of ${rounds} interleaved rounds of ${n})`,
    );
    return {
      name: 'serial.lease_query',
      unit: 'µs',
      value: value.value,
      better: 'lower',
      spread: value.spread,
      vs: { direct: ratio.value },
      goals: [
        { text: 'vs.direct <= 2 (lease + query + release from a worker ÷ the query made directly)', met: ratio.value <= 2 },
      ],
      details: { n, rounds, directMedianUs: base, ratioSpread: ratio.spread },
    };
  } finally {
    await stopSim(sim);
  }
}

/** One direct socket on the main thread, one query at a time: ms per query over `n` queries. */
async function directSocket(host: string, port: number, n: number): Promise<number> {
  const s = createConnection(port, host);
  s.setNoDelay(true);
  await new Promise((res) => s.once('connect', res));
  let pending: (() => void) | undefined;
  s.on('data', () => pending?.());
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => ((pending = resolve), s.write('*OPC?\n')));
  const ms = (performance.now() - t0) / n;
  s.destroy();
  return ms;
}

async function visaQueue(ctx: BenchContext): Promise<BenchResult[]> {
  // A multiple of 2 workers × 8 calls outstanding × 8 queries per call.
  const n = ctx.quick ? 4096 : 16384;
  const rounds = ctx.quick ? 3 : 5;
  const batch = 8;
  const sim = await startSim(
    '[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "TCPIP0::127.0.0.1::5025::SOCKET"\n',
  );
  try {
    const resource = sim.endpoints.get('dmm')!.resource!;
    const r = parseVisaResource(resource);
    if (r.interface !== 'TCPIP' || r.resourceClass !== 'SOCKET') throw new Error(resource);
    const { config } = parseConfig(`[[v4.instruments]]\nid = "dmm"\ntype = "ScpiInstrument"\nresource = "${resource}"\n`);
    const resources = await SharedResources.create(config);
    let commands = 0;
    try {
      await resources.executeVisa(resource, '*OPC?', { owner: 'bench:warmup' });
      // Through the broker: two workers, each with 8 calls outstanding, one session. `many`
      // sends 8 queries per message (visaQueryMany, pipelined on the socket); `single` one.
      const queued = async (kind: 'visa' | 'visa-many'): Promise<number> => {
        const before = resources.visa.stats(resource).commands;
        const results = await runWorkers(
          resources,
          [0, 1].map(() => ({ kind, target: resource, command: '*OPC?', terminator: '\n', count: n / 2, concurrency: 8, batch })),
        );
        const done = resources.visa.stats(resource).commands - before;
        if (done !== n) throw new Error(`visa.queue: ${done} commands counted by the session, ${n} sent`);
        commands += done;
        return Math.max(...results.map((x) => x.elapsedMs)) / n;
      };
      const ms = await interleave(rounds, {
        direct: () => directSocket(r.host, r.port, n),
        many: () => queued('visa-many'),
        single: () => queued('visa'),
      });
      // Per round: the queued path's time per query ÷ the direct query's in the same round.
      const ratio = (k: 'many' | 'single') => summarize(ms[k].map((x, i) => x / ms.direct[i]!));
      const qps = (k: 'many' | 'single') => summarize(ms[k].map((x) => 1000 / x));
      const direct = summarize(ms.direct.map((x) => 1000 / x));
      const many = { qps: qps('many'), ratio: ratio('many') };
      const single = { qps: qps('single'), ratio: ratio('single') };
      const stats = resources.visa.stats(resource);
      ctx.log(
        `visa.queue: ${many.qps.value.toFixed(0)} queries/s in batches of ${batch} (${many.ratio.value.toFixed(2)} × the direct time per query), ` +
          `${single.qps.value.toFixed(0)} queries/s one per message (${single.ratio.value.toFixed(2)}), direct ${direct.value.toFixed(0)} queries/s; ` +
          `medians of ${rounds} interleaved rounds of ${n}; commands counted ${commands}`,
      );
      const details = {
        n,
        rounds,
        directQueriesPerSecond: direct.value,
        directSpread: direct.spread,
        latencyMs: stats.latencyMs,
      };
      return [
        {
          name: 'visa.queue',
          unit: 'queries/s',
          value: many.qps.value,
          better: 'higher',
          spread: many.qps.spread,
          vs: { direct: many.ratio.value },
          goals: [
            { text: 'vs.direct <= 1.3 (time per queued query ÷ a direct socket query)', met: many.ratio.value <= 1.3 },
            {
              text: `value >= 1.5 × the direct single-query rate (${(1.5 * direct.value).toFixed(0)} queries/s)`,
              met: many.qps.value >= 1.5 * direct.value,
            },
          ],
          details: {
            ...details,
            batch,
            how: `visaQueryMany of ${batch} from two workers, 8 calls outstanding each`,
            ratioSpread: many.ratio.spread,
          },
        },
        {
          name: 'visa.queue.single',
          unit: 'queries/s',
          value: single.qps.value,
          better: 'higher',
          spread: single.qps.spread,
          vs: { direct: single.ratio.value },
          goals: [{ text: 'vs.direct <= 2 (one query per message)', met: single.ratio.value <= 2 }],
          details: { ...details, how: 'visaQuery from two workers, 8 calls outstanding each', ratioSpread: single.ratio.spread },
        },
      ];
    } finally {
      await resources.close();
    }
  } finally {
    await stopSim(sim);
  }
}

export const hardwareBenchmark: Benchmark = {
  subject: 'hardware',
  async run(ctx) {
    return [await serialLeaseQuery(ctx), ...(await visaQueue(ctx))];
  },
};
