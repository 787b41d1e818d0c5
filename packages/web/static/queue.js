// The queue, the running plan and the history: the add-a-plan form built from GET /api/plans,
// the queue's items with their move and remove buttons, Start / Stop after current, the run's
// controls and progress, a plot of the run's events, and the finished runs.

import { $, h, api, act, fmtDuration, fmtClock, fmtValue, setText, stateTone, fmtTicks } from './util.js';

const SHADOW_WORD = { agrees: 'V4 agrees', differs: 'V4 differs', failed: 'V4 failed', 'no-pairs': 'no pairs' };

const NAME_TYPES = {
  detectors: 'string[]',
  motor: 'string',
  positions: 'number[]',
  axes: 'axes',
  snake: 'boolean',
  num: 'integer',
  average: 'integer',
  frames_per_point: 'integer',
};
const LABELS = {
  settle_ms: 'settle (ms)',
  delay_ms: 'delay (ms)',
  frames_per_point: 'frames / point',
  rate_hz: 'rate (Hz)',
  duration_s: 'duration (s)',
  num: 'points',
};
/** What each built-in plan does (docs/experiments.md), when the catalogue does not say. */
const DOES = {
  count: 'N readings; nothing moves',
  scan: 'one motor from start to stop, both ends included',
  rel_scan: 'as scan, relative to where the motor is; it goes back after',
  list_scan: 'one motor through the positions given, in order',
  grid_scan: 'motors on a grid, first axis outermost',
  time_series: 'readings on a fixed schedule',
};
/** Defaults of the optional parameters (docs/experiments.md), shown as placeholders. */
const DEFAULTS = { num: 1, delay_ms: 0, settle_ms: 0, average: 1, frames_per_point: 1 };
/** Parameters shown first, in this order; the rest follow. */
const ORDER = ['detectors', 'motor', 'start', 'stop', 'num', 'positions', 'axes', 'snake', 'rate_hz', 'duration_s', 'delay_ms'];
const ADVANCED = new Set(['settle_ms', 'average', 'frames_per_point']);

function paramList(spec) {
  if (!spec) return [];
  if (typeof spec === 'string') {
    // "detectors, num = 1, delay_ms = 0" (daq plan list's wording)
    return spec
      .split(/,(?![^[{]*[\]}])/)
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => {
        const [name, def] = p.split('=').map((s) => s.trim());
        const clean = name.replace(/\s.*$/, '');
        return { name: clean, required: def === undefined, default: def === undefined ? undefined : def };
      });
  }
  if (Array.isArray(spec)) return spec.map((p) => (typeof p === 'string' ? { name: p } : { ...p }));
  return Object.entries(spec).map(([name, p]) => (typeof p === 'string' ? { name, type: p } : { name, ...p }));
}

/** GET /api/plans in any of the shapes a catalogue takes: [{ name, params }], { plans: … }, { scan: { params } }. */
export function normalizePlans(raw) {
  if (!raw) return [];
  if (!Array.isArray(raw) && Array.isArray(raw.plans)) return normalizePlans(raw.plans);
  if (!Array.isArray(raw) && raw.plans && typeof raw.plans === 'object') return normalizePlans(raw.plans);
  const entries = Array.isArray(raw) ? raw.map((p) => [p.name ?? p.plan, p]) : Object.entries(raw);
  return entries
    .filter(([name]) => typeof name === 'string')
    .map(([name, p]) => {
      const spec = p.params ?? p.parameters ?? (p.properties ? p : undefined) ?? p;
      let params = paramList(spec.properties ?? spec);
      if (spec.properties && Array.isArray(spec.required))
        params = params.map((q) => ({ ...q, required: spec.required.includes(q.name) }));
      params = params
        .filter((q) => q.name && !['does', 'description', 'name', 'plan', 'summary'].includes(q.name))
        .map((q) => {
          let type = q.type;
          if (type === 'array') type = q.items?.type === 'string' ? 'string[]' : q.items?.type === 'object' ? 'axes' : 'number[]';
          return { ...q, type: type ?? NAME_TYPES[q.name] ?? 'number', required: Boolean(q.required) };
        })
        .sort((a, b) => {
          const ia = ORDER.indexOf(a.name);
          const ib = ORDER.indexOf(b.name);
          return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
        });
      return { name, does: p.does ?? p.description ?? DOES[name] ?? '', params };
    });
}

