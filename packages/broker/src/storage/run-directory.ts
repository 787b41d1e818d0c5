// The run directory: one per run under data_dir (or exactly --out), holding the data files
// and run.json, which is rewritten atomically (temporary file + rename) so a reader, or a
// run killed mid-write, never sees half a file.

import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaqError } from '@daq/core';

function stamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Creates `<dataDir>/<name>-<YYYYMMDD-HHMMSS>[-N]`, or `exact` (which must be absent or empty). */
export async function createRunDirectory(options: {
  dataDir: string;
  name: string;
  exact?: string;
  now?: Date;
}): Promise<string> {
  if (options.exact) {
    await mkdir(options.exact, { recursive: true });
    const present = await readdir(options.exact);
    if (present.length > 0)
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `the output directory ${options.exact} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}); name a new directory so no earlier run is overwritten`,
        { path: options.exact },
      );
    return options.exact;
  }
  await mkdir(options.dataDir, { recursive: true });
  const base = join(options.dataDir, `${options.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${stamp(options.now ?? new Date())}`);
  for (let n = 1; ; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Writes `value` as JSON to `dir/name` atomically. */
export async function writeJsonAtomic(dir: string, name: string, value: unknown): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    await rename(tmp, join(dir, name));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined); // no half-written temporary left behind
    throw e;
  }
}
