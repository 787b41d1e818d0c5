// The server worker's entry: Fastify listening on the daemon's address, calling the main
// thread for anything that needs the hardware (Comlink over `api`), and fanning the main
// thread's events (scalar batches, documents, previews) out to the WebSocket clients.
// Started by the broker's `daq serve`; stops when the main thread posts { type: 'close' }.

import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { buildApp } from './app.js';
import type { DaemonApi, ServerEvent, ServerReady, ServerWorkerOptions } from './api.js';

const { options, apiPort, eventPort } = workerData as {
  options: ServerWorkerOptions;
  apiPort: MessagePort;
  eventPort: MessagePort;
};
const api = Comlink.wrap<DaemonApi>(nodeEndpoint(apiPort));
// Log lines go to the main thread, which writes them where the command's output goes.
const log = (line: string) => parentPort!.postMessage({ type: 'log', line });

const ready = (r: ServerReady) => parentPort!.postMessage(r);

/**
 * The server is the daemon's least urgent thread: on a machine short of CPU the acquisition's
 * threads run first, and a client that then gets its rows late or not at all is counted
 * (rowsDropped), never the run. Linux lets a thread lower its own priority (nice +10) without
 * privileges; elsewhere, or when refused, it keeps the default and says why in the status.
 */
function lowerPriority(): { nice: number } | { nice: null; why: string } {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, 10);
    return { nice: getPriority(tid) };
  } catch (e) {
    return { nice: null, why: (e as Error).message };
  }
}
const priority = lowerPriority();
try {
  const app = await buildApp(api as unknown as DaemonApi, { ...options, log, priority });
  let statusDue = false;
  const statusSoon = () => {
    if (statusDue) return;
    statusDue = true;
    setTimeout(() => {
      statusDue = false;
      void app.pushStatus().catch((e) => log(`daq serve: status for clients failed: ${(e as Error).message}`));
    }, 50);
  };
  eventPort.on('message', (e: ServerEvent) => {
    switch (e.type) {
      case 'measurements':
      case 'arrow':
        app.hub.scalars(app.live, app.live.fromEvent(e));
        break;
      case 'document':
        app.hub.document(e.name, e.doc);
        break;
      case 'preview':
        app.hub.preview(e.preview);
        break;
      case 'changed':
        statusSoon();
        break;
    }
  });
  const timer = setInterval(() => void app.pushStatus().catch(() => undefined), 1000);
  await app.fastify.listen({ host: options.host, port: options.port });
  const addr = app.fastify.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  ready({ type: 'listening', url: `http://${hostInUrl}:${port}/`, host: options.host, port });
  parentPort!.on('message', async (m: { type: string }) => {
    if (m.type !== 'close') return;
    clearInterval(timer);
    app.hub.closeAll(1001, 'the daemon is stopping');
    await app.fastify.close();
    eventPort.close();
    apiPort.close();
    parentPort!.postMessage({ type: 'closed' });
    parentPort!.close();
  });
} catch (e) {
  const err = e as Error & { code?: string };
  ready({ type: 'failed', message: err.message, code: err.code });
  eventPort.close();
  apiPort.close();
}
