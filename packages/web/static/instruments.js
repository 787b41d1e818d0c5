// The instrument panel: one row per instrument with its subsystem, type, state, last values,
// the port or VISA session it talks through and who holds it now, and its commands.

import { $, h, api, act, fmtValue, fmtClock, setText, stateTone, parseArgs } from './util.js';

export class InstrumentPanel {
  constructor(plots) {
    this.plots = plots; // for the last values seen on the live stream
    this.list = [];
    this.rows = new Map(); // id -> { tr, state, values, port, select }
    this.holders = new Map(); // port or resource -> holder (from the status)
    this.states = new Map(); // id -> state (from the status)
    this.body = $('instrument-rows');
    setInterval(() => this.refreshValues(), 500);
  }

  /** GET /api/instruments; cameras the status reports and the list lacks are added as rows of their own. */
  setInstruments(list) {
    this.apiList = list;
    this.render();
  }

  render() {
    const known = new Set((this.apiList ?? []).map((i) => i.id));
    const list = [...(this.apiList ?? []), ...(this.cameras ?? []).filter((c) => !known.has(c.id))];
    this.list = list;
    // Shadow mode lists an instrument twice (V2 runs it, V4 shadows it): one row each, the second keyed id@subsystem.
    const seen = new Set();
    const keyed = list.map((inst) => {
      const key = seen.has(inst.id) ? `${inst.id}@${inst.subsystem}` : inst.id;
      const shadow = seen.has(inst.id);
      seen.add(inst.id);
      return { key, inst: shadow ? { ...inst, shadow: true } : inst };
    });
    const keys = keyed.map((k) => k.key);
    for (const [key, r] of this.rows) {
      if (!keys.includes(key)) {
        r.tr.remove();
        this.rows.delete(key);
      }
    }
    keyed.forEach(({ key, inst }, i) => {
      let r = this.rows.get(key);
      if (!r) {
        r = this.makeRow(inst, key);
        this.rows.set(key, r);
      }
      r.inst = inst;
      this.updateRow(r);
      // Moved only when out of place: moving a row takes the focus from its arguments field,
      // and this runs on every status message (a camera's frame counts change), so a user
      // typing arguments would lose what followed.
      const at = this.body.children[i];
      if (at !== r.tr) this.body.insertBefore(r.tr, at ?? null);
    });
    const n = seen.size;
    setText(
      $('instruments-note'),
      `${n} instrument${n === 1 ? '' : 's'}${keyed.length > n ? `, ${keyed.length - n} shadowed by V4` : ''}`,
    );
  }

  /** Port holders and instrument states from a status message. */
  applyStatus(status) {
    this.holders.clear();
    for (const p of [].concat(status?.serial ?? [], status?.ports ?? [])) {
      const name = p.path ?? p.name ?? p.port;
      if (name) this.holders.set(name, p.owner ?? p.holder ?? null);
    }
    for (const v of [].concat(status?.visa ?? [])) {
      const name = v.resource ?? v.name;
      if (name) this.holders.set(name, v.owner ?? v.holder ?? v.current ?? null);
    }
    for (const s of status?.subsystems ?? []) {
      for (const i of s.instruments ?? []) if (i && i.id && i.state) this.states.set(`${s.name}:${i.id}`, i.state);
    }
    const cams = (status?.cameras ?? []).map((c) => ({
      id: c.id,
      subsystem: 'camera',
      type: c.sensor?.name ? `PVCAM (${c.sensor.name}${c.source === 'sim' ? ', simulated' : ''})` : 'PVCAM',
      state: c.state,
      identity: c.geometry ? `${c.geometry.width}×${c.geometry.height}, ${c.geometry.bitDepth} bit` : undefined,
      error: c.error ? { code: 'DAQ_CAMERA', message: c.error } : undefined,
      channels: [],
      commands: [],
      frames: { acquired: c.acquired, stored: c.stored, dropped: typeof c.dropped === 'object' ? c.dropped?.total : c.dropped },
    }));
    const camKey = JSON.stringify(cams);
    if (camKey !== this.camKey) {
      this.camKey = camKey;
      this.cameras = cams;
      if (this.apiList) this.render();
    }
    for (const r of this.rows.values()) this.updateRow(r);
  }

  makeRow(inst, key = inst.id) {
    const id = inst.id;
    const select = h('select', { 'aria-label': `command for ${id}`, 'data-testid': `cmd-select-${key}` });
    const args = h('input', {
      type: 'text',
      class: 'args',
      placeholder: 'args, e.g. 45',
      'aria-label': `arguments for ${id}`,
      'data-testid': `cmd-args-${key}`,
      title: 'comma-separated, or JSON: 45 · true · "abc" · [1, 2]',
    });
    const result = h('output', { class: 'cmd-result', 'data-testid': `cmd-result-${key}`, 'aria-live': 'polite' });
    const send = h('button', { type: 'submit', class: 'btn small', 'data-testid': `cmd-send-${key}` }, 'Send');
    const form = h(
      'form',
      {
        class: 'cmd',
        onsubmit: (e) => {
          e.preventDefault();
          void this.command(id, select.value, args.value, result, send);
        },
      },
      select,
      args,
      send,
    );
    const none = h('span', { class: 'no-commands', hidden: true }, 'no commands');
    const state = h('span', { class: 'state', 'data-testid': `instrument-state-${key}` });
    const values = h('div', { class: 'values mono', 'data-testid': `instrument-values-${key}` });
    const port = h('div', { class: 'port', 'data-testid': `instrument-port-${key}` });
    const ident = h('div', { class: 'muted small ident' });
    const tr = h(
      'tr',
      { 'data-testid': 'instrument-row', dataset: { instrument: id, subsystem: inst.subsystem ?? '' } },
      h(
        'th',
        { scope: 'row' },
        h('div', { class: 'inst-id' }, id),
        h(
          'span',
          { class: 'tag', 'data-testid': `instrument-subsystem-${key}` },
          inst.shadow ? `${inst.subsystem} shadow` : (inst.subsystem ?? ''),
        ),
      ),
      h('td', {}, h('div', {}, inst.type ?? ''), ident),
      h('td', {}, state),
      h('td', {}, values),
      h('td', {}, port),
      h('td', { class: 'cmd-cell' }, form, none, result),
    );
    return { tr, state, values, port, select, ident, args, result, form, none, inst, commandsKey: null };
  }

