// VISA `ASRL…::INSTR` sessions through the SerialPortPool: each queued command or
// transaction takes a lease on the port, so a VISA user and a direct serial user of the
// same port take turns instead of colliding.

import { DaqError, type AsrlResource, type VisaResource } from '@daq/core';
import type { SerialPortPool } from '../serial/serial-port-pool.js';
import type { SerialLease } from '../serial/serial-lease.js';
import type { VisaBackend, VisaOpenOptions, VisaSession } from './backend.js';

/** After a timeout, how long the line must stay quiet before it counts as clear. */
const SETTLE_MS = 50;

class AsrlSession implements VisaSession {
  private lease: SerialLease | undefined;

  constructor(
    readonly resource: AsrlResource,
    private readonly pool: SerialPortPool,
    private readonly options: VisaOpenOptions,
  ) {}

  async begin(owner: string, timeoutMs: number): Promise<void> {
    this.lease = await this.pool.lease(this.resource.path, { owner, timeoutMs });
  }

  async end(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release();
  }

  private held(): SerialLease {
    if (!this.lease) {
      throw new DaqError(
        'DAQ_VISA_ERROR',
        `ASRL session ${this.resource.canonical} used outside a queued command (internal error)`,
        { resource: this.resource.canonical },
      );
    }
    return this.lease;
  }

  private translate(e: unknown): Error {
    if (e instanceof DaqError && e.code === 'DAQ_READ_TIMEOUT') {
      return new DaqError(
        'DAQ_VISA_TIMEOUT',
        `${this.resource.canonical}: ${e.message}`,
        { ...e.facts, resource: this.resource.canonical },
        { cause: e },
      );
    }
    return e as Error;
  }

  async write(command: string, _timeoutMs: number): Promise<void> {
    await this.held()
      .write(command + this.options.writeTermination)
      .catch((e: unknown) => Promise.reject(this.translate(e)));
  }

  async read(timeoutMs: number): Promise<string> {
    return this.held()
      .readLine(this.options.readTermination, { timeoutMs })
      .catch((e: unknown) => Promise.reject(this.translate(e)));
  }

  /** Drains input, waits until the line is quiet (a late reply lands here), drains again. */
  async clear(): Promise<void> {
    const lease = this.lease;
    if (!lease || lease.state !== 'active') return;
    await lease.drain();
    // Bounded: an instrument that never stops talking must not hang the queue.
    for (let i = 0; i < 100; i++) {
      const got = await lease.readUntil(this.options.readTermination, { timeoutMs: SETTLE_MS }).then(
        () => true,
        () => false,
      );
      if (!got) break;
    }
    await lease.drain();
  }

  async close(): Promise<void> {
    await this.end();
  }
}

export class AsrlBackend implements VisaBackend {
  readonly name = 'asrl' as const;

  constructor(private readonly pool: SerialPortPool) {}

  supports(resource: VisaResource): boolean {
    return resource.interface === 'ASRL';
  }

  async open(resource: VisaResource, options: VisaOpenOptions): Promise<VisaSession> {
    if (resource.interface !== 'ASRL') {
      throw new DaqError('DAQ_VISA_ERROR', `the asrl backend cannot open ${resource.canonical}`, {
        resource: resource.canonical,
      });
    }
    if (!this.pool.paths.includes(resource.path)) {
      throw new DaqError(
        'DAQ_PORT_UNKNOWN',
        `${resource.canonical} names serial port ${resource.path}, which is not configured`,
        {
          resource: resource.canonical,
          port: resource.path,
        },
      );
    }
    return new AsrlSession(resource, this.pool, options);
  }

  async close(): Promise<void> {}
}
