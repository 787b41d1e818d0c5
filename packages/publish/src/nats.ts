// NATS JetStream behind PublishTransport and CollectTransport. Errors are turned into
// DaqErrors that name the server and the stream and say what to do; the credentials' secrets
// never appear in them (redactSecrets), whatever the client library put in its message.

import { readFileSync } from 'node:fs';
import { connect, headers, nkeyAuthenticator, type NatsConnection, type ConnectionOptions } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  StorageType,
  jetstream,
  jetstreamManager,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { DaqError, redactSecrets, type NatsCredentials } from '@daq/core';
import { H_FILE, H_FLUSHED, H_OFFSET, H_RUN, H_VERSION, type OutMessage } from './protocol.js';
import type { CollectTransport, InMessage, PublishAck, PublishTransport } from './transport.js';

export interface NatsOptions {
  servers: string[];
  credentials: NatsCredentials;
  /** Connection name the server shows (e.g. "daq publish lab.host"). */
  name: string;
  connectTimeoutMs?: number;
}

/**
 * Connects and runs `setup` with JetStream's manager; on any failure the connection is closed
 * again and the error says what to do (connectError unless setup threw a DaqError of its own).
 */
async function openJetStream(
  o: NatsOptions,
  setup: (jsm: JetStreamManager, nc: NatsConnection) => Promise<void>,
): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect(connectionOptions(o));
  } catch (e) {
    throw connectError(e, o);
  }
  try {
    await setup(await jetstreamManager(nc, { timeout: 5000 }), nc);
    return nc;
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e instanceof DaqError ? e : connectError(e, o);
  }
}

/** JetStream's error code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;

function connectionOptions(o: NatsOptions): ConnectionOptions {
  const c = o.credentials;
  const opts: ConnectionOptions = {
    servers: o.servers.map((s) => s.replace(/^nats:\/\//, '')),
    name: o.name,
    timeout: o.connectTimeoutMs ?? 3000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 5000,
    maxPingOut: 2,
  };
  if (c.token) opts.token = c.token;
  if (c.user) {
    opts.user = c.user;
    opts.pass = c.password;
  }
  if (c.nkeySeed) opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(c.nkeySeed));
  if (c.tls)
    opts.tls = {
      ...(c.tls.ca ? { ca: readFileSync(c.tls.ca, 'utf8') } : {}),
      ...(c.tls.cert ? { cert: readFileSync(c.tls.cert, 'utf8') } : {}),
      ...(c.tls.key ? { key: readFileSync(c.tls.key, 'utf8') } : {}),
    };
  return opts;
}

/** A connection failure as a DaqError that says what was tried and what to do. */
export function connectError(e: unknown, o: NatsOptions): DaqError {
  const raw = redactSecrets((e as Error)?.message ?? String(e), o.credentials);
  const where = o.servers.join(', ');
  const auth = /authori[sz]ation|authentication|permissions? violation|user.*expired|bad.*credentials/i.test(raw);
  if (auth)
    return new DaqError(
      'DAQ_PUBLISH_AUTH',
      `the NATS server ${where} refused the credentials (${raw}): check token, user/password or nkey_seed in [application.publish] or DAQ_NATS_* in the environment`,
      { servers: where, auth: true },
    );
  return new DaqError(
    'DAQ_PUBLISH_UNREACHABLE',
    `cannot reach the NATS server ${where} (${raw}): is nats-server running there and the port open? Runs are kept on disk and published when it is back`,
    { servers: where },
  );
}

/** A JetStream refusal or failure of one message, as a DaqError naming the message. */
export function publishError(e: unknown, m: OutMessage, stream: string, creds: NatsCredentials): DaqError {
  const raw = redactSecrets((e as Error)?.message ?? String(e), creds);
  const what = `${m.file}${m.kind === 'json' ? ` version ${m.position}` : ` at byte ${m.position}`} (${m.payload.byteLength} bytes, ${m.subject})`;
  if (
    e instanceof JetStreamApiError ||
    /maximum|exceeds|too large|max_payload|resource limits|no space|insufficient/i.test(raw)
  ) {
    const size = /size|payload|large/i.test(raw);
    return new DaqError(
      'DAQ_PUBLISH_REFUSED',
      `stream ${stream} refused ${what}: ${raw}${size ? `: raise the stream's max_msg_size (nats stream edit ${stream} --max-msg-size) or the server's max_payload` : ''}; publishing of this run resumes from here when the stream accepts it`,
      {
        stream,
        file: m.file,
        position: m.position,
        bytes: m.payload.byteLength,
        ...(e instanceof JetStreamApiError ? { apiCode: e.code } : {}),
      },
    );
  }
  if (/no responders|503/i.test(raw))
    return new DaqError(
      'DAQ_PUBLISH_REFUSED',
      `no JetStream stream took ${what}: does stream ${stream} exist and take subject ${m.subject}? (${raw})`,
      { stream, file: m.file, position: m.position },
    );
  return new DaqError('DAQ_PUBLISH_UNREACHABLE', `publishing ${what} to stream ${stream} failed: ${raw}`, {
    stream,
    file: m.file,
    position: m.position,
  });
}

export class NatsPublisher implements PublishTransport {
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private listeners: ((e: { type: string; detail?: string }) => void)[] = [];

  constructor(private readonly o: NatsOptions & { stream: string; subjects: string; replicas: number }) {}

  get maxPayload(): number {
    return this.nc?.info?.max_payload ?? 1024 * 1024;
  }

  get server(): string | undefined {
    return this.nc && !this.nc.isClosed() ? this.nc.getServer() : undefined;
  }

  onEvent(listener: (e: { type: string; detail?: string }) => void): void {
    this.listeners.push(listener);
  }

