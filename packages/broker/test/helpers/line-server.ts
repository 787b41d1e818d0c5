// A minimal line-based TCP peer for unit tests of the VISA manager: each received line is
// passed to a handler that may answer, late or never. (Instrument behaviour lives in the
// simulators of packages/sim; this only exercises queueing, timeouts and routing.)

import { createServer, type Server, type Socket } from 'node:net';

export type LineHandler = (line: string, connection: number) => { reply: string; delayMs?: number } | undefined;

export class LineServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  connections = 0;
  lines: string[] = [];
  port = 0;

  constructor(private readonly handler: LineHandler) {
    this.server = createServer((socket) => {
      const id = ++this.connections;
      this.sockets.add(socket);
      socket.setNoDelay(true);
      let buf = '';
      // Replies leave in the order their lines came, as an instrument answers: a delayed reply
      // holds back the ones after it.
      let chain = Promise.resolve();
      socket.on('data', (chunk) => {
        buf += chunk.toString('latin1');
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.lines.push(line);
          const r = this.handler(line, id);
          if (!r) continue;
          const send = () => !socket.destroyed && socket.write(`${r.reply}\n`);
          chain = chain.then(async () => {
            if (r.delayMs)
              await new Promise<void>((resolve) => {
                const timer = setTimeout(() => {
                  this.timers.delete(timer);
                  resolve();
                }, r.delayMs);
                this.timers.add(timer);
              });
            send();
          });
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return `TCPIP0::127.0.0.1::${this.port}::SOCKET`;
  }

  /** Drops every client connection (the instrument "reboots"). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.dropClients();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
