// WebSocket clients of `daq serve` in a process of their own, for serve.overhead: N clients
// subscribe, decode every scalar batch (Arrow IPC) and count its rows. The benchmark starts
// this under SCHED_IDLE (`chrt --idle 0`) where it can: the clients then take only CPU time
// nothing else wants, as clients on other machines would, so the figure is what serving them
// costs the daemon. Commands on stdin, one per line: `report` prints one JSON line of counts;
// `close` closes every client and exits.
//
//   node serve-clients.js URL N SUBSCRIBE_JSON

import { createInterface } from 'node:readline';
import { tableFromIPC } from 'apache-arrow';
import WebSocket from 'ws';

const [url, n, subscribe] = process.argv.slice(2);
const clients = Array.from({ length: Number(n) }, () => {
  const c = {
    ws: new WebSocket(`${url!.replace(/^http/, 'ws')}api/ws`),
    rows: 0,
    decoded: 0,
    checksum: 0,
    errors: [] as string[],
  };
  c.ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) {
      const m = JSON.parse(data.toString()) as { type: string; message?: string };
      if (m.type === 'error') c.errors.push(m.message ?? 'error');
      return;
    }
    const len = data.readUInt32LE(0);
    const header = JSON.parse(data.toString('utf8', 4, 4 + len)) as { type: string; rows?: number };
    if (header.type !== 'scalars') return;
    const t = tableFromIPC(data.subarray(4 + len));
    c.rows += header.rows!;
    c.decoded += t.numRows;
    for (const chunk of t.getChild('value')!.data) {
      const v = chunk.values as Float64Array;
      for (let i = 0; i < chunk.length; i++) c.checksum += v[chunk.offset + i]!;
    }
  });
  return c;
});

await Promise.all(
  clients.map(
    (c) =>
      new Promise<void>((resolve, reject) => {
        c.ws.once('open', () => {
          c.ws.send(JSON.stringify({ op: 'subscribe', ...(JSON.parse(subscribe!) as object) }));
          resolve();
        });
        c.ws.once('error', reject);
      }),
  ),
);
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'report') {
    const cpu = process.cpuUsage();
    process.stdout.write(
      `${JSON.stringify({
        rows: clients.map((c) => c.rows),
        decoded: clients.map((c) => c.decoded),
        errors: clients.flatMap((c) => c.errors),
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      })}\n`,
    );
  } else if (line === 'close') {
    await Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === c.ws.CLOSED) return resolve();
            c.ws.once('close', () => resolve());
            c.ws.close(1000, 'bench done');
            setTimeout(() => (c.ws.terminate(), resolve()), 2000).unref();
          }),
      ),
    );
    break;
  }
}
