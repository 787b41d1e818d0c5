// Publishing runs to NATS JetStream and collecting them (issue 19), against real nats-server
// processes with JetStream file storage on loopback ports: three acquisition processes at once,
// the server killed and restarted mid-run, the collector killed and restarted, and the errors
// (wrong credentials, no server, a stream that refuses a message), each with the acquisition
// going on untouched.

import t from 'tap';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createUser } from '@nats-io/nkeys';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { loadConfig } from '@daq/core';
import { main, startAcquisition, type Acquisition } from '@daq/broker';
import { Collector, NatsCollector, listRuns } from '@daq/publish';
import { NatsServer, freePort, natsServerVersion } from '@daq/publish/testing';
import { COUNT_PLAN, assertSameRun, daq, publishConfig, readJson, root, writeText } from './helpers/publish.js';
import { serveInProcess } from './helpers/serve-in-process.js';
import { captureIo } from './helpers/cli.js';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const tmp = await mkdtemp(join(tmpdir(), 'daq-publish-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

t.ok(natsServerVersion(), 'nats-server is installed (apt-get install nats-server; .ci/run installs it)');

const servers: NatsServer[] = [];
t.teardown(async () => {
  for (const s of servers) await s.kill();
});
async function server(name: string, o: { token?: string; port?: number; extra?: string } = {}): Promise<NatsServer> {
  const s = await NatsServer.start({ dir: join(tmp, name), ...o });
  servers.push(s);
  return s;
}

/** Collects everything in the stream into `out` in this process; returns the counts. */
async function collect(url: string, out: string, durable = 'test', env: { token?: string } = {}) {
  const transport = new NatsCollector({
    servers: [url],
    credentials: env.token ? { token: env.token } : {},
    name: 'test collector',
    stream: 'DAQ',
    durable,
    filter: 'daq.>',
  });
  await transport.connect();
  try {
    return await new Collector({ transport, out, idleExitMs: 1500 }).run(new AbortController().signal);
  } finally {
    await transport.close();
  }
}

/** An acquisition in this process, into `<dir>/<name>` (default the test's directory). */
async function acquire(name: string, toml: string, dir = tmp): Promise<Acquisition> {
  const cfg = await writeText(join(tmp, `${name}.toml`), toml);
  return startAcquisition(await loadConfig(cfg), { out: join(dir, name) });
}

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
    t.match(run.publish, { state: 'connected', live: { complete: true }, failed: 0 }, `${r.host}: run.json says published`);
    t.equal(run.streams.scalars.dropped, 0, `${r.host}: nothing dropped`);
    t.match(await readJson(join(r.out, 'publish.json')), { complete: true, prefix: `daq.pubtest.${r.host}` });
    t.ok(run.publish.medianLagS < 2, `${r.host}: median lag ${run.publish.medianLagS} s`);
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
    publishConfig({ dataDir: join(tmp, 'data-coll'), servers: [ns.url], host: 'hostK', pollHz: 200 }),
  );
  await until(() => acq.progress().stored > 1500, 30_000, 'rows');
  await acq.stop('completed');
  const total = (await collect(ns.url, join(tmp, 'collected-whole'), 'whole')).received;
  t.ok(total > 20, `${total} messages in the stream`);

  const out = join(tmp, 'collected-killed');
  // One message per fetch, so the collector is still at work when it is killed.
  const c1 = daq(['collect', '--server', ns.url, '--out', out, '--durable', 'killed', '--batch', '1']);
  await until(
    async () => ((await readJson(join(out, 'pubtest/hostK/collector-run/.collect.json')))?.versions ? true : false),
    30_000,
    'the collector writes',
  );
  c1.child.kill('SIGKILL');
  t.equal(await c1.exited, null, 'killed');
  const c2 = daq(['collect', '--server', ns.url, '--out', out, '--durable', 'killed', '--idle-exit', '1.5']);
  t.equal(await c2.exited, 0, c2.stderr());
  const resumed = Number(/daq collect: (\d+) messages/.exec(c2.stderr().trim().split('\n').at(-1)!)?.[1]);
  t.ok(resumed < total, `the restarted collector received ${resumed} of ${total} messages: it resumed`);
  await assertSameRun(t, acq.dir, join(out, 'pubtest/hostK/collector-run'), 'after the collector was killed');
  await ns.stop();
});

