// The camera view: the latest `preview` (uint16 pixels, downscaled) drawn in grey through a
// window (black and white levels), its 256-bin histogram with the window marked, the frame's
// index and statistics. "Auto" puts black and white at each frame's minimum and maximum.

import { $, h, fmtClock, setText } from './util.js';

export class CameraView {
  constructor(onSubscribe) {
    this.onSubscribe = onSubscribe; // (cameraId | null) => void
    this.cameras = [];
    this.camera = null;
    this.auto = true;
    this.lo = 0;
    this.hi = 65535;
    this.last = null; // { header, pixels }
    this.lut = null;
    this.lutKey = '';
    this.canvas = $('camera-canvas');
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.hist = $('camera-histogram');
    this.minInput = $('wl-min');
    this.maxInput = $('wl-max');
    this.minInput.addEventListener('input', () => this.setWindow(Number(this.minInput.value), undefined, false));
    this.maxInput.addEventListener('input', () => this.setWindow(undefined, Number(this.maxInput.value), false));
    $('wl-auto').addEventListener('click', () => {
      this.auto = true;
      this.syncAutoButton();
      if (this.last) this.setWindow(this.last.header.min, this.last.header.max, true);
    });
    $('wl-full').addEventListener('click', () => {
      const top = this.last ? 2 ** this.last.header.bitDepth - 1 : 65535;
      this.setWindow(0, top, false);
    });
    $('camera-select').addEventListener('change', (e) => this.select(e.target.value));
    this.syncAutoButton();
  }

  /** The cameras among the instruments (PVCAM, or anything the daemon calls a camera). */
  setInstruments(list) {
    this.fromInstruments = list.filter((i) => /pvcam|camera/i.test(i.type ?? '') || i.subsystem === 'camera').map((i) => i.id);
    this.setCameras();
  }

  /** The cameras of a status (`cameras: [{ id, state, … }]`). */
  setStatusCameras(list) {
    this.fromStatus = (list ?? []).map((c) => c.id ?? c.name).filter(Boolean);
    this.setCameras();
  }

  setCameras() {
    const cams = [...new Set([...(this.fromStatus ?? []), ...(this.fromInstruments ?? [])])];
    if (cams.join() === this.cameras.join()) return;
    this.cameras = cams;
    const sel = $('camera-select');
    sel.replaceChildren(...cams.map((id) => h('option', { value: id }, id)));
    sel.hidden = cams.length < 2;
    $('camera-panel').hidden = cams.length === 0;
    document.body.classList.toggle('has-camera', cams.length > 0);
    if (!cams.includes(this.camera)) this.select(cams[0] ?? null);
  }

  select(id) {
    this.camera = id;
    this.last = null;
    setText($('camera-title'), id ? `Camera ${id}` : 'Camera');
    $('camera-select').value = id ?? '';
    this.onSubscribe(id);
  }

  /** Resubscribe after a reconnection. */
  resubscribe() {
    if (this.camera) this.onSubscribe(this.camera);
  }

  syncAutoButton() {
    const b = $('wl-auto');
    b.setAttribute('aria-pressed', String(this.auto));
    b.classList.toggle('on', this.auto);
  }

  setWindow(lo, hi, fromAuto) {
    if (!fromAuto) {
      this.auto = false;
      this.syncAutoButton();
    }
    if (lo !== undefined) this.lo = lo;
    if (hi !== undefined) this.hi = hi;
    if (this.hi <= this.lo) {
      if (hi !== undefined) this.lo = Math.max(0, this.hi - 1);
      else this.hi = this.lo + 1;
    }
    this.minInput.value = String(this.lo);
    this.maxInput.value = String(this.hi);
    setText($('wl-min-value'), this.lo);
    setText($('wl-max-value'), this.hi);
    if (this.last) this.draw();
  }

  /** A binary `preview` message: its header and its payload (uint16 little-endian, row-major). */
  preview(header, payload) {
    if (this.camera && header.camera !== undefined && header.camera !== this.camera) return;
    const n = header.width * header.height;
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    let pixels;
    if (bytes.byteOffset % 2 === 0 && bytes.byteLength >= n * 2) pixels = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    else pixels = new Uint16Array(bytes.slice(0, n * 2).buffer);
    const top = 2 ** (header.bitDepth || 16) - 1;
    if (Number(this.maxInput.max) !== top) {
      this.minInput.max = String(top);
      this.maxInput.max = String(top);
    }
    this.last = { header, pixels };
    if (this.auto) this.setWindow(header.min, header.max, true);
    else this.draw();
  }

