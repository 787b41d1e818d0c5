// The RPC interface between a worker and the broker (carried by Comlink), and the error
// transfer that keeps DaqError codes and facts intact across the thread boundary.

import { DaqError, deserializeDaqError, type SerializedDaqError } from './errors.js';

export interface SerialLeaseRequest {
  /** Wait at most this long for the port; default [broker] serial_lease_timeout_ms. */
  timeoutMs?: number;
  /** The broker revokes the lease after this long. */
  maxHoldMs?: number;
}

/**
 * What a worker may ask of the broker. The caller's identity (`v2`, `v4`, …) is bound to the
 * endpoint by the broker, never taken from an argument; `instrument` only labels the owner
 * (`v2:elliptec1`). Lease handles are valid only on the endpoint that granted them.
 * Bytes cross as latin1 strings (one char per byte).
 */
export interface BrokerApi {
  whoami(): Promise<string>;
  leaseSerial(port: string, instrument: string, request?: SerialLeaseRequest): Promise<number>;
  tryLeaseSerial(port: string, instrument: string, request?: Omit<SerialLeaseRequest, 'timeoutMs'>): Promise<number>;
  serialWrite(lease: number, data: string): Promise<void>;
  serialReadLine(lease: number, terminator: string, timeoutMs: number): Promise<string>;
  serialQuery(lease: number, command: string, terminator: string, timeoutMs: number): Promise<string>;
  /**
   * Several queries under one lease in one message: each command is written and its reply line
   * read in turn (a serial line is never pipelined), each within `timeoutMs`. Fails at the first
   * command that fails, saying which; the lease stays held.
   */
  serialQueryMany(lease: number, commands: string[], terminator: string, timeoutMs: number): Promise<string[]>;
  serialDrain(lease: number): Promise<number>;
  releaseSerial(lease: number): Promise<void>;
  visaQuery(resource: string, instrument: string, command: string, timeoutMs?: number): Promise<string>;
  visaWrite(resource: string, instrument: string, command: string, timeoutMs?: number): Promise<void>;
  /**
   * Several queries in one message and one turn of the resource's queue: on a raw socket they
   * are pipelined (written together, replies read in order), elsewhere sent one by one. Each
   * reply has its own `timeoutMs`, counted from the reply before it. Fails at the first command
   * that fails, saying which; the session is then cleared as after any failed command.
   */
  visaQueryMany(resource: string, instrument: string, commands: string[], timeoutMs?: number): Promise<string[]>;
  /** `*IDN?` of a VISA instrument, read once per device and shared by V2 and V4 (the broker's device cache). */
  visaIdentify(resource: string, instrument: string): Promise<string>;
}

/** Structural shape of a Comlink transfer handler (core does not depend on comlink). */
export interface TransferHandlerLike {
  canHandle(value: unknown): boolean;
  serialize(value: unknown): [unknown, unknown[]];
  deserialize(value: unknown): unknown;
}

const INSTALLED = Symbol.for('daq.errorTransferInstalled');

/**
 * Wraps Comlink's "throw" handler so a DaqError thrown on one side is rethrown as a DaqError
 * with the same code, facts and remote stack on the other. Call once per thread with
 * `Comlink.transferHandlers`.
 */
export function installErrorTransfer(handlers: Map<string, TransferHandlerLike>): void {
  const original = handlers.get('throw');
  if (!original || (original as unknown as Record<symbol, boolean>)[INSTALLED]) return;
  const wrapped: TransferHandlerLike & Record<symbol, boolean> = {
    [INSTALLED]: true,
    canHandle: (v) => original.canHandle(v),
    serialize: (thrown) => {
      const value = (thrown as { value: unknown }).value;
      if (value instanceof DaqError) return [{ daq: value.toJSON() }, []];
      return original.serialize(thrown);
    },
    deserialize: (s) => {
      const daq = (s as { daq?: SerializedDaqError }).daq;
      if (daq) throw deserializeDaqError(daq);
      return original.deserialize(s);
    },
  };
  handlers.set('throw', wrapped);
}