  updateRow(r) {
    const inst = r.inst;
    const state = this.states.get(`${inst.subsystem}:${inst.id}`) ?? inst.state ?? 'unknown';
    const tone = stateTone(state);
    r.tr.dataset.state = state;
    if (r.state.dataset.state !== state || r.state.dataset.busy !== String(inst.busy ?? '')) {
      r.state.dataset.state = state;
      r.state.dataset.busy = String(inst.busy ?? '');
      r.state.replaceChildren(
        ...[
          h('span', { class: `dot ${tone}` }),
          h('span', {}, state),
          inst.busy ? h('span', { class: 'tag warn', title: inst.busy }, 'busy') : null,
        ].filter(Boolean),
      );
    }
    const err = inst.error ? `${inst.error.message} (${inst.error.code})` : '';
    r.state.title = err;
    setText(r.ident, inst.error ? `last error: ${inst.error.message}` : (inst.identity ?? ''));
    r.ident.title = inst.error ? `${inst.error.message} (${inst.error.code})` : (inst.identity ?? '');
    r.ident.classList.toggle('bad-text', Boolean(inst.error));
    const port = inst.port;
    const portName = port?.name ?? inst.serial_port ?? inst.resource;
    const holder = portName && this.holders.has(portName) ? this.holders.get(portName) : port?.holder;
    const portText = portName ? `${portName}` : '—';
    const holderText = portName ? (holder ? holder : 'free') : '';
    if (r.port.dataset.text !== portText + holderText) {
      r.port.dataset.text = portText + holderText;
      r.port.dataset.holder = holder ?? '';
      r.port.replaceChildren(
        ...[
          h('span', { class: 'mono small' }, portText),
          portName
            ? h(
                'span',
                {
                  class: `holder ${holder ? (String(holder).includes(inst.id) ? 'mine' : 'other') : 'free'}`,
                  title: 'holder of the port or session now',
                },
                holderText,
              )
            : null,
        ].filter(Boolean),
      );
    }
    const commands = inst.commands ?? inst.accepts ?? [];
    const key = commands.join();
    if (key !== r.commandsKey) {
      r.commandsKey = key;
      const prev = r.select.value;
      r.select.replaceChildren(...commands.map((c) => h('option', { value: c }, c)));
      if (commands.includes(prev)) r.select.value = prev;
      else if (commands.includes('read')) r.select.value = 'read';
      const none = commands.length === 0;
      r.form.hidden = none;
      r.none.hidden = !none;
    }
    this.renderValues(r);
  }

  renderValues(r) {
    const inst = r.inst;
    const parts = [];
    for (const c of inst.channels ?? []) {
      // A shadow row shows V4's readings of the channel (…@v4-shadow on the stream), the other row its own.
      const suffix = inst.shadow ? '@v4-shadow' : '';
      const live = this.plots.latest(`${inst.id}.${c.channel}${suffix}`);
      const last = live ?? inst.last?.[`${c.channel}${suffix}`];
      const v = last && typeof last === 'object' ? last.value : last;
      parts.push([c.channel, fmtValue(v, c.unit), last?.time]);
    }
    if (inst.frames) {
      const f = inst.frames;
      parts.push(['frames', String(f.acquired ?? '–')], ['stored', String(f.stored ?? '–')], ['dropped', String(f.dropped ?? 0)]);
    }
    const text = parts.map((p) => p.join()).join('|');
    if (r.values.dataset.text === text) return;
    r.values.dataset.text = text;
    r.values.replaceChildren(
      ...(parts.length
        ? parts.map(([ch, v, t]) =>
            h(
              'div',
              { class: 'val', title: t ? `at ${fmtClock(t)}` : '' },
              h('span', { class: 'muted' }, `${ch} `),
              h('b', {}, v),
            ),
          )
        : [h('span', { class: 'muted' }, '—')]),
    );
  }

  refreshValues() {
    if (document.hidden) return;
    for (const r of this.rows.values()) this.renderValues(r);
  }

  async command(id, command, argText, out, button) {
    if (!command) return;
    let args;
    try {
      args = parseArgs(argText);
    } catch (e) {
      out.textContent = String(e.message);
      out.className = 'cmd-result bad-text';
      return;
    }
    out.className = 'cmd-result muted';
    out.textContent = `${command}(${args.map((a) => JSON.stringify(a)).join(', ')}) …`;
    const t0 = performance.now();
    await act(
      button,
      async () => {
        const r = await api('POST', `/api/instruments/${encodeURIComponent(id)}/commands/${encodeURIComponent(command)}`, {
          args,
        });
        const result = r && typeof r === 'object' && 'result' in r ? r.result : r;
        const ms = Math.round(performance.now() - t0);
        out.className = 'cmd-result ok-text';
        out.dataset.ok = 'true';
        out.textContent = `${command} → ${result === undefined || result === null ? 'ok' : typeof result === 'object' ? JSON.stringify(result) : String(result)}  (${ms} ms)`;
      },
      {
        onError: (text) => {
          out.className = 'cmd-result bad-text';
          out.dataset.ok = 'false';
          out.textContent = `${command}: ${text}`;
        },
      },
    );
  }
}
