// Real nats-server processes (for the publishing tests and benchmarks): JetStream with file
// storage in a given directory, on loopback ports, alone or as a three-node cluster. Debian's
// nats-server (installed by .ci/run); a machine without it gets an error that says so.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export function natsServerVersion(): string | undefined {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServerOptions {
  dir: string;
  name?: string;
  port?: number;
  token?: string;
  /** Anything else for the configuration file, e.g. an authorization or tls block. */
  extra?: string;
  /** Cluster: this node's route port and the route ports of all nodes. */
  cluster?: { name: string; port: number; routes: number[] };
  /** Run under SCHED_IDLE (chrt --idle 0), standing in for a server on another machine (benchmarks). */
  idle?: boolean;
}

export class NatsServer {
  private child: ChildProcess | undefined;
  log = '';
  private constructor(
    readonly conf: string,
    readonly port: number,
    readonly name: string,
    /** Runs under SCHED_IDLE. */
    readonly idle = false,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(o: NatsServerOptions): Promise<NatsServer> {
    mkdirSync(o.dir, { recursive: true });
    const port = o.port ?? (await freePort());
    const name = o.name ?? `n${port}`;
    const lines = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: "${join(o.dir, 'js')}", max_memory_store: 64MB, max_file_store: 2GB }`,
    ];
    if (o.token) lines.push(`authorization { token: "${o.token}" }`);
    if (o.extra) lines.push(o.extra);
    if (o.cluster)
      lines.push(
        `cluster { name: ${o.cluster.name}, listen: 127.0.0.1:${o.cluster.port}, routes: [${o.cluster.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}] }`,
      );
    const conf = join(o.dir, 'nats.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const s = new NatsServer(conf, port, name, o.idle === true && existsSync('/usr/bin/chrt'));
    await s.spawn();
    return s;
  }

  /** Starts (again) with the same configuration, port and store. */
  async spawn(): Promise<void> {
    if (this.child) throw new Error(`nats-server ${this.name} is running`);
    const child = this.idle
      ? spawn('/usr/bin/chrt', ['--idle', '0', 'nats-server', '-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('nats-server', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`nats-server ${this.name} did not start in 20 s:\n${this.log}`)), 20_000);
      child.stderr!.on('data', (d: string) => {
        this.log += d;
        if (this.log.includes('Server is ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`nats-server ${this.name} exited (${code}):\n${this.log}`));
      });
      child.once('error', (e) => {
        clearTimeout(t);
        reject(
          new Error(`nats-server could not be started (${e.message}): install it (apt-get install nats-server; .ci/run does)`),
        );
      });
    });
    await ready;
    child.removeAllListeners('exit');
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** SIGKILL: the server dies at once, as in a crash or power loss. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    this.child = undefined;
  }
}

/** A three-node JetStream cluster on loopback. */
export async function startCluster(dir: string): Promise<NatsServer[]> {
  const routes = [await freePort(), await freePort(), await freePort()];
  return Promise.all(
    routes.map((port, i) =>
      NatsServer.start({ dir: join(dir, `n${i + 1}`), name: `n${i + 1}`, cluster: { name: 'daqtest', port, routes } }),
    ),
  );
}
