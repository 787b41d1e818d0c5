// `daq sim CONFIG [--json]`: a simulator for every instrument of CONFIG, one line each with
// its endpoint, running until SIGINT or SIGTERM (then exit 0). Any ordinary serial or VISA
// client can talk to the endpoints.

import { loadCommandConfig } from './load-command-config.js';
import { startSimulators, type SimEndpoint } from '@daq/sim';
import type { CliIo } from '../cli-io.js';

export interface SimCommandOptions {
  json: boolean;
  /** Resolves when the simulators should stop (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>;
}

/** Resolves with the first SIGINT or SIGTERM (and stops listening for them). */
export function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function human(e: SimEndpoint): string {
  const where = e.serial_port ?? e.resource ?? `(${e.note})`;
  return `${e.id.padEnd(16)} ${e.type.padEnd(16)} ${where}\n`;
}

export async function simCommand(file: string | undefined, options: SimCommandOptions, io: CliIo): Promise<number> {
  if (!file) {
    io.err('daq sim: name a configuration file (daq sim lab.toml --json)\n');
    return 2;
  }
  const loaded = await loadCommandConfig('sim', file, io);
  if (typeof loaded === 'number') return loaded;
  const sims = await startSimulators(loaded.config);
  try {
    for (const e of sims.endpoints) {
      if (options.json) {
        if (e.serial_port || e.resource) io.out(`${JSON.stringify(e)}\n`);
        else io.err(`daq sim: ${e.id} (${e.type}): ${e.note}\n`);
      } else {
        io.out(human(e));
      }
    }
    if (!options.json) io.err('daq sim: running; Ctrl-C stops\n');
    await (options.until ?? waitForSignal());
  } finally {
    await sims.close();
  }
  return 0;
}
