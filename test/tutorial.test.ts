// docs/tutorial.md, run as a newcomer runs it: every command of its fenced blocks, in order, as
// real child processes (/bin/sh, then `npx daq …`, `node …`, `curl …`) in a scratch copy of the
// repository's root, each checked for exit status 0 and for the output the page shows. The page
// cannot go stale: a changed command, option, output line or example breaks this test.
//
// The blocks (the page's maintainer comment says the same):
//   ```sh             one command per line (a trailing \ continues it); each must exit 0, and
//                     print nothing when no ```text block follows
//   ```sh background  one command, left running (daq serve); the ```text block after it is
//                     waited for. `<!-- tutorial-test: ctrl-c -->` then stops it as Ctrl-C in a
//                     terminal does (SIGINT to its process group); the ```text block after the
//                     marker is checked against everything it printed
//   ```sh setup       installation (npm ci, npm run build): not run, each line must be one this
//                     test knows, and what it makes must be there
//   ```text           output of the block (or marker) before it: every line must be one of the
//                     output's lines, any number matching any number except 0 (which stays 0:
//                     "dropped 0"), times any time, runs of spaces or box-drawing rules any
//                     length, and … anything
//   ```LANG not-run   an aside that is not run (Python)
// Any other block, or a ```text block with nothing before it, fails the test. Port 8686 is
// replaced by a free port. The scratch directory holds a copy of examples/ and links to
// node_modules, packages and package.json, so `npx daq` finds the repository's bin (built by
// `npm test` before tap starts) and the page's commands cannot write into the repository.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { access, cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Its commands start npx and daq ten times (the runtime itself four times: 13 s of recording);
// on a 2-core machine busy with other suites (load average 8-20) the file took 90-180 s, more
// than tap's default 120 s.
t.setTimeout(400_000);

const root = fileURLToPath(new URL('../', import.meta.url));
const TUTORIAL = join(root, 'docs/tutorial.md');

interface Expect {
  line: number;
  lines: string[];
}
type Step =
  | { kind: 'run'; line: number; commands: { line: number; text: string }[]; expect?: Expect }
  | { kind: 'background'; line: number; command: string; expect?: Expect }
  | { kind: 'setup'; line: number; commands: { line: number; text: string }[] }
  | { kind: 'ctrl-c'; line: number; expect?: Expect };

/** The setup commands the page may name, and what each leaves behind (checked, not run). */
const SETUP: Record<string, string> = {
  'npm ci': 'node_modules/.bin/daq',
  'npm run build': 'packages/broker/dist/cli.js',
};

/** The page's steps, in order; throws on any block or marker it does not recognise. */
function parseTutorial(md: string, file = 'docs/tutorial.md'): Step[] {
  const lines = md.split('\n');
  const steps: Step[] = [];
  function fail(n: number, msg: string): never {
    throw new Error(`${file}:${n}: ${msg}`);
  }
  let inComment = false;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!;
    if (inComment) {
      if (line.includes('-->')) inComment = false;
      continue;
    }
    const marker = /^<!--\s*tutorial-test:\s*(.*?)\s*-->\s*$/.exec(line);
    if (marker) {
      if (marker[1] !== 'ctrl-c') fail(n, `unknown marker "tutorial-test: ${marker[1]}" (known: ctrl-c)`);
      if (!steps.some((s) => s.kind === 'background')) fail(n, 'ctrl-c with no ```sh background block before it');
      steps.push({ kind: 'ctrl-c', line: n });
      continue;
    }
    if (/tutorial-test/.test(line)) fail(n, 'a tutorial-test marker must be a line of its own: <!-- tutorial-test: … -->');
    if (line.includes('<!--') && !line.slice(line.indexOf('<!--')).includes('-->')) {
      inComment = true;
      continue;
    }
    const fence = /^( *)(`{3,}|~{3,})\s*(.*)$/.exec(line);
    if (!fence) continue;
    if (fence[1]) fail(n, 'an indented code block: the test reads blocks at the start of a line only');
    const close = fence[2]!;
    const info = fence[3]!.trim();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !(lines[j]!.startsWith(close) && lines[j]!.trim() === close); j++) body.push(lines[j]!);
    if (j === lines.length) fail(n, 'a code block that is never closed');
    i = j;
    const commands = () => {
      const out: { line: number; text: string }[] = [];
      for (let k = 0; k < body.length; k++) {
        const start = n + 1 + k;
        let text = body[k]!;
        while (text.endsWith('\\') && k + 1 < body.length) text = `${text.slice(0, -1).trimEnd()} ${body[++k]!.trim()}`;
        if (text.trim() === '' || text.trim().startsWith('#')) continue;
        out.push({ line: start, text: text.trim() });
      }
      if (out.length === 0) fail(n, 'a command block without a command');
      return out;
    };
    if (info === 'sh') steps.push({ kind: 'run', line: n, commands: commands() });
    else if (info === 'sh setup') steps.push({ kind: 'setup', line: n, commands: commands() });
    else if (info === 'sh background') {
      const c = commands();
      if (c.length !== 1) fail(n, 'a ```sh background block holds exactly one command');
      steps.push({ kind: 'background', line: n, command: c[0]!.text });
    } else if (info === 'text') {
      const last = steps.at(-1);
      if (!last || last.kind === 'setup') fail(n, 'a ```text block with no command (or ctrl-c marker) before it');
      if (last.expect) fail(n, 'a second ```text block for the same command block');
      last.expect = { line: n, lines: body.map((l) => l.trim()).filter((l) => l !== '') };
    } else if (!/^[a-z]+ not-run$/.test(info)) {
      fail(n, `a code block the test does not know: "${info}" (sh, sh background, sh setup, text, or LANG not-run)`);
    }
  }
  return steps;
}

