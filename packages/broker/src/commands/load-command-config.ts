// How a command that takes a configuration file loads it: invalid files print every
// diagnostic (exit 2), unreadable ones one line (exit 1); anything else is a bug and throws.
// Warnings (deprecated V2 types among them) are printed here, once, for every such command
// (daq run, plan, serve, sim). What this installation has of V2 is part of the check.

import { ConfigError, DaqError, formatDiagnostic, loadConfig, type LoadedConfig } from '@daq/core';
import type { CliIo } from '../cli-io.js';
import { v2Installation } from '../entry-points.js';

/** The loaded configuration, or the exit code to return when it could not be loaded. */
export async function loadCommandConfig(command: string, file: string, io: CliIo): Promise<LoadedConfig | number> {
  try {
    const loaded = await loadConfig(file, { v2: v2Installation() });
    for (const w of loaded.warnings) io.err(`${formatDiagnostic(w)}\n`);
    return loaded;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const d of e.diagnostics) io.err(`${formatDiagnostic(d)}\n`);
      return 2;
    }
    if (e instanceof DaqError && e.code === 'DAQ_CONFIG_READ') {
      io.err(`daq ${command}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
