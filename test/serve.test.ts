// `daq serve` over real HTTP and a real WebSocket, on the simulated optical bench: every route,
// every refusal (no token, wrong token, wrong Host or Origin, bad body, oversized body, unknown
// instrument or command, a command to a motor the running plan holds, paths outside the page),
// a full queue run with pause/resume and abort, the live streams (Arrow scalars, documents,
// status), 50 clients at once with a slow one and clients that vanish mid-stream, and SIGTERM
// during a plan (aborted, files closed, exit 0).

import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableFromIPC } from 'apache-arrow';
import WebSocket from 'ws';
import { formatInspect, inspectPath, main, type CliIo } from '@daq/broker';
import { documentErrors, type Document } from '@daq/plans';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';
import { serveInProcess, type InProcessDaemon } from './helpers/serve-in-process.js';

const before = handleSnapshot();
const root = fileURLToPath(new URL('../', import.meta.url));
const BENCH = join(root, 'examples/polarization-scan.toml');
/** The polarization bench with a simulated camera beside it. */
const BENCH_CAMERA = join(root, 'test/fixtures/serve-bench.toml');
const tmp = await mkdtemp(join(tmpdir(), 'daq-serve-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

type Daemon = InProcessDaemon;

/** Starts `daq serve` in this process; args are --listen and --token pairs. */
const serve = (args: string[], out: string, config = BENCH): Promise<Daemon> => serveInProcess(config, { ...parse(args), out });

function parse(args: string[]): { listen?: string; token?: string } {
  const o: { listen?: string; token?: string } = {};
  for (let i = 0; i < args.length; i += 2) o[args[i]!.slice(2) as 'listen' | 'token'] = args[i + 1];
  return o;
}

async function api(
  d: Daemon,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const res = await fetch(new URL(path, d.url), {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A GET with headers fetch will not send (Host). */
function rawGet(d: Daemon, path: string, headers: Record<string, string>): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: d.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A WebSocket client that keeps every message: text as JSON, binary as header + payload. */
function client(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + 'api/ws', { headers });
  const text: any[] = [];
  const binary: { header: any; payload: Buffer }[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) text.push(JSON.parse(data.toString()));
    else {
      const n = data.readUInt32LE(0);
      binary.push({ header: JSON.parse(data.subarray(4, 4 + n).toString()), payload: data.subarray(4 + n) });
    }
  });
  const open = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  return { ws, text, binary, open, closed, send: (m: unknown) => ws.send(JSON.stringify(m)) };
}

const SLOW_SCAN = { plan: 'scan', detectors: ['pm'], motor: 'rot', start: 0, stop: 90, num: 30, settle_ms: 100 };

t.test('daq serve on loopback: routes, refusals, streams and a queue run', async (t) => {
  const d = await serve(['--listen', '127.0.0.1:0'], join(tmp, 'loopback'), BENCH_CAMERA);
  t.teardown(() => d.stop());
  t.match(d.stderr(), /daq serve: listening on http:\/\/127\.0\.0\.1:\d+\//);
  t.notMatch(d.stderr(), /token/i, 'no token on loopback unless one is given');

  t.test('status and instruments', async (t) => {
    const s = await api(d, 'GET', '/api/status');
    t.equal(s.status, 200);
    t.same(
      s.json.subsystems.map((x: any) => [x.name, x.state]),
      [
        ['v2', 'running'],
        ['v4', 'running'],
      ],
    );
    t.ok(s.json.serial.length >= 2, 'serial ports and their holders are listed');
    t.match(s.json.queue, { state: 'idle', waiting: 0, current: null });
    t.equal(s.json.name, 'polarization-bench');
    const inst = await until('last values', async () => {
      const r = await api(d, 'GET', '/api/instruments');
      return r.json.find((i: any) => i.id === 'pm')?.last?.power ? r.json : undefined;
    });
    t.same(inst.map((i: any) => i.id).sort(), ['cam', 'laser', 'pm', 'rot']);
    const rot = inst.find((i: any) => i.id === 'rot');
    t.match(rot, { subsystem: 'v2', type: 'Elliptec', port: { kind: 'serial' } });
    t.ok(rot.commands.includes('moveAbs'));
    t.type(inst.find((i: any) => i.id === 'pm').last.power.value, 'number');
    t.equal((await api(d, 'GET', '/api/instruments/pm')).json.subsystem, 'v4');
    const none = await api(d, 'GET', '/api/instruments/nope');
    t.equal(none.status, 404);
    t.match(none.json.error, { code: 'DAQ_API', message: /no instrument "nope"; known: .*rot/ });
    const plans = await api(d, 'GET', '/api/plans');
    t.ok(plans.json.find((p: any) => p.name === 'grid_scan').params.some((p: any) => p.name === 'snake'));
    const oa = await api(d, 'GET', '/api/openapi.json');
    t.equal(oa.json.openapi, '3.0.3');
    t.ok(oa.json.paths['/api/queue'].post.requestBody, 'the queue body schema is in the OpenAPI document');
  });

  t.test('commands and their refusals', async (t) => {
    const moved = await api(d, 'POST', '/api/instruments/rot/commands/moveAbs', { args: [30] });
    t.equal(moved.status, 200, moved.text);
    t.ok(Math.abs(moved.json.result - 30) < 0.05, `moved to ${moved.json.result}`);
    const read = await api(d, 'POST', '/api/instruments/pm/commands/read', {});
    t.equal(read.status, 200);
    t.match(read.json.result, [{ channel: 'power', value: Number }]);
    const unknownInstrument = await api(d, 'POST', '/api/instruments/nope/commands/moveAbs', { args: [1] });
    t.equal(unknownInstrument.status, 404);
    t.equal(unknownInstrument.json.error.code, 'DAQ_UNKNOWN_INSTRUMENT');
    const unknownCommand = await api(d, 'POST', '/api/instruments/rot/commands/fly', { args: [] });
    t.equal(unknownCommand.status, 404, unknownCommand.text);
    t.equal(unknownCommand.json.error.code, 'DAQ_UNKNOWN_COMMAND');
    const extra = await api(d, 'POST', '/api/instruments/rot/commands/moveAbs', { args: [1], speed: 2 });
    t.equal(extra.status, 400);
    t.match(extra.json.error.message, /must NOT have additional properties: "speed"/);
    const notJson = await api(d, 'POST', '/api/instruments/rot/commands/moveAbs', 'args=1', { 'content-type': 'text/plain' });
    t.equal(notJson.status, 415);
    t.match(notJson.json.error.message, /send JSON/);
    const broken = await api(d, 'POST', '/api/instruments/rot/commands/moveAbs', '{"args": [1', {});
    t.equal(broken.status, 400);
    const huge = await api(d, 'POST', '/api/queue', {
      plan: { plan: 'count', detectors: ['pm'], md: { x: 'y'.repeat(70_000) } },
    });
    t.equal(huge.status, 413);
    t.match(huge.json.error.message, /larger than 65536 bytes/);
    const badArg = await api(d, 'POST', '/api/instruments/laser/commands/setWavelength', { args: [5000] });
    t.equal(badArg.status, 422, badArg.text);
    t.equal(badArg.json.error.code, 'DAQ_INVALID_ARGUMENT');
  });

  t.test('Host, Origin and paths outside the page', async (t) => {
    const host = await rawGet(d, '/api/status', { host: `evil.example:${d.port}` });
    t.equal(host.status, 403);
    t.match(host.json.error.message, /Host "evil\.example:\d+" is not this daemon/);
    const origin = await api(d, 'POST', '/api/instruments/rot/commands/home', {}, { origin: 'http://evil.example' });
    t.equal(origin.status, 403);
    t.match(origin.json.error.message, /Origin "http:\/\/evil\.example" is not this daemon's/);
    await t.rejects(
      client(d.url, { origin: 'http://evil.example' }).open,
      /HTTP 403/,
      "a WebSocket opened by another site's page is refused",
    );
    const sameOrigin = await api(d, 'GET', '/api/status', undefined, { origin: `http://127.0.0.1:${d.port}` });
    t.equal(sameOrigin.status, 200, 'the page itself may call the API');
    for (const path of [
      '/../package.json',
      '/%2e%2e/%2e%2e/package.json',
      '/..%2f..%2fpackage.json',
      '/.git/config',
      '/static/../../../etc/passwd',
    ])
      t.notMatch((await api(d, 'GET', path)).text, /"name"|\[core\]|root:/, `${path} reveals nothing`);
    t.equal((await api(d, 'GET', '/api/nothing')).status, 404);
    const page = await api(d, 'GET', '/');
    t.equal(page.status, 200);
    t.match(page.text, /<html/);
    t.equal((await api(d, 'GET', '/vendor/uplot/uPlot.iife.min.js')).status, 200);
    t.equal((await api(d, 'GET', '/vendor/uplot/package.json')).status, 404);
    const refusals = d
      .stderr()
      .split('\n')
      .filter((l) => l.includes('refused'));
    t.ok(refusals.some((l) => /403 Host/.test(l)) && refusals.some((l) => /403 Origin/.test(l)), 'refusals are logged');
  });

  t.test('the queue: add, check, move, remove, clear, and a run with pause, resume and the live streams', async (t) => {
    const c = client(d.url);
    await c.open;
    c.send({ op: 'subscribe', scalars: ['pm.power'], documents: true, status: true });
    c.send({ op: 'nonsense' });
    c.ws.send('not json');
    const hello = await until('hello', async () => c.text.find((m) => m.type === 'hello'));
    t.ok(hello.channels.some((ch: any) => ch.key === 'pm.power' && ch.subsystem === 'v4' && ch.unit === 'W'));
    await until('errors for bad messages', async () => c.text.filter((m) => m.type === 'error').length === 2 || undefined);

    const unknownParam = await api(d, 'POST', '/api/queue', {
      plan: { plan: 'scan', detectors: ['pm'], motor: 'rot', start: 0, stop: 1, num: 2, speed: 3 },
    });
    t.equal(unknownParam.status, 400);
    t.match(unknownParam.json.error.message, /speed/);
    const badMotor = await api(d, 'POST', '/api/queue', {
      plan: { plan: 'scan', detectors: ['pm'], motor: 'rott', start: 0, stop: 1, num: 2 },
    });
    t.equal(badMotor.status, 422, badMotor.text);
    t.match(badMotor.json.error, { code: 'DAQ_CONFIG', message: /motor: .*rott/ });
    const missing = await api(d, 'POST', '/api/queue', {
      plan: { plan: 'scan', detectors: ['pm'], motor: 'rot', start: 0, num: 2 },
    });
    t.equal(missing.status, 422);
    t.match(missing.json.error.message, /scan needs stop/);
    const beyond = await api(d, 'POST', '/api/queue', {
      plan: { plan: 'scan', detectors: ['pm'], motor: 'laser.wavelength', start: 600, stop: 1200, num: 3 },
    });
    t.equal(beyond.status, 422, 'a position beyond a limit is refused before anything is queued');

    const a = (await api(d, 'POST', '/api/queue', { plan: SLOW_SCAN })).json;
    const b = (await api(d, 'POST', '/api/queue', { plan: { plan: 'count', detectors: ['pm'], num: 3 } })).json;
    const c2 = (await api(d, 'POST', '/api/queue', { plan: { plan: 'count', detectors: ['pm'], num: 2 } })).json;
    t.match(a, { id: String, state: 'waiting', summary: /scan, 30 points/ });
    const moved = await api(d, 'POST', `/api/queue/${c2.id}/move`, { to: 0 });
    t.same(
      moved.json.items.map((i: any) => i.id),
      [c2.id, a.id, b.id],
    );
    t.equal((await api(d, 'DELETE', `/api/queue/${c2.id}`)).json.id, c2.id);
    t.equal((await api(d, 'DELETE', '/api/queue/q999')).status, 404);
    t.equal((await api(d, 'POST', '/api/run/pause', {})).status, 409, 'nothing to pause');

    t.equal((await api(d, 'POST', '/api/queue/start')).status, 200);
    t.equal((await api(d, 'POST', '/api/queue/start')).status, 409, 'already running');
    await until('the scan running', async () => ((await api(d, 'GET', '/api/run')).json?.done ?? 0) >= 2 || undefined);
    const busy = await api(d, 'POST', '/api/instruments/rot/commands/moveAbs', { args: [10] });
    t.equal(busy.status, 409, 'a command to a motor the plan holds is refused');
    t.match(busy.json.error, { code: 'DAQ_BUSY', message: /rot is a motor of the running plan/ });
    t.equal((await api(d, 'DELETE', `/api/queue/${a.id}`)).status, 409, 'the running item cannot be removed');
    t.equal((await api(d, 'POST', '/api/run/pause', { mode: 'sideways' })).status, 400);
    t.equal((await api(d, 'POST', '/api/run/pause', { mode: 'immediate' })).status, 200);
    const paused = await until('paused', async () => {
      const r = (await api(d, 'GET', '/api/run')).json;
      return r?.state === 'paused' ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    t.equal((await api(d, 'GET', '/api/run')).json.done, paused.done, 'no point is taken while paused');
    t.equal((await api(d, 'POST', '/api/run/resume')).status, 200);
    t.equal((await api(d, 'POST', '/api/queue/stop')).status, 200, 'stop after the current item');
    const history = await until('the scan in the history', async () => {
      const h = (await api(d, 'GET', '/api/history')).json;
      return h.length === 1 && (await api(d, 'GET', '/api/queue')).json.state === 'idle' ? h : undefined;
    });
    t.match(history[0], { item: { id: a.id }, exitStatus: 'success', events: 30, dir: /^plans\/001-scan$/ });
    t.same(
      (await api(d, 'GET', '/api/queue')).json.items.map((i: any) => i.id),
      [b.id],
      'the count waits: the queue stopped after the scan',
    );

    // The documents came over the WebSocket as they were made, and match the stored ones.
    const uid = history[0].uid;
    const ndjson = await api(d, 'GET', `/api/runs/${uid}/documents`);
    t.equal(ndjson.headers.get('content-type'), 'application/x-ndjson');
    const stored = ndjson.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Document);
    await until(
      'every document on the socket',
      async () => c.text.filter((m) => m.type === 'document').length >= stored.length || undefined,
    );
    const live = c.text.filter((m) => m.type === 'document');
    t.same(
      live.map((m) => [m.name, m.doc.uid ?? m.doc.seq_num]),
      stored.map((s) => [s.name, (s.doc as any).uid ?? (s.doc as any).seq_num]),
      'the live documents are the stored ones, in order',
    );
    for (const s of stored) t.same(documentErrors(s.name, s.doc), [], `${s.name} is valid event-model`);
    const info = await api(d, 'GET', `/api/runs/${uid}`);
    t.ok(info.json.files.includes('events-primary.arrows'));
    const events = await fetch(new URL(`/api/runs/${uid}/files/events-primary.arrows`, d.url));
    const table = tableFromIPC(new Uint8Array(await events.arrayBuffer()));
    t.equal(table.numRows, 30, 'the event table of the run, one row per point');
    t.equal((await api(d, 'GET', `/api/runs/${uid}/files/..%2Frun.json`)).status, 400);
    t.equal((await api(d, 'GET', `/api/runs/nope/documents`)).status, 404);

    // Scalars: Arrow IPC of the subscribed channel only; the status stream.
    const scalars = c.binary.filter((m) => m.header.type === 'scalars');
    t.ok(scalars.length > 0, `${scalars.length} scalar batches`);
    let rows = 0;
    for (const m of scalars) {
      const tb = tableFromIPC(m.payload);
      t.equal(tb.numRows, m.header.rows);
      rows += tb.numRows;
      for (const k of tb.getChild('key')!.toArray()) if (k !== 'pm.power') t.fail(`unsubscribed key ${k}`);
    }
    t.ok(rows > 0);
    t.ok(
      c.text.some((m) => m.type === 'status' && m.status.queue),
      'status messages',
    );

    // Abort: the count runs and is aborted with a reason.
    t.equal((await api(d, 'DELETE', '/api/queue')).json.removed, 1);
    await api(d, 'POST', '/api/queue', { plan: { ...SLOW_SCAN, num: 40 } });
    await api(d, 'POST', '/api/queue/start');
    await until('running', async () => ((await api(d, 'GET', '/api/run')).json?.done ?? 0) >= 1 || undefined);
    t.equal((await api(d, 'POST', '/api/run/abort', { reason: 'beam dump' })).status, 200);
    const aborted = await until('aborted', async () => {
      const h = (await api(d, 'GET', '/api/history')).json;
      return h.length === 2 ? h[1] : undefined;
    });
    t.match(aborted, { exitStatus: 'abort', reason: /beam dump/ });
    t.ok(aborted.events < 40);

    // A request that throws (its run's documents deleted under it): a 500 that says so, and
    // the daemon and the acquisition go on.
    const s0 = (await api(d, 'GET', '/api/status')).json;
    await rm(join(tmp, 'loopback', aborted.dir, 'documents.jsonl'));
    const gone = await api(d, 'GET', `/api/runs/${aborted.uid}/documents`);
    t.equal(gone.status, 500);
    t.match(gone.json.error.message, /the daemon failed on this request: ENOENT.*documents\.jsonl.*it keeps serving/);
    t.match(d.stderr(), /GET \/api\/runs\/[^ ]+\/documents failed: .*ENOENT/, 'the failure is logged');
    const s1 = await until('storage going on', async () => {
      const s = (await api(d, 'GET', '/api/status')).json;
      return s.acquisition.stored > s0.acquisition.stored ? s : undefined;
    });
    t.equal(s1.acquisition.dropped, s0.acquisition.dropped, 'nothing dropped');
    c.ws.close();
    await c.closed;
  });

  t.test('camera previews: the latest frame, downscaled, at a bounded rate; a slow client gets fewer', async (t) => {
    const c = client(d.url);
    await c.open;
    const hello = await until('hello', async () => c.text.find((m) => m.type === 'hello'));
    t.same(hello.cameras, ['cam']);
    c.send({ op: 'subscribe', previews: ['nocam'] });
    await until('an error', async () => c.text.find((m) => m.type === 'error'));
    t.match(c.text.find((m) => m.type === 'error').message, /no camera "nocam"; cameras: cam/);
    c.send({ op: 'subscribe', previews: ['cam'], previewMaxSide: 64, previewHz: 5 });
    const slow = client(d.url);
    await slow.open;
    // Full-size previews (128 KiB each) to a client that stops reading: once its socket's
    // buffers are full, the daemon skips its previews and counts them.
    slow.send({ op: 'subscribe', previews: ['cam'], previewMaxSide: 256, previewHz: 30 });
    await until('the slow client subscribed', async () => slow.text.length > 0 || undefined);
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until('previews', async () => c.binary.filter((m) => m.header.type === 'preview').length >= 6 || undefined);
    const t0 = performance.now();
    const n0 = c.binary.length;
    await new Promise((r) => setTimeout(r, 2000));
    const rate = ((c.binary.length - n0) * 1000) / (performance.now() - t0);
    t.ok(rate <= 5 + 1, `${rate.toFixed(1)} previews/s: at most the 5 asked for`);
    const p = c.binary.at(-1)!;
    t.match(p.header, { type: 'preview', camera: 'cam', width: 64, height: 64, scale: 4, bitDepth: 16 });
    t.equal(p.header.histogram.length, 256);
    t.equal(p.payload.length, 64 * 64 * 2, 'uint16 pixels, width × height');
    const px = new Uint16Array(p.payload.buffer.slice(p.payload.byteOffset, p.payload.byteOffset + p.payload.length));
    const mean = px.reduce((a, b) => a + b, 0) / px.length;
    t.ok(Math.abs(mean - p.header.mean) <= 1, `binned mean ${mean.toFixed(1)} = the frame's mean ${p.header.mean}`);
    t.ok(Math.min(...px) >= p.header.min && Math.max(...px) <= p.header.max, "binned pixels within the frame's min and max");
    const s = await until('the slow client skipped', async () => {
      const st = (await api(d, 'GET', '/api/status')).json;
      return st.clients.find((x: any) => x.client !== hello.client)?.previewsSkipped > 0 ? st : undefined;
    });
    const me = s.clients.find((x: any) => x.client === hello.client);
    t.ok(me.previews >= 6, `${me.previews} previews sent`);
    const other = s.clients.find((x: any) => x.client !== hello.client);
    // Skipped counts only previews held back because over PREVIEW_BACKLOG bytes were waiting
    // (the rate limit counts apart), so this is the backpressure. What is waiting now may be
    // less: the kernel's buffers can take some of it after the skip.
    t.ok(
      other.previewsSkipped > 0,
      `the slow client fell behind: ${other.previews} previews sent, ${other.previewsSkipped} skipped, ${other.previewsThrottled} over its rate; ${other.bufferedBytes} bytes waiting now`,
    );
    t.ok(
      me.previewsSkipped === 0,
      `the client that reads was never skipped for a backlog (${me.previewsThrottled} over its rate)`,
    );
    t.equal(s.drops.frames, 0, 'storage lost no frame');
    t.equal(s.cameras[0].dropped.total, 0);
    t.ok(s.cameras[0].previews.produced > 0);
    const cams = (await api(d, 'GET', '/api/instruments')).json.filter((i: any) => i.subsystem === 'camera');
    t.match(cams, [{ id: 'cam', state: 'running', frames: { dropped: 0 } }]);
    slow.ws.terminate();
    c.ws.close();
    await c.closed;
    await until('both gone', async () => (await api(d, 'GET', '/api/status')).json.clients.length === 0 || undefined);
  });

  t.test('50 clients at once, a slow one, and clients that vanish mid-stream', async (t) => {
    const s0 = (await api(d, 'GET', '/api/status')).json;
    const clients = Array.from({ length: 50 }, () => client(d.url));
    await Promise.all(clients.map((c) => c.open));
    for (const c of clients) c.send({ op: 'subscribe', scalars: '*', documents: true, status: true });
    // One client stops reading: its backlog is its own.
    const slow = clients[0]!;
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until('every client gets scalars', async () => clients.slice(1).every((c) => c.binary.length > 0) || undefined);
    // Half vanish without a close handshake.
    for (const c of clients.slice(25)) c.ws.terminate();
    await new Promise((r) => setTimeout(r, 1500));
    const s1 = (await api(d, 'GET', '/api/status')).json;
    t.equal(s1.clients.length, 25, 'the vanished clients are gone from the status');
    if (s1.clients.length !== 25) t.comment(JSON.stringify(s1.clients));
    t.equal(s1.acquisition.dropped, s0.acquisition.dropped, 'acquisition dropped nothing');
    t.ok(s1.acquisition.stored > s0.acquisition.stored, 'storage went on');
    const live = s1.clients.filter((c: any) => c.rowsSent > 0);
    t.ok(live.length >= 24, `${live.length} clients received rows`);
    for (const c of clients.slice(0, 25)) c.ws.terminate();
    await until('no clients', async () => (await api(d, 'GET', '/api/status')).json.clients.length === 0 || undefined);
  });

  t.test('driven from Python (requests, websocket-client) as docs/daemon.md shows', async (t) => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        '/usr/bin/python3',
        [join(root, 'test/fixtures/clients/daemon_client.py'), d.url],
        { timeout: 120_000 },
        (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    t.same(r.subsystems, ['v2', 'v4']);
    t.ok(Math.abs(r.moved - 45) < 0.05, `moved to ${r.moved}`);
    t.same(r.refused, [404, 'DAQ_UNKNOWN_INSTRUMENT']);
    t.ok(r.hello_channels.includes('pm.power'));
    t.same(r.documents, { start: 1, descriptor: 1, event: 7, stop: 1 }, 'every document of the run, live');
    t.equal(r.stop, 'success');
    t.ok(r.scalar_rows > 0, `${r.scalar_rows} pm.power rows in ${r.scalar_batches} batches`);
    t.match(r.history.at(-1), [r.item, 'success', 7]);
  });

  t.test('stops cleanly', async (t) => {
    t.equal(await d.stop(), 0);
    const serveJson = JSON.parse(await readFile(join(tmp, 'loopback', 'serve.json'), 'utf8'));
    t.equal(serveJson.history.length, 3);
    const run = JSON.parse(await readFile(join(tmp, 'loopback', 'run.json'), 'utf8'));
    t.equal(run.status, 'completed');
    // daq inspect on the session lists its plan runs, and on a plan run shows its record.
    const session = await inspectPath(join(tmp, 'loopback'));
    t.same(
      session.planRuns!.map((p) => [p.dir, p.exitStatus]),
      [
        ['001-scan', 'success'],
        ['002-scan', 'abort'],
        ['003-scan', 'success'],
      ],
    );
    t.match(formatInspect('s', session), /plan run plans\/002-scan: scan abort \(beam dump\): \d+ of 40 points, 0 skipped/);
    const one = await inspectPath(join(tmp, 'loopback', 'plans', '001-scan'));
    t.match(formatInspect('p', one), /plan: scan success: 30 of 30 points, 0 skipped, 0 suspensions/);
  });
});

t.test('off loopback a token is generated; SIGTERM during a plan aborts it and exits 0', async (t) => {
  const out = join(tmp, 'sigterm');
  const child = spawn(
    process.execPath,
    [join(root, 'packages/broker/bin/daq.js'), 'serve', BENCH, '--listen', '0.0.0.0:0', '--out', out],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m =
        /token \(generated.*\): (\S+)\n[\s\S]*listening|listening on http:\/\/0\.0\.0\.0:(\d+)\/[\s\S]*token \(generated[^)]*\): (\S+)\n/.exec(
          stderr,
        );
      if (m) resolve(m);
    });
    child.once('exit', () => reject(new Error(stderr)));
  });
  const port = Number(started[2]);
  const token = started[3]!;
  const d: Daemon = { url: `http://127.0.0.1:${port}/`, port, stderr: () => stderr, stop: async () => 0 };
  // Off loopback nothing passes without the token: not the API, not the page, not a WebSocket.
  const none = await api(d, 'GET', '/api/status');
  t.equal(none.status, 401);
  t.match(none.json.error.message, /no token/);
  t.equal((await api(d, 'GET', '/')).status, 401, 'the page too');
  const wrong = await api(d, 'GET', '/api/status', undefined, { authorization: 'Bearer nope-nope-nope-nope' });
  t.equal(wrong.status, 401);
  t.match(wrong.json.error.message, /wrong token/);
  const auth = { authorization: `Bearer ${token}` };
  t.equal((await api(d, 'GET', '/api/status', undefined, auth)).status, 200);
  // A browser opens /?token=T once: the cookie then carries it.
  const cookie = await api(d, 'GET', `/?token=${token}`);
  t.equal(cookie.status, 303);
  const set = cookie.headers.get('set-cookie')!;
  t.match(set, /daq_token=.*HttpOnly; SameSite=Strict/);
  t.equal((await api(d, 'GET', '/api/status', undefined, { cookie: set.split(';')[0]! })).status, 200);
  await t.rejects(client(d.url).open, /HTTP 401/, 'a WebSocket without the token is refused');
  const ws = client(d.url, auth);
  await ws.open;
  ws.ws.close();
  await ws.closed;
  const refusals = stderr.split('\n').filter((l) => l.includes('refused'));
  t.ok(refusals.length >= 4, 'refusals are logged');
  t.notOk(
    refusals.some((l) => l.includes(token)),
    'the token never reaches a log line of a refusal (a request with ?token= is logged without its query)',
  );
  await api(d, 'POST', '/api/queue', { plan: { ...SLOW_SCAN, num: 60 } }, auth);
  await api(d, 'POST', '/api/queue/start', undefined, auth);
  await until('running', async () => ((await api(d, 'GET', '/api/run', undefined, auth)).json?.done ?? 0) >= 1 || undefined);
  child.kill('SIGTERM');
  t.equal(await exited, 0, `exit 0\n${stderr}`);
  const docs = (await readFile(join(out, 'plans', '001-scan', 'documents.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.match(docs.at(-1), { name: 'stop', doc: { exit_status: 'abort', reason: /daq serve stopped \(SIGTERM\)/ } });
  const plan = JSON.parse(await readFile(join(out, 'plans', '001-scan', 'plan.json'), 'utf8'));
  t.equal(plan.exitStatus, 'abort');
  t.equal(JSON.parse(await readFile(join(out, 'run.json'), 'utf8')).status, 'completed');
});

t.test('bad usage', async (t) => {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  t.equal(await main(['serve'], io), 2);
  t.equal(await main(['serve', BENCH, '--listen', 'nowhere'], io), 2);
  t.match(io.stderr, /--listen takes HOST:PORT/);
  t.equal(await main(['serve', BENCH, '--token', 'short'], io), 2);
  t.match(io.stderr, /at least 16 printable characters/);
});

t.test('no handles left', async (t) => {
  await assertNoNewHandles(t, before);
});