t.test('wrong credentials, then no server: the run is unaffected, and a later daq catches both up', async (t) => {
  const port = await freePort();
  const dataDir = join(tmp, 'data-errors');
  const secret = 'wrong-token-9f3e1';
  const ns = await server('auth', { token: 'right-token-71c2', port });
  const bad = await acquire(
    'errors-auth',
    publishConfig({ dataDir, servers: [ns.url], host: 'hostE', drainMs: 1000, extra: `token = "${secret}"` }),
    dataDir,
  );
  await until(() => bad.progress().publish?.state === 'auth-failed', 30_000, 'the refusal');
  const p = bad.progress();
  t.match(p.publish!.error, { code: 'DAQ_PUBLISH_AUTH', message: /refused the credentials.*DAQ_NATS_/ });
  await until(() => bad.progress().stored > 100, 30_000, 'rows');
  const rec = await bad.stop('completed');
  t.equal(rec.status, 'completed', 'the run completes');
  t.equal(rec.streams.scalars.dropped, 0);
  t.match(rec.publish, { state: 'auth-failed', live: { complete: false } });
  const text = await readFile(join(bad.dir, 'run.json'), 'utf8');
  t.notOk(text.includes(secret), 'the token is not in run.json');
  t.match(JSON.parse(text).config.application.publish.token, '(redacted)');
  t.match(await readJson(join(bad.dir, 'publish.json')), { complete: false });
  await ns.stop();

  // No server at all: the run goes on, says so, and daq exits within the drain timeout.
  const gone = await acquire(
    'errors-gone',
    publishConfig({ dataDir, servers: [`nats://127.0.0.1:${port}`], host: 'hostE', drainMs: 1000 }),
    dataDir,
  );
  await until(() => gone.progress().publish?.state === 'unreachable', 30_000, 'unreachable');
  t.match(gone.progress().publish!.error, {
    code: 'DAQ_PUBLISH_UNREACHABLE',
    message: /cannot reach the NATS server nats:\/\/127\.0\.0\.1:\d+/,
  });
  await until(() => gone.progress().stored > 100, 30_000, 'rows');
  const t0 = Date.now();
  const rec2 = await gone.stop('completed');
  t.ok(Date.now() - t0 < 15_000, `stopped in ${Date.now() - t0} ms despite the missing server`);
  t.equal(rec2.status, 'completed');
  t.equal(rec2.streams.scalars.dropped, 0);
  t.match(rec2.publish, { state: 'unreachable', live: { complete: false } });

  // The server is back (with the right token, from the environment): the next daq with this
  // data_dir publishes its own run and catches the two earlier ones up.
  const back = await server('auth2', { token: 'right-token-71c2', port });
  process.env.DAQ_NATS_TOKEN = 'right-token-71c2';
  try {
    const next = await acquire(
      'errors-next',
      publishConfig({ dataDir, servers: [back.url], host: 'hostE', extra: `token = "${secret}"` }),
      dataDir,
    );
    await until(
      async () =>
        (await readJson(join(bad.dir, 'publish.json')))?.complete === true &&
        (await readJson(join(gone.dir, 'publish.json')))?.complete === true,
      60_000,
      'the earlier runs caught up',
    );
    t.equal(next.progress().publish?.state, 'connected');
    t.ok(next.progress().publish!.pendingBytes >= 0);
    const r3 = await next.stop('completed');
    t.match(r3.publish, { live: { complete: true }, catchUp: { completed: 2 } });
    const out = join(tmp, 'collected-errors');
    await collect(back.url, out, 'test', { token: 'right-token-71c2' });
    // Caught-up runs: every file as on disk now (run.json included: it was final when published).
    await assertSameRun(t, bad.dir, join(out, 'pubtest/hostE/errors-auth'), 'a run caught up after wrong credentials');
    await assertSameRun(t, gone.dir, join(out, 'pubtest/hostE/errors-gone'), 'a run caught up after no server');
  } finally {
    delete process.env.DAQ_NATS_TOKEN;
  }
  await back.stop();
});

