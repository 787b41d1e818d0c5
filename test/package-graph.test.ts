// The packages' dependency graph is the design's (DESIGN.md "Packages", and the differences
// docs/architecture.md explains): every bare import in each package's sources is checked
// against what that package may import, and package.json must declare what is imported.

import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

/** What each package's sources may import (besides Node's built-ins), with where, if limited. */
const ALLOWED: Record<string, Record<string, string | undefined>> = {
  core: { 'apache-arrow': undefined, 'smol-toml': undefined, ajv: undefined, 'toml-eslint-parser': undefined },
  broker: {
    '@daq/core': undefined,
    serialport: undefined,
    koffi: undefined,
    comlink: undefined,
    piscina: undefined,
    // The storage sinks and the bridge write and read Arrow IPC (DESIGN.md: "Arrow IPC storage").
    'apache-arrow': undefined,
    'cli-progress': 'src/commands/',
    // The commands that want simulators start them (daq sim, daq run with simulate = true).
    '@daq/sim': 'src/commands/',
    // daq plan: experiments run by the command, beside the acquisition.
    '@daq/plans': 'src/commands/',
    // daq serve: the server worker's contract (the worker itself is started by entry point),
    // and plan bodies from requests parsed by the plan-file parser (as TOML).
    '@daq/server': 'src/commands/',
    'smol-toml': 'src/commands/',
    // Publishing: the publisher's status type (its worker is started by entry point), and
    // daq collect / daq runs, which use the collector in the command's own process.
    '@daq/publish': undefined,
  },
  // The device clients V2 and V4 drivers share; never the simulators (DESIGN.md: a misread
  // protocol must not hide on both sides).
  protocols: { '@daq/core': undefined },
  'v2-worker': { '@daq/core': undefined, '@daq/protocols': undefined, comlink: undefined },
  'v4-worker': { '@daq/core': undefined, '@daq/protocols': undefined, comlink: undefined, koffi: undefined },
  sim: { '@daq/core': undefined, koffi: undefined },
  // Experiments: plans, the RunEngine, event-model documents (validated with ajv), event tables (Arrow).
  plans: { '@daq/core': undefined, ajv: undefined, 'apache-arrow': undefined, 'smol-toml': undefined },
  // Publishing (issue 19): the NATS client in the publisher's worker thread and in daq collect;
  // never the broker, a driver or a ring: it reads the run directory's files only.
  publish: { '@daq/core': undefined, '@nats-io/transport-node': undefined, '@nats-io/jetstream': undefined },
  // The daemon's server worker: Fastify and its plugins, the stream encoding (Arrow), Comlink to
  // the main thread; never the broker or a driver (DESIGN.md: the broker alone owns hardware).
  server: {
    '@daq/core': undefined,
    '@daq/plans': undefined,
    fastify: undefined,
    '@fastify/static': undefined,
    '@fastify/swagger': undefined,
    '@fastify/websocket': undefined,
    'apache-arrow': undefined,
    comlink: undefined,
    ws: undefined,
  },
};

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Bare specifiers a file imports or re-exports, statically or with import(). */
function imports(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm,
  )) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith('.') && !spec.startsWith('node:') && !spec.startsWith('#')) found.add(spec);
  }
  return [...found];
}

const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);

for (const [pkg, allowed] of Object.entries(ALLOWED)) {
  t.test(`packages/${pkg} imports only what the design allows`, async (t) => {
    const dir = join(root, 'packages', pkg);
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const declared = new Set(Object.keys(manifest.dependencies ?? {}));
    const wrong: string[] = [];
    const used = new Set<string>();
    for (const file of await sources(join(dir, 'src'))) {
      const rel = relative(dir, file);
      for (const spec of imports(await readFile(file, 'utf8'))) {
        const name = packageOf(spec);
        if (builtinModules.includes(name)) continue;
        used.add(name);
        if (!(name in allowed)) wrong.push(`${rel} imports ${spec}`);
        else if (allowed[name] && !rel.startsWith(allowed[name]!))
          wrong.push(`${rel} imports ${spec} (only ${allowed[name]} may)`);
        else if (!declared.has(name)) wrong.push(`${rel} imports ${spec}, which package.json does not declare`);
      }
    }
    t.same(wrong, [], 'no import outside the design');
    t.ok(used.size > 0, `found the package's imports (${[...used].sort().join(', ')})`);
  });
}

t.test('the broker starts other packages by entry point only, all in one file', async (t) => {
  const dir = join(root, 'packages/broker/src');
  const resolving: string[] = [];
  for (const file of await sources(dir))
    if ((await readFile(file, 'utf8')).includes('import.meta.resolve(')) resolving.push(relative(dir, file));
  t.same(resolving, ['entry-points.ts']);
  const { ENTRY_POINTS, entryUrl } = await import('../packages/broker/src/entry-points.js');
  for (const name of Object.keys(ENTRY_POINTS) as (keyof typeof ENTRY_POINTS)[]) {
    const url = entryUrl(name);
    t.match(url.href, /\/src\/.*\.ts$/, `${name} resolves to its TypeScript source under the daq-source condition`);
    await t.resolves(readFile(url), `${name}: ${relative(root, fileURLToPath(url))} exists`);
  }
});

// V2 is an optional part (issue 17, "Retiring V2"): no package the main thread loads imports the V2
// package, and the broker, which starts its worker by entry point, lists it as optional, so an
// installation without it works (test/v2-optional.test.ts runs one).
t.test('V2 is optional: imported by no other package, an optional dependency of the broker', async (t) => {
  for (const pkg of Object.keys(ALLOWED))
    t.notOk('@daq/v2-worker' in ALLOWED[pkg]!, `packages/${pkg} may not import @daq/v2-worker`);
  const broker = JSON.parse(await readFile(join(root, 'packages/broker/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  t.notOk('@daq/v2-worker' in broker.dependencies, 'not a required dependency of the broker');
  t.ok(broker.optionalDependencies?.['@daq/v2-worker'], 'an optional dependency of the broker');
});
