// A stress-client thread (workers/stress-client.ts) as the harness starts it and hears from it.

import { Worker } from 'node:worker_threads';
import type { StressJob } from '../workers/stress-client.js';

const workerFile = new URL(
  import.meta.url.endsWith('.ts') ? '../workers/stress-client.ts' : '../workers/stress-client.js',
  import.meta.url,
);

export function startClientThread(job: StressJob & { identity: string }): Worker {
  return new Worker(workerFile, { workerData: job });
}

/** Resolves at the worker's first message of `type`. */
export function onceMessage(worker: Worker, type: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const f = (m: { type?: string }) => {
      if (m?.type !== type) return;
      worker.off('message', f);
      resolve();
    };
    worker.on('message', f);
  });
}
