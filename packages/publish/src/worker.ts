// The publisher's worker thread: started by the broker (PublisherHandle) with the resolved
// settings. Messages in: { type: 'finish', id, timeoutMs } and { type: 'close' }. Out:
// { type: 'status', status } every 500 ms, { type: 'finished', id, status }, { type: 'closed', status }.

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
const timer = setInterval(() => port.postMessage({ type: 'status', status: publisher.status() }), 500);

port.on('message', (m: { type: 'finish'; id: number; timeoutMs: number } | { type: 'close' }) => {
  if (m.type === 'finish') {
    void publisher.finish(m.timeoutMs).then((status) => port.postMessage({ type: 'finished', id: m.id, status }));
  } else if (m.type === 'close') {
    clearInterval(timer);
    void publisher.close().then(() => {
      port.postMessage({ type: 'closed', status: publisher.status() });
      port.close();
    });
  }
});
