// Entry of the V4 worker thread: wire the subsystem to its broker endpoint and control channel.
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { comlinkRpcKit, serveSubsystemWorker } from '@daq/core';
import { createV4Subsystem } from './subsystem.js';

await serveSubsystemWorker(parentPort!, comlinkRpcKit(Comlink, nodeEndpoint), createV4Subsystem);
