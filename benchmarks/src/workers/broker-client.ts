// A benchmark worker: runs queries through its broker endpoint (serial lease + query, or a
// queued VISA query) and reports per-operation times. Started by hardware.ts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { batchingEndpoint, type BrokerApi } from '@daq/core';

interface Job {
  /** visa-many: `batch` queries per message (BrokerApi.visaQueryMany); serial-many: the same under one lease. */
  kind: 'serial' | 'visa' | 'visa-many' | 'serial-many';
  target: string;
  command: string;
  terminator: string;
  count: number;
  concurrency: number;
  batch?: number;
}

const job = workerData as Job;

parentPort!.once('message', async (msg: { port: MessagePort }) => {
  // As a subsystem worker talks to the broker: calls of one turn batched (comlinkRpcKit).
  const broker = Comlink.wrap<BrokerApi>(batchingEndpoint(nodeEndpoint(msg.port), 'bench'));
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve())); // start signal
  const times: number[] = [];
  const batch = job.kind.endsWith('-many') ? (job.batch ?? 8) : 1;
  const commands = Array.from({ length: batch }, () => job.command);
  let wrong = 0;
  const one = async () => {
    const t0 = performance.now();
    if (job.kind === 'serial' || job.kind === 'serial-many') {
      const lease = await broker.leaseSerial(job.target, 'bench', { timeoutMs: 5000 });
      if (batch === 1) await broker.serialQuery(lease, job.command, job.terminator, 1000);
      else wrong += (await broker.serialQueryMany(lease, commands, job.terminator, 1000)).length === batch ? 0 : 1;
      await broker.releaseSerial(lease);
    } else if (batch === 1) {
      await broker.visaQuery(job.target, 'bench', job.command, 2000);
    } else {
      wrong += (await broker.visaQueryMany(job.target, 'bench', commands, 2000)).length === batch ? 0 : 1;
    }
    times.push(performance.now() - t0);
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      for (let i = 0; i < job.count / batch / job.concurrency; i++) await one();
    }),
  );
  if (wrong) throw new Error(`${wrong} queryMany calls returned the wrong number of replies`);
  parentPort!.postMessage({ times, elapsedMs: performance.now() - started });
  broker[Comlink.releaseProxy]();
});
