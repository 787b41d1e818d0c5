// A thread that keeps one CPU busy (the "rest of the lab PC"), optionally pinned, until told to stop.
import { workerData, parentPort } from 'node:worker_threads';
import { pinThread } from '@daq/v4-worker';

const { cpu, stop } = workerData as { cpu?: number; stop: SharedArrayBuffer };
const flag = new Int32Array(stop);
const pinning = pinThread(cpu);
parentPort!.postMessage({ pinned: pinning.pinned, allowed: pinning.allowed });
let x = 0;
while (Atomics.load(flag, 0) === 0) for (let i = 0; i < 100_000; i++) x = (x * 1103515245 + 12345) | 0;
parentPort!.postMessage({ done: x });
