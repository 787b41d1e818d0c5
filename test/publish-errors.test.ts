// Publishing when things go wrong, against real nats-server processes on loopback: wrong
// credentials, no server, a stream that refuses a message; each with a clear error and the
// acquisition untouched, and a later daq catching the runs up. Also the daemon's status (and
// its page) and the configuration's checks. Authentication is in publish-auth.test.ts.

import t from 'tap';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { freePort } from '@daq/publish/testing';
import puppeteer from 'puppeteer-core';
import { assertSameRun, publishBench, publishConfig, readJson, root, writeText } from './helpers/publish.js';
import { serveInProcess } from './helpers/serve-in-process.js';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

t.setTimeout(400_000);
const before = handleSnapshot();
const { tmp, server, collect, acquire } = await publishBench(t, 'publish-errors');
const SHOTS = join(root, '.tap/screenshots/publish');

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
    publishConfig({ dataDir: join(tmp, 'data-serve'), servers: [ns.url], host: 'hostS', drainMs: 1000 }),
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

    // The page's header says it too, in a real browser; and when the server goes away.
    const browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 800 });
      await page.goto(d.url);
      const publishText = () =>
        page.$eval('[data-testid=publish]', (e) => ({
          text: e.textContent ?? '',
          hidden: (e as HTMLElement).hidden,
          title: (e as HTMLElement).title,
        }));
      await until(
        async () => /^published \d+ · lag \d+\.\d s$/.test((await publishText()).text),
        30_000,
        'the header shows the publisher',
      );
      t.match(await publishText(), { hidden: false, title: /bytes waiting on disk/ });
      await mkdir(SHOTS, { recursive: true });
      await page.screenshot({ path: join(SHOTS, 'header-published.png') });
      await ns.kill();
      await until(
        async () => /^publish UNREACHABLE$/.test((await publishText()).text),
        30_000,
        'the header shows the server gone',
      );
      t.match((await publishText()).title, /not publishing now: .*nothing is lost/);
      await page.screenshot({ path: join(SHOTS, 'header-unreachable.png') });
      t.comment(`screenshots in ${SHOTS}`);
    } finally {
      await browser.close();
    }
  } finally {
    t.equal(await d.stop(), 0, d.stderr());
  }
  t.match(
    d.stderr(),
    /published to DAQ as daq\.pubtest\.hostS\.serve-session\.\*: NOT complete \(unreachable/,
    'the server went away: said at the end',
  );
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
  await assertNoNewHandles(t, before);
});