  async connect(): Promise<void> {
    await this.close(); // a connection the client gave up on
    const nc = await openJetStream(this.o, (jsm) => ensureStream(jsm, this.o));
    this.nc = nc;
    this.js = jetstream(nc, { timeout: 5000 });
    void (async () => {
      for await (const s of nc.status()) {
        if (this.nc !== nc) break; // a connection closed on purpose: its last events are not news
        const detail =
          'error' in s && s.error
            ? redactSecrets(String((s.error as Error).message ?? s.error), this.o.credentials)
            : 'server' in s
              ? String(s.server)
              : undefined;
        for (const l of this.listeners) l({ type: s.type, ...(detail ? { detail } : {}) });
      }
    })().catch(() => undefined);
  }

  async publish(m: OutMessage, timeoutMs: number): Promise<PublishAck> {
    if (!this.js) throw new DaqError('DAQ_PUBLISH_UNREACHABLE', 'not connected to NATS');
    const h = headers();
    h.set(H_FILE, m.file);
    h.set(m.kind === 'json' ? H_VERSION : H_OFFSET, String(m.position));
    h.set(H_FLUSHED, String(Math.round(m.flushedAt)));
    h.set(H_RUN, m.runUid);
    try {
      const ack = await this.js.publish(m.subject, m.payload, { msgID: m.msgId, headers: h, timeout: timeoutMs });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      throw publishError(e, m, this.o.stream, this.o.credentials);
    }
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }
}

/** Creates the stream when absent; checks that an existing one takes our subjects. */
async function ensureStream(
  jsm: JetStreamManager,
  o: NatsOptions & { stream: string; subjects: string; replicas: number },
): Promise<void> {
  try {
    const info = await jsm.streams.info(o.stream);
    const subjects = info.config.subjects ?? [];
    if (!subjects.some((s) => s === o.subjects || s === '>' || (s.endsWith('.>') && o.subjects.startsWith(s.slice(0, -1)))))
      throw new DaqError(
        'DAQ_PUBLISH_REFUSED',
        `stream ${o.stream} on ${o.servers.join(', ')} does not take subjects ${o.subjects} (it takes ${subjects.join(', ') || 'none'}): add them (nats stream edit ${o.stream} --subjects …) or set [application.publish] stream to another name`,
        { stream: o.stream },
      );
  } catch (e) {
    if (e instanceof DaqError) throw e;
    if (!(e instanceof JetStreamApiError && e.code === STREAM_NOT_FOUND)) throw e;
    try {
      await jsm.streams.add({
        name: o.stream,
        subjects: [o.subjects],
        storage: StorageType.File,
        num_replicas: o.replicas,
      });
    } catch (e2) {
      // Another publisher may have created it meanwhile.
      if (e2 instanceof JetStreamApiError && /already in use|exists/i.test(e2.message)) return;
      throw new DaqError(
        'DAQ_PUBLISH_REFUSED',
        `cannot create stream ${o.stream} (${o.subjects}, ${o.replicas} replica(s)) on ${o.servers.join(', ')}: ${redactSecrets((e2 as Error).message, o.credentials)}${o.replicas > 1 ? ': a stream with replicas needs a JetStream cluster of at least as many servers' : ''}`,
        { stream: o.stream, replicas: o.replicas },
      );
    }
  }
}

/** A durable pull consumer of the stream, for daq collect. */
export class NatsCollector implements CollectTransport {
  private nc: NatsConnection | undefined;
  private consumer: Consumer | undefined;

  constructor(private readonly o: NatsOptions & { stream: string; durable: string; filter: string }) {}

  async connect(): Promise<void> {
    this.nc = await openJetStream(this.o, async (jsm, nc) => {
      try {
        await jsm.streams.info(this.o.stream);
      } catch (e) {
        if (e instanceof JetStreamApiError && e.code === STREAM_NOT_FOUND)
          throw new DaqError(
            'DAQ_PUBLISH_REFUSED',
            `stream ${this.o.stream} does not exist on ${this.o.servers.join(', ')} yet: it is created by the first daq that publishes to it ([application.publish]); or name another with --stream`,
            { stream: this.o.stream },
          );
        throw e;
      }
      try {
        await jsm.consumers.info(this.o.stream, this.o.durable);
      } catch (e) {
        if (!(e instanceof JetStreamApiError)) throw e;
        await jsm.consumers.add(this.o.stream, {
          durable_name: this.o.durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: this.o.filter,
          ack_wait: 10_000_000_000, // 10 s: a batch unacknowledged by a killed collector comes back this soon
          max_ack_pending: 4096,
        });
      }
      this.consumer = await jetstream(nc, { timeout: 5000 }).consumers.get(this.o.stream, this.o.durable);
    });
  }

  async fetch(max: number, waitMs: number): Promise<InMessage[]> {
    if (!this.consumer) throw new DaqError('DAQ_PUBLISH_UNREACHABLE', 'the collector is not connected');
    const batch = await this.consumer.fetch({ max_messages: max, expires: Math.max(1000, waitMs) });
    const out: InMessage[] = [];
    for await (const m of batch) out.push(inMessage(m));
    return out;
  }

  async pending(): Promise<number> {
    if (!this.consumer) return 0;
    const info = await this.consumer.info(false);
    return info.num_pending + info.num_ack_pending;
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.consumer = undefined;
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
  }
}

function inMessage(m: JsMsg): InMessage {
  const h = new Map<string, string>();
  if (m.headers) for (const [k, v] of m.headers) h.set(k, v[0] ?? '');
  return {
    subject: m.subject,
    headers: h,
    payload: m.data,
    seq: m.seq,
    redelivered: m.info.deliveryCount - 1,
    ack: () => m.ack(),
    term: () => m.term(),
  };
}