/** A number as the output prints one: 12, 0.001, -1.900e-6, +85.65. */
const NUMBER = '[-+]?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?';
/** In an expected line: an ISO time, a number (not part of a name such as v2), spaces, a rule, or …. */
const TOKEN =
  /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)|((?<![A-Za-z_\d.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![A-Za-z_\d]))|(\s+)|([─═━])\4*|(…)/g;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * An expected line as a pattern for one output line. Times, counts and values vary from run to
 * run, so any number matches any number, except 0: "dropped 0", "0 points skipped" must stay 0.
 * Runs of spaces (column padding) and of box-drawing rules (table widths) match any length; …
 * matches anything.
 */
function lineMatcher(expected: string): RegExp {
  let pattern = '';
  let last = 0;
  const line = expected.trim();
  for (const m of line.matchAll(TOKEN)) {
    pattern += escape(line.slice(last, m.index));
    if (m[1]) pattern += '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    else if (m[2]) pattern += m[2] === '0' ? '0' : NUMBER;
    else if (m[3]) pattern += '\\s+';
    else if (m[4]) pattern += `${escape(m[4])}+`;
    else pattern += '.*';
    last = m.index + m[0].length;
  }
  return new RegExp(`^${pattern}${escape(line.slice(last))}$`);
}

/** The expected lines that none of the output's lines match. */
function missing(expect: Expect, output: string): string[] {
  const got = output.split('\n').map((l) => l.trim());
  return expect.lines.filter((l) => {
    const re = lineMatcher(l);
    return !got.some((g) => re.test(g));
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A newcomer's environment: no tap instrumentation, no npm script variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS|npm_)/i.test(k)) env[k] = v;
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  return env;
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its output pipes have closed: every process of its group that held them has exited. */
  done: () => boolean;
}

/** Signals the process group of a command (sh, npx, daq, its workers) while it is still there. */
function signalGroup(p: Proc, signal: NodeJS.Signals): void {
  if (p.done()) return;
  try {
    process.kill(-p.child.pid!, signal);
  } catch {
    // gone already
  }
}

/** Runs one command with /bin/sh in a process group of its own, as a terminal would. */
function start(command: string, cwd: string, env: NodeJS.ProcessEnv): Proc {
  const child = spawn('/bin/sh', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  let done = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  // stdout and stderr are separate pipes: their lines are matched apart, never interleaved.
  return { child, output: () => `${stdout}\n${stderr}`, closed, done: () => done };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the page has only blocks the test knows', async (t) => {
  const steps = parseTutorial(await readFile(TUTORIAL, 'utf8'));
  t.ok(
    steps.some((s) => s.kind === 'background'),
    'a background command (daq serve)',
  );
  t.ok(
    steps.some((s) => s.kind === 'ctrl-c'),
    'and its Ctrl-C',
  );
  for (const s of steps) if (s.kind === 'background') t.ok(s.expect, `line ${s.line}: shows what to wait for`);
  t.throws(() => parseTutorial('```bash\nls\n```\n'), /code block the test does not know: "bash"/);
  t.throws(() => parseTutorial('```text\nok\n```\n'), /no command/);
  t.throws(() => parseTutorial('```sh\nls\n```\n<!-- tutorial-test: wait -->\n'), /unknown marker/);
  t.throws(() => parseTutorial('- a list\n  ```sh\n  ls\n  ```\n'), /indented code block/);
  t.same(
    parseTutorial('<!--\n```bash\n-->\n```python not-run\nx\n```\n```sh\nnpx daq a \\\n  b\n```\n'),
    [{ kind: 'run', line: 7, commands: [{ line: 8, text: 'npx daq a b' }] }],
    'comments and not-run asides are skipped, continued lines joined',
  );
  const matches = (expected: string, actual: string) => lineMatcher(expected).test(actual.trim());
  t.ok(matches('daq run: completed after 3.29 s', 'daq run:  completed after 12 s'), 'numbers and spacing are free');
  t.ok(matches('unmatched V2 4 / V4 4…', 'unmatched V2 0 / V4 1 (not compared)'), '… stands for anything');
  t.notOk(matches('rows: 3 stored; dropped 0', 'rows: 3 stored; dropped 2'), 'but 0 is 0');
  t.notOk(matches('rows: 3 stored; dropped 0', 'rows: 3 stored; lost 0'), 'and words are words');
  t.notOk(matches('v2 in', 'v4 in'), 'digits in names are not numbers');
  t.ok(
    matches(
      'worst at 2026-12-07T03:39:59.086Z: V2 7.515e-4, diff -1.9e-6…',
      'worst at 2027-01-01T00:00:00.5Z: V2 0.1, diff +2 (V4)',
    ),
    'times any time',
  );
  t.ok(matches('┌────┬──┐', '┌──┬──────┐'), 'table rules of any width');
});

t.test('every command of docs/tutorial.md, in order', { timeout: 300_000 }, async (t) => {
  const port = await freePort();
  const withPort = (s: string) => s.replace(/\b8686\b/g, String(port));
  const steps = parseTutorial(await readFile(TUTORIAL, 'utf8'));
  const work = await mkdtemp(join(tmpdir(), 'daq-tutorial-'));
  await cp(join(root, 'examples'), join(work, 'examples'), { recursive: true });
  for (const name of ['node_modules', 'packages', 'package.json']) await symlink(join(root, name), join(work, name));
  const env = cleanEnv();
  const background: Proc[] = [];
  const started: Proc[] = [];
  t.teardown(async () => {
    for (const p of started) signalGroup(p, 'SIGKILL');
    await rm(work, { recursive: true, force: true });
  });
  const began = Date.now();
  const timings: string[] = [];

  for (const step of steps) {
    const where = `docs/tutorial.md:${step.line}`;
    if (step.kind === 'setup') {
      for (const c of step.commands) {
        const made = SETUP[c.text];
        if (!made) {
          t.fail(`docs/tutorial.md:${c.line}: a setup command the test does not know: ${c.text}`);
          continue;
        }
        await access(join(root, made)).then(
          () => t.pass(`${c.text}: ${made} is there (npm test installs and builds before tap runs)`),
          () => t.fail(`${c.text}: ${made} is missing`),
        );
      }
    } else if (step.kind === 'run') {
      let output = '';
      for (const c of step.commands) {
        const p = start(withPort(c.text), work, env);
        started.push(p);
        const t0 = Date.now();
        const timer = setTimeout(() => signalGroup(p, 'SIGKILL'), 120_000);
        const { code, signal } = await p.closed;
        clearTimeout(timer);
        timings.push(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${c.text}`);
        output += p.output();
        t.equal(code, 0, `docs/tutorial.md:${c.line}: ${c.text}`, {
          signal,
          output: p.output().slice(-4000),
          elapsedS: (Date.now() - began) / 1000,
        });
        if (code !== 0) return;
      }
      if (step.expect) {
        const expect = { ...step.expect, lines: step.expect.lines.map(withPort) };
        t.same(missing(expect, output), [], `docs/tutorial.md:${step.expect.line}: the output shown is what it prints`, {
          output: output.slice(-6000),
        });
      } else {
        t.equal(output.trim(), '', `${where}: prints nothing, as the page shows no output for it`);
      }
    } else if (step.kind === 'background') {
      const p = start(withPort(step.command), work, env);
      background.push(p);
      started.push(p);
      const expect = step.expect && { ...step.expect, lines: step.expect.lines.map(withPort) };
      const deadline = Date.now() + 120_000;
      while (expect && missing(expect, p.output()).length && !p.done() && Date.now() < deadline) await delay(100);
      t.notOk(p.done(), `${where}: ${step.command} keeps running`, { output: p.output() });
      if (expect)
        t.same(missing(expect, p.output()), [], `docs/tutorial.md:${expect.line}: it prints what the page shows`, {
          output: p.output(),
        });
      if (p.done()) return;
    } else {
      const p = background.find((b) => !b.done());
      if (!p) {
        t.fail(`${where}: ctrl-c with nothing running`);
        return;
      }
      // A terminal's Ctrl-C: SIGINT to the foreground process group (sh, npx and daq alike).
      signalGroup(p, 'SIGINT');
      const timer = setTimeout(() => signalGroup(p, 'SIGKILL'), 60_000);
      await p.closed;
      clearTimeout(timer);
      t.throws(() => process.kill(-p.child.pid!, 0), { code: 'ESRCH' }, `${where}: Ctrl-C stopped every process it started`);
      if (step.expect) {
        const expect = { ...step.expect, lines: step.expect.lines.map(withPort) };
        t.same(missing(expect, p.output()), [], `docs/tutorial.md:${expect.line}: and it said what the page shows`, {
          output: p.output(),
        });
      }
    }
  }
  t.notOk(
    background.some((p) => !p.done()),
    'nothing is left running at the end of the page',
  );
  t.comment(`the tutorial took ${((Date.now() - began) / 1000).toFixed(1)} s:\n${timings.join('\n')}`);
});
