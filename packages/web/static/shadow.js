// The shadow dashboard: per shadowed instrument and channel, V2's and V4's traces on one plot
// (live, from the WebSocket's scalars), their difference over time (the comparator's pairs,
// from GET /api/shadow), the statistics and the verdict against [v4.shadow] max_rel_diff. A
// finished run's shadow report (GET /api/runs/:uid/shadow) opens in the same view.

import { $, h, api, setText, stateTone, toast, fmtValue, fmtClock, ApiError } from './util.js';
import { lowerBound, timeAxes } from './plots.js';

const WINDOW_S = 60;
const KEEP_S = 330;
const V2_COLOR = '#2563eb';
const V4_COLOR = '#d9480f';
const DIFF_COLOR = '#7048e8';
const VERDICT_TONE = { agrees: 'ok', differs: 'bad', failed: 'bad', 'no-pairs': 'idle' };
const VERDICT_WORD = { agrees: 'V4 agrees', differs: 'V4 differs', failed: 'V4 failed', 'no-pairs': 'no pairs yet' };
const decoder = new TextDecoder();

/** Live readings per "instrument.channel": V2's and V4's own series (time s, value). */
const readings = new Map();
/** Pairs per "instrument.channel" from the comparator (time s, v2, v4). */
const pairs = new Map();
/** The channel cards by "instrument.channel". */
const cards = new Map();
let seq = 0;
let source = ''; // '' live, else a run uid
let report = null;
let clockOffset = 0; // data time - browser time, s
let ws = null;
let pollTimer = null;

/** For tests and the curious: the dashboard's state, read-only. */
window.daqShadow = {
  readings,
  pairs,
  cards,
  polls: 0,
  get source() {
    return source;
  },
};

