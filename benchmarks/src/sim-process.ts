// Simulated instruments in a `daq sim` child process, as a lab's instruments are outside the
// acquisition process: they do not share its event loop nor count in its CPU time.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const daqBin = fileURLToPath(new URL('../../packages/broker/bin/daq.js', import.meta.url));

export interface SimProcess {
  child: ChildProcess;
  /** Each simulated instrument's id → where it listens (`daq sim --json`). */
  endpoints: Map<string, { serial_port?: string; resource?: string }>;
  dir: string;
}

export async function startSim(
  config: string,
): Promise<{ child: ChildProcess; endpoints: Map<string, { serial_port?: string; resource?: string }>; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'daq-bench-'));
  const file = join(dir, 'bench.toml');
  await writeFile(file, config);
  const child = spawn(process.execPath, [daqBin, 'sim', file, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoints = new Map<string, { serial_port?: string; resource?: string }>();
  const expected = (config.match(/^id = /gm) ?? []).length;
  for await (const line of createInterface({ input: child.stdout! })) {
    const e = JSON.parse(line) as { id: string; serial_port?: string; resource?: string };
    endpoints.set(e.id, e);
    if (endpoints.size === expected) break;
  }
  return { child, endpoints, dir };
}

export async function stopSim(sim: { child: ChildProcess; dir: string }): Promise<void> {
  const exited = new Promise((r) => sim.child.once('exit', r));
  sim.child.kill('SIGTERM');
  await exited;
  await rm(sim.dir, { recursive: true, force: true });
}
