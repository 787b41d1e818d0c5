// `daq sim <file> --json` as a child process, the way a lab starts simulators for its own
// programs: the configuration is written to a temporary file, the endpoints are read from the
// JSON lines it prints, and teardown kills whatever is left.

import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** One line of `daq sim --json`. */
export interface SimEndpointLine {
  id: string;
  type: string;
  serial_port?: string;
  resource?: string;
}

export interface DaqSimProcess {
  /** The endpoints printed, by instrument id. */
  endpoints: Map<string, SimEndpointLine>;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `daq sim` on `toml` and waits for `count` endpoint lines. */
export async function startDaqSim(t: Test, toml: string, count: number): Promise<DaqSimProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'lab.toml');
  await writeFile(file, toml);
  const child = spawn(process.execPath, [`${root}packages/broker/bin/daq.js`, 'sim', file, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const endpoints = new Map<string, SimEndpointLine>();
  for await (const line of createInterface({ input: child.stdout })) {
    const e = JSON.parse(line) as SimEndpointLine;
    endpoints.set(e.id, e);
    if (endpoints.size === count) break;
  }
  return {
    endpoints,
    stderr: () => stderr,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
