// [application.publish] made concrete: the subject prefix (lab and host as subject tokens), and
// the credentials from the configuration or the environment. Secrets travel only inside the
// process (to the publisher's worker thread); redactConfig() is what run.json and the API show.

import { hostname } from 'node:os';
import type { DaqConfig, PublishConfig } from './types.js';

/** Environment variables read for credentials (they override the configuration's keys). */
export const PUBLISH_ENV = {
  token: 'DAQ_NATS_TOKEN',
  user: 'DAQ_NATS_USER',
  password: 'DAQ_NATS_PASSWORD',
  nkeySeed: 'DAQ_NATS_NKEY_SEED',
} as const;

/** The configuration keys that hold secrets; never logged, replaced in run.json. */
export const PUBLISH_SECRET_KEYS = ['token', 'password', 'nkey_seed'] as const;

export const REDACTED = '(redacted)';

/** Credentials for a NATS connection; any of them may be absent (no authentication). */
export interface NatsCredentials {
  token?: string;
  user?: string;
  password?: string;
  nkeySeed?: string;
  tls?: { ca?: string; cert?: string; key?: string };
}

/** Everything the publisher needs, resolved once on the main thread. */
export interface PublishSettings {
  servers: string[];
  stream: string;
  subjectRoot: string;
  lab: string;
  host: string;
  /** `<subject_root>.<lab>.<host>`: every subject of this host starts with it. */
  prefix: string;
  replicas: number;
  credentials: NatsCredentials;
  drainTimeoutMs: number;
  maxPending: number;
  /** The publisher thread's nice value (0–19). */
  nice: number;
}

/** A string made a NATS subject token: letters, digits, '_' and '-' kept, anything else '_'. */
export function subjectToken(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return t.length > 0 ? t : '_';
}

/** Credentials from the environment (DAQ_NATS_*) over the configuration's keys. */
export function credentialsFrom(p: Partial<PublishConfig>, env: NodeJS.ProcessEnv = process.env): NatsCredentials {
  const c: NatsCredentials = {};
  const token = env[PUBLISH_ENV.token] || p.token;
  const user = env[PUBLISH_ENV.user] || p.user;
  const password = env[PUBLISH_ENV.password] || p.password;
  const nkeySeed = env[PUBLISH_ENV.nkeySeed] || p.nkey_seed;
  if (token) c.token = token;
  if (user) c.user = user;
  if (password) c.password = password;
  if (nkeySeed) c.nkeySeed = nkeySeed;
  if (p.tls_ca || p.tls_cert || p.tls_key) c.tls = { ca: p.tls_ca, cert: p.tls_cert, key: p.tls_key };
  return c;
}

/** The publish settings of a configuration, or undefined when it does not publish. */
export function publishSettings(config: DaqConfig, env: NodeJS.ProcessEnv = process.env): PublishSettings | undefined {
  const p = config.application.publish;
  if (!p || !p.enabled) return undefined;
  const lab = p.lab ?? subjectToken(config.application.name);
  const host = p.host ?? subjectToken(hostname());
  return {
    servers: p.servers,
    stream: p.stream,
    subjectRoot: p.subject_root,
    lab,
    host,
    prefix: `${p.subject_root}.${lab}.${host}`,
    replicas: p.replicas,
    credentials: credentialsFrom(p, env),
    drainTimeoutMs: p.drain_timeout_ms,
    maxPending: p.max_pending,
    nice: p.nice,
  };
}

/** A copy of the configuration without its secrets (for run.json, the API, logs). */
export function redactConfig(config: DaqConfig): DaqConfig {
  const p = config.application.publish;
  if (!p) return config;
  const safe: PublishConfig = { ...p };
  for (const k of PUBLISH_SECRET_KEYS) if (safe[k] !== undefined) safe[k] = REDACTED;
  return { ...config, application: { ...config.application, publish: safe } };
}

/** Replaces every occurrence of the credentials' secrets in a text (error messages from a client library). */
export function redactSecrets(text: string, c: NatsCredentials): string {
  let out = text;
  for (const s of [c.token, c.password, c.nkeySeed]) if (s && s.length >= 3) out = out.split(s).join(REDACTED);
  return out;
}
