// daq runs DIR: the runs under a directory (a collector's output or a data_dir), one line each:
// host, run, plan, start, status, points and rows, read from run.json, plan.json and the
// documents of each run (a daq serve session's plans are listed under it).

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface RunListing {
  /** The run directory, relative to the listed directory. */
  path: string;
  host: string;
  name: string;
  plan?: string;
  start?: string;
  status: string;
  /** Plan runs: events (points) recorded. */
  points?: number;
  /** Scalar rows stored (run.json). */
  rows?: number;
  /** Whether the publisher saw every file acknowledged (publish.json at the source; absent when collected). */
  published?: boolean;
}

function readJson(p: string): Record<string, any> | undefined {
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;
  } catch {
    return undefined;
  }
}

function countEvents(dir: string): number | undefined {
  const p = join(dir, 'documents.jsonl');
  if (!existsSync(p)) return undefined;
  let n = 0;
  for (const line of readFileSync(p, 'utf8').split('\n')) if (line.startsWith('{"name":"event"')) n++;
  return n;
}

/** Every run directory (with run.json or plan.json) up to 5 levels under `root`, sorted by start. */
export function listRuns(root: string): RunListing[] {
  const out: RunListing[] = [];
  const walk = (dir: string, depth: number, parent?: RunListing) => {
    const run = readJson(join(dir, 'run.json'));
    const plan = readJson(join(dir, 'plan.json'));
    let here: RunListing | undefined;
    if (run || plan) {
      here = {
        path: relative(root, dir) || '.',
        // The publisher's host (its subject token) when published, else the machine's name.
        host:
          (run?.publish?.prefix as string | undefined)?.split('.')[2] ?? (run?.host?.hostname as string) ?? parent?.host ?? '?',
        name: (run?.name as string) ?? parent?.name ?? '?',
        ...(plan?.plan ? { plan: String(plan.plan) } : {}),
        ...(run?.startedAt || parent?.start ? { start: (run?.startedAt as string) ?? parent?.start } : {}),
        status: String(plan?.exitStatus ?? run?.status ?? 'unknown'),
        ...(plan ? { points: Number(plan.events ?? countEvents(dir) ?? 0) } : {}),
        ...(run?.streams?.scalars?.rowsFlushed !== undefined ? { rows: Number(run.streams.scalars.rowsFlushed) } : {}),
      };
      const pub = readJson(join(dir, 'publish.json'));
      if (pub) here.published = Boolean(pub.complete);
      out.push(here);
    }
    if (depth >= 5) return;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(join(dir, e.name), depth + 1, here ?? parent);
  };
  walk(root, 0);
  return out.sort((a, b) => (a.start ?? '').localeCompare(b.start ?? '') || a.path.localeCompare(b.path));
}