/** The motors a plan can move, as plan files name them, from the instruments' types. */
export function motorsOf(instruments) {
  const out = [];
  for (const i of instruments) {
    if (Array.isArray(i.motors)) {
      out.push(...i.motors.map((m) => (typeof m === 'string' ? m : m.name)));
      continue;
    }
    const t = i.type ?? '';
    if (/elliptec/i.test(t)) out.push(i.id);
    else if (/esp300/i.test(t)) {
      const axes = new Set();
      for (const c of i.channels ?? []) {
        const m = /axis\s*(\d+)/i.exec(c.channel);
        if (m) axes.add(Number(m[1]));
      }
      for (const a of axes.size ? [...axes].sort() : [1, 2, 3]) out.push(`${i.id}.axis${a}`);
    } else if (/maitai/i.test(t)) out.push(`${i.id}.wavelength`, `${i.id}.shutter`);
    else if (/scpi/i.test(t) && i.motor) out.push(i.id);
  }
  return out;
}

const num = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v ?? '?'));

/** A plan's parameters in a line: "rot 0 → 180, 13 points · pm · settle 400 ms". */
export function paramSummary(plan) {
  const p = plan ?? {};
  const parts = [];
  switch (p.plan) {
    case 'scan':
    case 'rel_scan':
      parts.push(`${p.motor} ${p.plan === 'rel_scan' ? 'by ' : ''}${num(p.start)} → ${num(p.stop)}, ${num(p.num)} points`);
      break;
    case 'list_scan': {
      const pos = Array.isArray(p.positions) ? p.positions : [];
      parts.push(`${p.motor} at ${pos.slice(0, 6).map(num).join(', ')}${pos.length > 6 ? `, … (${pos.length})` : ''}`);
      break;
    }
    case 'grid_scan':
      parts.push(
        (Array.isArray(p.axes) ? p.axes : [])
          .map((a) => `${a.motor} ${num(a.start)} → ${num(a.stop)} ×${num(a.num)}`)
          .join(' by ') + (p.snake ? ', snake' : ''),
      );
      break;
    case 'count':
      parts.push(
        `${num(p.num ?? 1)} reading${p.num === 1 || p.num === undefined ? '' : 's'}${p.delay_ms ? ` every ${num(p.delay_ms)} ms` : ''}`,
      );
      break;
    case 'time_series':
      parts.push(`${num(p.rate_hz)} Hz for ${num(p.duration_s)} s`);
      break;
  }
  if (Array.isArray(p.detectors)) parts.push(p.detectors.join(', '));
  if (p.settle_ms) parts.push(`settle ${num(p.settle_ms)} ms`);
  if (p.average && p.average !== 1) parts.push(`average ${num(p.average)}`);
  if (p.frames_per_point && p.frames_per_point !== 1) parts.push(`${num(p.frames_per_point)} frames/point`);
  return parts.filter(Boolean).join(' · ');
}

/** The plan's name and its parameters, as two spans. */
function describe(item) {
  const p = item.plan ?? {};
  return h(
    'span',
    { class: 'q-summary', title: item.summary ?? JSON.stringify(p) },
    h('b', {}, p.plan ?? ''),
    ' ',
    h('span', { class: 'q-params' }, p.plan ? paramSummary(p) : (item.summary ?? '')),
  );
}

