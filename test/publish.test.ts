// Publishing runs to NATS JetStream and collecting them (issue 19), against real nats-server
// processes with JetStream file storage on loopback ports: three acquisition processes at once,
// the server killed and restarted mid-run, and the collector killed and restarted, each with
// the acquisition going on untouched and the collected copy equal to the host's files. The
// errors are in publish-errors.test.ts, the cluster in publish-cluster.test.ts.

import t from 'tap';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { main } from '@daq/broker';
import { listRuns } from '@daq/publish';
import { COUNT_PLAN, assertSameRun, daq, publishBench, publishConfig, readJson, root, writeText } from './helpers/publish.js';
import { captureIo } from './helpers/cli.js';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

t.setTimeout(400_000);
const before = handleSnapshot();
const { tmp, server, collect, acquire } = await publishBench(t, 'publish');

t.test('three acquisition processes publish at once; the collector rebuilds each run as written', async (t) => {
  const ns = await server('three');
  const plan = await writeText(join(tmp, 'count.toml'), COUNT_PLAN);
  const hosts = ['hostA', 'hostB', 'hostC'];
  const runs = await Promise.all(
    hosts.map(async (host) => {
      const cfg = await writeText(
        join(tmp, `${host}.toml`),
        publishConfig({ dataDir: join(tmp, `data-${host}`), servers: [ns.url], host }),
      );
      const out = join(tmp, `data-${host}`, `plan-${host}`);
      const p = daq(['plan', 'run', cfg, plan, '--out', out]);
      return { host, out, p, code: await p.exited };
    }),
  );
  for (const r of runs) {
    t.equal(r.code, 0, `${r.host}: daq plan run succeeded\n${r.p.stderr()}`);
    t.match(r.p.stderr(), /  published to DAQ as daq\.pubtest\.host[ABC]\.plan-host[ABC]\.\*: every file acknowledged/);
    const run = await readJson(join(r.out, 'run.json'));
    t.match(run.publish, { state: 'connected', live: { complete: true } }, `${r.host}: run.json says published`);
    t.equal(run.streams.scalars.dropped, 0, `${r.host}: nothing dropped`);
    t.match(await readJson(join(r.out, 'publish.json')), { complete: true, prefix: `daq.pubtest.${r.host}` });
    // The lag's goal is a benchmark's (publish.lag); here only that it is measured.
    t.ok(run.publish.medianLagS >= 0, `${r.host}: median lag ${run.publish.medianLagS} s`);
  }

  const out = join(tmp, 'collected-three');
  const counts = await collect(ns.url, out);
  t.equal(counts.rejected, 0);
  t.equal(counts.runs, 3, 'three runs collected');
  for (const r of runs) await assertSameRun(t, r.out, join(out, 'pubtest', r.host, `plan-${r.host}`), r.host);
  const docs = (await readFile(join(out, 'pubtest/hostA/plan-hostA/documents.jsonl'), 'utf8')).trim().split('\n');
  t.same(
    docs.map((l) => JSON.parse(l).name),
    ['start', 'descriptor', ...Array(12).fill('event'), 'stop'],
    'the documents of the plan run, in order',
  );

  // A second pass of the same durable consumer finds nothing new: it resumes, never repeats.
  const again = await collect(ns.url, out);
  t.equal(again.received, 0, 'nothing is delivered twice to a durable consumer');

  // daq runs lists them across hosts.
  const io = captureIo();
  t.equal(await main(['runs', out], io), 0);
  for (const h of hosts) t.match(io.stdout, new RegExp(`${h} +pubtest/${h}/plan-${h} +count +\\S+ +success +12 `), `${h} listed`);
  const listed = listRuns(out);
  t.equal(listed.length, 3);

  // Every run's scalars in one table (examples/read-collected.mjs, shown in the README).
  const polars = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const c = spawn(process.execPath, [join(root, 'examples/read-collected.mjs'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    c.stderr.on('data', (d) => (o += d));
    c.once('exit', (code) => resolve({ code, out: o }));
  });
  t.equal(polars.code, 0, polars.out);
  t.match(polars.out, /^3 runs, \d+ readings/);
  for (const h of hosts) t.match(polars.out, new RegExp(`│ ${h} +┆ mock +┆ 1 +┆ \\d+`), `polars groups ${h}'s readings`);

  // The collector keeps the frames' place: remote-files.json only when there are frames (none here).
  t.notOk(existsSync(join(out, 'pubtest/hostA/plan-hostA/remote-files.json')));

  // A message that tries to write outside its run directory is refused, and nothing is written.
  const nc = await connect({ servers: ns.url });
  const h = headers();
  h.set('Daq-File', '../../../escape.txt');
  h.set('Daq-Offset', '0');
  const js = (await jetstreamManager(nc)).jetstream();
  await js.publish('daq.pubtest.evil.run1.file', new TextEncoder().encode('x'), { headers: h });
  const h2 = headers();
  h2.set('Daq-File', 'ok.txt');
  h2.set('Daq-Offset', 'minus one');
  await js.publish('daq.pubtest.evil.run1.file', new TextEncoder().encode('x'), { headers: h2 });
  await nc.close();
  const evil = await collect(ns.url, out);
  t.equal(evil.rejected, 2, 'both bad messages refused');
  t.notOk(existsSync(join(tmp, 'escape.txt')), 'nothing written outside');
  t.notOk(existsSync(join(out, 'pubtest/evil/run1/ok.txt')));
  await ns.stop();
});

t.test('the server is killed mid-run and restarted: nothing dropped, the publisher catches up', async (t) => {
  const ns = await server('restart');
  const acq = await acquire(
    'restart-run',
    publishConfig({ dataDir: join(tmp, 'data-restart'), servers: [ns.url], host: 'hostR', pollHz: 200 }),
  );
  await until(() => (acq.progress().publish?.acked ?? 0) > 5, 30_000, 'first acknowledgements');
  await ns.kill();
  await until(() => acq.progress().publish?.state === 'unreachable', 30_000, 'the publisher sees the server gone');
  const storedAtKill = acq.progress().stored;
  await until(() => acq.progress().stored > storedAtKill + 200, 30_000, 'acquisition goes on without the server');
  const down = acq.progress();
  t.equal(down.dropped, 0, 'nothing dropped while the server is down');
  t.ok(down.publish!.pendingBytes > 0, `bytes wait on disk (${down.publish!.pendingBytes})`);
  t.match(down.publish!.error, { code: 'DAQ_PUBLISH_UNREACHABLE' });
  const { publishLine } = await import('../packages/broker/src/commands/run.js');
  t.match(publishLine(down.publish), /publish UNREACHABLE/);

  await ns.spawn();
  await until(
    () => acq.progress().publish?.state === 'connected' && acq.progress().publish!.pendingBytes < 100_000,
    60_000,
    'caught up',
  );
  const record = await acq.stop('completed');
  t.equal(record.status, 'completed');
  t.equal(record.streams.scalars.dropped, 0);
  t.match(record.publish, { live: { complete: true } });
  t.ok(record.publish!.disconnects >= 1, 'the disconnection is counted');

  const out = join(tmp, 'collected-restart');
  const counts = await collect(ns.url, out);
  await assertSameRun(t, acq.dir, join(out, 'pubtest/hostR/restart-run'), 'after a server restart');
  t.equal(counts.rejected, 0);

  // daq inspect shows the publisher's part.
  const io = captureIo();
  t.equal(await main(['inspect', acq.dir], io), 0, io.stderr);
  t.match(io.stdout, /publish: connected to DAQ \(daq\.pubtest\.hostR\.restart-run\.\*\): \d+ messages acknowledged/);
  t.match(io.stdout, /published \(publish\.json, .*\): complete: every file acknowledged/);
  await ns.stop();
});

t.test('the collector is killed and restarted: it resumes without duplicates', async (t) => {
  const ns = await server('collector');
  const acq = await acquire(
    'collector-run',
    publishConfig({ dataDir: join(tmp, 'data-coll'), servers: [ns.url], host: 'hostK', pollHz: 400, camera: true }),
  );
  // Some seconds of flushes (a piece of scalars.arrows and of frame_stats.arrows each): enough
  // messages that a collector taking one at a time is still at work when it is killed.
  await until(() => acq.progress().stored > 3000, 30_000, 'rows');
  await acq.stop('completed');
  const total = (await collect(ns.url, join(tmp, 'collected-whole'), 'whole')).received;
  t.ok(total > 30, `${total} messages in the stream`);

  const out = join(tmp, 'collected-killed');
  // One message per fetch, so the collector is still at work when it is killed.
  const c1 = daq(['collect', '--server', ns.url, '--out', out, '--durable', 'killed', '--batch', '1']);
  // Killed once the server has its acknowledgement of a few messages (the consumer's ack floor).
  const nc = await connect({ servers: ns.url });
  const jsm = await jetstreamManager(nc);
  let acked = 0;
  await until(
    async () => {
      acked = await jsm.consumers
        .info('DAQ', 'killed')
        .then((i) => i.ack_floor.consumer_seq)
        .catch(() => 0);
      return acked >= 3;
    },
    30_000,
    'the collector acknowledges',
  );
  await nc.close();
  c1.child.kill('SIGKILL');
  t.equal(await c1.exited, null, `killed after ${acked} acknowledged`);
  t.ok(acked < total, 'while it still had messages to go');
  const c2 = daq(['collect', '--server', ns.url, '--out', out, '--durable', 'killed', '--idle-exit', '1.5']);
  t.equal(await c2.exited, 0, c2.stderr());
  const resumed = Number(/daq collect: (\d+) messages/.exec(c2.stderr().trim().split('\n').at(-1)!)?.[1]);
  t.ok(
    resumed <= total - acked,
    `the restarted collector received ${resumed} of ${total} messages (${acked} were acknowledged before): it resumed`,
  );
  await assertSameRun(t, acq.dir, join(out, 'pubtest/hostK/collector-run'), 'after the collector was killed');
  // The camera's frames stayed on the host: their metadata came, and where they are.
  const copy = join(out, 'pubtest/hostK/collector-run');
  t.ok(existsSync(join(copy, 'frames/cam/frame_stats.arrows')), 'per-frame statistics collected');
  const remote = await readJson(join(copy, 'remote-files.json'));
  const frameFiles = Object.values(acq.record.streams.frames ?? {}).flatMap((c) => c.files);
  t.ok(frameFiles.length > 0, 'the run has frame files');
  t.same(
    remote.files.map((f: { file: string }) => join(acq.dir, f.file)).sort(),
    frameFiles.map((f) => (f.startsWith('/') ? f : join(acq.dir, f))).sort(),
    'remote-files.json lists every frame file by its place in the run',
  );
  for (const f of remote.files as { file: string; bytes: number }[]) {
    t.equal(f.bytes, (await stat(join(acq.dir, f.file))).size, `${f.file}: its size`);
    t.notOk(existsSync(join(copy, f.file)), `${f.file}: not copied`);
  }
  await ns.stop();
});

t.test('no leaks', async (t) => {
  await assertNoNewHandles(t, before);
});
