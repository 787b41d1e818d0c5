// The daemon's page: one WebSocket for the live data (scalars, previews, documents, status)
// and the REST API for everything else. No build step: ES modules, uPlot and Arrow's browser
// bundle from /vendor/.

import { $, h, api, setText, stateTone, toast, ApiError } from './util.js';
import { LivePlots } from './plots.js';
import { CameraView } from './camera.js';
import { QueuePanel } from './queue.js';
import { InstrumentPanel } from './instruments.js';

const decoder = new TextDecoder();
const plots = new LivePlots();
const queue = new QueuePanel();
const instruments = new InstrumentPanel(plots);
let ws = null;
let wsOpen = false;
let lastStatusAt = 0;
let retryMs = 500;
let refreshTimer = null;
let lastQueueKey = '';
let clientId;
let everConnected = false;
let decodeErrorShown = false;

const camera = new CameraView((id) => {
  send({ op: 'subscribe', previews: id ? [id] : [], previewMaxSide: 512, previewHz: 5 });
});

/** For tests and the curious: the page's state, read-only. */
window.daq = {
  plots,
  queue,
  instruments,
  camera,
  stats: { scalarBatches: 0, scalarRows: 0, previews: 0, documents: 0, statuses: 0 },
};

function send(msg) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function setConnection(state, text) {
  const el = $('connection');
  el.dataset.state = state;
  el.dataset.tone = stateTone(state);
  setText(el.querySelector('.conn-text'), text ?? state);
  document.body.classList.toggle('disconnected', state === 'offline' || state === 'reconnecting');
}

function connect() {
  const url = new URL('/api/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  setConnection(everConnected ? 'reconnecting' : 'connecting', 'connecting…');
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    wsOpen = true;
    everConnected = true;
    retryMs = 500;
    setConnection('live', 'live');
    send({ op: 'subscribe', scalars: '*', documents: true, status: true });
    camera.resubscribe();
    void refreshAll();
  };
  ws.onmessage = (e) => {
    try {
      if (typeof e.data === 'string') onText(e.data);
      else onBinary(e.data);
    } catch (err) {
      // A message the page cannot use: said once, the stream goes on.
      if (!decodeErrorShown) toast(`a message from the daemon could not be read: ${err.message}`, 'error');
      decodeErrorShown = true;
      console.warn('daq: message not decoded', err);
    }
  };
  ws.onclose = (e) => {
    wsOpen = false;
    ws = null;
    const s = Math.round(retryMs / 1000);
    setConnection(
      everConnected ? 'reconnecting' : 'offline',
      e.code === 1008 || e.code === 4401 ? 'refused (token?)' : `offline, retrying${s ? ` in ${s} s` : ''}`,
    );
    setTimeout(connect, retryMs);
    retryMs = Math.min(5000, retryMs * 2);
  };
}

function onText(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  switch (msg.type) {
    case 'hello':
      clientId = msg.client;
      if (msg.name) setText($('setup-name'), msg.name);
      plots.setChannels(msg.channels ?? []);
      // Shadow mode: the dashboard comparing V2 and V4 is one click away.
      $('shadow-link').hidden = !(msg.channels ?? []).some((c) => c.subsystem === 'v4-shadow');
      break;
    case 'status':
      window.daq.stats.statuses++;
      applyStatus(msg.status ?? {});
      break;
    case 'document':
      window.daq.stats.documents++;
      queue.document(msg.name, msg.doc);
      if (msg.name === 'stop') scheduleRefresh();
      break;
    case 'error':
      toast(`the daemon did not understand this page: ${msg.message}`, 'error');
      break;
  }
}

