// How a driver talks to a serial instrument from a worker: every exchange runs inside a lease
// taken from the broker and released afterwards, so V2 and V4 drivers on one port take turns.
// A driver knows its protocol, never where its bytes go.

import type { SerialInstrumentBase } from '../config/types.js';
import { DaqError } from '../errors.js';
import type { BrokerApi, SerialLeaseRequest } from '../rpc.js';
import type { DriverContext } from './subsystem-host.js';

/** What a driver may do while it holds the port. Bytes are latin1 strings. */
export interface SerialIo {
  write(data: string): Promise<void>;
  readLine(terminator: string, timeoutMs: number): Promise<string>;
  query(command: string, terminator: string, timeoutMs: number): Promise<string>;
  /** Several queries in one message to the broker, each answered in turn (see BrokerApi.serialQueryMany). */
  queryMany(commands: string[], terminator: string, timeoutMs: number): Promise<string[]>;
  /** Discards unread input (e.g. bus garbage); returns the number of bytes dropped. */
  drain(): Promise<number>;
}

export interface SerialChannelOptions extends SerialLeaseRequest {
  /** Label of the lease owner, e.g. the instrument id (the broker prefixes the subsystem). */
  instrument: string;
}

export class SerialChannel {
  /** Exchanges completed and failed, for status. */
  transactions = 0;
  failures = 0;

  constructor(
    private readonly broker: BrokerApi,
    readonly port: string,
    private readonly options: SerialChannelOptions,
  ) {}

  /** Runs `fn` while holding the port; the lease is released on every path. */
  async transaction<T>(fn: (io: SerialIo) => Promise<T>): Promise<T> {
    const { instrument, timeoutMs, maxHoldMs } = this.options;
    const lease = await this.broker.leaseSerial(this.port, instrument, { timeoutMs, maxHoldMs });
    const b = this.broker;
    const io: SerialIo = {
      write: (data) => b.serialWrite(lease, data),
      readLine: (terminator, t) => b.serialReadLine(lease, terminator, t),
      query: (command, terminator, t) => b.serialQuery(lease, command, terminator, t),
      queryMany: (commands, terminator, t) => b.serialQueryMany(lease, commands, terminator, t),
      drain: () => b.serialDrain(lease),
    };
    let result: T;
    try {
      result = await fn(io);
    } catch (e) {
      this.failures++;
      // A revoked or lost lease is already gone; the original error is the one that matters.
      await b.releaseSerial(lease).catch(() => undefined);
      throw e;
    }
    await b.releaseSerial(lease);
    this.transactions++;
    return result;
  }

  /** One command and its reply line in a lease of its own. */
  query(command: string, terminator: string, timeoutMs: number): Promise<string> {
    return this.transaction((io) => io.query(command, terminator, timeoutMs));
  }
}

/**
 * The channel a driver of a serial instrument talks through: the configured port, leases
 * labelled with the instrument's id and waited for as long as the host allows.
 */
export function serialChannelFor(
  config: Pick<SerialInstrumentBase, 'id' | 'serial_port'>,
  context: Pick<DriverContext, 'broker' | 'leaseTimeoutMs'>,
): SerialChannel {
  return new SerialChannel(context.broker, config.serial_port, { instrument: config.id, timeoutMs: context.leaseTimeoutMs });
}

/** How a driver talks to a VISA instrument: every command is queued by the broker per resource. */
export class VisaChannel {
  constructor(
    private readonly broker: BrokerApi,
    readonly resource: string,
    private readonly instrument: string,
    private readonly timeoutMs?: number,
  ) {}

  query(command: string, timeoutMs = this.timeoutMs): Promise<string> {
    return this.broker.visaQuery(this.resource, this.instrument, command, timeoutMs);
  }

  /** Several queries in one message and one turn of the queue, pipelined on a raw socket (BrokerApi.visaQueryMany). */
  queryMany(commands: string[], timeoutMs = this.timeoutMs): Promise<string[]> {
    return this.broker.visaQueryMany(this.resource, this.instrument, commands, timeoutMs);
  }

  write(command: string, timeoutMs = this.timeoutMs): Promise<void> {
    return this.broker.visaWrite(this.resource, this.instrument, command, timeoutMs);
  }
}

/** A reply the driver cannot make sense of: says which instrument, what was sent and what came back. */
export function badReply(instrument: string, command: string, reply: string, expected: string): DaqError {
  return new DaqError(
    'DAQ_INSTRUMENT',
    `${instrument}: unexpected reply ${JSON.stringify(reply)} to ${JSON.stringify(command)} (expected ${expected}); check the instrument's line settings and that it is the configured type`,
    { instrument, command, reply },
  );
}
