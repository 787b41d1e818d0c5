// A three-node JetStream cluster with a stream of three replicas: one node is killed while a
// run publishes, and nothing is lost: the run completes, the publisher fails over to another
// node, and the collector, reading from a survivor, rebuilds the run byte for byte.

import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { loadConfig } from '@daq/core';
import { startAcquisition } from '@daq/broker';
import { Collector, NatsCollector } from '@daq/publish';
import { startCluster, natsServerVersion, type NatsServer } from '@daq/publish/testing';
import { assertSameRun, publishConfig } from './helpers/publish.js';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const tmp = await mkdtemp(join(tmpdir(), 'daq-publish-cluster-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
t.ok(natsServerVersion(), 'nats-server is installed (apt-get install nats-server; .ci/run installs it)');

let nodes: NatsServer[] = [];
t.teardown(async () => {
  for (const n of nodes) await n.kill();
});

t.test('R3 stream on three nodes: one node killed mid-run, nothing lost', async (t) => {
  nodes = await startCluster(join(tmp, 'cluster'));
  const urls = nodes.map((n) => n.url);
  const cfg = join(tmp, 'cluster.toml');
  await writeFile(
    cfg,
    publishConfig({ dataDir: join(tmp, 'data'), servers: urls, host: 'hostC', pollHz: 200, extra: 'replicas = 3' }),
  );
  const acq = await startAcquisition(await loadConfig(cfg), { out: join(tmp, 'data', 'cluster-run') });
  // The cluster elects its JetStream leader in a few seconds; the publisher retries until the stream exists.
  await until(() => (acq.progress().publish?.acked ?? 0) > 5, 60_000, 'acknowledgements from the cluster');
  const connectedTo = acq.publisher!.status().server;
  const victim = nodes.find((n) => connectedTo?.includes(String(n.port))) ?? nodes[0]!;
  const ackedBefore = acq.progress().publish!.acked;
  await victim.kill();
  t.pass(`killed ${victim.name} (the node the publisher was connected to: ${connectedTo})`);
  await until(() => acq.progress().publish!.acked > ackedBefore + 10, 60_000, 'acknowledgements after the kill');
  t.equal(acq.progress().dropped, 0, 'the acquisition dropped nothing');
  const record = await acq.stop('completed');
  t.equal(record.status, 'completed');
  t.equal(record.streams.scalars.dropped, 0);
  t.match(record.publish, { live: { complete: true } }, 'every file acknowledged by the remaining two nodes');

  const survivors = nodes.filter((n) => n !== victim);
  const nc = await connect({ servers: survivors.map((n) => n.url) });
  const info = await (await jetstreamManager(nc)).streams.info('DAQ');
  t.equal(info.config.num_replicas, 3, 'the publisher made the stream with 3 replicas');
  t.equal(info.state.messages > 0, true, `${info.state.messages} messages in the stream`);
  await nc.close();
  const transport = new NatsCollector({
    servers: survivors.map((n) => n.url),
    credentials: {},
    name: 'cluster collector',
    stream: 'DAQ',
    durable: 'cluster',
    filter: 'daq.>',
  });
  // Right after a node is lost the cluster may still be electing leaders: connect as daq collect does, until it works.
  await until(
    () =>
      transport.connect().then(
        () => true,
        () => false,
      ),
    60_000,
    'the collector connects to the surviving nodes',
  );
  const out = join(tmp, 'collected');
  const counts = await new Collector({ transport, out, idleExitMs: 1500 }).run(new AbortController().signal);
  await transport.close();
  t.equal(counts.rejected, 0);
  await assertSameRun(t, acq.dir, join(out, 'pubtest/hostC/cluster-run'), 'from the surviving nodes');
  for (const n of survivors) await n.stop();
});

t.test('no leaks', async (t) => {
  await assertNoNewHandles(t, before);
});