  lutFor(lo, hi, bitDepth) {
    const key = `${lo}:${hi}:${bitDepth}`;
    if (key === this.lutKey) return this.lut;
    const size = 2 ** Math.max(8, Math.min(16, bitDepth || 16));
    const lut = new Uint8ClampedArray(size);
    const span = Math.max(1, hi - lo);
    for (let v = 0; v < size; v++) lut[v] = Math.round(((v - lo) / span) * 255);
    this.lut = lut;
    this.lutKey = key;
    return lut;
  }

  draw() {
    const { header, pixels } = this.last;
    const { width: w, height: hgt } = header;
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
      this.image = this.ctx.createImageData(w, hgt);
    }
    this.image ??= this.ctx.createImageData(w, hgt);
    const lut = this.lutFor(this.lo, this.hi, header.bitDepth);
    const out = this.image.data;
    const mask = lut.length - 1;
    let sum = 0;
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = 0, j = 0; i < pixels.length; i++, j += 4) {
      const v = pixels[i];
      sum += v;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
      const g = lut[v & mask];
      out[j] = g;
      out[j + 1] = g;
      out[j + 2] = g;
      out[j + 3] = 255;
    }
    this.ctx.putImageData(this.image, 0, 0);
    const mean = pixels.length ? sum / pixels.length : NaN;
    const ds = this.canvas.dataset;
    ds.frameIndex = String(header.frameIndex);
    ds.lo = String(this.lo);
    ds.hi = String(this.hi);
    ds.headerMin = String(header.min);
    ds.headerMax = String(header.max);
    ds.headerMean = header.mean === undefined ? '' : String(header.mean);
    ds.pixelMean = String(mean);
    ds.width = String(w);
    ds.height = String(hgt);
    ds.bitDepth = String(header.bitDepth);
    const scale =
      header.scale && header.scale !== 1
        ? ` (1:${header.scale} of ${Math.round(w * header.scale)}×${Math.round(hgt * header.scale)})`
        : '';
    setText($('camera-frame'), `frame ${header.frameIndex}`);
    setText($('camera-size'), `${w}×${hgt}${scale}, ${header.bitDepth} bit`);
    setText($('camera-min'), header.min);
    setText($('camera-max'), header.max);
    setText($('camera-mean'), (header.mean ?? mean).toFixed(1));
    $('camera-mean').title = `mean of the preview's pixels: ${mean.toFixed(1)}`;
    const ms = Number(header.timestampNs) / 1e6;
    setText($('camera-time'), Number.isFinite(ms) && ms > 0 ? fmtClock(ms) : '–');
    if (mn !== header.min || mx !== header.max) this.canvas.dataset.pixelRange = `${mn}..${mx}`;
    this.drawHistogram(header);
  }

  drawHistogram(header) {
    const c = this.hist;
    const ctx = c.getContext('2d');
    const dpr = window.devicePixelRatio || 1;
    const cssW = c.clientWidth || 300;
    const cssH = c.clientHeight || 110;
    if (c.width !== Math.round(cssW * dpr)) {
      c.width = Math.round(cssW * dpr);
      c.height = Math.round(cssH * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const bins = header.histogram ?? [];
    const top = 2 ** (header.bitDepth || 16);
    const padB = 14;
    const plotH = cssH - padB - 2;
    const maxLog = Math.log10(1 + Math.max(1, ...bins));
    const bw = cssW / Math.max(1, bins.length);
    // The window: outside it the image is clipped to black or white.
    const x = (v) => (v / top) * cssW;
    ctx.fillStyle = '#eef2f7';
    ctx.fillRect(0, 0, cssW, plotH + 2);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(x(this.lo), 0, Math.max(1, x(this.hi) - x(this.lo)), plotH + 2);
    ctx.fillStyle = '#52657f';
    for (let i = 0; i < bins.length; i++) {
      if (!bins[i]) continue;
      const hh = (Math.log10(1 + bins[i]) / maxLog) * plotH;
      ctx.fillRect(i * bw, plotH + 2 - hh, Math.max(1, bw - 0.3), hh);
    }
    ctx.strokeStyle = '#2563eb';
    ctx.lineWidth = 1.5;
    for (const v of [this.lo, this.hi]) {
      ctx.beginPath();
      ctx.moveTo(Math.round(x(v)) + 0.5, 0);
      ctx.lineTo(Math.round(x(v)) + 0.5, plotH + 2);
      ctx.stroke();
    }
    ctx.fillStyle = '#5b6472';
    ctx.font = '10px system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif';
    ctx.textBaseline = 'bottom';
    ctx.textAlign = 'left';
    ctx.fillText('0', 1, cssH);
    ctx.textAlign = 'right';
    ctx.fillText(String(top - 1), cssW - 1, cssH);
    ctx.textAlign = 'center';
    ctx.fillText('log counts', cssW / 2, cssH);
  }
}
