// The shadow dashboard of `daq serve`, over real HTTP and in headless Chromium, on two
// simulated shadow benches (examples/shadow.toml: the simulator serves V4 a power 2e-5 W,
// 2 %, above V2's): one judged by the default tolerance (1 %: "V4 differs"), one by
// max_rel_diff = 0.05 ("V4 agrees"). GET /api/shadow gives the live comparison and the pairs
// since a sequence number; a plan run gets a comparison of its own span (shadow.json in its
// directory, GET /api/runs/:uid/shadow, its verdict in the history and `daq inspect`); the page
// shows both traces, the difference, the statistics and the verdict, and opens the finished
// run's report. Screenshots go to .tap/screenshots/serve-shadow/. One daemon per bench, shared.

/// <reference lib="dom" />

import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { formatInspect, inspectPath } from '@daq/broker';
import { serveInProcess, type InProcessDaemon } from './helpers/serve-in-process.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(root, '.tap/screenshots/serve-shadow');
const tmp = await mkdtemp(join(tmpdir(), 'daq-serve-shadow-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

type Daemon = InProcessDaemon;

const serve = (config: string, out: string): Promise<Daemon> => serveInProcess(config, { listen: '127.0.0.1:0', out });

async function get(d: Daemon, path: string): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, d.url));
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await sleep(200);
  }
}

async function until<T>(page: Page, what: string, fn: () => T, timeoutMs = 30_000): Promise<T> {
  try {
    const handle = await page.waitForFunction(fn as () => T, { timeout: timeoutMs, polling: 100 });
    return (await handle.jsonValue()) as T;
  } catch (e) {
    throw new Error(`waited ${timeoutMs} ms for ${what}: ${(e as Error).message}`);
  }
}

// The agreeing bench: the same 2 % difference, judged by a 5 % tolerance.
const example = await readFile(join(root, 'examples/shadow.toml'), 'utf8');
const agreeingConfig = join(tmp, 'shadow-5pct.toml');
await writeFile(agreeingConfig, `${example.replace('data_dir = "data"', `data_dir = "${tmp}"`)}max_rel_diff = 0.05\n`);
const t0 = Date.now();
// Both daemons start together (their start-ups overlap); each is used by the tests below.
const [differing, agreeing] = await Promise.all([
  serve(join(root, 'examples/shadow.toml'), join(tmp, 'differing')),
  serve(agreeingConfig, join(tmp, 'agreeing')),
]);
t.comment(`both daemons listen after ${Date.now() - t0} ms`);
let stopped = false;
t.teardown(async () => {
  if (!stopped) await Promise.all([differing.stop(), agreeing.stop()]);
});

let runUid = '';

t.test('GET /api/shadow: the live comparison, judged by max_rel_diff, and the pairs since a sequence number', async (t) => {
  const live = await eventually('pairs on both channels', async () => {
    const r = await get(differing, '/api/shadow');
    const i = r.json.report?.instruments;
    return i?.power_meter?.pairs > 2 && i?.rotator?.pairs > 2 ? r.json : undefined;
  });
  t.same(live.instruments, ['power_meter', 'rotator']);
  t.equal(live.maxRelDiff, 0.01, 'the default tolerance');
  const pm = live.report.instruments.power_meter.channels.power;
  t.equal(pm.verdict, 'differs');
  t.ok(Math.abs(pm.maxRelDiff - 0.02) < 1e-9, `2 % apart (${pm.maxRelDiff})`);
  t.ok(Math.abs(pm.meanDiff - 2e-5) < 1e-12, 'the bias is the offset');
  t.equal(live.report.instruments.rotator.channels.position.verdict, 'agrees');
  t.equal(live.report.verdict.state, 'differs');
  t.equal(live.report.verdict.text, 'V4 differs: see the worst moments (power_meter.power: max rel 2.00 % > 1.00 %)');
  t.same(live.report.verdict.differs, ['power_meter.power']);
  const tr = live.traces['power_meter.power'];
  t.ok(tr.t.length > 2 && tr.t.length === tr.v2.length && tr.v2.length === tr.v4.length, 'pairs in columns');
  t.ok(
    tr.v4.every((v4: number, i: number) => Math.abs(v4 - tr.v2[i] - 2e-5) < 1e-12),
    'each pair is 2e-5 W apart',
  );
  t.ok(
    tr.t.every((x: number) => Math.abs(x - Date.now() / 1000) < 120),
    'times are epoch seconds',
  );
  // Only what is new after seq.
  const next = await get(differing, `/api/shadow?since=${live.seq}`);
  t.ok(next.json.seq >= live.seq);
  const sent = Object.values(next.json.traces).reduce((n: number, x: any) => n + x.t.length, 0);
  t.equal(sent, next.json.seq - live.seq, 'exactly the pairs decided since');
  const bad = await get(differing, '/api/shadow?since=-1');
  t.equal(bad.status, 400);
  t.match(bad.json.error.message, /since/);
  const oa = await get(differing, '/api/openapi.json');
  t.ok(oa.json.paths['/api/shadow'].get, 'GET /api/shadow is in the OpenAPI document');
  t.ok(oa.json.paths['/api/runs/{uid}/shadow'].get, 'and GET /api/runs/{uid}/shadow');

  const ok = await eventually('pairs on the agreeing bench', async () => {
    const r = await get(agreeing, '/api/shadow');
    return r.json.report?.instruments?.power_meter?.pairs > 0 ? r.json : undefined;
  });
  t.equal(ok.maxRelDiff, 0.05, 'the tolerance the configuration sets');
  t.equal(ok.report.verdict.text, 'V4 agrees', 'the same 2 % is within 5 %');
});

