// `daq collect --server URL --out DIR`: the central side of publishing. A durable JetStream
// consumer rebuilds every published run under DIR/<lab>/<host>/<run>/ (docs/publishing.md);
// Ctrl-C or SIGTERM finishes the batch in hand (written, synced, acknowledged) and exits 0.
// `daq runs DIR`: the runs under a directory, one line each.

import { hostname } from 'node:os';
import { credentialsFrom, DaqError, subjectToken } from '@daq/core';
import type { CliIo } from '../cli-io.js';

export interface CollectOptions {
  servers: string[];
  out: string;
  stream: string;
  durable?: string;
  subjects: string;
  /** Exit once nothing has arrived for this many seconds and nothing is pending. */
  idleExitS?: number;
  /** Messages per fetch (default 256). */
  batch?: number;
  /** Stops the collector (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>;
}

export async function collectCommand(o: CollectOptions, io: CliIo): Promise<number> {
  if (o.servers.length === 0 || !o.servers.every((s) => /^(nats|tls):\/\/[^\s/@]+$/.test(s)))
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `--server takes nats://HOST:PORT, without credentials (they come from DAQ_NATS_*); got ${o.servers.map((s) => s.replace(/\/\/[^@/]*@/, '//…@')).join(', ') || 'nothing'}`,
    );
  const { NatsCollector, Collector } = await import('@daq/publish');
  const durable = o.durable ?? `daq-collect-${subjectToken(hostname())}`;
  const transport = new NatsCollector({
    servers: o.servers,
    credentials: credentialsFrom({}),
    name: `daq collect ${durable}`,
    stream: o.stream,
    durable,
    filter: o.subjects,
  });
  const stop = new AbortController();
  const on = () => stop.abort();
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  void o.until?.then(on);
  try {
    // The server may not be up yet: try until it is, saying why once.
    for (let attempt = 0; ; attempt++) {
      try {
        await transport.connect();
        break;
      } catch (e) {
        if (attempt === 0) io.err(`daq collect: ${(e as Error).message}; retrying every 2 s (Ctrl-C stops)\n`);
        if ((e as DaqError).code === 'DAQ_PUBLISH_AUTH') return 1;
        if (stop.signal.aborted) return 1;
        await new Promise((r) => setTimeout(r, 2000));
        if (stop.signal.aborted) return 1;
      }
    }
    io.err(`daq collect: consuming ${o.subjects} of stream ${o.stream} as ${durable} into ${o.out}\n`);
    const collector = new Collector({
      transport,
      out: o.out,
      ...(o.idleExitS !== undefined ? { idleExitMs: o.idleExitS * 1000 } : {}),
      ...(o.batch !== undefined ? { batch: o.batch } : {}),
      log: (l) => io.err(`${l}\n`),
    });
    await collector.run(stop.signal);
    io.err(`${collector.line()}\n`);
    return 0;
  } finally {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
    await transport.close();
  }
}

export async function runsCommand(dir: string | undefined, options: { json: boolean }, io: CliIo): Promise<number> {
  if (!dir) throw new DaqError('DAQ_INVALID_ARGUMENT', 'daq runs needs a directory (a collector’s --out or a data_dir)');
  const { listRuns } = await import('@daq/publish');
  const runs = listRuns(dir);
  if (options.json) {
    io.out(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    io.err(`daq runs: no runs under ${dir} (a run directory has run.json or plan.json)\n`);
    return 0;
  }
  const rows = runs.map((r) => [
    r.host,
    r.path,
    r.plan ?? '-',
    r.start ?? '-',
    r.status,
    r.points === undefined ? '-' : String(r.points),
    r.rows === undefined ? '-' : String(r.rows),
  ]);
  const head = ['host', 'run', 'plan', 'start', 'status', 'points', 'rows'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) io.out(`${r.map((c, i) => (i >= 5 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ')}\n`);
  return 0;
}
