// `daq validate CONFIG...`: exit 0 when every file is valid, 2 when any is invalid,
// 1 when none is invalid but one could not be read.

import { formatDiagnostic, validateConfigText } from '@daq/core';
import { readFile } from 'node:fs/promises';
import type { CliIo } from '../cli-io.js';
import { v2Installation } from '../entry-points.js';

export const EXIT_OK = 0;
export const EXIT_UNREADABLE = 1;
export const EXIT_INVALID = 2;

export async function validateCommand(files: string[], io: CliIo): Promise<number> {
  if (files.length === 0) {
    io.err('daq validate: name at least one configuration file (daq validate lab.toml)\n');
    return EXIT_INVALID;
  }
  let invalid = false;
  let unreadable = false;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
      io.err(`${file}: cannot read: ${reason}\n`);
      unreadable = true;
      continue;
    }
    const { config, diagnostics } = validateConfigText(text, file, { v2: v2Installation() });
    for (const d of diagnostics) io.err(`${formatDiagnostic(d)}\n`);
    if (config) {
      io.out(`ok ${file}\n`);
    } else {
      const n = diagnostics.filter((d) => d.severity === 'error').length;
      io.err(`${file}: ${n} error${n === 1 ? '' : 's'}\n`);
      invalid = true;
    }
  }
  return invalid ? EXIT_INVALID : unreadable ? EXIT_UNREADABLE : EXIT_OK;
}
