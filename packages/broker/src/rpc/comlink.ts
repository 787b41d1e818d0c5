// Comlink for Node worker_threads, with DaqError transfer installed once for this thread.
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { installErrorTransfer, type TransferHandlerLike } from '@daq/core';

installErrorTransfer(Comlink.transferHandlers as unknown as Map<string, TransferHandlerLike>);

export { Comlink, nodeEndpoint };