const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toPrecision(3)} %`);
const signed = (v, unit) => (v === null || v === undefined ? '–' : `${v > 0 ? '+' : ''}${fmtValue(v, unit)}`);

function series(map, key) {
  let s = map.get(key);
  if (!s) map.set(key, (s = { t: [], v2: [], v4: [] }));
  return s;
}

// ---- data ------------------------------------------------------------------------------

function onScalars(payload) {
  const table = Arrow.tableFromIPC(payload);
  const time = table.getChild('time')?.toArray();
  const key = table.getChild('key');
  const value = table.getChild('value')?.toArray();
  const sub = table.getChild('subsystem');
  if (!time || !key || !value || !sub) return;
  const keys = Array.from(key);
  const subs = Array.from(sub);
  let tmax = -Infinity;
  for (let i = 0; i < keys.length; i++) {
    const side = subs[i] === 'v4-shadow' ? 'v4' : subs[i] === 'v2' ? 'v2' : null;
    if (!side || !report?.instruments?.[keys[i].split('.')[0]]) continue;
    let r = readings.get(keys[i]);
    if (!r) readings.set(keys[i], (r = { v2: { t: [], v: [] }, v4: { t: [], v: [] } }));
    const s = r[side];
    s.t.push(time[i]);
    s.v.push(value[i]);
    if (time[i] > tmax) tmax = time[i];
  }
  if (Number.isFinite(tmax)) {
    clockOffset = tmax - Date.now() / 1000;
    for (const r of readings.values())
      for (const s of [r.v2, r.v4]) {
        const at = lowerBound(s.t, tmax - KEEP_S);
        if (at > 1000) {
          s.t.splice(0, at);
          s.v.splice(0, at);
        }
      }
  }
}

function connect() {
  const url = new URL('/api/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => setConnection('live', 'live');
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') {
      const msg = JSON.parse(e.data);
      if (msg.type === 'hello') {
        if (msg.name) {
          setText($('setup-name'), msg.name);
          document.title = `${msg.name} · shadow · daq`;
        }
        const keys = (msg.channels ?? []).filter((c) => c.subsystem === 'v4-shadow').map((c) => c.key);
        ws.send(JSON.stringify({ op: 'subscribe', scalars: keys, documents: true }));
      } else if (msg.type === 'document' && msg.name === 'stop') setTimeout(loadRuns, 500);
      return;
    }
    const view = new DataView(e.data);
    const n = view.getUint32(0, true);
    const header = JSON.parse(decoder.decode(new Uint8Array(e.data, 4, n)));
    if (header.type === 'scalars') onScalars(new Uint8Array(e.data, 4 + n));
  };
  ws.onclose = () => {
    setConnection('reconnecting', 'offline, retrying');
    setTimeout(connect, 2000);
  };
}

function setConnection(state, text) {
  const el = $('connection');
  el.dataset.state = state;
  el.dataset.tone = stateTone(state);
  setText(el.querySelector('.conn-text'), text);
}

async function poll() {
  clearTimeout(pollTimer);
  if (source !== '') return;
  try {
    const v = await api('GET', `/api/shadow?since=${seq}`);
    if (source !== '') return;
    window.daqShadow.polls++;
    if (!v.report) {
      showNotShadow(v);
      return;
    }
    for (const [k, tr] of Object.entries(v.traces)) {
      const s = series(pairs, k);
      s.t.push(...tr.t);
      s.v2.push(...tr.v2);
      s.v4.push(...tr.v4);
    }
    seq = v.seq;
    render(v.report, 'live');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) setConnection('offline', 'token needed: open /?token=…');
  }
  pollTimer = setTimeout(poll, 1000);
}

async function loadRuns() {
  let list;
  try {
    list = await api('GET', '/api/history');
  } catch {
    return;
  }
  const runs = list.filter((e) => e.uid && e.shadow);
  const select = $('shadow-source');
  const opts = [h('option', { value: '' }, 'Live: this session so far')];
  for (const e of runs.reverse())
    opts.push(
      h(
        'option',
        { value: e.uid, 'data-state': e.shadow.state },
        `${e.item?.summary ?? e.uid} · ended ${fmtClock(e.endedAt)} · ${VERDICT_WORD[e.shadow.state] ?? e.shadow.state}`,
      ),
    );
  const key = runs.map((e) => e.uid).join();
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  select.replaceChildren(...opts);
  select.value = source;
  $('shadow-runs-count').textContent = runs.length ? `${runs.length} finished run${runs.length === 1 ? '' : 's'}` : '';
}

async function openSource(uid) {
  source = uid;
  const u = new URL(location.href);
  if (uid) u.searchParams.set('run', uid);
  else u.searchParams.delete('run');
  history.replaceState(null, '', u);
  for (const c of cards.values()) c.el.remove();
  cards.clear();
  if (!uid) {
    void poll();
    return;
  }
  try {
    const r = await api('GET', `/api/runs/${encodeURIComponent(uid)}/shadow`);
    if (source !== uid) return;
    pairs.clear();
    seq = 0;
    for (const [k, tr] of Object.entries(r.traces ?? {})) pairs.set(k, { t: [...tr.t], v2: [...tr.v2], v4: [...tr.v4] });
    render(r, 'run');
  } catch (e) {
    toast(e instanceof ApiError ? e.text : String(e), 'error');
  }
}

// ---- view ------------------------------------------------------------------------------

function showNotShadow(v) {
  $('shadow-empty').hidden = false;
  $('shadow-empty').textContent =
    'This daemon is not in shadow mode: list V2 instruments under [v4.shadow] instruments = [...] in its configuration.';
  setVerdict({ state: 'no-pairs', text: 'not in shadow mode' }, v.maxRelDiff, 'live');
}

function setVerdict(verdict, tol, kind, r) {
  const el = $('shadow-verdict');
  el.dataset.state = verdict.state;
  el.dataset.tone = VERDICT_TONE[verdict.state] ?? 'idle';
  setText($('verdict-text'), verdict.text);
  const what =
    kind === 'live'
      ? 'live, this session so far'
      : `run ${source}, ${fmtClock(r?.window?.start)}–${fmtClock(r?.window?.end)}${r?.final ? '' : ' (not final)'}`;
  setText(
    $('verdict-sub'),
    `V4 agrees when |V4 − V2| / |V2| ≤ ${pct(tol)} on every channel ([v4.shadow] max_rel_diff) · ${what}`,
  );
}

function render(r, kind) {
  report = r;
  $('shadow-empty').hidden = true;
  setVerdict(r.verdict, r.maxRelDiff, kind, r);
  const box = $('shadow-channels');
  for (const inst of Object.values(r.instruments)) {
    const names = Object.keys(inst.channels);
    if (names.length === 0) names.push(null);
    for (const ch of names) {
      const key = ch === null ? inst.id : `${inst.id}.${ch}`;
      let card = cards.get(key);
      if (!card) {
        card = makeCard(inst, ch, key);
        cards.set(key, card);
        box.append(card.el);
      }
      fillCard(card, inst, ch === null ? null : inst.channels[ch], r);
    }
  }
}

function chart(el, seriesOpts, unit, height) {
  return new uPlot(
    {
      width: Math.max(240, el.clientWidth || 600),
      height,
      pxAlign: false,
      legend: { show: false },
      cursor: { sync: { key: 'shadow' }, drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        y: {
          range: (u, min, max) => {
            if (min === null || max === null || !Number.isFinite(min)) return [-1, 1];
            const pad = min === max ? Math.abs(min) * 0.01 || 1 : (max - min) * 0.08;
            return [min - pad, max + pad];
          },
        },
      },
      series: [{}, ...seriesOpts],
      axes: timeAxes(unit, 62),
    },
    [[], ...seriesOpts.map(() => [])],
    el,
  );
}

const line = (label, color, dash) => ({
  label,
  stroke: color,
  width: 1.5,
  dash,
  spanGaps: true,
  points: { size: 3, fill: color },
});

function makeCard(inst, ch, key) {
  const unit = ch === null ? '' : inst.channels[ch].unit;
  const stats = h('dl', { class: 'stats shadow-stats', 'data-testid': `shadow-stats-${key}` });
  const worst = h('tbody', {});
  const traceEl = h('div', { class: 'chart-plot', 'data-testid': `shadow-trace-${key}` });
  const diffEl = h('div', { class: 'chart-plot', 'data-testid': `shadow-diff-${key}` });
  const badge = h('span', { class: 'badge', 'data-testid': `shadow-channel-verdict-${key}` });
  const note = h('div', { class: 'shadow-note small' });
  const el = h(
    'section',
    { class: 'panel shadow-channel', 'data-testid': 'shadow-channel', dataset: { key } },
    h(
      'div',
      { class: 'panel-head' },
      h('h2', { class: 'shadow-name' }, inst.id, ch === null ? null : h('span', { class: 'muted' }, ' · '), ch),
      unit ? h('span', { class: 'muted' }, `[${unit}]`) : null,
      h('span', { class: 'tag' }, inst.type),
      h('span', { class: 'muted small' }, `pairs within ${fmtValue(inst.toleranceMs)} ms`),
      h('div', { class: 'tools' }, badge),
    ),
    note,
    ch === null
      ? null
      : h(
          'div',
          { class: 'shadow-body' },
          h(
            'div',
            { class: 'shadow-plots' },
            h(
              'div',
              { class: 'chart-head' },
              h('span', { class: 'swatch', style: `background:${V2_COLOR}` }),
              h('b', {}, 'V2'),
              h('span', { class: 'swatch', style: `background:${V4_COLOR}` }),
              h('b', {}, 'V4'),
              h('span', { class: 'muted', 'data-role': 'trace-what' }, 'readings'),
              h('span', { class: 'chart-value mono', 'data-testid': `shadow-points-${key}` }, ''),
            ),
            traceEl,
            h(
              'div',
              { class: 'chart-head' },
              h('span', { class: 'swatch', style: `background:${DIFF_COLOR}` }),
              h('b', {}, 'V4 − V2'),
              h('span', { class: 'muted' }, 'per pair'),
              h('span', { class: 'chart-value mono', 'data-testid': `shadow-diff-points-${key}` }, ''),
            ),
            diffEl,
          ),
          h(
            'div',
            { class: 'shadow-side' },
            stats,
            h('div', { class: 'shadow-worst-title' }, 'Worst moments'),
            h(
              'table',
              { class: 'shadow-worst', 'data-testid': `shadow-worst-${key}` },
              h(
                'thead',
                {},
                h('tr', {}, ...['time', 'V2', 'V4', 'V4 − V2', 'rel', 'Δt'].map((x) => h('th', { scope: 'col' }, x))),
              ),
              worst,
            ),
          ),
        ),
  );
  const card = { el, stats, worst, badge, note, key, unit, trace: null, diff: null, traceEl, diffEl };
  if (ch !== null) {
    // Charts once the card is in the page (they take its width).
    requestAnimationFrame(() => {
      card.trace = chart(traceEl, [line('V2', V2_COLOR), line('V4', V4_COLOR, [5, 3])], unit, 170);
      card.diff = chart(diffEl, [{ ...line('V4 − V2', DIFF_COLOR), fill: `${DIFF_COLOR}14` }], unit, 120);
      drawCard(card);
    });
  }
  return card;
}

function fillCard(card, inst, c, r) {
  const state = c ? c.verdict : inst.verdict.state;
  card.el.dataset.verdict = state;
  card.badge.dataset.tone = VERDICT_TONE[state] ?? 'idle';
  setText(card.badge, c ? (VERDICT_WORD[state] ?? state) : inst.verdict.text);
  const notes = [];
  if (inst.v4Error) notes.push(`V4 could not run ${inst.id}: ${inst.v4Error}`);
  if (c?.v4Unit) notes.push(`V2 reports ${c.unit}, V4 ${c.v4Unit}: the values are compared as they are`);
  if (c?.relUndefined) notes.push(`${c.relUndefined} pair(s) where V2 read 0 and V4 did not: no relative difference there`);
  card.note.hidden = notes.length === 0;
  setText(card.note, notes.join(' · '));
  if (!c) return;
  const u = c.unit;
  const tol = r.maxRelDiff;
  const rows = [
    ['pairs', c.pairs, 'pairs'],
    ['unmatched V2 / V4', `${c.unmatched.v2} / ${c.unmatched.v4}`, 'unmatched'],
    c.outside.v2 + c.outside.v4 ? ['not compared V2 / V4', `${c.outside.v2} / ${c.outside.v4}`, 'outside'] : null,
    c.pending.v2 + c.pending.v4 ? ['waiting V2 / V4', `${c.pending.v2} / ${c.pending.v4}`, 'pending'] : null,
    ['bias (mean V4 − V2)', signed(c.meanDiff, u), 'bias'],
    ['mean |V4 − V2|', fmtValue(c.meanAbsDiff, u), 'mean-abs'],
    ['max |V4 − V2|', fmtValue(c.maxAbsDiff, u), 'max-abs'],
    ['mean relative', pct(c.meanRelDiff), 'mean-rel'],
    [
      'max relative',
      `${pct(c.maxRelDiff)} ${c.maxRelDiff === null ? '' : c.maxRelDiff > tol ? '>' : '≤'} ${pct(tol)}`,
      'max-rel',
    ],
    ['mean |Δt|', c.meanDtMs === null ? '–' : `${c.meanDtMs.toFixed(1)} ms`, 'dt'],
  ].filter(Boolean);
  const k = JSON.stringify(rows);
  if (card.stats.dataset.k !== k) {
    card.stats.dataset.k = k;
    card.stats.replaceChildren(
      ...rows.flatMap(([label, value, id]) => [
        h('dt', {}, label),
        h(
          'dd',
          {
            'data-testid': `shadow-stat-${id}`,
            class: id === 'max-rel' && c.maxRelDiff !== null ? (c.maxRelDiff > tol ? 'bad-text' : 'ok-text') : undefined,
          },
          value,
        ),
      ]),
    );
  }
  const wk = JSON.stringify(c.worst ?? []);
  if (card.worst.dataset.k !== wk) {
    card.worst.dataset.k = wk;
    const list = c.worst ?? [];
    card.worst.replaceChildren(
      ...(list.length
        ? list.map((w) =>
            h(
              'tr',
              { 'data-testid': 'shadow-worst-row' },
              h('td', {}, fmtClock(w.timestamp)),
              h('td', {}, fmtValue(w.v2, u)),
              h('td', {}, fmtValue(w.v4, u)),
              h('td', {}, signed(w.diff, u)),
              h('td', {}, pct(w.relDiff)),
              h('td', {}, `${w.dtMs >= 0 ? '+' : ''}${w.dtMs.toFixed(0)} ms`),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'no pairs yet'))]),
    );
  }
}

function drawCard(card) {
  if (!card.trace) return;
  const p = pairs.get(card.key) ?? { t: [], v2: [], v4: [] };
  let lo;
  let hi;
  let traces;
  if (source === '') {
    hi = Date.now() / 1000 + clockOffset;
    lo = hi - WINDOW_S;
    const r = readings.get(card.key) ?? { v2: { t: [], v: [] }, v4: { t: [], v: [] } };
    // Before the page's first reading of a side, the values of the pairs stand in for it.
    const cut = (s, side) => {
      const first = s.t.length ? s.t[0] : Infinity;
      const a = lowerBound(p.t, lo - 1);
      const b = lowerBound(p.t, first);
      const i = lowerBound(s.t, lo - 1);
      return [
        [...p.t.slice(a, b), ...s.t.slice(i)],
        [...p[side].slice(a, b), ...s.v.slice(i)],
      ];
    };
    traces = uPlot.join([cut(r.v2, 'v2'), cut(r.v4, 'v4')]);
    card.el.dataset.v2Points = String(r.v2.t.length - lowerBound(r.v2.t, lo));
    card.el.dataset.v4Points = String(r.v4.t.length - lowerBound(r.v4.t, lo));
  } else {
    // A finished run: its pairs are all there is (V2's and V4's values at each pair), over its span.
    lo = Date.parse(report?.window?.start) / 1000 || (p.t[0] ?? 0);
    hi = Date.parse(report?.window?.end) / 1000 || (p.t[p.t.length - 1] ?? 1);
    traces = [p.t, p.v2, p.v4];
    card.el.dataset.v2Points = String(p.t.length);
    card.el.dataset.v4Points = String(p.t.length);
  }
  const from = source === '' ? lowerBound(p.t, lo - 1) : 0;
  const dt = p.t.slice(from);
  const dv = dt.map((_, i) => p.v4[from + i] - p.v2[from + i]);
  card.el.dataset.diffPoints = String(dt.length);
  setText(
    card.el.querySelector(`[data-testid="shadow-points-${CSS.escape(card.key)}"]`),
    `${card.el.dataset.v2Points} V2 · ${card.el.dataset.v4Points} V4`,
  );
  setText(card.el.querySelector(`[data-testid="shadow-diff-points-${CSS.escape(card.key)}"]`), `${dt.length} pairs`);
  card.trace.setScale('x', { min: lo, max: hi });
  card.trace.setData(traces, false);
  card.trace.setScale('x', { min: lo, max: hi });
  setText(card.el.querySelector('[data-role="trace-what"]'), source === '' ? 'readings' : 'values of each pair');
  card.diff.setData([dt, dv], false);
  card.diff.setScale('x', { min: lo, max: hi });
}

function frame() {
  if (!document.hidden) for (const c of cards.values()) drawCard(c);
  setTimeout(() => requestAnimationFrame(frame), source === '' ? 250 : 1000);
}

window.addEventListener('resize', () => {
  for (const c of cards.values()) {
    const w = Math.max(240, c.traceEl.clientWidth);
    c.trace?.setSize({ width: w, height: 170 });
    c.diff?.setSize({ width: w, height: 120 });
  }
});

$('shadow-source').addEventListener('change', (e) => void openSource(e.target.value));

const wanted = new URL(location.href).searchParams.get('run') ?? '';
connect();
await loadRuns();
setInterval(loadRuns, 5000);
if (wanted) {
  const select = $('shadow-source');
  if (![...select.options].some((o) => o.value === wanted)) select.append(h('option', { value: wanted }, `run ${wanted}`));
  select.value = wanted;
}
await openSource(wanted);
requestAnimationFrame(frame);
