// WebSocket clients of `daq serve` in a process of their own, for serve.overhead: N clients
// subscribe and read every scalar batch (Arrow IPC): each message's metadata, its row count, and
// every value of its `value` column, summed, straight from the IPC body as a zero-copy reader
// (pyarrow, arrow-rs) would, without building apache-arrow's JS vectors, whose per-message cost
// is the JS library's and not what a client on another machine pays. The benchmark starts
// this under SCHED_IDLE (`chrt --idle 0`) where it can: the clients then take only CPU time
// nothing else wants, as clients on other machines would, so the figure is what serving them
// costs the daemon. Commands on stdin, one per line: `report` prints one JSON line of counts;
// `close` closes every client and exits.
//
//   node serve-clients.js URL N SUBSCRIBE_JSON

import { createInterface } from 'node:readline';
import { Message, Type } from 'apache-arrow';
import WebSocket from 'ws';

/** Buffers a field takes in a record batch (its children's too), per the Arrow columnar format. */
function bufferCount(typeId: Type, dictionary: boolean): number {
  if (dictionary) return 2; // validity, indices
  switch (typeId) {
    case Type.Float:
    case Type.Int:
    case Type.Timestamp:
    case Type.Bool:
      return 2; // validity, data
    case Type.Utf8:
    case Type.Binary:
      return 3; // validity, offsets, data
    default:
      throw new Error(`serve-clients: no buffer count for Arrow type ${Type[typeId]}`);
  }
}

/**
 * The rows of an Arrow IPC stream and the sum of its `value` column, from the messages' metadata
 * and the record batches' bodies: 0xFFFFFFFF, the metadata's length, the flatbuffer Message, then
 * its body (https://arrow.apache.org/docs/format/Columnar.html#encapsulated-message-format).
 */
function readValues(ipc: Uint8Array): { rows: number; sum: number } {
  const dv = new DataView(ipc.buffer, ipc.byteOffset, ipc.byteLength);
  let at = 0;
  let valueBuffer = -1;
  let rows = 0;
  let sum = 0;
  while (at + 4 <= ipc.byteLength) {
    let len = dv.getInt32(at, true);
    at += 4;
    if (len === -1) {
      len = dv.getInt32(at, true);
      at += 4;
    }
    if (len === 0) break; // end of stream
    const msg = Message.decode(ipc.subarray(at, at + len));
    at += len;
    const body = at;
    at += msg.bodyLength;
    if (msg.isSchema()) {
      valueBuffer = 0;
      const fields = msg.header().fields;
      const i = fields.findIndex((f) => f.name === 'value');
      if (i < 0) throw new Error('serve-clients: the stream has no value column');
      for (const f of fields.slice(0, i)) valueBuffer += bufferCount(f.type.typeId, f.type.typeId === Type.Dictionary);
      valueBuffer += 1; // past the value column's validity bitmap, to its data
    } else if (msg.isRecordBatch()) {
      const h = msg.header();
      const region = h.buffers[valueBuffer]!;
      if (region.length < h.length * 8)
        throw new Error(`serve-clients: value buffer of ${region.length} bytes for ${h.length} rows`);
      for (let r = 0, o = body + region.offset; r < h.length; r++, o += 8) sum += dv.getFloat64(o, true);
      rows += h.length;
    }
  }
  return { rows, sum };
}

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
    const r = readValues(data.subarray(4 + len));
    c.rows += header.rows!;
    c.decoded += r.rows;
    c.checksum += r.sum;
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
