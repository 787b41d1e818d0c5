// One broker endpoint per worker: the worker's identity is fixed here, when the endpoint is
// made, so a worker can neither act as another nor touch another's leases. When the worker
// exits, everything it held is released and its queued commands fail.

import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { DaqError, batchingEndpoint, type BrokerApi, type SerialLeaseRequest } from '@daq/core';
import type { SharedResources } from '../shared-resources.js';
import type { SerialLease } from '../serial/serial-lease.js';
import { Comlink, nodeEndpoint } from './comlink.js';

const INSTRUMENT = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function invalid(message: string): DaqError {
  return new DaqError('DAQ_INVALID_ARGUMENT', message);
}

function checkString(name: string, value: unknown, allowEmpty = false): asserts value is string {
  if (typeof value !== 'string' || (!allowEmpty && value === ''))
    throw invalid(`${name} must be a ${allowEmpty ? '' : 'non-empty '}string, got ${JSON.stringify(value)}`);
}

/** Most commands one queryMany may carry: a bound on the message and on how long it holds the resource. */
export const MAX_QUERY_MANY = 1024;

function checkCommands(value: unknown): asserts value is string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_QUERY_MANY)
    throw invalid(
      `commands must be a list of 1 to ${MAX_QUERY_MANY} strings, got ${Array.isArray(value) ? `${value.length} commands` : JSON.stringify(value)}`,
    );
  value.forEach((c, i) => checkString(`commands[${i}]`, c));
}

