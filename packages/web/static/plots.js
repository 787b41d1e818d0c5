// Live plots: one small uPlot chart per chosen channel over a sliding time window, fed by the
// WebSocket's `scalars` batches. Every channel's last 5 minutes are kept, so a channel added to
// the view shows its history at once.

import { $, h, fmtTicks, fmtValue, setText, PALETTE } from './util.js';

const KEEP_S = 330; // a little more than the longest window
const MAX_POINTS = 200_000; // per channel, whatever its rate
const STORE_KEY = 'daq.plots';

/** Index of the first element of the sorted array `a` that is >= x. */
export function lowerBound(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "14:03:20" (or "14:03:20.5" when ticks are closer than a second). */
function clockTick(t, splits) {
  const d = new Date(t * 1000);
  const step = splits.length > 1 ? splits[1] - splits[0] : 1;
  const hms = [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
  return step < 1 ? `${hms}.${String(Math.round(d.getMilliseconds() / 100) % 10)}` : hms;
}

const AXIS_FONT = '11px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif';

/** uPlot axes of the page's charts: clock time below, values in `unit` (one SI prefix) on the left. */
export function timeAxes(unit, ySize = 58) {
  const common = {
    stroke: '#5b6472',
    font: AXIS_FONT,
    grid: { stroke: '#edf0f3', width: 1 },
    ticks: { stroke: '#d5dae0', width: 1, size: 4 },
  };
  return [
    { ...common, size: 26, space: 64, values: (u, splits) => splits.map((t) => clockTick(t, splits)) },
    { ...common, size: ySize, values: (u, splits) => fmtTicks(splits, unit) },
  ];
}

export class LivePlots {
  constructor() {
    this.channels = new Map(); // key -> { key, instrument, channel, unit, subsystem, color }
    this.data = new Map(); // key -> { t: number[], v: number[] }
    this.charts = new Map(); // key -> { u, el, value }
    const saved = this.load();
    this.selected = saved.selected; // array of keys, or null before the first choice
    this.windowS = saved.windowS ?? 60;
    this.hold = false;
    this.clockOffset = undefined; // data time - browser time, seconds
    this.dirty = true;
    this.rowsIn = 0;
    this.box = $('charts');
    this.list = $('channel-list');
    for (const b of document.querySelectorAll('#window-select button')) {
      b.addEventListener('click', () => this.setWindow(Number(b.dataset.window)));
    }
    $('plot-hold').addEventListener('click', () => this.setHold(!this.hold));
    this.setWindow(this.windowS);
    new ResizeObserver(() => this.layout()).observe(this.box);
    const tick = () => {
      this.frame();
      setTimeout(() => requestAnimationFrame(tick), 100);
    };
    requestAnimationFrame(tick);
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || '{}');
    } catch {
      return {};
    }
  }

  save() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify({ selected: this.selected, windowS: this.windowS }));
    } catch {
      /* private mode */
    }
  }

  /** The channels of the WebSocket hello (or ones first seen in the stream). */
  setChannels(list) {
    for (const c of list) {
      let key = c.key ?? `${c.instrument}.${c.channel}`;
      if (c.subsystem === 'v4-shadow' && !key.endsWith('@v4-shadow')) key = `${key}@v4-shadow`;
      const known = this.channels.get(key);
      this.channels.set(key, { ...c, key, color: known?.color ?? PALETTE[this.channels.size % PALETTE.length] });
    }
    if (this.selected === null || this.selected === undefined) {
      // First visit: a detector-looking channel and a motor-looking one, else the first two.
      const keys = [...this.channels.keys()];
      const pick = keys.filter((k) => /power|signal|intensity|volt/i.test(k)).slice(0, 1);
      for (const k of keys) if (pick.length < 2 && !pick.includes(k)) pick.push(k);
      this.selected = pick;
    }
    this.renderPicker();
    this.syncCharts();
  }

  renderPicker() {
    const groups = new Map();
    for (const c of this.channels.values()) {
      const inst = c.instrument ?? c.key.split('.')[0];
      if (!groups.has(inst)) groups.set(inst, []);
      groups.get(inst).push(c);
    }
    const body = [];
    for (const [inst, chans] of groups) {
      body.push(
        h(
          'div',
          { class: 'group-title' },
          inst,
          chans[0]?.subsystem ? h('span', { class: 'muted' }, ` ${chans[0].subsystem}`) : null,
        ),
      );
      for (const c of chans) {
        const id = `ch-${c.key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
        body.push(
          h(
            'label',
            { class: 'check', for: id },
            h('input', {
              type: 'checkbox',
              id,
              'data-testid': `channel-option-${c.key}`,
              value: c.key,
              checked: this.selected.includes(c.key),
              onchange: (e) => this.toggle(c.key, e.target.checked),
            }),
            h('span', { class: 'swatch', style: `background:${c.color}` }),
            h('span', {}, c.channel ?? c.key),
            c.unit ? h('span', { class: 'muted' }, ` ${c.unit}`) : null,
            c.subsystem === 'v4-shadow' ? h('span', { class: 'tag', title: 'read by V4 in shadow mode' }, 'v4 shadow') : null,
          ),
        );
      }
    }
    if (!body.length) body.push(h('p', { class: 'empty small' }, 'No channels yet.'));
    this.list.replaceChildren(...body);
    setText($('channel-count'), this.selected.filter((k) => this.channels.has(k)).length);
  }

  toggle(key, on) {
    this.selected = on ? [...new Set([...this.selected, key])] : this.selected.filter((k) => k !== key);
    this.save();
    setText($('channel-count'), this.selected.filter((k) => this.channels.has(k)).length);
    this.syncCharts();
  }

  setWindow(s) {
    this.windowS = s;
    for (const b of document.querySelectorAll('#window-select button')) {
      const on = Number(b.dataset.window) === s;
      b.classList.toggle('on', on);
      b.setAttribute('aria-checked', String(on));
    }
    this.save();
    this.dirty = true;
  }

  setHold(on) {
    this.hold = on;
    const b = $('plot-hold');
    b.setAttribute('aria-pressed', String(on));
    b.classList.toggle('on', on);
    b.textContent = on ? 'Held' : 'Hold';
    this.dirty = true;
  }

  /** A decoded `scalars` batch: parallel arrays of time (s), key, value. */
  ingest(time, keys, values) {
    const nowS = Date.now() / 1000;
    let tmax = -Infinity;
    let unknown = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const t = time[i];
      const v = values[i];
      if (t > tmax) tmax = t;
      let d = this.data.get(key);
      if (!d) {
        d = { t: [], v: [] };
        this.data.set(key, d);
        if (!this.channels.has(key)) unknown.push(key);
      }
      // Batches are in time order per channel; a straggler is inserted in place.
      if (d.t.length && t < d.t[d.t.length - 1]) {
        const at = lowerBound(d.t, t);
        d.t.splice(at, 0, t);
        d.v.splice(at, 0, v);
      } else {
        d.t.push(t);
        d.v.push(v);
      }
    }
    this.rowsIn += keys.length;
    if (unknown.length) {
      this.setChannels(
        unknown.map((key) => {
          const [base, sub] = key.split('@');
          return { key, instrument: base.split('.')[0], channel: base.split('.').slice(1).join('.'), unit: '', subsystem: sub };
        }),
      );
    }
    if (Number.isFinite(tmax)) {
      const d = tmax - nowS;
      this.clockOffset = this.clockOffset === undefined || d > this.clockOffset ? d : this.clockOffset - 0.002;
      const cut = tmax - KEEP_S;
      for (const s of this.data.values()) {
        if ((s.t.length && s.t[0] < cut - 10) || s.t.length > MAX_POINTS) {
          const at = Math.max(lowerBound(s.t, cut), s.t.length - MAX_POINTS);
          s.t.splice(0, at);
          s.v.splice(0, at);
        }
      }
    }
    this.dirty = true;
  }

  /** The latest value of a channel: { value, time } or undefined. */
  latest(key) {
    const d = this.data.get(key);
    if (!d || !d.t.length) return undefined;
    return { value: d.v[d.v.length - 1], time: d.t[d.t.length - 1] };
  }

  /** Points of a channel in the current window (for tests and the readout). */
  pointsInWindow(key) {
    const d = this.data.get(key);
    if (!d) return 0;
    return d.t.length - lowerBound(d.t, this.lo ?? 0);
  }

  syncCharts() {
    const want = this.selected.filter((k) => this.channels.has(k));
    for (const [key, c] of this.charts) {
      if (!want.includes(key)) {
        c.u.destroy();
        c.el.remove();
        this.charts.delete(key);
      }
    }
    for (const key of want) if (!this.charts.has(key)) this.charts.set(key, this.makeChart(this.channels.get(key)));
    // Keep the order of the choices.
    for (const key of want) this.box.append(this.charts.get(key).el);
    $('charts-empty').hidden = want.length > 0;
    this.layout();
    this.dirty = true;
  }

  chartHeight() {
    const n = Math.max(1, this.charts.size);
    const avail = this.box.clientHeight || 360;
    return Math.max(110, Math.floor(avail / n) - 26);
  }

  makeChart(c) {
    const value = h('span', { class: 'chart-value mono', 'data-testid': `chart-value-${c.key}` }, '–');
    const close = h(
      'button',
      {
        type: 'button',
        class: 'icon-btn',
        title: `stop plotting ${c.key}`,
        'aria-label': `remove ${c.key}`,
        onclick: () => this.uncheck(c.key),
      },
      '×',
    );
    const head = h(
      'div',
      { class: 'chart-head' },
      h('span', { class: 'swatch', style: `background:${c.color}` }),
      h('b', {}, c.key),
      c.unit ? h('span', { class: 'muted' }, ` [${c.unit}]`) : null,
      c.subsystem ? h('span', { class: 'tag' }, c.subsystem) : null,
      value,
      close,
    );
    const plotEl = h('div', { class: 'chart-plot' });
    const el = h('div', { class: 'chart', 'data-testid': 'chart', 'data-key': c.key, dataset: { points: '0' } }, head, plotEl);
    const self = this;
    const u = new uPlot(
      {
        width: Math.max(200, this.box.clientWidth - 2),
        height: this.chartHeight(),
        pxAlign: false,
        legend: { show: false },
        cursor: { sync: { key: 'live' }, drag: { x: false, y: false }, points: { size: 6 } },
        scales: {
          x: { time: true, range: () => [self.lo ?? 0, self.hi ?? 1] },
          y: {
            range: (u, min, max) => {
              if (min === null || max === null || !Number.isFinite(min)) return [0, 1];
              if (min === max) {
                const pad = Math.abs(min) * 0.01 || 1;
                return [min - pad, max + pad];
              }
              const pad = (max - min) * 0.08;
              return [min - pad, max + pad];
            },
          },
        },
        series: [
          {},
          {
            label: c.key,
            stroke: c.color,
            width: 1.5,
            fill: `${c.color}12`,
            points: { size: 3, fill: c.color },
            spanGaps: false,
          },
        ],
        axes: timeAxes(c.unit),
        hooks: { setCursor: [(u) => self.readout(c, u, value)] },
      },
      [[], []],
      plotEl,
    );
    return { u, el, value, c };
  }

  uncheck(key) {
    const box = this.list.querySelector(`input[value="${CSS.escape(key)}"]`);
    if (box) box.checked = false;
    this.toggle(key, false);
  }

  readout(c, u, el) {
    const i = u.cursor.idx;
    if (i === null || i === undefined || !u.data[0].length) {
      const l = this.latest(c.key);
      setText(el, l ? fmtValue(l.value, c.unit) : '–');
      el.classList.remove('at-cursor');
      return;
    }
    const t = new Date(u.data[0][i] * 1000);
    const clock = t.toLocaleTimeString([], { hour12: false }) + `.${String(t.getMilliseconds()).padStart(3, '0')}`;
    setText(el, `${fmtValue(u.data[1][i], c.unit)} @ ${clock}`);
    el.classList.add('at-cursor');
  }

  layout() {
    const w = Math.max(200, this.box.clientWidth - 2);
    const hgt = this.chartHeight();
    for (const c of this.charts.values()) c.u.setSize({ width: w, height: hgt });
    this.dirty = true;
  }

  frame() {
    if (this.hold || document.hidden) return;
    const now = Date.now() / 1000 + (this.clockOffset ?? 0);
    this.hi = now;
    this.lo = now - this.windowS;
    for (const [key, c] of this.charts) {
      const d = this.data.get(key) ?? { t: [], v: [] };
      const from = lowerBound(d.t, this.lo - 1);
      c.u.setData([d.t.slice(from), d.v.slice(from)]);
      const n = d.t.length - lowerBound(d.t, this.lo);
      c.el.dataset.points = String(n);
      if (c.u.cursor.idx === null || c.u.cursor.idx === undefined) this.readout(c.c, c.u, c.value);
    }
    this.dirty = false;
  }
}