t.test('user/password, nkey and TLS with a client certificate authenticate', async (t) => {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const pki = join(tmp, 'pki');
  await mkdir(pki);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=daq test CA',
  );
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
    await writeFile(
      join(pki, `${who}.ext`),
      who === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n',
    );
    ssl(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.pem`,
      '-days',
      '1',
      '-extfile',
      `${who}.ext`,
    );
  }
  const cases: { name: string; server: { token?: string; extra?: string }; extra: string; env?: Record<string, string> }[] = [
    {
      name: 'user/password (password from the environment)',
      server: { extra: 'authorization { users: [ { user: "daq", password: "pw-5b7d9e" } ] }' },
      extra: 'user = "daq"',
      env: { DAQ_NATS_PASSWORD: 'pw-5b7d9e' },
    },
    {
      name: 'nkey',
      server: { extra: `authorization { users: [ { nkey: "${kp.getPublicKey()}" } ] }` },
      extra: `nkey_seed = "${seed}"`,
    },
    {
      name: 'TLS, verified both ways',
      server: {
        extra: `tls { cert_file: "${pki}/server.pem", key_file: "${pki}/server.key", ca_file: "${pki}/ca.pem", verify: true }`,
      },
      extra: `tls_ca = "${pki}/ca.pem"\ntls_cert = "${pki}/client.pem"\ntls_key = "${pki}/client.key"`,
    },
  ];
  for (const c of cases) {
    const ns = await server(`auth-${c.name.split(' ')[0]!.replace(/\W/g, '')}`, c.server);
    for (const [k, v] of Object.entries(c.env ?? {})) process.env[k] = v;
    try {
      const t0 = Date.now();
      const name = `auth-run-${cases.indexOf(c)}`;
      const acq = await acquire(
        name,
        publishConfig({ dataDir: join(tmp, 'data-auth'), servers: [ns.url], host: 'hostT', extra: c.extra }),
      );
      await until(() => (acq.progress().publish?.acked ?? 0) > 0, 30_000, `${c.name}: acknowledgements`);
      const rec = await acq.stop('completed');
      t.match(rec.publish, { state: 'connected', live: { complete: true } }, `${c.name}: published (${Date.now() - t0} ms)`);
      const text = await readFile(join(acq.dir, 'run.json'), 'utf8');
      t.notOk(text.includes(seed) || text.includes('pw-5b7d9e'), `${c.name}: no secret in run.json`);
    } finally {
      for (const k of Object.keys(c.env ?? {})) delete process.env[k];
      await ns.stop();
    }
  }
  // Without the client certificate the TLS server refuses: said, and the run is unaffected.
  const strict = await server('auth-tls-strict', { extra: cases[2]!.server.extra });
  const acq = await acquire(
    'auth-run-nocert',
    publishConfig({
      dataDir: join(tmp, 'data-auth'),
      servers: [strict.url],
      host: 'hostT',
      drainMs: 500,
      extra: `tls_ca = "${pki}/ca.pem"`,
    }),
  );
  await until(() => acq.progress().publish?.error !== undefined, 30_000, 'the refusal');
  t.match(acq.progress().publish!.error, { code: /DAQ_PUBLISH_(UNREACHABLE|AUTH)/ });
  const rec = await acq.stop('completed');
  t.equal(rec.status, 'completed');
  t.equal(rec.streams.scalars.dropped, 0);
  await strict.stop();
});

t.test('a stream that refuses a message (size limit): a clear error, the run unaffected', async (t) => {
  const ns = await server('limit');
  const nc = await connect({ servers: ns.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'DAQ', subjects: ['daq.>'], storage: StorageType.File, max_msg_size: 300 });
  await nc.close();
  const acq = await acquire(
    'limit-run',
    publishConfig({ dataDir: join(tmp, 'data-limit'), servers: [ns.url], host: 'hostL', drainMs: 1000 }),
  );
  await until(() => acq.progress().publish?.state === 'refused', 30_000, 'the refusal');
  const p = acq.progress().publish!;
  t.match(p.error, { code: 'DAQ_PUBLISH_REFUSED', message: /stream DAQ refused .* bytes.*max_msg_size/ });
  await until(() => acq.progress().stored > 100, 30_000, 'rows');
  const rec = await acq.stop('completed');
  t.equal(rec.status, 'completed');
  t.equal(rec.streams.scalars.dropped, 0);
  t.match(rec.publish, { state: 'refused', live: { complete: false } });
  t.match((await readJson(join(acq.dir, 'publish.json'))).lastError, /max_msg_size/);
  await ns.stop();
});

t.test("daq serve: the publisher's state is in the daemon's status", async (t) => {
  const ns = await server('serve');
  const cfg = await writeText(
    join(tmp, 'serve.toml'),
    publishConfig({ dataDir: join(tmp, 'data-serve'), servers: [ns.url], host: 'hostS' }),
  );
  const d = await serveInProcess(cfg, { out: join(tmp, 'serve-session'), listen: '127.0.0.1:0' });
  try {
    let status: any;
    await until(
      async () => {
        status = await (await fetch(`${d.url}api/status`)).json();
        return status.acquisition?.publish?.state === 'connected' && status.acquisition.publish.acked > 0;
      },
      30_000,
      'status with the publisher connected',
    );
    t.match(status.acquisition.publish, { state: 'connected', behindS: Number });
    t.ok(status.acquisition.publish.acked > 0, `${status.acquisition.publish.acked} messages acknowledged`);
  } finally {
    t.equal(await d.stop(), 0, d.stderr());
  }
  t.match(d.stderr(), /published to DAQ as daq\.pubtest\.hostS\.serve-session\.\*: every file acknowledged/);
  await ns.stop();
});

t.test('configuration: credentials are checked, and secrets never reach run.json', async (t) => {
  const { validateConfigText } = await import('@daq/core');
  const base = publishConfig({ dataDir: join(tmp, 'x'), servers: ['nats://127.0.0.1:4222'], host: 'h' });
  const bad = (extra: string) => validateConfigText(base.replace('drain_timeout_ms', `${extra}\ndrain_timeout_ms`), 'x.toml');
  const errors = (r: ReturnType<typeof validateConfigText>) => r.diagnostics.filter((d) => d.severity === 'error');
  const msgs = (r: ReturnType<typeof validateConfigText>) =>
    errors(r)
      .map((e) => `${e.path}: ${e.message}`)
      .join('\n');
  t.match(msgs(bad('user = "u"')), /user is set without a password/);
  t.match(msgs(bad('password = "p"')), /password is set without a user/);
  t.match(msgs(bad('token = "t"\nuser = "u"\npassword = "p"')), /only one authentication method/);
  t.match(msgs(bad('tls_cert = "c.pem"')), /tls_cert and tls_key go together/);
  t.match(msgs(bad('nkey_seed = "nope"')), /not an NKey user seed/);
  t.match(msgs(bad('servers2 = 1')), /servers2/);
  const fine = bad('user = "u"\npassword = "p"');
  t.equal(errors(fine).length, 0, 'user and password are fine');
  t.match(
    fine.diagnostics.find((d) => d.severity === 'warning' && d.path.endsWith('password'))?.message,
    /a secret in the configuration file: prefer the environment \(DAQ_NATS_PASSWORD\)/,
    'with a warning that the password is in the file',
  );
  const noServer = validateConfigText(base.replace(/servers = .*\n/, ''), 'x.toml');
  t.match(msgs(noServer), /servers/);
});

t.test('no leaks', async (t) => {
  const dirs = await readdir(tmp);
  t.ok(dirs.length > 0);
  await assertNoNewHandles(t, before);
});
