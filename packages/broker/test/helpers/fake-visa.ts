// Builds the fake VISA C library (test/fixtures/fakevisa) with the machine's gcc into a cache
// directory, rebuilt only when its sources change, and drives its test-only extensions.

import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import koffi from 'koffi';

const run = promisify(execFile);
const SOURCES = fileURLToPath(new URL('../fixtures/fakevisa/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const FAKE_VISA_CACHE = join(ROOT, 'node_modules', '.cache', 'daq-fakevisa');

async function mtime(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return -1;
  }
}

/** Compiles libfakevisa.so if it is missing or older than any file of its sources; returns its path. */
export async function buildFakeVisa(): Promise<string> {
  const out = join(FAKE_VISA_CACHE, 'libfakevisa.so');
  const files = (await readdir(SOURCES)).filter((f) => f.endsWith('.c') || f.endsWith('.h'));
  const newest = Math.max(...(await Promise.all(files.map((f) => mtime(join(SOURCES, f))))));
  if ((await mtime(out)) >= newest) return out;
  await mkdir(FAKE_VISA_CACHE, { recursive: true });
  // Build beside the target and rename: test files run in parallel and may build at once.
  const tmp = `${out}.${process.pid}.tmp`;
  const args = ['-shared', '-fPIC', '-O2', '-pthread', '-Wall', '-o', tmp, join(SOURCES, 'fakevisa.c')];
  try {
    await run('gcc', args);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') {
      throw new Error(
        'gcc is not installed: the ffi backend tests compile a fake VISA library with it (apt-get install gcc, or skip these tests)',
      );
    }
    throw new Error(`gcc could not build the fake VISA library:\n${err.stderr ?? err.message}`);
  }
  await rename(tmp, out);
  return out;
}

/** The fake's test-only calls: which TCP endpoint a resource name reaches, and how many sessions are open. */
export interface FakeVisaControl {
  /** Routes `resource` (exact name, any case) to host:port; port 0 removes the route. */
  map(resource: string, host: string, port: number): void;
  /** Sessions open in the library, resource managers included. */
  openSessions(): number;
}

export function fakeVisaControl(libraryPath: string): FakeVisaControl {
  // dlopen returns the handle the backend already has, so this is the same routing table.
  const lib = koffi.load(libraryPath);
  const map = lib.func('int32_t fakevisa_map(const char *rsrc, const char *host, uint32_t port)');
  const open = lib.func('uint32_t fakevisa_open_sessions(void)');
  return {
    map(resource, host, port) {
      const status = map(resource, host, port) as number;
      if (status !== 0) throw new Error(`fakevisa_map(${resource}) failed with status 0x${(status >>> 0).toString(16)}`);
    },
    openSessions: () => open() as number,
  };
}
