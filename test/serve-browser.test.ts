// The daemon's web page in a real browser: `daq serve` runs as a child process on a simulated
// bench (a V2 rotator, a V4 power meter, the laser and a simulated PVCAM camera:
// test/fixtures/serve-bench.toml), and headless Chromium (puppeteer-core, never a downloaded
// browser) opens its page and uses it as a person would: the live plot fills, a scan is added
// through the form (and a bad one refused with the daemon's message), the queue's buttons
// reorder and remove, the scan runs, pauses, resumes and finishes into the history, the camera
// view shows frames whose pixels agree with the preview header for the window chosen, and the
// instrument panel lists the instruments and runs their commands. Screenshots of each step go
// to .tap/screenshots/serve-browser/ (kept with tap's other output). SIGTERM stops the daemon
// (exit 0) and the browser is closed.

/// <reference lib="dom" />

import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();
const root = fileURLToPath(new URL('../', import.meta.url));
const CONFIG = join(root, 'test/fixtures/serve-bench.toml');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(root, '.tap/screenshots/serve-browser');
const tmp = await mkdtemp(join(tmpdir(), 'daq-serve-browser-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` in the page until it returns something truthy (puppeteer's waitForFunction, with our message on timeout). */
async function until<T, A extends unknown[] = []>(
  page: Page,
  what: string,
  fn: (...args: A) => T,
  timeoutMs = 20_000,
  ...args: A
): Promise<T> {
  try {
    const handle = await page.waitForFunction(fn as (...a: unknown[]) => T, { timeout: timeoutMs, polling: 100 }, ...args);
    return (await handle.jsonValue()) as T;
  } catch (e) {
    throw new Error(`waited ${timeoutMs} ms for ${what}: ${(e as Error).message}`);
  }
}

const attr = (page: Page, selector: string, name: string) => page.$eval(selector, (el, n) => el.getAttribute(n as string), name);
const text = (page: Page, selector: string) => page.$eval(selector, (el) => (el.textContent ?? '').trim());

t.test(
  'daq serve: the web page in headless Chromium',
  { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}` },
  async (t) => {
    await mkdir(SHOTS, { recursive: true });
    let shot = 0;
    const screenshot = async (page: Page, name: string) => {
      const file = join(SHOTS, `${String(++shot).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file as `${string}.png` });
      t.comment(`screenshot ${file}`);
    };

    // The daemon, as a lab starts it.
    const out = join(tmp, 'session');
    const child = spawn(
      process.execPath,
      [join(root, 'packages/broker/bin/daq.js'), 'serve', CONFIG, '--listen', '127.0.0.1:0', '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.stdout.resume();
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daq serve did not listen within 60 s:\n${stderr}`)), 60_000);
      child.stderr.on('data', (d) => {
        stderr += d;
        const m = /daq serve: listening on (http:\/\/\S+?\/)(?:\s|$)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`daq serve exited ${code} before listening:\n${stderr}`));
      });
    });
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, `the daemon listens on ${url}`);

    // The browser: the machine's Chromium, headless, no sandbox (CI runs as root).
    const browser: Browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    const browserProcess = browser.process();
    t.teardown(async () => {
      if (browser.connected) await browser.close().catch(() => undefined);
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const pageErrors: string[] = [];
    const failedRequests: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String((e as Error).message ?? e)));
    page.on('console', (m) => {
      // The browser logs every 4xx answer as a failed resource: the refusals this test provokes.
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
        pageErrors.push(`console: ${m.text()}`);
    });
    page.on('requestfailed', (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      // The page's own files and libraries must all load (API refusals are part of the test).
      if (r.status() >= 400 && !new URL(r.url()).pathname.startsWith('/api/'))
        failedRequests.push(`${r.url()}: HTTP ${r.status()}`);
    });
    await page.goto(url, { waitUntil: 'load' });

    await t.test('header: the setup, a live connection, the subsystems', async (t) => {
      await until(
        page,
        'the connection to be live',
        () => document.querySelector('#connection')?.getAttribute('data-state') === 'live',
      );
      await until(
        page,
        'the status to name the setup',
        () => document.querySelector('#setup-name')?.textContent === 'polarization-bench',
      );
      await until(page, 'V2 and V4 running', () =>
        ['v2', 'v4'].every(
          (s) => document.querySelector(`[data-testid="subsystem-${s}"]`)?.getAttribute('data-state') === 'running',
        ),
      );
      t.equal(await page.title(), 'polarization-bench · daq');
      t.equal(await attr(page, '#drops', 'data-drops'), '0', 'nothing dropped');
      t.same(failedRequests, [], 'every file of the page loaded (page, uPlot, Arrow)');
    });

    await t.test('live plot: pm.power gains points over time', async (t) => {
      // Make sure pm.power is plotted (the first visit picks it; a click keeps it so).
      await page.click('[data-testid="channel-select"]');
      const checked = await page.$eval('[data-testid="channel-option-pm.power"]', (el) => (el as HTMLInputElement).checked);
      if (!checked) await page.click('[data-testid="channel-option-pm.power"]');
      await page.click('[data-testid="channel-select"]');
      await page.click('[data-testid="window-60"]');
      const chart = '[data-testid="chart"][data-key="pm.power"]';
      await page.waitForSelector(chart);
      const first = await until(page, 'pm.power to have points', () => {
        const n = Number(document.querySelector('[data-testid="chart"][data-key="pm.power"]')?.getAttribute('data-points'));
        return n > 0 ? n : 0;
      });
      await sleep(3000);
      const later = Number(await attr(page, chart, 'data-points'));
      t.ok(later > first, `the plot gained points: ${first} then ${later} three seconds later`);
      t.match(
        await text(page, `[data-testid="chart-value-pm.power"]`),
        /^\d+(\.\d+)? [mµn]?W$/,
        'the latest reading with its unit',
      );
      const decoded = await page.evaluate(
        () => (window as unknown as { daq: { stats: { scalarRows: number } } }).daq.stats.scalarRows,
      );
      t.ok(decoded > 0, `${decoded} rows decoded from the Arrow batches`);
      // The uPlot canvas has drawn something (non-white pixels in the plot area).
      const inked = await page.$eval(`${chart} canvas`, (c) => {
        const canvas = c as HTMLCanvasElement;
        const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i]! > 150 && d[i + 1]! < 120 && d[i + 2]! < 80) n++; // the series' orange
        return n;
      });
      t.ok(inked > 20, `the series is drawn (${inked} pixels of its colour)`);
      await screenshot(page, 'live-plot');
    });

    await t.test('instrument panel: every instrument, its state and values; commands and their errors', async (t) => {
      await until(page, 'the instrument rows', () => document.querySelectorAll('[data-testid="instrument-row"]').length >= 4);
      const rows = await page.$$eval('[data-testid="instrument-row"]', (trs) =>
        trs.map((tr) => ({
          id: tr.getAttribute('data-instrument'),
          state: tr.getAttribute('data-state'),
          text: tr.textContent ?? '',
        })),
      );
      t.same(
        rows.map((r) => r.id),
        ['rot', 'pm', 'laser', 'cam'],
      );
      t.match(
        rows.find((r) => r.id === 'rot'),
        { state: 'polling', text: /v2.*Elliptec.*position/i },
      );
      t.match(
        rows.find((r) => r.id === 'pm'),
        { state: 'polling', text: /v4.*Newport1830C.*power/i },
      );
      t.match(
        rows.find((r) => r.id === 'cam'),
        { state: 'running', text: /camera.*PVCAM.*frames/i },
      );
      t.match(await text(page, '[data-testid="instrument-port-pm"]'), /^\/dev\/\S+/, 'the port it talks through');
      // A command and its result.
      await page.select('[data-testid="cmd-select-rot"]', 'getPosition');
      await page.click('[data-testid="cmd-send-rot"]');
      await until(
        page,
        'the getPosition result',
        () => document.querySelector('[data-testid="cmd-result-rot"]')?.getAttribute('data-ok') === 'true',
      );
      t.match(await text(page, '[data-testid="cmd-result-rot"]'), /^getPosition → -?\d/);
      // A refused command: the daemon's message, readable.
      await page.select('[data-testid="cmd-select-rot"]', 'moveAbs');
      await page.type('[data-testid="cmd-args-rot"]', 'abc');
      // Status messages keep arriving (the camera's counts change each time): what is typed stays, with the focus.
      await new Promise((r) => setTimeout(r, 1500));
      t.same(
        await page.$eval('[data-testid="cmd-args-rot"]', (el) => [(el as HTMLInputElement).value, el === document.activeElement]),
        ['abc', true],
        'the arguments typed survive the panel refreshing, and keep the focus',
      );
      await page.click('[data-testid="cmd-send-rot"]');
      await until(
        page,
        'the moveAbs error',
        () => document.querySelector('[data-testid="cmd-result-rot"]')?.getAttribute('data-ok') === 'false',
      );
      t.match(await text(page, '[data-testid="cmd-result-rot"]'), /moveAbs: .*must be a finite number.*DAQ_INVALID_ARGUMENT/);
      await page.$eval('[data-testid="cmd-args-rot"]', (el) => ((el as HTMLInputElement).value = ''));
      await page.evaluate(() => document.querySelector('#instruments-panel')!.scrollIntoView());
      await screenshot(page, 'instruments');
      await page.evaluate(() => window.scrollTo(0, 0));
    });

    await t.test('camera view: the frame, and pixels that agree with the preview header', async (t) => {
      await until(page, 'the camera panel', () => !document.querySelector('#camera-panel')!.hasAttribute('hidden'));
      await until(page, 'a preview frame', () => document.querySelector('#camera-canvas')?.getAttribute('data-frame-index'));
      const first = Number(await attr(page, '#camera-canvas', 'data-frame-index'));
      await until(
        page,
        'a later frame',
        () => Number(document.querySelector('#camera-canvas')?.getAttribute('data-frame-index')) > 0,
        10_000,
      );

      /** In one synchronous turn of the page: the header of the frame drawn, the window, and the canvas's grey levels. */
      const measure = () =>
        page.evaluate(() => {
          const canvas = document.querySelector('#camera-canvas') as HTMLCanvasElement;
          const cam = (
            window as unknown as { daq: { camera: { last: { header: Record<string, unknown> }; lo: number; hi: number } } }
          ).daq.camera;
          const header = cam.last.header as {
            width: number;
            height: number;
            min: number;
            max: number;
            mean?: number;
            bitDepth: number;
            histogram: number[];
            frameIndex: number;
          };
          const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          let sum = 0;
          let min = 255;
          let max = 0;
          let grey = true;
          for (let i = 0; i < data.length; i += 4) {
            const g = data[i]!;
            sum += g;
            if (g < min) min = g;
            if (g > max) max = g;
            if (g !== data[i + 1] || g !== data[i + 2]) grey = false;
          }
          return {
            header: { ...header, histogram: [...header.histogram] },
            lo: cam.lo,
            hi: cam.hi,
            canvas: { width: canvas.width, height: canvas.height, mean: sum / (data.length / 4), min, max, grey },
            shown: {
              frame: document.querySelector('[data-testid="camera-frame"]')!.textContent,
              min: document.querySelector('[data-testid="camera-min"]')!.textContent,
              max: document.querySelector('[data-testid="camera-max"]')!.textContent,
            },
          };
        });
      /** The grey mean the header's histogram predicts for a window (bin centres mapped as the page maps pixels). */
      const predicted = (h: { histogram: number[]; bitDepth: number }, lo: number, hi: number) => {
        const width = 2 ** h.bitDepth / h.histogram.length;
        let n = 0;
        let s = 0;
        h.histogram.forEach((c, i) => {
          const v = (i + 0.5) * width;
          s += c * Math.min(255, Math.max(0, ((v - lo) / (hi - lo)) * 255));
          n += c;
        });
        return s / n;
      };

      // Auto: black and white at the frame's minimum and maximum.
      const auto = await measure();
      t.ok(first >= 0, `frame ${auto.header.frameIndex} shown`);
      t.same(
        [auto.canvas.width, auto.canvas.height],
        [auto.header.width, auto.header.height],
        'the canvas is the preview, pixel for pixel',
      );
      t.ok(auto.canvas.grey, 'drawn in grey');
      t.same([auto.lo, auto.hi], [auto.header.min, auto.header.max], 'auto window = the header min and max');
      t.same([auto.canvas.min, auto.canvas.max], [0, 255], 'the darkest pixel is black, the brightest white');
      t.equal(auto.shown.frame, `frame ${auto.header.frameIndex}`);
      t.same(
        [Number(auto.shown.min), Number(auto.shown.max)],
        [auto.header.min, auto.header.max],
        'the stats shown are the header',
      );
      const hist = auto.header.histogram;
      t.equal(hist.length, 256, 'a 256-bin histogram');
      const binW = 2 ** auto.header.bitDepth / 256;
      t.ok(hist.findIndex((c) => c > 0) === Math.floor(auto.header.min / binW), 'the first non-empty bin holds the minimum');
      t.ok(hist.findLastIndex((c) => c > 0) === Math.floor(auto.header.max / binW), 'the last non-empty bin holds the maximum');
      if (typeof auto.header.mean === 'number') {
        const expected = ((auto.header.mean - auto.header.min) / (auto.header.max - auto.header.min)) * 255;
        t.ok(
          Math.abs(auto.canvas.mean - expected) < 1,
          `canvas mean ${auto.canvas.mean.toFixed(2)} vs header mean mapped ${expected.toFixed(2)}`,
        );
      }
      const fromHist = predicted(auto.header, auto.lo, auto.hi);
      t.ok(
        Math.abs(auto.canvas.mean - fromHist) < 3,
        `canvas mean ${auto.canvas.mean.toFixed(2)} vs histogram ${fromHist.toFixed(2)}`,
      );
      await page.evaluate(() => document.querySelector('#camera-panel')!.scrollIntoView());
      await screenshot(page, 'camera-auto');

      // A window of our own: the middle half of the range, clipped beyond it.
      const top = 2 ** auto.header.bitDepth - 1;
      const [lo, hi] = [Math.round(top / 4), Math.round((3 * top) / 4)];
      const setRange = (sel: string, v: number) =>
        page.$eval(
          sel,
          (el, value) => {
            (el as HTMLInputElement).value = String(value);
            el.dispatchEvent(new Event('input', { bubbles: true }));
          },
          v,
        );
      await setRange('[data-testid="wl-max"]', hi);
      await setRange('[data-testid="wl-min"]', lo);
      t.equal(await attr(page, '[data-testid="wl-auto"]', 'aria-pressed'), 'false', 'a slider turns auto off');
      const frameBefore = Number(await attr(page, '#camera-canvas', 'data-frame-index'));
      await until(
        page,
        'a new frame under the window',
        (before: number) => Number(document.querySelector('#camera-canvas')?.getAttribute('data-frame-index')) !== before,
        10_000,
        frameBefore,
      );
      const manual = await measure();
      t.same([manual.lo, manual.hi], [lo, hi], 'the window stays as set on new frames');
      const want = predicted(manual.header, lo, hi);
      t.ok(
        Math.abs(manual.canvas.mean - want) < 3,
        `windowed canvas mean ${manual.canvas.mean.toFixed(2)} vs histogram ${want.toFixed(2)}`,
      );
      await screenshot(page, 'camera-window');
      await page.click('[data-testid="wl-auto"]');
      t.equal(await attr(page, '[data-testid="wl-auto"]', 'aria-pressed'), 'true');
      await page.evaluate(() => window.scrollTo(0, 0));
    });

    await t.test('queue: a scan added through the form; a bad one refused; move and remove', async (t) => {
      await until(page, 'the plans', () => document.querySelectorAll('#plan-select option').length >= 6);
      const fill = async (sel: string, value: string) => {
        await page.$eval(sel, (el) => ((el as HTMLInputElement).value = ''));
        await page.type(sel, value);
      };
      // A wavelength scan below the laser's limits: the daemon's message, shown on the form.
      await page.select('[data-testid="plan-select"]', 'scan');
      await page.click('[data-testid="param-detectors-pm"]');
      await page.select('[data-testid="param-motor"]', 'laser.wavelength');
      await fill('[data-testid="param-start"]', '500');
      await fill('[data-testid="param-stop"]', '700');
      await fill('[data-testid="param-num"]', '3');
      await page.click('[data-testid="queue-add"]');
      await until(page, 'the refusal', () => !document.querySelector('[data-testid="form-error"]')!.hasAttribute('hidden'));
      t.match(await text(page, '[data-testid="form-error"]'), /laser\.wavelength = 500 is outside its limits 600 to 1100/);
      t.equal(await page.$$eval('[data-testid="queue-item"]', (l) => l.length), 0, 'nothing queued');
      await screenshot(page, 'queue-refused');

      // The polarizer scan.
      await page.select('[data-testid="param-motor"]', 'rot');
      await fill('[data-testid="param-start"]', '0');
      await fill('[data-testid="param-stop"]', '180');
      await fill('[data-testid="param-num"]', '13');
      // Slow enough to pause: a settle time at each point, from the plan's options.
      await page.click('#plan-params details.more summary');
      await fill('[data-testid="param-settle_ms"]', '400');
      t.equal(await text(page, '[data-testid="plan-points"]'), '13 points');
      await page.click('[data-testid="queue-add"]');
      await until(page, 'the scan in the queue', () => document.querySelectorAll('[data-testid="queue-item"]').length === 1);
      t.equal(await attr(page, '[data-testid="form-error"]', 'hidden'), '', 'the error is gone');
      // A count, then reorder and remove it.
      await page.select('[data-testid="plan-select"]', 'count');
      const pmChecked = await page.$eval('[data-testid="param-detectors-pm"]', (el) => (el as HTMLInputElement).checked);
      t.ok(pmChecked, 'the detectors chosen are kept across plans');
      await page.click('[data-testid="queue-add"]');
      await until(page, 'two items', () => document.querySelectorAll('[data-testid="queue-item"]').length === 2);
      const order = () =>
        page.$$eval('[data-testid="queue-item"]', (l) => l.map((li) => li.querySelector('.q-summary')!.textContent ?? ''));
      const [scanSummary, countSummary] = await order();
      t.match(scanSummary, /^scan rot 0 → 180, 13 points · pm · settle 400 ms$/, 'the plan and its parameters');
      t.match(countSummary, /^count /);
      await page.click('[data-testid="queue-item"]:nth-child(1) [data-testid="queue-item-down"]');
      await until(page, 'the scan moved down', () =>
        document.querySelector('[data-testid="queue-item"] .q-summary')?.textContent?.startsWith('count'),
      );
      t.same(await order(), [countSummary, scanSummary], 'moved down');
      await screenshot(page, 'queue-two-items');
      await page.click('[data-testid="queue-item"]:nth-child(1) [data-testid="queue-item-remove"]');
      await until(page, 'the count removed', () => document.querySelectorAll('[data-testid="queue-item"]').length === 1);
      t.same(await order(), [scanSummary], 'the scan is left');
      t.equal(await attr(page, '[data-testid="queue-item"]', 'data-state'), 'waiting');
    });

    await t.test('run: start, pause, resume, finish into the history', async (t) => {
      await page.click('[data-testid="queue-start"]');
      await until(page, 'the scan running', () => {
        const p = document.querySelector('[data-testid="run-progress"]');
        return (
          document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') === 'running' &&
          Number(p?.getAttribute('data-done')) >= 1
        );
      });
      t.equal(await attr(page, '[data-testid="run-progress"]', 'data-total'), '13');
      t.equal(await attr(page, '[data-testid="queue-state"]', 'data-state'), 'running');
      await page.click('[data-testid="run-pause"]');
      await until(
        page,
        'the run paused',
        () => document.querySelector('[data-testid="run-state"]')?.getAttribute('data-state') === 'paused',
      );
      const held = Number(await attr(page, '[data-testid="run-progress"]', 'data-done'));
      t.ok(held < 13, `paused at ${held} of 13 points`);
      t.equal(
        await page.$eval('[data-testid="run-resume"]', (b) => (b as HTMLButtonElement).disabled),
        false,
        'Resume is offered',
      );
      t.equal(await page.$eval('[data-testid="run-pause"]', (b) => (b as HTMLButtonElement).disabled), true, 'Pause is not');
      await screenshot(page, 'run-paused');
      await sleep(1500);
      t.equal(Number(await attr(page, '[data-testid="run-progress"]', 'data-done')), held, 'no points while paused');
      await page.click('[data-testid="run-resume"]');
      const doneAtLeast = (n: number) =>
        Number(document.querySelector('[data-testid="run-progress"]')?.getAttribute('data-done')) >= n;
      await until(page, 'the run going on', doneAtLeast, 20_000, held + 1);
      await until(page, 'a point or two more', doneAtLeast, 60_000, Math.min(12, held + 3));
      await screenshot(page, 'run-running');
      await until(
        page,
        'the scan in the history',
        () => document.querySelector('[data-testid="history-item"]')?.getAttribute('data-exit-status'),
        90_000,
      );
      t.equal(await attr(page, '[data-testid="history-item"]', 'data-exit-status'), 'success');
      // The run's documents, through the history's link (fetched by the page, with its cookie if any).
      const uid = await attr(page, '[data-testid="history-item"]', 'data-uid');
      const docs = await page.evaluate(async (u) => {
        const res = await fetch(`/api/runs/${encodeURIComponent(u as string)}/documents`);
        return (await res.text())
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { name: string }).name);
      }, uid);
      t.same(docs.filter((n) => n === 'event').length, 13, `the run ${uid} stored 13 events`);
      t.equal(docs.at(-1), 'stop');
      t.match(await text(page, '[data-testid="history-item"]'), /13 events/);
      await until(
        page,
        'the queue idle and empty',
        () =>
          document.querySelector('[data-testid="queue-state"]')?.getAttribute('data-state') === 'idle' &&
          document.querySelectorAll('[data-testid="queue-item"]').length === 0,
      );
      t.equal(await attr(page, '[data-testid="run-state"]', 'data-state'), 'idle');
      t.match(await text(page, '#scan-plot-title'), /13 events · pm-power vs rot/, 'the events plotted against the motor');
      await screenshot(page, 'run-finished');
    });

    t.same(pageErrors, [], 'no errors in the page');
    t.same(failedRequests, [], 'no failed requests');

    // Shut down: the browser, then the daemon with SIGTERM.
    await browser.close();
    t.equal(browser.connected, false, 'the browser is closed');
    if (browserProcess) {
      if (browserProcess.exitCode === null && browserProcess.signalCode === null)
        await new Promise((r) => browserProcess.once('exit', r));
      t.ok(browserProcess.exitCode !== null || browserProcess.signalCode !== null, 'the browser process has exited');
    }
    child.kill('SIGTERM');
    t.equal(await exited, 0, 'daq serve exits 0 on SIGTERM');
    t.match(stderr, /daq serve: stopping \(SIGTERM\)/);
    t.match(stderr, /daq serve: stopped/);
  },
);

t.test('no handles left open', async (t) => {
  await assertNoNewHandles(t, before);
});