export class QueuePanel {
  constructor() {
    this.plans = [];
    this.instruments = [];
    this.extraMotors = [];
    this.queue = { state: 'idle', items: [], current: null };
    this.run = null;
    this.history = [];
    this.queueKey = '';
    this.historyKey = '';
    this.onChanged = () => {};
    this.form = $('add-plan');
    this.select = $('plan-select');
    this.select.addEventListener('change', () => this.renderParams());
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.add();
    });
    this.form.addEventListener('input', () => this.updatePoints());
    $('queue-start').addEventListener('click', (e) =>
      act(e.currentTarget, async () => this.applyQueue(await api('POST', '/api/queue/start'))),
    );
    $('queue-stop').addEventListener('click', (e) =>
      act(e.currentTarget, async () => this.applyQueue(await api('POST', '/api/queue/stop'))),
    );
    $('queue-clear').addEventListener('click', (e) => {
      const n = this.queue.items.filter((i) => (i.state ?? 'waiting') === 'waiting').length;
      if (!window.confirm(`Remove the ${n} waiting item${n === 1 ? '' : 's'} from the queue?`)) return;
      void act(e.currentTarget, async () => {
        await api('DELETE', '/api/queue');
        this.onChanged();
      });
    });
    const control = (id, path, body) =>
      $(id).addEventListener('click', (e) =>
        act(e.currentTarget, async () => {
          const r = await api('POST', path, body?.());
          if (r && typeof r === 'object' && 'done' in r) this.applyRun(r);
          this.onChanged();
        }),
      );
    control('run-pause', '/api/run/pause', () => ({ mode: 'deferred' }));
    control('run-pause-now', '/api/run/pause', () => ({ mode: 'immediate' }));
    control('run-resume', '/api/run/resume');
    control('run-stop', '/api/run/stop');
    control('run-abort', '/api/run/abort', () => ({ reason: 'aborted from the web page' }));
    this.scan = new ScanPlot();
    this.applyRun(null);
  }

  setPlans(raw) {
    this.plans = normalizePlans(raw);
    if (raw && !Array.isArray(raw) && Array.isArray(raw.motors)) this.extraMotors = raw.motors;
    const current = this.select.value;
    this.select.replaceChildren(...this.plans.map((p) => h('option', { value: p.name }, p.name)));
    const preferred = this.plans.find((p) => p.name === current) ?? this.plans.find((p) => p.name === 'scan') ?? this.plans[0];
    if (preferred) this.select.value = preferred.name;
    this.renderParams();
  }

  setInstruments(list) {
    const key = JSON.stringify(list.map((i) => [i.id, i.type, (i.channels ?? []).length]));
    this.instruments = list;
    if (key === this.instrumentsKey) return;
    this.instrumentsKey = key;
    this.renderParams();
  }

  /** Cameras the status reports (a camera is a detector: frames_per_point frames at each point). */
  setCameras(ids) {
    if (ids.join() === (this.cameraIds ?? []).join()) return;
    this.cameraIds = ids;
    this.renderParams();
  }

  detectors() {
    const withChannels = this.instruments.filter((i) => (i.channels ?? []).length > 0 || /pvcam|camera/i.test(i.type ?? ''));
    return [...new Set([...withChannels.map((i) => i.id), ...(this.cameraIds ?? [])])];
  }

  motors() {
    return [...new Set([...motorsOf(this.instruments), ...this.extraMotors])];
  }

  plan() {
    return this.plans.find((p) => p.name === this.select.value);
  }

  /** The fields of the chosen plan; values typed so far are kept across plans. */
  renderParams() {
    const keep = this.values();
    const plan = this.plan();
    const box = $('plan-params');
    setText($('plan-does'), plan?.does ?? '');
    if (!plan) {
      box.replaceChildren();
      return;
    }
    const main = [];
    const more = [];
    for (const p of plan.params) {
      const field = this.field(p, keep[p.name]);
      (ADVANCED.has(p.name) && !p.required ? more : main).push(field);
    }
    const nodes = [...main];
    if (more.length)
      nodes.push(h('details', { class: 'more' }, h('summary', {}, 'options'), h('div', { class: 'params' }, ...more)));
    box.replaceChildren(...nodes);
    this.updatePoints();
  }

  field(p, kept) {
    const id = `param-${p.name}`;
    const label = h(
      'label',
      { for: id },
      LABELS[p.name] ?? p.name.replace(/_/g, ' '),
      p.required ? h('span', { class: 'req', title: 'required' }, '*') : null,
    );
    const def = kept ?? p.default;
    let control;
    let wide = false;
    if (p.type === 'string[]' && p.name === 'detectors') {
      wide = true;
      const chosen = new Set(Array.isArray(kept) ? kept : []);
      const ids = this.detectors();
      control = h(
        'div',
        { class: 'chips', id, role: 'group', 'aria-label': 'detectors', 'data-testid': id },
        ids.length
          ? ids.map((d) =>
              h(
                'label',
                { class: 'chip' },
                h('input', {
                  type: 'checkbox',
                  name: 'detectors',
                  value: d,
                  checked: chosen.has(d),
                  'data-testid': `param-detectors-${d}`,
                }),
                h('span', {}, d),
              ),
            )
          : h('span', { class: 'muted small' }, 'no detectors'),
      );
    } else if (p.type === 'string' && p.name === 'motor') {
      const motors = this.motors();
      control = h(
        'select',
        { id, name: p.name, 'data-testid': id },
        h('option', { value: '' }, '— motor —'),
        motors.map((m) => h('option', { value: m, selected: m === def }, m)),
      );
    } else if (p.type === 'axes') {
      wide = true;
      control = this.axesEditor(id, Array.isArray(kept) ? kept : undefined);
    } else if (p.type === 'boolean') {
      control = h('input', { type: 'checkbox', id, name: p.name, 'data-testid': id, checked: def === true || def === 'true' });
    } else if (p.type === 'number[]' || p.type === 'string[]') {
      wide = true;
      control = h('input', {
        type: 'text',
        id,
        name: p.name,
        'data-testid': id,
        placeholder: p.type === 'number[]' ? '0, 10, 20, 45' : 'a, b',
        value: Array.isArray(def) ? def.join(', ') : (def ?? ''),
      });
    } else if (p.type === 'string') {
      control = h('input', { type: 'text', id, name: p.name, 'data-testid': id, value: def ?? '' });
    } else {
      control = h('input', {
        type: 'number',
        id,
        name: p.name,
        'data-testid': id,
        step: p.type === 'integer' ? '1' : 'any',
        min: p.type === 'integer' && /num|average|frames/.test(p.name) ? '1' : undefined,
        inputmode: 'decimal',
        placeholder: p.required ? '' : String(p.default ?? DEFAULTS[p.name] ?? ''),
        value: kept ?? (p.required && p.default !== undefined ? p.default : ''),
      });
    }
    return h(
      'div',
      { class: `field${wide ? ' wide' : ''}${p.type === 'boolean' ? ' inline' : ''}`, dataset: { param: p.name, type: p.type } },
      label,
      control,
    );
  }

  axesEditor(id, rows) {
    const motors = this.motors();
    const body = h('tbody', {});
    const addRow = (r = {}) => {
      const tr = h(
        'tr',
        {},
        h(
          'td',
          {},
          h(
            'select',
            { 'aria-label': 'motor', class: 'ax-motor' },
            h('option', { value: '' }, '—'),
            motors.map((m) => h('option', { value: m, selected: m === r.motor }, m)),
          ),
        ),
        ...['start', 'stop', 'num'].map((k) =>
          h(
            'td',
            {},
            h('input', { type: 'number', step: k === 'num' ? '1' : 'any', class: `ax-${k}`, 'aria-label': k, value: r[k] ?? '' }),
          ),
        ),
        h(
          'td',
          {},
          h(
            'button',
            { type: 'button', class: 'icon-btn', 'aria-label': 'remove axis', onclick: () => (tr.remove(), this.updatePoints()) },
            '×',
          ),
        ),
      );
      body.append(tr);
    };
    for (const r of rows ?? [{}, {}]) addRow(r);
    return h(
      'div',
      { class: 'axes', id, 'data-testid': id },
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h('tr', {}, h('th', {}, 'motor'), h('th', {}, 'start'), h('th', {}, 'stop'), h('th', {}, 'points'), h('th', {})),
        ),
        body,
      ),
      h('button', { type: 'button', class: 'btn ghost small', onclick: () => (addRow(), this.updatePoints()) }, '+ axis'),
    );
  }

  /** The form's values as a plan file's keys (empty optional fields left out). */
  values() {
    const out = {};
    for (const f of $('plan-params').querySelectorAll('.field')) {
      const name = f.dataset.param;
      const type = f.dataset.type;
      if (name === 'detectors' && type === 'string[]') {
        out[name] = [...f.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value);
      } else if (type === 'axes') {
        out[name] = [...f.querySelectorAll('tbody tr')]
          .map((tr) => ({
            motor: tr.querySelector('.ax-motor').value,
            start: tr.querySelector('.ax-start').value === '' ? undefined : Number(tr.querySelector('.ax-start').value),
            stop: tr.querySelector('.ax-stop').value === '' ? undefined : Number(tr.querySelector('.ax-stop').value),
            num: tr.querySelector('.ax-num').value === '' ? undefined : Number(tr.querySelector('.ax-num').value),
          }))
          .filter((a) => a.motor || a.start !== undefined || a.stop !== undefined || a.num !== undefined);
      } else if (type === 'boolean') {
        const c = f.querySelector('input');
        if (c.checked) out[name] = true;
        else if (f.dataset.touched) out[name] = false;
      } else {
        const el = f.querySelector('input, select');
        const v = el.value.trim();
        if (v === '') continue;
        if (type === 'number[]')
          out[name] = v
            .split(/[\s,;]+/)
            .filter(Boolean)
            .map(Number);
        else if (type === 'string[]') out[name] = v.split(/[\s,;]+/).filter(Boolean);
        else if (type === 'number' || type === 'integer') out[name] = Number(v);
        else out[name] = v;
      }
    }
    return out;
  }

  /** What the form is missing, before asking the daemon (which checks the rest: limits, instruments). */
  problems(values) {
    const plan = this.plan();
    const out = [];
    for (const p of plan?.params ?? []) {
      const v = values[p.name];
      if (p.required && (v === undefined || (Array.isArray(v) && v.length === 0)))
        out.push(`${LABELS[p.name] ?? p.name} is required`);
      if (
        (p.type === 'number[]' || p.type === 'number' || p.type === 'integer') &&
        [].concat(v ?? []).some((x) => !Number.isFinite(x))
      )
        out.push(`${p.name}: not a number`);
    }
    return out;
  }

  updatePoints() {
    const v = this.values();
    let n;
    if (Number.isFinite(v.num) && 'motor' in v) n = v.num;
    else if (Array.isArray(v.positions)) n = v.positions.length;
    else if (Array.isArray(v.axes) && v.axes.length) n = v.axes.reduce((a, x) => a * (x.num ?? NaN), 1);
    else if (Number.isFinite(v.rate_hz) && Number.isFinite(v.duration_s)) n = Math.floor(v.rate_hz * v.duration_s);
    else if (this.select.value === 'count') n = v.num ?? 1;
    setText($('plan-points'), Number.isFinite(n) ? `${n} point${n === 1 ? '' : 's'}` : '');
  }

  /** The daemon's refusal: its message, or its problems one a line (a plan check reports all of them). */
  showFormError(text, err) {
    const el = $('form-error');
    const problems = err?.details?.problems;
    if (Array.isArray(problems) && problems.length > 1) {
      const shown = problems.slice(0, 4).map((p) => h('li', {}, p.path ? `${p.path}: ${p.message}` : p.message));
      if (problems.length > 4) shown.push(h('li', { class: 'muted' }, `and ${problems.length - 4} more`));
      el.replaceChildren(h('div', {}, `The daemon refused the plan (${err.code}):`), h('ul', {}, ...shown));
    } else el.textContent = text;
    el.hidden = !text;
  }

  async add() {
    const values = this.values();
    const problems = this.problems(values);
    if (problems.length) {
      this.showFormError(problems.join('; '));
      return;
    }
    this.showFormError('');
    const plan = { plan: this.select.value, ...values };
    await act(
      $('queue-add'),
      async () => {
        const item = await api('POST', '/api/queue', { plan });
        if (item && item.id) this.applyQueue({ ...this.queue, items: [...this.queue.items, item] });
        this.onChanged();
      },
      { onError: (text, e) => this.showFormError(text, e) },
    );
  }

  /** GET /api/queue (or the queue part of a status). */
  applyQueue(q) {
    if (!q || typeof q !== 'object') return;
    this.queue = { state: q.state ?? 'idle', items: Array.isArray(q.items) ? q.items : [], current: q.current ?? null };
    const badge = $('queue-state');
    setText(badge, this.queue.state);
    badge.dataset.state = this.queue.state;
    badge.dataset.tone = stateTone(this.queue.state);
    $('queue-start').disabled =
      this.queue.state !== 'idle' || !this.queue.items.some((i) => (i.state ?? 'waiting') === 'waiting');
    $('queue-stop').disabled = this.queue.state !== 'running';
    $('queue-clear').disabled = !this.queue.items.some((i) => (i.state ?? 'waiting') === 'waiting');
    if ('current' in q) this.applyRun(q.current);
    setText($('queue-empty'), this.queue.state === 'idle' ? 'The queue is empty.' : 'Nothing waiting.');
    const key = JSON.stringify(this.queue.items.map((i) => [i.id, i.state, i.summary]));
    if (key === this.queueKey) return;
    this.queueKey = key;
    const waiting = this.queue.items.filter((i) => (i.state ?? 'waiting') === 'waiting');
    const list = $('queue-list');
    list.replaceChildren(
      ...this.queue.items.map((item, index) => {
        const state = item.state ?? 'waiting';
        const w = waiting.indexOf(item);
        const movable = state === 'waiting';
        return h(
          'li',
          { class: `queue-item ${state}`, 'data-testid': 'queue-item', dataset: { itemId: item.id, state } },
          describe(item),
          h('span', { class: 'badge small', dataset: { tone: stateTone(state), state } }, state),
          h(
            'span',
            { class: 'q-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'icon-btn',
                'aria-label': `move ${item.id} up`,
                title: 'move up',
                'data-testid': 'queue-item-up',
                disabled: !movable || w <= 0,
                onclick: (e) => act(e.currentTarget, () => this.move(item, index - 1)),
              },
              '↑',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'icon-btn',
                'aria-label': `move ${item.id} down`,
                title: 'move down',
                'data-testid': 'queue-item-down',
                disabled: !movable || w < 0 || w >= waiting.length - 1,
                onclick: (e) => act(e.currentTarget, () => this.move(item, index + 1)),
              },
              '↓',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'icon-btn danger',
                'aria-label': `remove ${item.id}`,
                title: 'remove from the queue',
                'data-testid': 'queue-item-remove',
                disabled: !movable,
                onclick: (e) =>
                  act(e.currentTarget, async () => {
                    await api('DELETE', `/api/queue/${encodeURIComponent(item.id)}`);
                    this.onChanged();
                  }),
              },
              '×',
            ),
          ),
        );
      }),
    );
    $('queue-empty').hidden = this.queue.items.length > 0;
  }

  async move(item, to) {
    const r = await api('POST', `/api/queue/${encodeURIComponent(item.id)}/move`, { to: Math.max(0, to) });
    if (r && Array.isArray(r.items)) this.applyQueue(r);
    this.onChanged();
  }

  /** GET /api/run, a status's run, or null when nothing runs. */
  applyRun(run) {
    const was = this.run;
    this.run = run && typeof run === 'object' && ('done' in run || 'state' in run) ? run : null;
    const r = this.run;
    const state = r ? (r.state ?? 'running') : 'idle';
    const badge = $('run-state');
    setText(badge, state);
    badge.dataset.state = state;
    badge.dataset.tone = stateTone(state);
    $('run-panel').dataset.state = state;
    const done = r?.done ?? 0;
    const total = r?.total ?? null;
    const what = $('run-what');
    if (r) what.replaceChildren(describe(r.item ?? { plan: r.plan ?? {} }));
    else setText(what, 'Nothing is running.');
    $('run-what').classList.toggle('muted', !r);
    const prog = $('run-progress');
    setText(prog, r ? `${done}${total !== null && total !== undefined ? ` / ${total}` : ''} points` : '');
    prog.dataset.done = String(done);
    prog.dataset.total = total === null || total === undefined ? '' : String(total);
    $('run-bar').style.width = r && total ? `${Math.min(100, (100 * done) / total)}%` : '0%';
    $('run-bar').dataset.tone = stateTone(state);
    setText($('run-eta'), r && r.etaS !== null && r.etaS !== undefined ? `ETA ${fmtDuration(r.etaS)}` : '');
    const pos = r?.positions ?? {};
    setText(
      $('run-positions'),
      Object.entries(pos)
        .map(([k, v]) => `${k} = ${fmtValue(v, '', 3)}`)
        .join('  '),
    );
    const active = Boolean(r) && !['done', 'idle'].includes(state);
    $('run-pause').disabled = !active || !['running', 'suspended'].includes(state);
    $('run-pause-now').disabled = !active || !['running', 'suspended', 'pausing'].includes(state);
    $('run-resume').disabled = !active || state !== 'paused';
    $('run-stop').disabled = !active || ['stopping', 'aborting'].includes(state);
    $('run-abort').disabled = !active || state === 'aborting';
    if (Boolean(was) !== Boolean(r) || (was && r && was.uid !== r.uid)) this.onChanged();
  }

  setHistory(list) {
    const entries = Array.isArray(list) ? list : (list?.items ?? list?.history ?? []);
    const key = JSON.stringify(entries.map((e) => [e.uid, e.endedAt, e.exitStatus]));
    if (key === this.historyKey) return;
    this.historyKey = key;
    this.history = entries;
    const rows = [...entries].reverse().map((e) => {
      const status = e.exitStatus ?? e.exit_status ?? 'unknown';
      const took = e.startedAt && e.endedAt ? (new Date(e.endedAt) - new Date(e.startedAt)) / 1000 : undefined;
      return h(
        'li',
        { class: 'history-item', 'data-testid': 'history-item', dataset: { exitStatus: status, uid: e.uid ?? '' } },
        h(
          'div',
          { class: 'hist-top' },
          h('span', { class: 'badge small', dataset: { tone: stateTone(status) } }, status),
          describe(e.item ?? { plan: e.plan ?? {} }),
        ),
        h(
          'div',
          { class: 'hist-facts muted small' },
          h('span', {}, `${e.events ?? 0} events`),
          e.skipped ? h('span', {}, `${e.skipped} skipped`) : null,
          e.suspensions ? h('span', {}, `${e.suspensions} suspensions`) : null,
          e.endedAt
            ? h(
                'span',
                { title: `${e.startedAt} → ${e.endedAt}` },
                `${fmtClock(e.endedAt)}${took !== undefined ? ` (${fmtDuration(took)})` : ''}`,
              )
            : null,
          e.uid
            ? h(
                'a',
                {
                  href: `/api/runs/${encodeURIComponent(e.uid)}/documents`,
                  target: '_blank',
                  rel: 'noopener',
                  title: 'the run\u2019s documents (ndjson)',
                },
                e.uid.slice(0, 8),
              )
            : null,
          // Shadow mode: the run's own comparison of V2 and V4, opened on the shadow dashboard.
          e.uid && e.shadow
            ? h(
                'a',
                {
                  href: `shadow.html?run=${encodeURIComponent(e.uid)}`,
                  class: e.shadow.state === 'agrees' ? 'ok-text' : e.shadow.state === 'no-pairs' ? undefined : 'bad-text',
                  'data-testid': 'history-shadow',
                  title: e.shadow.text,
                },
                SHADOW_WORD[e.shadow.state] ?? e.shadow.state,
              )
            : null,
          e.reason && status !== 'success' ? h('span', { class: 'reason' }, e.reason) : null,
        ),
      );
    });
    $('history-list').replaceChildren(...rows);
    $('history-empty').hidden = entries.length > 0;
  }

  document(name, doc) {
    this.scan.document(name, doc);
  }
}

