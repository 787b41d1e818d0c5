// VISA `TCPIP[n]::host::port::SOCKET` sessions over node:net (raw SCPI on a TCP socket).
// A raw socket has no device clear, so clear() reconnects: a reply that arrives late goes
// to the old connection and can never be taken for the next command's reply.

import { Socket } from 'node:net';
import { DaqError, type TcpipSocketResource, type VisaResource } from '@daq/core';
import type { VisaBackend, VisaOpenOptions, VisaSession } from './backend.js';

interface PendingRead {
  resolve(reply: string): void;
  reject(err: Error): void;
}

export class SocketSession implements VisaSession {
  private socket: Socket | undefined;
  private buffer = '';
  private pending: PendingRead | undefined;
  private closed = false;
  /** Times the connection was re-established (after clear() or a lost connection). */
  reconnects = 0;

  constructor(
    readonly resource: TcpipSocketResource,
    private readonly options: VisaOpenOptions,
  ) {}

  private get where(): string {
    return `${this.resource.canonical} (${this.resource.host}:${this.resource.port})`;
  }

  /** Connects (or reconnects) within `timeoutMs`. */
  async connect(timeoutMs = this.options.timeoutMs): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    if (this.closed)
      throw new DaqError('DAQ_CLOSED', `VISA session ${this.resource.canonical} is closed`, {
        resource: this.resource.canonical,
      });
    const socket = new Socket();
    socket.setNoDelay(true); // commands are tiny: Nagle would add up to 40 ms per query
    socket.setEncoding('latin1');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new DaqError(
            'DAQ_VISA_TIMEOUT',
            `cannot connect to ${this.where} within ${timeoutMs} ms: check the instrument is on and reachable`,
            { resource: this.resource.canonical },
          ),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new DaqError(
            'DAQ_VISA_ERROR',
            `cannot connect to ${this.where}: ${err.message} (check host, port and that the instrument accepts raw socket connections)`,
            { resource: this.resource.canonical },
            { cause: err },
          ),
        );
      });
      socket.connect(this.resource.port, this.resource.host);
    });
    socket.removeAllListeners('error');
    socket.on('data', (chunk: string) => this.onData(socket, chunk));
    socket.on('error', () => undefined); // 'close' follows and reports it
    socket.on('close', () => this.onClose(socket));
    this.socket = socket;
    this.buffer = '';
    return socket;
  }

  private onData(socket: Socket, chunk: string): void {
    if (socket !== this.socket) return; // a late reply on a connection we dropped
    this.buffer += chunk;
    this.deliver();
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(
      new DaqError('DAQ_VISA_ERROR', `connection to ${this.where} was lost; the next command reconnects`, {
        resource: this.resource.canonical,
      }),
    );
  }

  private deliver(): void {
    if (!this.pending) return;
    const term = this.options.readTermination;
    const at = this.buffer.indexOf(term);
    if (at < 0) return;
    const reply = this.buffer.slice(0, at);
    this.buffer = this.buffer.slice(at + term.length);
    const p = this.pending;
    this.pending = undefined;
    p.resolve(reply);
  }

  write(command: string, timeoutMs: number): Promise<void> {
    return this.send(command + this.options.writeTermination, timeoutMs);
  }

  /** The commands in one write: the instrument parses them in turn and its replies queue in order on the socket. */
  writeMany(commands: readonly string[], timeoutMs: number): Promise<void> {
    const t = this.options.writeTermination;
    return this.send(commands.join(t) + t, timeoutMs);
  }

  private async send(data: string, timeoutMs: number): Promise<void> {
    const socket = await this.connect(timeoutMs);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new DaqError('DAQ_VISA_TIMEOUT', `write to ${this.where} did not complete within ${timeoutMs} ms`, {
              resource: this.resource.canonical,
            }),
          ),
        timeoutMs,
      );
      socket.write(data, 'latin1', (err) => {
        clearTimeout(timer);
        if (err)
          reject(
            new DaqError(
              'DAQ_VISA_ERROR',
              `write to ${this.where} failed: ${err.message}`,
              { resource: this.resource.canonical },
              { cause: err },
            ),
          );
        else resolve();
      });
    });
  }

  read(timeoutMs: number): Promise<string> {
    if (this.pending) {
      return Promise.reject(
        new DaqError('DAQ_VISA_ERROR', `a read on ${this.where} is already pending`, { resource: this.resource.canonical }),
      );
    }
    if (!this.socket) {
      return Promise.reject(
        new DaqError(
          'DAQ_VISA_ERROR',
          `read from ${this.where} without a connection: the connection was lost; write the command again`,
          { resource: this.resource.canonical },
        ),
      );
    }
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        const partial = this.buffer.length
          ? ` (received ${JSON.stringify(this.buffer.slice(0, 64))} without the terminator)`
          : '';
        reject(
          new DaqError(
            'DAQ_VISA_TIMEOUT',
            `no reply from ${this.where} within ${timeoutMs} ms${partial}: check the command is a query and the instrument is not busy`,
            { resource: this.resource.canonical, waitedMs: timeoutMs },
          ),
        );
      }, timeoutMs);
      this.pending = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.deliver();
    });
  }

  async clear(): Promise<void> {
    const old = this.socket;
    this.socket = undefined;
    this.buffer = '';
    old?.destroy();
    this.reconnects++;
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.socket;
    this.socket = undefined;
    this.pending?.reject(
      new DaqError('DAQ_CLOSED', `VISA session ${this.resource.canonical} closed`, { resource: this.resource.canonical }),
    );
    this.pending = undefined;
    s?.destroy();
  }
}

export class SocketBackend implements VisaBackend {
  readonly name = 'socket' as const;

  supports(resource: VisaResource): boolean {
    return resource.interface === 'TCPIP' && resource.resourceClass === 'SOCKET';
  }

  async open(resource: VisaResource, options: VisaOpenOptions): Promise<VisaSession> {
    if (resource.interface !== 'TCPIP' || resource.resourceClass !== 'SOCKET') {
      throw new DaqError('DAQ_VISA_ERROR', `the socket backend cannot open ${resource.canonical}`, {
        resource: resource.canonical,
      });
    }
    const session = new SocketSession(resource, options);
    await session.connect();
    return session;
  }

  async close(): Promise<void> {}
}