function checkTimeout(name: string, value: unknown, optional: boolean): asserts value is number {
  if (optional && value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw invalid(`${name} must be a non-negative number of milliseconds, got ${JSON.stringify(value)}`);
}

export class BrokerEndpoint {
  /** Send this port to the worker (it is transferred, not copied). */
  readonly workerPort: MessagePort;
  private readonly brokerPort: MessagePort;
  private readonly leases = new Map<number, SerialLease>();
  private closed = false;

  constructor(
    private readonly resources: SharedResources,
    readonly identity: string,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.brokerPort = port1;
    this.workerPort = port2;
    // Replies leave batched per turn of the event loop (batchingEndpoint); the worker's side batches its calls.
    Comlink.expose(this.api(), batchingEndpoint(nodeEndpoint(port1), `broker RPC of ${identity}`));
  }

  private owner(instrument: unknown): string {
    checkString('instrument', instrument);
    if (!INSTRUMENT.test(instrument))
      throw invalid(`instrument must be an instrument id (letters, digits, _ and -), got ${JSON.stringify(instrument)}`);
    return `${this.identity}:${instrument}`;
  }

  private lease(handle: unknown): SerialLease {
    const lease = typeof handle === 'number' ? this.leases.get(handle) : undefined;
    if (!lease)
      throw invalid(
        `lease ${JSON.stringify(handle)} is not held by ${this.identity} (released, revoked, or never granted to it)`,
      );
    return lease;
  }

  private keep(lease: SerialLease): number {
    if (this.closed) {
      void lease.release();
      throw new DaqError('DAQ_CLOSED', `the broker endpoint of ${this.identity} is closed`);
    }
    this.leases.set(lease.id, lease);
    return lease.id;
  }

  private api(): BrokerApi {
    const r = this.resources;
    return {
      whoami: async () => this.identity,
      leaseSerial: async (port, instrument, request: SerialLeaseRequest = {}) => {
        checkString('port', port);
        checkTimeout('timeoutMs', request?.timeoutMs, true);
        checkTimeout('maxHoldMs', request?.maxHoldMs, true);
        return this.keep(
          await r.acquireSerial(port, {
            owner: this.owner(instrument),
            timeoutMs: request.timeoutMs,
            maxHoldMs: request.maxHoldMs,
          }),
        );
      },
      tryLeaseSerial: async (port, instrument, request = {}) => {
        checkString('port', port);
        checkTimeout('maxHoldMs', request?.maxHoldMs, true);
        return this.keep(await r.serial.tryLease(port, { owner: this.owner(instrument), maxHoldMs: request.maxHoldMs }));
      },
      serialWrite: async (handle, data) => {
        checkString('data', data);
        await this.lease(handle).write(data);
      },
      serialReadLine: async (handle, terminator, timeoutMs) => {
        checkString('terminator', terminator);
        checkTimeout('timeoutMs', timeoutMs, false);
        return this.lease(handle).readLine(terminator, { timeoutMs });
      },
      serialQuery: async (handle, command, terminator, timeoutMs) => {
        checkString('command', command);
        checkString('terminator', terminator);
        checkTimeout('timeoutMs', timeoutMs, false);
        return this.lease(handle).query(command, { terminator, timeoutMs });
      },
      serialQueryMany: async (handle, commands, terminator, timeoutMs) => {
        checkCommands(commands);
        checkString('terminator', terminator);
        checkTimeout('timeoutMs', timeoutMs, false);
        const lease = this.lease(handle);
        const replies: string[] = [];
        for (const [i, command] of commands.entries()) {
          try {
            replies.push(await lease.query(command, { terminator, timeoutMs }));
          } catch (e) {
            if (e instanceof DaqError) {
              e.message = `${e.message} (command ${i + 1} of ${commands.length} in one queryMany: ${JSON.stringify(command)}; ${i} replies received)`;
              Object.assign(e.facts, { command, index: i });
            }
            throw e;
          }
        }
        return replies;
      },
      serialDrain: async (handle) => this.lease(handle).drain(),
      releaseSerial: async (handle) => {
        const lease = this.lease(handle);
        this.leases.delete(lease.id);
        await lease.release();
      },
      visaQuery: async (resource, instrument, command, timeoutMs) => {
        checkString('resource', resource);
        checkTimeout('timeoutMs', timeoutMs, true);
        return r.visa.query(resource, command, { owner: this.owner(instrument), timeoutMs });
      },
      visaQueryMany: async (resource, instrument, commands, timeoutMs) => {
        checkString('resource', resource);
        checkCommands(commands);
        checkTimeout('timeoutMs', timeoutMs, true);
        return r.visa.queryMany(resource, commands, { owner: this.owner(instrument), timeoutMs });
      },
      visaWrite: async (resource, instrument, command, timeoutMs) => {
        checkString('resource', resource);
        checkTimeout('timeoutMs', timeoutMs, true);
        await r.visa.write(resource, command, { owner: this.owner(instrument), timeoutMs });
      },
      visaIdentify: async (resource, instrument) => {
        checkString('resource', resource);
        return (await r.identifyVisa(resource, this.owner(instrument))).raw;
      },
    };
  }

  /** Leases this endpoint still holds. */
  get leasesHeld(): number {
    return [...this.leases.values()].filter((l) => l.state === 'active').length;
  }

  /** Releases everything the worker held and stops serving it. Idempotent. */
  close(reason = `${this.identity} closed`): { leases: number; commands: number } {
    if (this.closed) return { leases: 0, commands: 0 };
    this.closed = true;
    this.leases.clear();
    const released = this.resources.releaseOwner(this.identity, reason);
    this.brokerPort.close();
    return released;
  }
}

/** Gives `worker` its own endpoint (posted as `{ type: 'daq:broker', port }`) and cleans up when it exits. */
export function attachWorker(
  worker: Worker,
  identity: string,
  resources: SharedResources,
  onExit?: (released: { leases: number; commands: number }, code: number) => void,
): BrokerEndpoint {
  const endpoint = new BrokerEndpoint(resources, identity);
  worker.postMessage({ type: 'daq:broker', port: endpoint.workerPort }, [endpoint.workerPort]);
  worker.once('exit', (code) => onExit?.(endpoint.close(`worker ${identity} exited with code ${code}`), code));
  return endpoint;
}
