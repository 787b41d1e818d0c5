// Every way to authenticate to a real nats-server on loopback: user/password (the password from
// the environment), an NKey seed, and mutual TLS with certificates made here with openssl; and
// a TLS server refusing a client without its certificate, the run unaffected. Secrets never
// reach run.json.

import t from 'tap';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { publishBench, publishConfig } from './helpers/publish.js';
import { until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

t.setTimeout(400_000);
const before = handleSnapshot();
const { tmp, server, acquire } = await publishBench(t, 'publish-auth');

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
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${who}.key`,
      '-out',
      `${who}.csr`,
      '-subj',
      `/CN=${who}`,
    );
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

t.test('no leaks', async (t) => {
  await assertNoNewHandles(t, before);
});
