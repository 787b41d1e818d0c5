// A benchmark worker: runs queries through its broker endpoint (serial lease + query, or a
// queued VISA query) and reports per-operation times. Started by hardware.ts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { BrokerApi } from '@daq/core';

interface Job {
  kind: 'serial' | 'visa';
  target: string;
  command: string;
  terminator: string;
  count: number;
  concurrency: number;
}

const job = workerData as Job;

parentPort!.once('message', async (msg: { port: MessagePort }) => {
  const broker = Comlink.wrap<BrokerApi>(nodeEndpoint(msg.port));
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve())); // start signal
  const times: number[] = [];
  const one = async () => {
    const t0 = performance.now();
    if (job.kind === 'serial') {
      const lease = await broker.leaseSerial(job.target, 'bench', { timeoutMs: 5000 });
      await broker.serialQuery(lease, job.command, job.terminator, 1000);
      await broker.releaseSerial(lease);
    } else {
      await broker.visaQuery(job.target, 'bench', job.command, 2000);
    }
    times.push(performance.now() - t0);
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      for (let i = 0; i < job.count / job.concurrency; i++) await one();
    }),
  );
  parentPort!.postMessage({ times, elapsedMs: performance.now() - started });
  broker[Comlink.releaseProxy]();
});