t.test("a plan run's own comparison: shadow.json in its directory, the history, the API and daq inspect", async (t) => {
  const add = await fetch(new URL('/api/queue', differing.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ plan: { plan: 'count', detectors: ['power_meter'], num: 8, delay_ms: 250 } }),
  });
  t.equal(add.status, 201);
  t.equal((await fetch(new URL('/api/queue/start', differing.url), { method: 'POST' })).status, 200);
  const entry = await eventually('the run in the history with its verdict', async () => {
    const h = await get(differing, '/api/history');
    return h.json.find((e: any) => e.shadow);
  });
  runUid = entry.uid;
  t.equal(entry.shadow.state, 'differs');
  t.match(entry.shadow.text, /^V4 differs: see the worst moments \(power_meter\.power: max rel 2\.00 % > 1\.00 %\)/);
  const r = await get(differing, `/api/runs/${runUid}/shadow`);
  t.equal(r.status, 200);
  t.equal(r.json.final, true, 'decided to the end');
  t.ok(Date.parse(r.json.window.end) > Date.parse(r.json.window.start), 'the run has a span');
  const pm = r.json.instruments.power_meter.channels.power;
  t.ok(pm.pairs >= 5 && pm.pairs <= 40, `pairs of the run's ~2 s only (${pm.pairs})`);
  t.equal(pm.worst.length, 5, 'the worst moments');
  t.equal(r.json.traces['power_meter.power'].t.length, pm.pairs, 'every pair of a short run is kept');
  const files = await get(differing, `/api/runs/${runUid}`);
  t.ok(files.json.files.includes('shadow.json'));
  t.equal((await get(differing, '/api/runs/nope/shadow')).status, 404);
  const dir = join(tmp, 'differing', entry.dir);
  t.equal(JSON.parse(await readFile(join(dir, 'plan.json'), 'utf8')).shadow, entry.shadow.text);
  const text = formatInspect(dir, await inspectPath(dir));
  t.match(text, /verdict \(V4 agrees when max rel diff <= 1\.00 %\): V4 differs: see the worst moments/);
  t.match(text, /power \[W\]: .*max rel 2\.00 %: DIFFERS/);
  t.match(text, /position \[deg\]: .*: agrees|rotator .* no readings/);
});

