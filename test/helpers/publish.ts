// Shared by the publishing tests: a small simulated set-up that publishes, the daq command as a
// child process, and the comparison of a run directory with its collected copy.

import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { tableFromIPC } from 'apache-arrow';
import type { Test } from 'tap';
import { loadConfig } from '@daq/core';
import { startAcquisition, type Acquisition } from '@daq/broker';
import { Collector, NatsCollector } from '@daq/publish';
import { NatsServer, natsServerVersion } from '@daq/publish/testing';

export const root = fileURLToPath(new URL('../../', import.meta.url));

/** A set-up with a fast V2 source and a V4 meter, publishing as `host`. */
export function publishConfig(o: {
  dataDir: string;
  servers: string[];
  host: string;
  extra?: string;
  drainMs?: number;
  pollHz?: number;
  /** Add a small simulated camera (frames stay local; their metadata is published). */
  camera?: boolean;
}): string {
  return `
[application]
name = "pubtest"
simulate = true
data_dir = "${o.dataDir}"

[application.publish]
servers = ${JSON.stringify(o.servers)}
host = "${o.host}"
drain_timeout_ms = ${o.drainMs ?? 20000}
${o.extra ?? ''}

[v2]
enabled = true
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v2.instruments]]
id = "mock"
type = "MockPower"
poll_hz = ${o.pollHz ?? 100}

[v4]
enabled = true
batch_interval_ms = 50
storage = { flush_interval_ms = 200 }
[[v4.instruments]]
id = "pm"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
poll_hz = 10
${
  o.camera
    ? `[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "pvcam0"
exposure_ms = 50
roi = { x = 0, y = 0, width = 64, height = 64 }
bit_depth = 16
`
    : ''
}`;
}

export const COUNT_PLAN = `plan = "count"
detectors = ["pm"]
num = 12
delay_ms = 150
`;

export async function writeText(path: string, text: string): Promise<string> {
  await writeFile(path, text);
  return path;
}

/** `daq ARGS…` as a child process, as a user runs it. */
export function daq(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [`${root}packages/broker/bin/daq.js`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr, stdout: () => stdout };
}

export async function readJson(path: string): Promise<any> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every file of a run directory that is published (not publish.json, hidden files or frames), relative. */
export async function publishedFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === 'publish.json' || e.name.startsWith('frames-')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await publishedFiles(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

/** Rows of an Arrow IPC file (stream or file format). */
export async function arrowRowCount(path: string): Promise<number> {
  return tableFromIPC(await readFile(path)).numRows;
}

/**
 * The collected copy equals the run directory: the same files, each byte for byte (so the
 * documents are identical and every Arrow row is there exactly once).
 */
export async function assertSameRun(t: Test, local: string, collected: string, what: string): Promise<void> {
  t.ok(existsSync(collected), `${what}: collected into ${collected}`);
  const files = await publishedFiles(local);
  const got = existsSync(collected) ? (await publishedFiles(collected)).filter((f) => f !== 'remote-files.json') : [];
  t.same(got, files, `${what}: the same files`);
  for (const f of files) {
    const a = await readFile(join(local, f));
    const b = await readFile(join(collected, f)).catch(() => Buffer.alloc(0));
    t.ok(a.equals(b), `${what}: ${f} identical (${a.byteLength} bytes)`);
  }
  for (const f of files.filter((f) => f.endsWith('.arrows')))
    t.equal(await arrowRowCount(join(collected, f)), await arrowRowCount(join(local, f)), `${what}: ${f} has the same rows`);
}

/**
 * A test file's bench: a temporary directory, nats-servers started in it (killed at the end),
 * a collector run in this process, and acquisitions in this process.
 */
export async function publishBench(t: Test, name: string) {
  const tmp = await mkdtemp(join(tmpdir(), `daq-${name}-`));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  t.ok(natsServerVersion(), 'nats-server is installed (apt-get install nats-server; .ci/run installs it)');
  const servers: NatsServer[] = [];
  t.teardown(async () => {
    for (const s of servers) await s.kill();
  });
  return {
    tmp,
    async server(dir: string, o: { token?: string; port?: number; extra?: string } = {}): Promise<NatsServer> {
      const s = await NatsServer.start({ dir: join(tmp, dir), ...o });
      servers.push(s);
      return s;
    },
    /** Collects everything in the stream into `out` in this process; returns the counts. */
    async collect(url: string, out: string, durable = 'test', env: { token?: string } = {}) {
      const transport = new NatsCollector({
        servers: [url],
        credentials: env.token ? { token: env.token } : {},
        name: 'test collector',
        stream: 'DAQ',
        durable,
        filter: 'daq.>',
      });
      await transport.connect();
      try {
        return await new Collector({ transport, out, idleExitMs: 1500 }).run(new AbortController().signal);
      } finally {
        await transport.close();
      }
    },
    /** An acquisition in this process, into `<dir>/<name>` (default the test's directory). */
    async acquire(run: string, toml: string, dir = tmp): Promise<Acquisition> {
      const cfg = await writeText(join(tmp, `${run}.toml`), toml);
      return startAcquisition(await loadConfig(cfg), { out: join(dir, run) });
    },
  };
}