/** The running plan's events: the first detector reading against the first motor (or the point number). */
class ScanPlot {
  constructor() {
    this.box = $('scan-plot');
    this.chartEl = $('scan-plot-chart');
    this.ySelect = $('scan-plot-y');
    this.ySelect.addEventListener('change', () => this.redraw());
    this.u = null;
    this.reset();
    new ResizeObserver(() => this.u?.setSize({ width: this.width(), height: 150 })).observe(this.box);
  }

  reset() {
    this.events = [];
    this.xKey = null;
    this.motors = [];
    this.keys = [];
  }

  width() {
    return Math.max(200, (this.box.clientWidth || 380) - 2);
  }

  document(name, doc) {
    if (!doc || typeof doc !== 'object') return;
    if (name === 'start') {
      this.reset();
      this.motors = (doc.motors ?? []).map((m) => String(m).replace(/\./g, '-'));
      this.xKey = this.motors[0] ?? null;
      this.title = `${doc.plan_name ?? 'plan'} ${doc.uid ? String(doc.uid).slice(0, 8) : ''}`;
      this.box.hidden = false;
      this.setKeys([]);
      this.redraw();
    } else if (name === 'descriptor' && doc.data_keys) {
      this.units = Object.fromEntries(Object.entries(doc.data_keys).map(([k, v]) => [k, v?.units ?? '']));
      this.setKeys(
        Object.entries(doc.data_keys)
          .filter(([k, v]) => !this.motors.includes(k) && (v?.dtype ?? 'number') === 'number')
          .map(([k]) => k),
      );
    } else if (name === 'event' && doc.data) {
      if (!this.keys.length)
        this.setKeys(Object.keys(doc.data).filter((k) => !this.motors.includes(k) && typeof doc.data[k] === 'number'));
      this.events.push({ seq: doc.seq_num ?? this.events.length + 1, data: doc.data });
      this.redraw();
    }
  }