function onBinary(buf) {
  const view = new DataView(buf);
  if (buf.byteLength < 4) return;
  const n = view.getUint32(0, true);
  let header;
  try {
    header = JSON.parse(decoder.decode(new Uint8Array(buf, 4, n)));
  } catch {
    return;
  }
  const payload = new Uint8Array(buf, 4 + n);
  if (header.type === 'scalars') {
    window.daq.stats.scalarBatches++;
    const table = Arrow.tableFromIPC(payload);
    const time = table.getChild('time')?.toArray();
    const key = table.getChild('key');
    const value = table.getChild('value')?.toArray();
    if (!time || !key || !value) return;
    const keys = Array.from(key);
    // Shadow mode: V4's readings of a V2 instrument carry the same key; they are a channel of their own.
    const sub = table.getChild('subsystem');
    if (sub) {
      let i = 0;
      for (const s of sub) {
        if (s === 'v4-shadow') keys[i] = `${keys[i]}@v4-shadow`;
        i++;
      }
    }
    window.daq.stats.scalarRows += keys.length;
    plots.ingest(time, keys, value);
  } else if (header.type === 'preview') {
    window.daq.stats.previews++;
    camera.preview(header, payload);
  }
}

/** Everything dropped, counted where it happened: rows on the way to disk, camera frames, and this page's own rows. */
function dropsOf(status) {
  const parts = {};
  const d = status.drops;
  if (typeof d === 'number') parts.total = d;
  else if (d && typeof d === 'object' && typeof d.total === 'number') parts.total = d.total;
  if (parts.total === undefined) {
    parts.rows = Number(status.acquisition?.dropped ?? 0) || 0;
    parts.frames = 0;
    for (const c of status.cameras ?? [])
      parts.frames += Number(typeof c.dropped === 'object' ? c.dropped?.total : c.dropped) || 0;
  }
  const me = Array.isArray(status.clients) ? status.clients.find((c) => c.client === clientId) : undefined;
  if (me) parts.page = Number(me.rowsDropped ?? 0) || 0;
  const total = (parts.total ?? 0) + (parts.rows ?? 0) + (parts.frames ?? 0) + (parts.page ?? 0);
  return { total, parts };
}

function applyStatus(s) {
  lastStatusAt = performance.now();
  const name = s.name ?? s.application?.name ?? s.config?.application?.name ?? s.setup;
  if (name) {
    setText($('setup-name'), name);
    document.title = `${name} · daq`;
  }
  // Subsystems (V2, V4) and cameras, each a chip with its state.
  const chips = [];
  for (const sub of s.subsystems ?? [])
    chips.push({
      name: String(sub.name).toUpperCase(),
      state: sub.state,
      title: sub.crashes?.length ? `${sub.crashes.length} crash(es)` : '',
    });
  for (const c of s.cameras ?? []) chips.push({ name: c.id ?? c.name, state: c.state, title: 'camera' });
  const key = JSON.stringify(chips);
  const box = $('subsystems');
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.replaceChildren(
      ...chips.map((c) =>
        h(
          'span',
          {
            class: 'chip-state',
            'data-testid': `subsystem-${String(c.name).toLowerCase()}`,
            dataset: { state: c.state ?? '' },
            title: c.title || undefined,
          },
          h('span', { class: `dot ${stateTone(c.state)}` }),
          h('b', {}, c.name),
          ` ${c.state ?? ''}`,
        ),
      ),
    );
  }
  const drops = dropsOf(s);
  const dropsEl = $('drops');
  dropsEl.dataset.drops = String(drops.total);
  dropsEl.classList.toggle('warn-text', drops.total > 0);
  setText(dropsEl.querySelector('b'), drops.total);
  const p = drops.parts;
  dropsEl.title =
    p.total !== undefined
      ? `dropped (counted, never silent): ${p.total}`
      : `dropped (counted, never silent): ${p.rows} rows on the way to disk, ${p.frames} camera frames` +
        (p.page !== undefined ? `, ${p.page} rows not sent to this page (it fell behind)` : '');
  applyPublish(s.acquisition?.publish);
  const clients = Array.isArray(s.clients) ? s.clients.length : typeof s.clients === 'number' ? s.clients : undefined;
  setText($('clients'), clients === undefined ? '' : `${clients} client${clients === 1 ? '' : 's'}`);
  instruments.applyStatus(s);
  camera.setStatusCameras(s.cameras);
  queue.setCameras((s.cameras ?? []).map((c) => c.id).filter(Boolean));
  // The queue and the run: from the status when it carries them whole, else asked for.
  if (s.queue && Array.isArray(s.queue.items)) queue.applyQueue(s.queue);
  else if (s.queue) {
    if ('current' in s.queue) queue.applyRun(s.queue.current);
    const key = JSON.stringify([s.queue.state, s.queue.waiting, s.queue.current?.item?.id]);
    if (key !== lastQueueKey) {
      lastQueueKey = key;
      scheduleRefresh(['queue']);
    }
  }
  if ('run' in s) queue.applyRun(s.run);
}

