// The wiring every subsystem worker does and nothing more: wait for the broker endpoint and
// the control channel that the manager posts, then serve the subsystem on the control channel.
// Comlink is passed in (core does not depend on it).

import { batchingEndpoint } from './batching-endpoint.js';
import type { MessagePort, Transferable } from 'node:worker_threads';
import { installErrorTransfer, type BrokerApi, type TransferHandlerLike } from '../rpc.js';
import type { SubsystemApi } from './subsystem-api.js';

export interface RpcKit {
  wrap(port: MessagePort): BrokerApi;
  expose(api: SubsystemApi, port: MessagePort): void;
}

export type PostToBroker = (message: unknown, transfer?: readonly Transferable[]) => void;

interface ParentPortLike {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  postMessage(message: unknown, transfer?: readonly Transferable[]): void;
}

/** Resolves once both ports have arrived and the subsystem is served. */
export function serveSubsystemWorker(
  parent: ParentPortLike,
  rpc: RpcKit,
  createSubsystem: (broker: BrokerApi, post: PostToBroker) => SubsystemApi,
): Promise<void> {
  return new Promise((resolve) => {
    let broker: MessagePort | undefined;
    let control: MessagePort | undefined;
    const onMessage = (m: unknown) => {
      const msg = m as { type?: string; port?: MessagePort };
      if (msg?.type === 'daq:broker') broker = msg.port;
      else if (msg?.type === 'daq:control') control = msg.port;
      if (!broker || !control) return;
      parent.off('message', onMessage);
      const post: PostToBroker = (message, transfer) => parent.postMessage(message, transfer);
      rpc.expose(createSubsystem(rpc.wrap(broker), post), control);
      resolve();
    };
    parent.on('message', onMessage);
  });
}

/** The slice of Comlink a worker needs (core does not depend on comlink itself). */
export interface ComlinkLike {
  wrap(endpoint: unknown): unknown;
  expose(api: unknown, endpoint: unknown): void;
  transferHandlers: Map<string, unknown>;
}

/** An RpcKit over Comlink and its node adapter, with DaqError transfer installed for this thread. */
export function comlinkRpcKit(comlink: ComlinkLike, nodeEndpoint: (port: MessagePort) => unknown): RpcKit {
  installErrorTransfer(comlink.transferHandlers as Map<string, TransferHandlerLike>);
  return {
    // Batched: the calls of one turn (e.g. the polls of instruments whose timers fired together)
    // cross to the broker in one message; the broker's endpoint batches its replies the same way.
    wrap: (port) => comlink.wrap(batchingEndpoint(nodeEndpoint(port) as object, 'broker RPC')) as BrokerApi,
    expose: (api, port) => comlink.expose(api, nodeEndpoint(port)),
  };
}
