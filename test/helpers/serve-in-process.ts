// `daq serve` started in the test's own process, as the CLI's main() runs it: its URL once it
// listens, what it printed, and stop(), which ends it as a signal would and resolves to its exit
// status. Shared by the daemon's integration tests.

import type { CliIo } from '@daq/broker';

export interface InProcessDaemon {
  url: string;
  port: number;
  stderr: () => string;
  stop(): Promise<number>;
}

export async function serveInProcess(
  config: string,
  options: { out: string; listen?: string; token?: string },
): Promise<InProcessDaemon> {
  let stderr = '';
  const io: CliIo = { out: () => undefined, err: (s) => void (stderr += s) };
  let stop!: (why: string) => void;
  const until = new Promise<string>((r) => (stop = r));
  let listening!: (url: string) => void;
  const ready = new Promise<string>((r) => (listening = r));
  const { serveCommand } = await import('../../packages/broker/src/commands/serve.js');
  const exit = serveCommand(config, { ...options, until, onListening: (url) => listening(url) }, io);
  const url = await Promise.race([ready, exit.then((c) => Promise.reject(new Error(`daq serve exited ${c}: ${stderr}`)))]);
  return {
    url,
    port: Number(new URL(url).port),
    stderr: () => stderr,
    stop: async () => {
      stop('test');
      return exit;
    },
  };
}