/**
 * The publisher ([application.publish]) in the header: `published 1234 · lag 0.2 s` while it
 * keeps up, its state in warning colours when the server is away or refuses; the error and
 * the bytes waiting on disk in the tooltip. Hidden when the session does not publish.
 */
function applyPublish(p) {
  const el = $('publish');
  el.hidden = !p;
  if (!p) return;
  el.dataset.state = p.state ?? '';
  const ok = p.state === 'connected';
  el.classList.toggle('warn-text', !ok);
  el.replaceChildren(
    ok ? 'published ' : 'publish ',
    h('b', {}, ok ? String(p.acked ?? 0) : String(p.state ?? '?').toUpperCase()),
    ok && p.lagS !== undefined ? ` · lag ${Number(p.lagS).toFixed(1)} s` : '',
  );
  el.title =
    (ok ? 'runs published to NATS JetStream' : `not publishing now: ${p.error?.message ?? p.state}`) +
    `; ${p.pendingBytes ?? 0} bytes waiting on disk` +
    (p.behindS ? `, ${Number(p.behindS).toFixed(0)} s behind` : '') +
    ' (nothing is lost: the run directory is the source of truth)';
}

/** Asks the daemon for what a status does not carry (coalesced). */
function scheduleRefresh(what = ['queue', 'history']) {
  scheduleRefresh.want = new Set([...(scheduleRefresh.want ?? []), ...what]);
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const want = scheduleRefresh.want;
    scheduleRefresh.want = new Set();
    await Promise.all([
      want.has('queue') ? api('GET', '/api/queue').then((q) => queue.applyQueue(q), quiet) : null,
      want.has('history') ? api('GET', '/api/history').then((l) => queue.setHistory(l), quiet) : null,
      want.has('instruments') ? loadInstruments() : null,
    ]);
  }, 150);
}

function quiet(e) {
  if (e instanceof ApiError && e.status === 401) setConnection('offline', 'token needed: open /?token=…');
}

async function loadInstruments() {
  try {
    const list = await api('GET', '/api/instruments');
    const arr = Array.isArray(list) ? list : (list?.instruments ?? []);
    instruments.setInstruments(arr);
    queue.setInstruments(arr);
    camera.setInstruments(arr);
  } catch (e) {
    quiet(e);
  }
}

async function refreshAll() {
  await Promise.all([
    api('GET', '/api/plans').then((p) => queue.setPlans(p), quiet),
    loadInstruments(),
    api('GET', '/api/queue').then((q) => queue.applyQueue(q), quiet),
    api('GET', '/api/history').then((l) => queue.setHistory(l), quiet),
    api('GET', '/api/status').then((s) => applyStatus(s), quiet),
  ]);
}

queue.onChanged = () => scheduleRefresh(['queue', 'history']);

// Instruments' states, holders and last values move on their own: ask every few seconds.
setInterval(() => {
  if (!document.hidden && wsOpen) void loadInstruments();
}, 3000);
// A connection that says nothing for a while is shown as such.
setInterval(() => {
  if (!wsOpen) return;
  const quietS = (performance.now() - lastStatusAt) / 1000;
  if (lastStatusAt && quietS > 4) setConnection('stale', `no status for ${Math.round(quietS)} s`);
  else if ($('connection').dataset.state === 'stale') setConnection('live', 'live');
}, 1000);

if (typeof uPlot === 'undefined' || typeof Arrow === 'undefined') {
  toast(
    `a script of the page did not load (${typeof uPlot === 'undefined' ? '/vendor/uplot/' : '/vendor/arrow/'}): live plots are off`,
    'error',
  );
}
connect();