t.test(
  'the dashboard in headless Chromium: traces, difference, statistics, verdicts, a finished run',
  { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}` },
  async (t) => {
    await mkdir(SHOTS, { recursive: true });
    const browser: Browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    t.teardown(() => browser.close().catch(() => undefined));
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String((e as Error).message ?? e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    const shot = async (name: string) => {
      const file = join(SHOTS, `${name}.png`);
      await page.screenshot({ path: file as `${string}.png`, fullPage: true });
      t.comment(`screenshot ${file}`);
    };

    // The live page links to the dashboard in shadow mode.
    await page.goto(differing.url, { waitUntil: 'load' });
    await until(page, 'the shadow link', () => !(document.querySelector('#shadow-link') as HTMLElement | null)?.hidden);
    // Its history links the finished run to its report on the dashboard.
    await until(page, 'the run in the history', () => document.querySelector('[data-testid="history-shadow"]'));
    t.equal(await page.$eval('[data-testid="history-shadow"]', (el) => el.textContent), 'V4 differs');
    t.equal(
      await page.$eval('[data-testid="history-shadow"]', (el) => el.getAttribute('href')),
      `shadow.html?run=${encodeURIComponent(runUid)}`,
    );
    await page.click('#shadow-link');
    await page.waitForFunction(() => location.pathname === '/shadow.html');

    await until(page, 'the verdict', () => document.querySelector('#shadow-verdict')?.getAttribute('data-state') === 'differs');
    t.match(
      await page.$eval('#verdict-text', (el) => el.textContent),
      /^V4 differs: see the worst moments \(power_meter\.power: max rel 2\.00 % > 1\.00 %\)/,
    );
    const card = '[data-testid="shadow-channel"][data-key="power_meter.power"]';
    const points = () =>
      page.$eval(card, (el) => ({
        v2: Number(el.getAttribute('data-v2-points')),
        v4: Number(el.getAttribute('data-v4-points')),
        diff: Number(el.getAttribute('data-diff-points')),
      }));
    await until(page, 'both traces and the difference to have points', () => {
      const el = document.querySelector('[data-testid="shadow-channel"][data-key="power_meter.power"]');
      return Number(el?.getAttribute('data-v2-points')) > 2 && Number(el?.getAttribute('data-diff-points')) > 2;
    });
    const first = await points();
    await sleep(1500);
    const later = await points();
    t.ok(later.v2 > first.v2 && later.v4 > first.v4, `both traces gain points (${JSON.stringify([first, later])})`);
    t.ok(later.diff >= first.diff && later.diff > 0, 'the difference plot has the pairs');
    // The plots are drawn: uPlot's canvases, with V2's and V4's series.
    t.equal(await page.$$eval(`${card} canvas`, (l) => l.length), 2, 'the traces and the difference');
    t.equal(await page.$eval(`${card}`, (el) => el.getAttribute('data-verdict')), 'differs');
    t.match(await page.$eval(`${card} [data-testid="shadow-stat-max-rel"]`, (el) => el.textContent), /2\.00 % > 1\.00 %/);
    t.match(await page.$eval(`${card} [data-testid="shadow-stat-bias"]`, (el) => el.textContent), /\+20\.00 µW/);
    t.ok(Number(await page.$eval(`${card} [data-testid="shadow-stat-pairs"]`, (el) => el.textContent)) > 0, 'pairs counted');
    t.equal(await page.$$eval(`${card} [data-testid="shadow-worst-row"]`, (l) => l.length), 5, 'the worst moments');
    const rot = '[data-testid="shadow-channel"][data-key="rotator.position"]';
    t.equal(await page.$eval(rot, (el) => el.getAttribute('data-verdict')), 'agrees', 'the rotator agrees');
    await shot('01-live-differs');

    // The finished run, from the picker.
    await until(page, 'the run in the picker', () => document.querySelectorAll('#shadow-source option').length > 1);
    await page.select('#shadow-source', runUid);
    await until(page, 'the run opened', () =>
      /^run /.test(document.querySelector('#verdict-sub')?.textContent?.split('· ')[1] ?? ''),
    );
    t.equal(new URL(page.url()).searchParams.get('run'), runUid, 'the address names the run (a link to it)');
    await until(page, "the run's pairs plotted", () => {
      const el = document.querySelector('[data-testid="shadow-channel"][data-key="power_meter.power"]');
      return Number(el?.getAttribute('data-diff-points')) > 0;
    });
    const runReport = (await get(differing, `/api/runs/${runUid}/shadow`)).json;
    t.equal(
      await page.$eval(`${card} [data-testid="shadow-stat-pairs"]`, (el) => el.textContent),
      String(runReport.instruments.power_meter.channels.power.pairs),
      "the run's statistics, not the session's",
    );
    t.match(await page.$eval('#verdict-text', (el) => el.textContent), /^V4 differs/);
    await shot('02-finished-run');

    // The agreeing bench.
    await page.goto(new URL('/shadow.html', agreeing.url).href, { waitUntil: 'load' });
    await until(page, 'the verdict', () => document.querySelector('#shadow-verdict')?.getAttribute('data-state') === 'agrees');
    t.equal(await page.$eval('#verdict-text', (el) => el.textContent), 'V4 agrees');
    t.match(await page.$eval('#verdict-sub', (el) => el.textContent), /≤ 5\.00 %/, 'the tolerance is shown');
    await until(page, 'the traces', () => {
      const el = document.querySelector('[data-testid="shadow-channel"][data-key="power_meter.power"]');
      return Number(el?.getAttribute('data-v4-points')) > 2 && Number(el?.getAttribute('data-diff-points')) > 2;
    });
    t.match(await page.$eval(`${card} [data-testid="shadow-stat-max-rel"]`, (el) => el.textContent), /2\.00 % ≤ 5\.00 %/);
    await shot('03-live-agrees');
    t.same(errors, [], 'no errors in the page');
  },
);

t.test('both daemons stop cleanly', async (t) => {
  stopped = true;
  t.same(await Promise.all([differing.stop(), agreeing.stop()]), [0, 0]);
  // daq inspect judges the session's comparison by the tolerance its configuration set.
  const dir = join(tmp, 'agreeing');
  t.match(formatInspect(dir, await inspectPath(dir)), /verdict \(V4 agrees when max rel diff <= 5\.00 %\): V4 agrees\n/);
  // The session's own comparison (shadow.json, run.json) was judged by it when written, too.
  const run = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as {
    shadow: { maxRelDiff: number; instruments: Record<string, { verdict: { maxRelDiff: number } }> };
  };
  t.equal(run.shadow.instruments.power_meter!.verdict.maxRelDiff, 0.05, "run.json's verdict used the configured tolerance");
});
