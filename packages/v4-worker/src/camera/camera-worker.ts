// Entry of a camera worker thread (one per camera): everything it needs comes in workerData, and
// it reports through postMessage only when ready, stopped or failed. Frames go through the ring.
import { parentPort, workerData } from 'node:worker_threads';
import type { CameraWorkerData } from '@daq/core';
import { runCameraWorker } from './camera-capture.js';

await runCameraWorker(workerData as CameraWorkerData, (m) => parentPort!.postMessage(m));
