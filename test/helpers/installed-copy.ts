// A copy of the installed tree with parts of V2 really absent, to prove what runs without them:
// the workspace packages are copied (built, with package.json; their src, test and tsconfig only
// with `sources`), never node_modules; the copy's node_modules links every third-party
// package of ours and each copied @daq package, so a module of the copy resolves @daq/* inside
// the copy only. Without V2, packages/v2-worker and node_modules/@daq/v2-worker do not exist;
// removing a retirement batch deletes its V2 driver files (src and dist) and their export lines in
// the V2 package's index, as docs/migration.md's removal procedure says.

import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RETIREMENT_BATCHES, V2_DRIVER_MODULES } from '@daq/core';

export const repo = fileURLToPath(new URL('../../', import.meta.url));

export interface CopyOptions {
  /** Leave the V2 package out altogether. */
  withoutV2?: boolean;
  /** Retirement batches whose V2 drivers are removed. */
  removeBatches?: number[];
  /** Copy sources and tests too (to run a package's tests in the copy). */
  sources?: boolean;
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InstalledCopy {
  root: string;
  /** Runs `daq ARGS` of the copy (its built JavaScript) with the copy as working directory. */
  daq(args: string[], timeoutMs?: number): Promise<Result>;
  /** Runs node with ARGS in the copy (no test-runner options inherited). */
  node(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<Result>;
  /** Runs test files of the copy in one node process (TypeScript, daq-source), as tap would. */
  tests(files: string[], timeoutMs?: number): Promise<Result>;
  dispose(): Promise<void>;
}

/** The environment of a child: ours without NODE_OPTIONS (the test runner's hooks stay out). */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The V2 driver modules of the given batches. */
export function batchModules(batches: number[]): string[] {
  return RETIREMENT_BATCHES.filter((b) => batches.includes(b.batch)).flatMap((b) => b.types.map((t) => V2_DRIVER_MODULES[t]!));
}

/** What a package's copy leaves out: its node_modules always, its sources unless asked for. */
const SOURCE_PARTS = ['src', 'test', 'tsconfig.json'];

export async function installedCopy(options: CopyOptions = {}): Promise<InstalledCopy> {
  const root = await mkdtemp(join(tmpdir(), 'daq-installed-'));
  const packages = (await readdir(join(repo, 'packages'))).filter((p) => !(options.withoutV2 && p === 'v2-worker'));
  await mkdir(join(root, 'node_modules', '@daq'), { recursive: true });
  for (const p of packages) {
    for (const part of await readdir(join(repo, 'packages', p))) {
      if (part === 'node_modules' || (!options.sources && SOURCE_PARTS.includes(part))) continue;
      await cp(join(repo, 'packages', p, part), join(root, 'packages', p, part), { recursive: true });
    }
    const name = JSON.parse(await readFile(join(repo, 'packages', p, 'package.json'), 'utf8')).name as string;
    await symlink(join('..', '..', 'packages', p), join(root, 'node_modules', name));
  }
  for (const entry of await readdir(join(repo, 'node_modules'))) {
    if (entry === '@daq' || entry.startsWith('.')) continue;
    await symlink(join(repo, 'node_modules', entry), join(root, 'node_modules', entry));
  }
  for (const f of ['package.json', 'tsconfig.base.json', 'tsconfig.json', '.taprc'])
    if (existsSync(join(repo, f))) await cp(join(repo, f), join(root, f));
  if (existsSync(join(repo, 'types'))) await cp(join(repo, 'types'), join(root, 'types'), { recursive: true });
  await cp(join(repo, 'examples'), join(root, 'examples'), { recursive: true });

  const modules = batchModules(options.removeBatches ?? []);
  if (modules.length && !options.withoutV2) {
    const v2 = join(root, 'packages', 'v2-worker');
    for (const m of modules) {
      for (const f of [`${m}.js`, `${m}.js.map`, `${m}.d.ts`, `${m}.d.ts.map`])
        await rm(join(v2, 'dist', 'drivers', f), { force: true });
      await rm(join(v2, 'src', 'drivers', `${m}.ts`), { force: true });
    }
    // Their export lines in the package's index (the driver classes re-exported for library users).
    for (const index of ['dist/index.js', 'dist/index.d.ts', 'src/index.ts']) {
      const file = join(v2, index);
      if (!existsSync(file)) continue;
      const lines = (await readFile(file, 'utf8')).split('\n');
      await writeFile(file, lines.filter((l) => !modules.some((m) => l.includes(`'./drivers/${m}.js'`))).join('\n'));
    }
  }

  const daqBin = join(root, 'packages', 'broker', 'bin', 'daq.js');
  return {
    root,
    daq: (args, timeoutMs = 120_000) => run(process.execPath, [daqBin, ...args], root, childEnv(), timeoutMs),
    node: (args, env = {}, timeoutMs = 120_000) => run(process.execPath, args, root, childEnv(env), timeoutMs),
    tests: async (files, timeoutMs = 300_000) => {
      // One process for all: the TypeScript they share is compiled once.
      const runner = join(root, `.run-tests-${process.pid}.mjs`);
      await writeFile(runner, files.map((f) => `await import(${JSON.stringify(`./${f}`)});`).join('\n'));
      const args = ['--conditions=daq-source', '--import=@tapjs/typescript/import', runner];
      return run(process.execPath, args, root, childEnv({ TS_NODE_TRANSPILE_ONLY: '1' }), timeoutMs);
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}
