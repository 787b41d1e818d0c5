// The error catalogue over every code: each has its meaning, action and origin, survives a
// thread boundary with its facts, is documented in docs/errors.md, and is raised somewhere in
// the sources (no dead codes); every code the sources raise is in the catalogue.

import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DaqError,
  ERROR_CATALOGUE,
  ErrorCodes,
  PUBLISH_ENV,
  deserializeDaqError,
  errorCatalogueMarkdown,
  type ErrorCode,
} from '@daq/core';

const root = fileURLToPath(new URL('../../../', import.meta.url));

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const raised = new Map<string, string[]>();
/** Quoted names that look like codes but are environment variables (DAQ_NATS_TOKEN, …). */
const ENVIRONMENT = new Set<string>(Object.values(PUBLISH_ENV));
for (const pkg of await readdir(join(root, 'packages'))) {
  for (const file of await sources(join(root, 'packages', pkg, 'src')).catch(() => [])) {
    if (file.endsWith('error-catalogue.ts') || file.endsWith('errors.ts')) continue;
    for (const m of (await readFile(file, 'utf8')).matchAll(/'(DAQ_[A-Z_]+)'/g))
      if (!ENVIRONMENT.has(m[1]!)) raised.set(m[1]!, [...(raised.get(m[1]!) ?? []), file.slice(root.length)]);
  }
}

for (const code of ErrorCodes) {
  t.test(code, async (t) => {
    const entry = ERROR_CATALOGUE[code];
    t.ok(entry, 'in the catalogue');
    for (const key of ['meaning', 'action', 'raisedBy'] as const) t.ok(entry[key].length > 10, `${key}: ${entry[key]}`);
    t.match(entry.meaning, /\.$/, 'the meaning is a sentence');
    const err = new DaqError(code as ErrorCode, `${code} for the test`, { instrument: 'x' } as never);
    const back = deserializeDaqError(structuredClone(err.toJSON()));
    t.equal(back.code, code);
    t.same(back.facts, { instrument: 'x' }, 'facts cross a thread boundary');
    t.ok(raised.has(code), `raised in the sources (${(raised.get(code) ?? []).slice(0, 3).join(', ')})`);
  });
}

t.test('every code the sources raise is a catalogued code', async (t) => {
  const unknown = [...raised.keys()].filter((c) => !(ErrorCodes as readonly string[]).includes(c));
  t.same(unknown, []);
});

t.test('docs/errors.md is current (regenerate with `npm run schema`)', async (t) => {
  const onDisk = await readFile(join(root, 'docs/errors.md'), 'utf8');
  t.equal(onDisk, errorCatalogueMarkdown());
  for (const code of ErrorCodes) t.match(onDisk, `| \`${code}\` |`);
});
