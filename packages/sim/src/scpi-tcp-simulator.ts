// The SCPI meter (ScpiEngine) served on a raw TCP socket, `TCPIP0::127.0.0.1::<port>::SOCKET`,
// LF-terminated, ephemeral port by default; every reply passes through the fault injector.

import { createServer, type Server, type Socket } from 'node:net';
import { FaultInjector, type FaultSettings, type OneShotFault } from './faults.js';
import { ScpiEngine, type ScpiEngineOptions } from './scpi-engine.js';

export interface ScpiTcpSimulatorOptions extends ScpiEngineOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (default) picks a free one. Real instruments use 5025. */
  port?: number;
  faults?: Partial<FaultSettings>;
  /** Serve an existing instrument (e.g. one shared with another transport) instead of a new one. */
  engine?: ScpiEngine;
}

const LF = Uint8Array.of(0x0a);

interface Connection {
  socket: Socket;
  /** Input not yet terminated by LF. */
  input: string;
  /** The last line's processing: each line waits for the one before, so replies keep their order. */
  chain: Promise<void>;
}

export class ScpiTcpSimulator implements AsyncDisposable {
  readonly engine: ScpiEngine;
  readonly faults: FaultInjector;
  /** Connections accepted since start. */
  connections = 0;
  /** Replies written to a socket (after faults: dropped ones are not counted). */
  replies = 0;
  private readonly ownsEngine: boolean;
  private readonly server: Server;
  private readonly host: string;
  private readonly wantedPort: number;
  private listeningPort = 0;
  private readonly open = new Set<Connection>();
  /** Pending reply delays, resolved early on close so no timer outlives the simulator. */
  private readonly delays = new Map<NodeJS.Timeout, () => void>();
  private closed = false;

  constructor(options: ScpiTcpSimulatorOptions = {}) {
    this.ownsEngine = !options.engine;
    this.engine = options.engine ?? new ScpiEngine(options);
    this.faults = new FaultInjector(options.faults);
    this.host = options.host ?? '127.0.0.1';
    this.wantedPort = options.port ?? 0;
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves to the VISA resource name. */
  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.wantedPort, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listeningPort = (this.server.address() as { port: number }).port;
    return this.resource;
  }

  /** The port listened on (0 before start()). */
  get port(): number {
    return this.listeningPort;
  }

  get resource(): string {
    return `TCPIP0::${this.host}::${this.listeningPort}::SOCKET`;
  }

  /** Client connections open now. */
  get openConnections(): number {
    return this.open.size;
  }

  /** Applies `fault` to the next reply, whichever connection it goes to. */
  injectOnce(fault: OneShotFault): void {
    this.faults.once(fault);
  }

  /** Drops every client connection (the instrument "reboots"); new connections are still accepted. */
  disconnect(): number {
    const n = this.open.size;
    for (const c of this.open) c.socket.destroy();
    return n;
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.connections++;
    const conn: Connection = { socket, input: '', chain: Promise.resolve() };
    this.open.add(conn);
    socket.setNoDelay(true); // replies are tiny: Nagle would hold each for up to 40 ms
    socket.on('data', (chunk: Buffer) => {
      conn.input += chunk.toString('latin1');
      for (let i = conn.input.indexOf('\n'); i >= 0; i = conn.input.indexOf('\n')) {
        const line = conn.input.slice(0, i);
        conn.input = conn.input.slice(i + 1);
        // A simulator bug must not stall the connection silently: the client sees it drop.
        conn.chain = conn.chain.then(() => this.answer(conn, line)).catch((e: Error) => void socket.destroy(e));
      }
    });
    socket.on('error', () => undefined); // a client that vanishes is normal; 'close' follows
    socket.on('close', () => this.open.delete(conn));
  }

  private async answer(conn: Connection, line: string): Promise<void> {
    const reply = await this.engine.execute(line);
    if (reply === undefined || this.closed || conn.socket.destroyed) return;
    const fate = this.faults.decide();
    if (fate.drop) return;
    let bytes: Uint8Array = Buffer.from(`${reply}\n`, 'latin1');
    if (fate.corrupt) bytes = this.faults.corrupt(bytes, LF);
    if (fate.delayMs > 0) await this.delay(fate.delayMs);
    if (this.closed || conn.socket.destroyed) return; // a late reply to a client that gave up
    conn.socket.write(bytes);
    this.replies++;
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.delays.delete(timer);
        resolve();
      }, ms);
      this.delays.set(timer, resolve);
    });
  }

  /** Stops listening, drops every client, cancels pending replies and timers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [timer, resolve] of this.delays) {
      clearTimeout(timer);
      resolve();
    }
    this.delays.clear();
    if (this.ownsEngine) this.engine.close();
    const chains = [...this.open].map((c) => c.chain);
    this.disconnect();
    await Promise.all([
      new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve())),
      ...chains,
    ]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
