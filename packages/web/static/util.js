// Small helpers shared by the page's modules: the API client, number formatting, DOM building.

/** An error the daemon answered with (`{ "error": { "code", "message" } }`), or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** "DAQ_LIMIT: rot = 400 is outside its limits …" */
  get text() {
    return this.code ? `${this.message} (${this.code})` : this.message;
  }
}

/** One API request; resolves with the parsed JSON body, rejects with an ApiError carrying the daemon's message. */
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `the daemon did not answer (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' ? data.error : undefined;
    const message =
      (err && err.message) ||
      (typeof data === 'string' && data.trim()) ||
      `${method} ${path}: HTTP ${res.status} ${res.statusText}`;
    throw new ApiError(res.status, (err && err.code) || `HTTP ${res.status}`, message, err);
  }
  return data;
}

const PREFIXES = { '-15': 'f', '-12': 'p', '-9': 'n', '-6': 'µ', '-3': 'm', 0: '', 3: 'k', 6: 'M', 9: 'G' };
/** Units that read better with an SI prefix (12.3 mW rather than 0.0123 W). */
const SI_UNITS = new Set(['W', 'V', 'A', 'Hz', 's', 'J', 'Ω', 'F', 'H', 'T', 'Pa', 'm', 'g']);

function exp3(x) {
  if (x === 0 || !Number.isFinite(x)) return 0;
  return Math.max(-15, Math.min(9, Math.floor(Math.log10(Math.abs(x)) / 3) * 3));
}

/** A reading for people: "12.34 mW", "800.02 nm", "45.003 deg", "1" (no unit). */
export function fmtValue(v, unit = '', digits = 4) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  const u = unit || '';
  if (SI_UNITS.has(u) && v !== 0) {
    const e = exp3(v);
    return `${(v / 10 ** e).toPrecision(digits)} ${PREFIXES[e]}${u}`;
  }
  let s;
  if (Number.isInteger(v) && Math.abs(v) < 1e9) s = String(v);
  else if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) s = v.toExponential(digits - 1);
  else s = String(Number(v.toPrecision(digits + 2)));
  return u ? `${s} ${u}` : s;
}

/** Axis ticks: one SI prefix for the whole axis, as few decimals as the step needs ("12.5m"). */
export function fmtTicks(splits, unit = '') {
  if (!splits.length) return [];
  const finite = splits.filter(Number.isFinite);
  const max = Math.max(...finite.map(Math.abs));
  const e = SI_UNITS.has(unit) ? exp3(max) : 0;
  const scale = 10 ** e;
  const step = finite.length > 1 ? Math.abs(finite[1] - finite[0]) / scale : Math.abs(finite[0] / scale) || 1;
  if (!SI_UNITS.has(unit) && (max >= 1e6 || (max < 1e-3 && max > 0)))
    return splits.map((v) => (v === 0 ? '0' : v.toExponential(1)));
  const dec = Math.max(0, Math.min(6, Math.ceil(-Math.log10(step) + 1e-9)));
  return splits.map((v) => (Math.abs(v / scale) < 10 ** -(dec + 1) ? '0' : `${(v / scale).toFixed(dec)}${PREFIXES[e]}`));
}

/** "3.2 s", "4 min 05 s", "1 h 02 min" */
export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** "14:03:22" of an ISO date, epoch ms or epoch seconds. */
export function fmtClock(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = typeof t === 'number' ? new Date(t < 1e11 ? t * 1000 : t) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** Builds an element: h('button', { class: 'btn', onclick }, 'text', child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

/** Sets textContent only when it changed (keeps selections and avoids layout work). */
export function setText(el, text) {
  const s = String(text);
  if (el.textContent !== s) el.textContent = s;
}

/** A state word's colour class: ok (green), busy (blue), warn (amber), bad (red), idle (grey). */
export function stateTone(state) {
  const s = String(state ?? '').toLowerCase();
  if (['running', 'polling', 'ready', 'live', 'success', 'open', 'connected', 'streaming', 'acquiring'].includes(s)) return 'ok';
  if (
    [
      'paused',
      'pausing',
      'suspended',
      'stopping',
      'initialising',
      'starting',
      'connecting',
      'reconnecting',
      'waiting',
      'abort',
      'aborting',
      'stale',
    ].includes(s)
  )
    return 'warn';
  if (['failed', 'failing', 'fail', 'crashed', 'error', 'offline', 'closed'].includes(s)) return 'bad';
  return 'idle';
}

/** Shows a message in the corner for a while: errors stay longer and can be dismissed. */
export function toast(message, kind = 'error') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'dismiss', onclick: () => el.remove() }, '×');
  const el = h(
    'div',
    { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `toast-${kind}` },
    h('span', {}, message),
    close,
  );
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 12000 : 4000);
}

/** Runs an action of a button: disables it meanwhile and shows the daemon's error, if any. */
export async function act(button, fn, { onError } = {}) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    const text = e instanceof ApiError ? e.text : String(e && e.message ? e.message : e);
    if (onError) onError(text, e);
    else toast(text, 'error');
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Parses a command's argument box: a JSON list without its brackets ("45", "true", "\"x\"", "1, 2"), else words. */
export function parseArgs(text) {
  const s = text.trim();
  if (!s) return [];
  try {
    const v = JSON.parse(s.startsWith('[') ? s : `[${s}]`);
    if (Array.isArray(v)) return v;
  } catch {
    /* plain words */
  }
  return s.split(',').map((w) => {
    const t = w.trim();
    if (t === 'true' || t === 'false') return t === 'true';
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : t;
  });
}

export const PALETTE = ['#2563eb', '#d9480f', '#2b8a3e', '#7048e8', '#c2255c', '#0b7285', '#b7791f', '#495057'];
