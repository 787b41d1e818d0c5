// Publisher on its own, with an in-memory transport standing in for the stream (the real one
// is tested against nats-server in test/publish*.test.ts): a file whose messages are refused
// is parked while the others are recorded; finish() returns when everything is acknowledged;
// close() does not wait out a backoff.

import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaqError, type PublishSettings } from '@daq/core';
import { Publisher, RunFollower, type OutMessage, type PublishTransport } from '../src/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'daq-publisher-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const settings: PublishSettings = {
  servers: ['nats://127.0.0.1:1'],
  stream: 'DAQ',
  subjectRoot: 'daq',
  lab: 'lab',
  host: 'h',
  prefix: 'daq.lab.h',
  replicas: 1,
  credentials: {},
  drainTimeoutMs: 1000,
  maxPending: 4,
  nice: 0,
};

/** Takes every message except those `refuse` picks; counts connects. */
function memory(refuse: (m: OutMessage) => boolean, connect: () => Promise<void> = async () => undefined) {
  const got: OutMessage[] = [];
  let seq = 0;
  const transport: PublishTransport & { got: OutMessage[] } = {
    got,
    maxPayload: 1 << 20,
    server: 'memory',
    connect,
    async publish(m) {
      if (refuse(m)) throw new DaqError('DAQ_PUBLISH_REFUSED', `refused ${m.file}`, { stream: 'DAQ', file: m.file });
      got.push(m);
      return { seq: ++seq, duplicate: false };
    },
    onEvent: () => undefined,
    close: async () => undefined,
  };
  return transport;
}

t.test('a refused file is parked; the other files are published and recorded', async (t) => {
  const dir = join(tmp, 'run-a');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  await writeFile(join(dir, 'documents.jsonl'), '{"name":"start"}\n{"name":"stop"}\n');
  await writeFile(join(dir, 'notes.json'), '{"a":1}\n');
  await writeFile(join(dir, 'run.json'), '{"status":"completed"}\n');
  const transport = memory((m) => m.file === 'notes.json');
  const p = new Publisher({ settings, transport, live: dir, pollMs: 20 });
  p.start();
  const status = await p.finish(1500);
  t.match(status, {
    state: 'refused',
    live: { complete: false },
    error: { code: 'DAQ_PUBLISH_REFUSED', message: /refused notes\.json/ },
  });
  await p.close();
  const state = RunFollower.load(dir)!;
  t.equal(state.files['documents.jsonl'], 33, 'the documents are recorded as published');
  t.ok(state.snapshots['run.json'], 'run.json too');
  t.notOk(state.snapshots['notes.json'], 'the refused file is not');
  t.equal(state.complete, false);
  t.match(state.lastError, /refused notes\.json/);
  t.same(
    transport.got.filter((m) => m.file === 'documents.jsonl').map((m) => m.position),
    [0, 17],
    'each document once',
  );
});

t.test('finish() resolves once all is acknowledged; close() does not wait out a backoff', async (t) => {
  const dir = join(tmp, 'run-b');
  await mkdir(dir);
  await writeFile(join(dir, 'run.json'), '{"status":"completed"}\n');
  const ok = new Publisher({ settings, transport: memory(() => false), live: dir, pollMs: 20 });
  ok.start();
  const t0 = Date.now();
  const s = await ok.finish(10_000);
  t.match(s, { state: 'connected', live: { complete: true }, acked: 1 });
  t.ok(Date.now() - t0 < 5000, 'without waiting for the timeout');
  await ok.close();
  t.equal(RunFollower.load(dir)!.complete, true);

  // A server that is never there: the publisher backs off; close() ends it at once.
  const down = new Publisher({
    settings,
    transport: memory(
      () => false,
      async () => {
        throw new DaqError('DAQ_PUBLISH_UNREACHABLE', 'no server');
      },
    ),
    live: dir,
  });
  down.start();
  await new Promise((r) => setTimeout(r, 1500)); // a few attempts: the backoff is now seconds
  t.equal(down.status().state, 'unreachable');
  const t1 = Date.now();
  await down.close();
  t.ok(Date.now() - t1 < 1000, `closed in ${Date.now() - t1} ms`);
});
