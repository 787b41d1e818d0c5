// Benchmarks of publishing to NATS JetStream (issue 19), against a real nats-server on loopback
// (Debian's; started here with JetStream file storage in a temporary directory):
// - publish.overhead: the scalar path's rate to disk (scalar.e2e's set-up: producer threads →
//   rings → bridge → sink) with the publisher's worker following the run directory, divided by
//   the rate without it, in interleaved rounds of one run. Goal: under 5 % lower (ratio ≥ 0.95).
//   Each published round must then be acknowledged to its last byte (nothing lost).
// - publish.lag: seconds from a flush to disk to the stream's acknowledgement, at the demo's
//   rate (examples/demo.toml on simulators, [application.publish] pointed at the server): the
//   median of the publisher's last 200 acknowledgements. Goal: under 2 s.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Clock, loadConfig, publishSettings, type PublishConfig } from '@daq/core';
import { PublisherHandle, startAcquisition } from '@daq/broker';
import { NatsServer, natsServerVersion } from '@daq/publish/testing';
import { endToEnd, startProducers, type RoundCompanion } from './scalar.js';
import { interleave, summarize, type BenchContext, type BenchResult, type Benchmark } from './types.js';

const demo = fileURLToPath(new URL('../../examples/demo.toml', import.meta.url));

function publishConfig(url: string, host: string): PublishConfig {
  return {
    enabled: true,
    servers: [url],
    stream: 'DAQ',
    subject_root: 'daq',
    lab: 'bench',
    host,
    replicas: 1,
    drain_timeout_ms: 60_000,
    max_pending: 64,
    nice: 19,
  };
}

/** The publisher's worker following each round's directory; checks that it acknowledged every byte. */
function publisherCompanion(url: string, log: (m: string) => void): RoundCompanion & { catchUpMs: number[] } {
  let handle: PublisherHandle | undefined;
  const catchUpMs: number[] = [];
  let round = 0;
  return {
    catchUpMs,
    async start(dir) {
      const config = { application: { name: 'bench', publish: publishConfig(url, `overhead${round++}`) } };
      const settings = publishSettings(config as never)!;
      handle = PublisherHandle.start(settings, { live: dir });
      // A publisher is up long before data flows: the round starts once it is connected.
      const t0 = Date.now();
      while (handle.status().state !== 'connected') {
        if (Date.now() - t0 > 30_000)
          throw new Error(`publish.overhead: the publisher did not connect: ${JSON.stringify(handle.status())}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(dir) {
      const t0 = performance.now();
      const s = await handle!.finish(60_000);
      catchUpMs.push(performance.now() - t0);
      await handle!.close();
      const size = (await stat(join(dir, 'scalars.arrows'))).size;
      if (!s.live?.complete)
        throw new Error(
          `publish.overhead: the publisher did not finish (${s.state}, ${s.pendingBytes} bytes left of ${size}; ${s.error?.message ?? 'no error'})`,
        );
      if (s.bytes < size)
        throw new Error(
          `publish.overhead: ${s.bytes} bytes acknowledged of ${size}: ${await readFile(join(dir, 'publish.json'), 'utf8')} ${JSON.stringify(s)}`,
        );
      log(
        `    round published: ${s.acked} messages, ${s.bytes} bytes, caught up ${(performance.now() - t0).toFixed(0)} ms after the last flush`,
      );
    },
  };
}

export const publishBenchmark: Benchmark = {
  subject: 'publish',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    if (!natsServerVersion()) throw new Error('publish: nats-server is not installed (apt-get install nats-server)');
    const dir = await mkdtemp(join(tmpdir(), 'daq-bench-publish-'));
    // The server stands in for the central one on another machine: SCHED_IDLE, so its CPU time
    // (storing every message) is not counted against the acquisition host.
    const server = await NatsServer.start({ dir: join(dir, 'nats'), idle: true });
    try {
      // publish.overhead
      const rounds = ctx.quick ? 5 : 9;
      const rowsEach = ctx.quick ? 1_000_000 : 2_000_000;
      const epochOffsetNs = new Clock().epochOffsetNs;
      const workers = await startProducers(2, epochOffsetNs);
      const companion = publisherCompanion(server.url, () => undefined);
      let overhead;
      let r;
      try {
        await endToEnd(workers, rowsEach / 4, epochOffsetNs);
        r = await interleave(rounds, {
          without: async () => (await endToEnd(workers, rowsEach, epochOffsetNs)).rate,
          with: async () => (await endToEnd(workers, rowsEach, epochOffsetNs, companion)).rate,
        });
        overhead = summarize(r.with.map((w, i) => w / r!.without[i]!));
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
      const without = summarize(r.without);
      const withP = summarize(r.with);
      const catchUp = summarize(companion.catchUpMs);
      const met = overhead.value >= 0.95;
      ctx.log(
        `publish.overhead: ${withP.value.toFixed(0)} rows/s to disk while publishing vs ${without.value.toFixed(0)} without: ratio ${overhead.value.toFixed(3)}` +
          ` (p10 ${overhead.spread?.p10?.toFixed(3)}, p90 ${overhead.spread?.p90?.toFixed(3)}) over ${rounds} interleaved rounds of 2 × ${rowsEach} rows;` +
          ` every round acknowledged to its last byte, ${catchUp.value.toFixed(0)} ms after its last flush (median); goal >= 0.95: ${met ? 'met' : 'NOT met'}`,
      );

      // publish.lag at the demo's rate.
      const seconds = ctx.quick ? 10 : 30;
      const loaded = await loadConfig(demo);
      loaded.config.application.data_dir = join(dir, 'data');
      loaded.config.application.publish = publishConfig(server.url, 'lag');
      const acq = await startAcquisition(loaded, { out: join(dir, 'data', 'demo') });
      await new Promise((res) => setTimeout(res, seconds * 1000));
      const during = acq.publisher!.status();
      const record = await acq.stop('completed');
      const p = record.publish!;
      const lag = during.medianLagS ?? NaN;
      ctx.log(
        `publish.lag: median ${lag} s from flush to acknowledgement (last ${during.lagS} s) over ${seconds} s of the demo ` +
          `(${during.acked} messages, ${record.streams.scalars.rowsFlushed} rows, frames' metadata); run ${p.live?.complete ? 'fully published' : 'NOT fully published'}; goal < 2 s: ${lag < 2 ? 'met' : 'NOT met'}`,
      );
      return [
        {
          name: 'publish.overhead',
          unit: 'ratio',
          value: overhead.value,
          better: 'higher',
          spread: overhead.spread,
          vs: {},
          goals: [{ text: 'value >= 0.95 (under 5 % lower with publishing)', met }],
          details: {
            rounds,
            rowsPerRound: 2 * rowsEach,
            rowsPerSecondWithout: without.value,
            rowsPerSecondWith: withP.value,
            catchUpMsAfterLastFlush: catchUp.value,
          },
        },
        {
          name: 'publish.lag',
          unit: 's',
          value: lag,
          better: 'lower',
          vs: {},
          goals: [{ text: 'median < 2 s', met: lag < 2 }],
          details: {
            seconds,
            acked: during.acked,
            lastLagS: during.lagS,
            complete: p.live?.complete ?? false,
            rows: record.streams.scalars.rowsFlushed,
          },
        },
      ];
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
