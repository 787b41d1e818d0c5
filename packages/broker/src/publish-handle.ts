// The main thread's side of the publisher ([application.publish]): starts its worker thread,
// keeps the status it reports (for run.json, the progress line and the daemon's status), and at
// the end of a run gives it a bounded time to catch up. Nothing here waits on the network: the
// worker does, and a worker that fails is reported, never fatal to the acquisition.

import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import type { PublishSettings } from '@daq/core';
import type { PublisherStatus, PublisherWorkerData } from '@daq/publish';
import { entryUrl } from './entry-points.js';

export type { PublisherStatus } from '@daq/publish';

export class PublisherHandle {
  private last: PublisherStatus;
  private worker: Worker | undefined;
  private nextId = 1;
  private waiting = new Map<number, (s: PublisherStatus) => void>();
  private closing: Promise<void> | undefined;

  private constructor(settings: PublishSettings, data: PublisherWorkerData) {
    this.last = {
      state: 'connecting',
      servers: settings.servers,
      stream: settings.stream,
      prefix: settings.prefix,
      acked: 0,
      duplicates: 0,
      failed: 0,
      bytes: 0,
      behindS: 0,
      pendingBytes: 0,
      catchUp: { runs: 0, completed: 0 },
      disconnects: 0,
      errors: 0,
    };
    const worker = new Worker(entryUrl('publisherWorker'), { workerData: data, name: 'publisher' });
    this.worker = worker;
    worker.unref();
    worker.on('message', (m: { type: string; id?: number; status: PublisherStatus }) => {
      this.last = m.status;
      if (m.type === 'finished' && m.id !== undefined) {
        this.waiting.get(m.id)?.(m.status);
        this.waiting.delete(m.id);
      }
    });
    worker.on('error', (e) => {
      this.last = {
        ...this.last,
        state: 'closed',
        errors: this.last.errors + 1,
        error: {
          code: 'DAQ_WORKER',
          message: `the publisher's worker thread failed: ${e.message}`,
          at: new Date().toISOString(),
        },
      };
    });
    worker.on('exit', () => {
      this.worker = undefined;
      for (const w of this.waiting.values()) w(this.last);
      this.waiting.clear();
    });
  }

  /** Starts the publisher for a run (`live`) and for earlier runs under `dataDir` left unpublished. */
  static start(settings: PublishSettings, opts: { live?: string; dataDir?: string; pollMs?: number }): PublisherHandle {
    return new PublisherHandle(settings, {
      settings,
      ...(opts.live ? { live: resolve(opts.live) } : {}),
      ...(opts.dataDir ? { dataDir: resolve(opts.dataDir) } : {}),
      ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
    });
  }

  /** The last status the worker reported. */
  status(): PublisherStatus {
    return this.last;
  }

  /** The run is over: waits up to `timeoutMs` for everything to be acknowledged; returns the status then. */
  finish(timeoutMs: number): Promise<PublisherStatus> {
    const w = this.worker;
    if (!w) return Promise.resolve(this.last);
    const id = this.nextId++;
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        r(this.last);
      }, timeoutMs + 2000);
      this.waiting.set(id, (s) => {
        clearTimeout(t);
        r(s);
      });
      w.postMessage({ type: 'finish', id, timeoutMs });
    });
  }

  /** Stops the worker (its state is saved in each run's publish.json); at most `timeoutMs`, then terminated. */
  close(timeoutMs = 3000): Promise<void> {
    this.closing ??= (async () => {
      const w = this.worker;
      if (!w) return;
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage({ type: 'close' });
      const t = setTimeout(() => void w.terminate(), timeoutMs);
      await exited;
      clearTimeout(t);
    })();
    return this.closing;
  }
}
