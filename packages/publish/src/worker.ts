// The publisher's worker thread: started by the broker (PublisherHandle) with the resolved
// settings. Messages in: { type: 'finish', id, timeoutMs } and { type: 'close' }. Out:
// { type: 'status', status } every 500 ms, { type: 'finished', id, status }, { type: 'closed', status }.

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { PublishSettings } from '@daq/core';
import { NatsPublisher } from './nats.js';
import { Publisher } from './publisher.js';

export interface PublisherWorkerData {
  settings: PublishSettings;
  live?: string;
  dataDir?: string;
  pollMs?: number;
}

const port = parentPort!;
const data = workerData as PublisherWorkerData;
const s = data.settings;
const scheduling = lowerPriority(s.nice);
const transport = new NatsPublisher({
  servers: s.servers,
  credentials: s.credentials,
  name: `daq publish ${s.prefix}`,
  stream: s.stream,
  subjects: `${s.subjectRoot}.>`,
  replicas: s.replicas,
});
const publisher = new Publisher({ settings: s, transport, live: data.live, dataDir: data.dataDir, pollMs: data.pollMs });
publisher.start();
const status = () => ({ ...publisher.status(), scheduling });
const timer = setInterval(() => port.postMessage({ type: 'status', status: status() }), 500);

port.on('message', (m: { type: 'finish'; id: number; timeoutMs: number } | { type: 'close' }) => {
  if (m.type === 'finish') {
    void publisher.finish(m.timeoutMs).then(() => port.postMessage({ type: 'finished', id: m.id, status: status() }));
  } else if (m.type === 'close') {
    clearInterval(timer);
    void publisher.close().then(() => {
      port.postMessage({ type: 'closed', status: status() });
      port.close();
    });
  }
});

/**
 * Lowers this thread's priority (its own nice value: on Linux setpriority(2) with a thread id
 * applies to that thread only), so publishing takes only CPU time the acquisition leaves.
 */
function lowerPriority(nice: number): string {
  if (nice === 0) return 'nice 0';
  try {
    const tid = Number(/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    if (!Number.isInteger(tid)) return 'nice 0 (no thread id in /proc/thread-self)';
    setPriority(tid, nice);
    return `nice ${nice}`;
  } catch (e) {
    return `nice 0 (nice ${nice} refused: ${(e as Error).message})`;
  }
}
