// The daemon's HTTP + WebSocket application (Fastify): security checks before anything else,
// JSON Schemas on every body (unknown fields refused), coded JSON errors, the OpenAPI
// document, the web page's files and the live stream. It runs in the server worker; every
// call that needs the hardware goes to the main thread through `api`.

import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import type { ApiError, ApiResult, DaemonApi, ServerWorkerOptions } from './api.js';
import { Hub, LiveRows } from './hub.js';
import { TOKEN_COOKIE, gate } from './security.js';
import { ROUTE_SCHEMAS, planList } from './schemas.js';

export interface AppOptions extends ServerWorkerOptions {
  /** Refusals and failures, one line each (never a token). */
  log: (line: string) => void;
  /** The server thread's scheduling priority (nice), for the status. */
  priority?: { nice: number } | { nice: null; why: string };
}

export interface App {
  fastify: FastifyInstance;
  hub: Hub;
  live: LiveRows;
  /** Sends a fresh status to the clients subscribed to it. */
  pushStatus(): Promise<void>;
}

function pkgDir(specifier: string): string {
  return dirname(fileURLToPath(import.meta.resolve(specifier)));
}

/** The only files served besides the page's folder: the libraries the page loads. */
function vendorFiles(): Record<string, { file: string; type: string }> {
  const uplot = join(pkgDir('uplot'), '..');
  const arrow = pkgDir('apache-arrow');
  return {
    'uplot/uPlot.iife.min.js': { file: join(uplot, 'dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    'uplot/uPlot.min.css': { file: join(uplot, 'dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
    'arrow/Arrow.es2015.min.js': { file: join(arrow, 'Arrow.es2015.min.js'), type: 'text/javascript; charset=utf-8' },
  };
}

class HttpError extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

function unwrap<T>(r: ApiResult<T>): T {
  if (r.ok) return r.value;
  throw new HttpError(r.error);
}

const refuse = (status: number, message: string, facts: Record<string, unknown> = {}): never => {
  throw new HttpError({ status, code: 'DAQ_API', message, facts: { status, ...facts } });
};

/** Ajv's first problems as one sentence: "body.plan.num must be integer; body must NOT have additional properties 'foo'". */
function validationMessage(e: FastifyError): string {
  const v = (
    e as FastifyError & {
      validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[];
      validationContext?: string;
    }
  ).validation;
  if (!v) return e.message;
  const ctx = (e as { validationContext?: string }).validationContext ?? 'body';
  return v
    .slice(0, 5)
    .map((p) => {
      const where = `${ctx}${p.instancePath.replace(/\//g, '.')}`;
      const extra = p.params?.additionalProperty
        ? `: ${JSON.stringify(p.params.additionalProperty)}`
        : p.params?.allowedValues
          ? ` (${(p.params.allowedValues as unknown[]).join(', ')})`
          : '';
      return `${where} ${p.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

export async function buildApp(api: DaemonApi, o: AppOptions): Promise<App> {
  const bodyLimit = o.bodyLimit ?? 64 * 1024;
  const fastify = Fastify({
    logger: false,
    bodyLimit,
    // Validation refuses, never repairs: no removed fields, no coerced types.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true, useDefaults: false } },
  });
  // JSON only: a text/plain body is refused (415), not validated as a string.
  fastify.removeContentTypeParser('text/plain');
  const live = new LiveRows(new Set(o.shadowed));
  const hub = new Hub({
    maxBacklogBytes: o.maxClientBacklogBytes ?? 4 * 1024 * 1024,
    cameras: o.cameras,
    onPreviewDemand: (camera, demand) =>
      void api.setPreviews(camera, demand).then((r) => {
        if (!r.ok) o.log(`daq serve: previews of ${camera}: ${r.error.message}`);
      }),
  });
  const check = gate(
    o.host,
    () => {
      const a = fastify.server.address();
      return typeof a === 'object' && a ? a.port : o.port;
    },
    o.token,
  );

  fastify.addHook('onRequest', async (req, reply) => {
    const q = req.query as Record<string, unknown> | undefined;
    const refusal = check.check({
      host: req.headers.host,
      origin: req.headers.origin,
      authorization: req.headers.authorization,
      cookie: req.headers.cookie,
      queryToken: typeof q?.token === 'string' ? q.token : undefined,
    });
    if (refusal) {
      o.log(`daq serve: refused ${req.method} ${req.url.split('?')[0]} from ${req.ip}: ${refusal.status} ${refusal.reason}`);
      return reply.code(refusal.status).send({ error: { code: 'DAQ_API', message: refusal.reason, status: refusal.status } });
    }
    return undefined;
  });

  fastify.setErrorHandler((err: FastifyError | HttpError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof HttpError) {
      const { status, code, message, facts } = err.error;
      if (status >= 500) o.log(`daq serve: ${req.method} ${req.url.split('?')[0]} failed: ${message}`);
      return reply.code(status).send({ error: { code, message, ...facts, status } });
    }
    const f = err as FastifyError;
    if (f.validation) {
      o.log(`daq serve: refused ${req.method} ${req.url.split('?')[0]}: 400 ${validationMessage(f)}`);
      return reply.code(400).send({ error: { code: 'DAQ_API', message: validationMessage(f), status: 400 } });
    }
    if (f.statusCode && f.statusCode < 500) {
      const message =
        f.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `the body is larger than ${bodyLimit} bytes`
          : f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? `send JSON (Content-Type: application/json), not ${JSON.stringify(req.headers['content-type'])}`
            : f.message;
      o.log(`daq serve: refused ${req.method} ${req.url.split('?')[0]}: ${f.statusCode} ${message}`);
      return reply.code(f.statusCode).send({ error: { code: 'DAQ_API', message, status: f.statusCode } });
    }
    o.log(`daq serve: ${req.method} ${req.url.split('?')[0]} failed: ${(err as Error).stack ?? err}`);
    return reply.code(500).send({
      error: {
        code: 'DAQ_API',
        message: `the daemon failed on this request: ${(err as Error).message}; it keeps serving`,
        status: 500,
      },
    });
  });

  fastify.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: {
        code: 'DAQ_API',
        message: `no route ${req.method} ${req.url.split('?')[0]}; see GET /api/openapi.json`,
        status: 404,
      },
    }),
  );

  await fastify.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'daq serve',
        version: '1',
        description: 'Control and live view of a laboratory data-acquisition runtime. See docs/daemon.md.',
      },
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
      security: o.token ? [{ token: [] }] : [],
    },
  });
  await fastify.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });

  const status = async () => {
    const s = await api.status();
    const clients = hub.counts();
    return {
      ...s,
      // Rows not sent to slow clients are the clients' loss, not the run's: counted apart.
      drops: { ...(s.drops as Record<string, number>), clients: clients.reduce((n, c) => n + c.rowsDropped, 0) },
      name: o.name,
      clients,
      live: { batches: live.batchesIn, rows: live.rowsIn },
      server: { priority: o.priority ?? null },
    };
  };
  const pushStatus = async () => {
    if (hub.wantsStatus()) hub.status(await status());
  };

  await fastify.register(async (r) => {
    r.get('/api/openapi.json', { schema: { hide: true } }, async () => fastify.swagger());
    r.get('/api/status', { schema: ROUTE_SCHEMAS.status }, status);
    r.get('/api/instruments', { schema: ROUTE_SCHEMAS.instruments }, async () => withLast(await api.instruments()));
    r.get<{ Params: { id: string } }>('/api/instruments/:id', { schema: ROUTE_SCHEMAS.instrument }, async (req) => {
      const all = withLast(await api.instruments());
      return (
        all.find((i) => i.id === req.params.id) ??
        refuse(404, `no instrument ${JSON.stringify(req.params.id)}; known: ${all.map((i) => i.id).join(', ')}`, {
          instrument: req.params.id,
        })
      );
    });
    r.post<{ Params: { id: string; command: string }; Body: { args?: unknown[] } }>(
      '/api/instruments/:id/commands/:command',
      { schema: ROUTE_SCHEMAS.command },
      async (req) => ({ result: unwrap(await api.command(req.params.id, req.params.command, req.body?.args ?? [])) ?? null }),
    );
    r.get('/api/plans', { schema: ROUTE_SCHEMAS.plans }, async () => planList());
    r.get('/api/queue', { schema: ROUTE_SCHEMAS.queue }, async () => api.queue());
    r.post<{ Body: { plan: Record<string, unknown> } }>('/api/queue', { schema: ROUTE_SCHEMAS.queueAdd }, async (req, reply) =>
      reply.code(201).send(unwrap(await api.queueAdd(req.body.plan))),
    );
    r.delete('/api/queue', { schema: ROUTE_SCHEMAS.queueClear }, async () => unwrap(await api.queueClear()));
    r.delete<{ Params: { item: string } }>('/api/queue/:item', { schema: ROUTE_SCHEMAS.queueItem }, async (req) =>
      unwrap(await api.queueRemove(req.params.item)),
    );
    r.post<{ Params: { item: string }; Body: { to: number } }>(
      '/api/queue/:item/move',
      { schema: ROUTE_SCHEMAS.queueMove },
      async (req) => unwrap(await api.queueMove(req.params.item, req.body.to)),
    );
    r.post('/api/queue/start', { schema: ROUTE_SCHEMAS.queueControl }, async () => unwrap(await api.queueStart()));
    r.post('/api/queue/stop', { schema: ROUTE_SCHEMAS.queueControl }, async () => unwrap(await api.queueStop()));
    r.get('/api/run', { schema: ROUTE_SCHEMAS.run }, async () => (await api.queue()).current);
    r.post<{ Body: { mode?: 'deferred' | 'immediate' } | undefined }>(
      '/api/run/pause',
      { schema: ROUTE_SCHEMAS.pause },
      async (req) => unwrap(await api.runControl('pause', req.body?.mode ?? 'deferred')),
    );
    r.post('/api/run/resume', { schema: ROUTE_SCHEMAS.runControl }, async () => unwrap(await api.runControl('resume')));
    r.post('/api/run/stop', { schema: ROUTE_SCHEMAS.runControl }, async () => unwrap(await api.runControl('stop')));
    r.post<{ Body: { reason?: string } | undefined }>('/api/run/abort', { schema: ROUTE_SCHEMAS.abort }, async (req) =>
      unwrap(await api.runControl('abort', req.body?.reason ?? 'aborted through the API')),
    );
    r.get('/api/history', { schema: ROUTE_SCHEMAS.history }, async () => api.history());
    r.get<{ Params: { uid: string } }>('/api/runs/:uid', { schema: ROUTE_SCHEMAS.runInfo }, async (req) => {
      const { dir, entry } = unwrap(await api.runDir(req.params.uid));
      return { ...entry, files: (await readdir(dir)).sort() };
    });
    r.get<{ Params: { uid: string } }>('/api/runs/:uid/documents', { schema: ROUTE_SCHEMAS.runDocuments }, async (req, reply) => {
      const { dir } = unwrap(await api.runDir(req.params.uid));
      return reply.type('application/x-ndjson').send(await readFile(join(dir, 'documents.jsonl')));
    });
    r.get<{ Params: { uid: string } }>('/api/runs/:uid/shadow', { schema: ROUTE_SCHEMAS.runShadow }, async (req, reply) => {
      const { dir } = unwrap(await api.runDir(req.params.uid));
      let bytes: Buffer;
      try {
        bytes = await readFile(join(dir, 'shadow.json'));
      } catch {
        return refuse(404, `run ${req.params.uid} has no shadow report (the daemon compares V2 and V4 in shadow mode only)`, {
          uid: req.params.uid,
        });
      }
      return reply.type('application/json').send(bytes);
    });
    r.get<{ Querystring: { since?: string } }>('/api/shadow', { schema: ROUTE_SCHEMAS.shadow }, async (req) =>
      api.shadow(Number(req.query.since ?? 0)),
    );
    r.get<{ Params: { uid: string; name: string } }>(
      '/api/runs/:uid/files/:name',
      { schema: ROUTE_SCHEMAS.runFile },
      async (req, reply) => {
        const { dir } = unwrap(await api.runDir(req.params.uid));
        const name = req.params.name;
        // A plain file name of the run's directory: no separators, no dot-dot.
        if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.'))
          refuse(400, `${JSON.stringify(name)} is not a file name of the run's directory`);
        let bytes: Buffer;
        try {
          bytes = await readFile(join(dir, name));
        } catch {
          return refuse(404, `run ${req.params.uid} has no file ${name}`, { file: name });
        }
        return reply
          .type(
            name.endsWith('.json')
              ? 'application/json'
              : name.endsWith('.jsonl')
                ? 'application/x-ndjson'
                : 'application/octet-stream',
          )
          .send(bytes);
      },
    );

    r.get('/api/ws', { websocket: true, schema: { hide: true } }, (socket, req) => {
      const c = hub.add(socket, req.ip);
      socket.send(JSON.stringify({ type: 'hello', client: c.id, name: o.name, channels: o.channels, cameras: o.cameras }));
      socket.on('message', (data, isBinary) => {
        let msg: Record<string, unknown>;
        try {
          if (isBinary) throw new Error('binary');
          msg = JSON.parse(data.toString()) as Record<string, unknown>;
          if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) throw new Error('not an object');
        } catch {
          socket.send(JSON.stringify({ type: 'error', message: 'send JSON objects such as {"op":"subscribe","scalars":"*"}' }));
          return;
        }
        if (msg.op !== 'subscribe') {
          socket.send(
            JSON.stringify({ type: 'error', message: `unknown op ${JSON.stringify(msg.op)}; the one op is "subscribe"` }),
          );
          return;
        }
        const problem = hub.subscribe(c.id, msg);
        if (problem) socket.send(JSON.stringify({ type: 'error', message: problem }));
        else if (msg.status === true) void pushStatus().catch(() => undefined);
      });
      socket.on('close', () => hub.remove(c.id));
      socket.on('error', () => hub.remove(c.id));
    });
  });

  // Opening /?token=T once in a browser sets the cookie the page's requests then carry.
  fastify.addHook('onRequest', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    if (req.method === 'GET' && req.url.split('?')[0] === '/' && typeof q.token === 'string' && o.token) {
      return reply
        .header('Set-Cookie', `${TOKEN_COOKIE}=${encodeURIComponent(q.token)}; HttpOnly; SameSite=Strict; Path=/`)
        .redirect('/', 303);
    }
    return undefined;
  });

  const vendor = vendorFiles();
  fastify.get<{ Params: { lib: string; file: string } }>('/vendor/:lib/:file', { schema: { hide: true } }, async (req, reply) => {
    const v = vendor[`${req.params.lib}/${req.params.file}`];
    if (!v) return refuse(404, `no file /vendor/${req.params.lib}/${req.params.file}`);
    return reply
      .type(v.type)
      .header('Cache-Control', 'max-age=3600')
      .send(await readFile(v.file));
  });
  await fastify.register(fastifyStatic, {
    root: join(pkgDir('@daq/web/package.json'), 'static'),
    prefix: '/',
    index: 'index.html',
    dotfiles: 'deny',
    wildcard: true,
  });

  function withLast<T extends { id: string; channels: { channel: string }[] }>(
    list: T[],
  ): (T & { last: Record<string, { value: number; time: number }> })[] {
    return list.map((i) => {
      const last: Record<string, { value: number; time: number }> = {};
      for (const ch of i.channels)
        for (const sub of ['v2', 'v4', 'v4-shadow']) {
          const l = live.last(`${i.id}.${ch.channel}`, sub);
          if (l) last[sub === 'v4-shadow' ? `${ch.channel}@v4-shadow` : ch.channel] = { value: l.value, time: l.time };
        }
      return { ...i, last };
    });
  }

  return { fastify, hub, live, pushStatus };
}