  setKeys(keys) {
    this.keys = keys;
    const prev = this.ySelect.value;
    this.ySelect.replaceChildren(...keys.map((k) => h('option', { value: k }, k)));
    const pick = keys.includes(prev) ? prev : (keys.find((k) => /power|signal|intensity/i.test(k)) ?? keys[0]);
    if (pick) this.ySelect.value = pick;
  }

  redraw() {
    const y = this.ySelect.value;
    const xs = [];
    const ys = [];
    for (const e of this.events) {
      const x = this.xKey ? e.data[this.xKey] : e.seq;
      const v = e.data[y];
      if (typeof x === 'number' && typeof v === 'number') {
        xs.push(x);
        ys.push(v);
      }
    }
    // uPlot wants x in order: sort a monotone sweep (a downward scan); a grid's points are drawn unjoined.
    const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
    const monotone = xs.every((x, i) => i === 0 || x >= xs[i - 1]) || xs.every((x, i) => i === 0 || x <= xs[i - 1]);
    const data = [order.map((i) => xs[i]), order.map((i) => ys[i])];
    setText($('scan-plot-title'), `${this.title ?? ''} · ${this.events.length} events · ${y || '–'} vs ${this.xKey ?? 'point'}`);
    const unit = this.units?.[y] ?? '';
    if (!this.u || this.uMonotone !== monotone || this.uUnit !== unit) {
      this.u?.destroy();
      this.uMonotone = monotone;
      this.uUnit = unit;
      const font = '11px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif';
      this.u = new uPlot(
        {
          width: this.width(),
          height: 150,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: false } },
          series: [
            {},
            {
              stroke: '#d9480f',
              width: monotone ? 1.25 : 0,
              points: { show: true, size: 5, fill: '#d9480f', stroke: '#d9480f' },
            },
          ],
          axes: [
            { stroke: '#5b6472', font, size: 26, grid: { stroke: '#edf0f3' }, ticks: { stroke: '#d5dae0', size: 3 } },
            {
              stroke: '#5b6472',
              font,
              size: 52,
              grid: { stroke: '#edf0f3' },
              ticks: { stroke: '#d5dae0', size: 3 },
              values: (u, s) => fmtTicks(s, unit),
            },
          ],
        },
        data,
        this.chartEl,
      );
    } else this.u.setData(data);
  }
}
