// `daq serve CONFIG [--listen HOST:PORT] [--token T] [--out DIR]`: the runtime kept running
// (as `daq run`, recording the continuous stream into a session directory) with the daemon's
// HTTP + WebSocket API and web page, served by a worker thread of its own. Ctrl-C or SIGTERM
// aborts the running plan (motion stopped, its files closed), stops the server and the
// acquisition, and exits 0.

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { shadowedInstruments } from '@daq/core';
import { isLoopback, type ServerReady, type ServerWorkerOptions } from '@daq/server/contract';
import type { CliIo } from '../cli-io.js';
import { entryUrl } from '../entry-points.js';
import { loadCommandConfig } from './load-command-config.js';
import { publishSummary, startAcquisition } from './run.js';
import { Daemon } from './daemon.js';
import { waitForSignal } from './sim.js';

export const DEFAULT_LISTEN = '127.0.0.1:8686';

export interface ServeOptions {
  listen?: string;
  token?: string;
  out?: string;
  /** Resolves when the daemon should stop (default: SIGINT or SIGTERM). */
  until?: Promise<string>;
  /** Called once the daemon listens (tests). */
  onListening?: (url: string, token: string | undefined) => void;
}

/** "HOST:PORT", "[::1]:PORT" or ":PORT" (loopback). */
export function parseListen(s: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    return `--listen takes HOST:PORT (e.g. 127.0.0.1:8686, 0.0.0.0:8686, [::1]:8686), got ${JSON.stringify(s)}`;
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export async function serveCommand(file: string | undefined, options: ServeOptions, io: CliIo): Promise<number> {
  if (!file) {
    io.err('daq serve: name a configuration file (daq serve lab.toml)\n');
    return 2;
  }
  const listen = parseListen(options.listen ?? DEFAULT_LISTEN);
  if (typeof listen === 'string') {
    io.err(`daq serve: ${listen}\n`);
    return 2;
  }
  const given = options.token ?? process.env.DAQ_TOKEN;
  if (given !== undefined && !/^[\x21-\x7e]{16,}$/.test(given)) {
    io.err('daq serve: a token must be at least 16 printable characters without spaces\n');
    return 2;
  }
  const loopback = isLoopback(listen.host);
  const token = given ?? (loopback ? undefined : randomBytes(24).toString('base64url'));
  const loaded = await loadCommandConfig('serve', file, io);
  if (typeof loaded === 'number') return loaded;

  let acq;
  try {
    acq = await startAcquisition(loaded, { out: options.out });
  } catch (e) {
    io.err(`daq serve: could not start: ${(e as Error).message}\n`);
    return 1;
  }
  const shadowed = new Set(shadowedInstruments(acq.config).map((i) => i.id));
  const runtime = await acq.runtime.status();
  const channels: ServerWorkerOptions['channels'] = [];
  for (const sub of runtime.subsystems)
    for (const i of sub.instruments)
      for (const c of i.channels)
        channels.push({
          key: `${i.id}.${c.channel}`,
          instrument: i.id,
          channel: c.channel,
          unit: c.unit,
          subsystem: sub.name === 'v4' && shadowed.has(i.id) ? 'v4-shadow' : sub.name,
        });

  const api = new MessageChannel();
  const events = new MessageChannel();
  const log = (line: string) => io.err(`${line}\n`);
  const daemon = new Daemon(acq, { events: events.port1, log });
  Comlink.expose(daemon, nodeEndpoint(api.port1));
  const workerOptions: ServerWorkerOptions = {
    host: listen.host,
    port: listen.port,
    token,
    name: acq.config.application.name,
    shadowed: [...shadowed],
    channels,
    cameras: acq.cameras.ids,
  };
  const worker = new Worker(entryUrl('serverWorker'), {
    name: 'daq serve',
    workerData: { options: workerOptions, apiPort: api.port2, eventPort: events.port2 },
    transferList: [api.port2, events.port2],
  });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  worker.on('message', (m: { type?: string; line?: string }) => {
    if (m.type === 'log') log(m.line!);
  });
  const ready = await new Promise<ServerReady>((resolve) => {
    worker.on('message', (m: ServerReady | { type: string }) => {
      if (m.type === 'listening' || m.type === 'failed') resolve(m as ServerReady);
    });
    worker.once('error', (e) => resolve({ type: 'failed', message: e.message }));
  });

  let code = 0;
  if (ready.type === 'failed') {
    io.err(
      `daq serve: cannot listen on ${listen.host}:${listen.port}: ${ready.message}${ready.code === 'EADDRINUSE' ? ' (another program uses that port: choose another with --listen)' : ''}\n`,
    );
    code = 1;
  } else {
    io.err(`daq serve: listening on ${ready.url} (session directory ${acq.dir})\n`);
    if (token && given === undefined)
      io.err(`daq serve: token (generated; pass it as Authorization: Bearer, or open ${ready.url}?token=${token}): ${token}\n`);
    else if (token) io.err('daq serve: every request must carry the token given (Authorization: Bearer <token>)\n');
    io.err('daq serve: Ctrl-C or SIGTERM stops (a running plan is aborted, motion stopped)\n');
    options.onListening?.(ready.url, token);
    const why = await (options.until ?? waitForSignal());
    io.err(`daq serve: stopping (${why})\n`);
    await daemon.close(`daq serve stopped (${why})`);
  }

  // The server first (clients told, connections closed), then the acquisition.
  const closed = new Promise<void>((resolve) => worker.on('message', (m: { type?: string }) => m.type === 'closed' && resolve()));
  if (ready.type === 'listening') {
    worker.postMessage({ type: 'close' });
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
  if (worker.threadId !== -1) await worker.terminate();
  api.port1.close();
  events.port1.close();
  // serve.json before the acquisition stops, so the publisher's last pass takes it too.
  await writeFile(
    join(acq.dir, 'serve.json'),
    `${JSON.stringify({ format: 'daq-serve/1', ...daemon.summary(), daemon: daemon.counts }, null, 2)}\n`,
  );
  const record = await acq.stop(code === 0 ? 'completed' : 'failed', code === 0 ? undefined : 'the server could not listen');
  for (const l of publishSummary(record)) io.err(`${l}\n`);
  io.err(`daq serve: stopped; ${daemon.summary().history.length} plan runs; run.json in ${acq.dir} (${record.status})\n`);
  return code;
}
