// `daq migrate CONFIG [-o FILE | --in-place]`: converts a configuration's V2 instruments to V4
// (or lists them in [v4.shadow] with --shadow); a report per instrument on stderr, files written atomically.

import { randomBytes } from 'node:crypto';
import { link, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { formatDiagnostic, migrateConfigText } from '@daq/core';
import type { CliIo } from '../cli-io.js';

export interface MigrateOptions {
  /** Write the new configuration here (default: standard output). */
  out?: string;
  /** Replace the input, after copying it to FILE.v2.bak (or .v2.bak.1, .2, ...). */
  inPlace: boolean;
  keepV2: boolean;
  shadow: boolean;
  /** Let -o replace an existing file. */
  force: boolean;
}

const EXIT_OK = 0;
const EXIT_IO = 1;
const EXIT_USAGE = 2;

/** A failure that has already been put into words for the user. */
class Refusal extends Error {}

function reasonOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (e as Error).message;
}

/** The path a file has or would have, with symbolic links resolved, to compare -o with the input. */
async function canonical(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return join(await realpath(dirname(path)).catch(() => resolve(dirname(path))), basename(path));
  }
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Writes `data` to a new file (never an existing one) and flushes it to disk. */
async function writeNew(path: string, data: string | Buffer, mode?: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a temporary file beside `target` and moves it into place, so a reader sees the old file
 * or the new one, never a part. Without `replace`, an existing target is refused (EEXIST), also
 * when it appears while we write.
 */
async function writeAtomically(target: string, text: string, replace: boolean, mode?: number): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeNew(tmp, text, mode);
  try {
    if (replace) {
      await rename(tmp, target);
      return;
    }
    try {
      await link(tmp, target); // fails with EEXIST if the target exists: no window for a race
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || !['EPERM', 'ENOTSUP', 'ENOSYS', 'EXDEV'].includes(code ?? '')) throw e;
      if (await exists(target)) throw Object.assign(new Error(`${target} exists`), { code: 'EEXIST' });
      await rename(tmp, target); // a file system without hard links
      return;
    }
    await unlink(tmp);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** FILE.v2.bak, or FILE.v2.bak.1, .2, ... if taken; holds exactly the bytes that were converted. */
async function writeBackup(file: string, original: Buffer, mode: number): Promise<string> {
  for (let n = 0; n < 1000; n++) {
    const candidate = n === 0 ? `${file}.v2.bak` : `${file}.v2.bak.${n}`;
    try {
      await writeNew(candidate, original, mode);
      return candidate;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Refusal(`daq migrate: ${file}.v2.bak through ${file}.v2.bak.999 all exist; remove old backups first`);
}

export async function migrateCommand(file: string | undefined, options: MigrateOptions, io: CliIo): Promise<number> {
  if (file === undefined) {
    io.err('daq migrate: name the configuration to convert (daq migrate lab.toml -o lab.v4.toml)\n');
    return EXIT_USAGE;
  }
  const { out, inPlace } = options;
  if (out !== undefined && inPlace) {
    io.err('daq migrate: -o and --in-place exclude each other: write a new file with -o, or replace the input with --in-place\n');
    return EXIT_USAGE;
  }
  if (out !== undefined && (await canonical(out)) === (await canonical(file))) {
    io.err(`daq migrate: -o ${out} is the input file; use --in-place to replace it (the original is kept as a backup)\n`);
    return EXIT_USAGE;
  }

  let original: Buffer;
  try {
    original = await readFile(file);
  } catch (e) {
    io.err(`${file}: cannot read: ${reasonOf(e)}\n`);
    return EXIT_IO;
  }
  const refuseExisting = () => io.err(`daq migrate: ${out} already exists; choose another file, or add --force to replace it\n`);
  if (out !== undefined && !options.force && (await exists(out))) {
    refuseExisting();
    return EXIT_IO;
  }

  const result = migrateConfigText(original.toString('utf8'), file, { keepV2: options.keepV2, shadow: options.shadow });
  if (!result.ok) {
    for (const d of result.diagnostics) io.err(`${formatDiagnostic(d)}\n`);
    const n = result.diagnostics.filter((d) => d.severity === 'error').length;
    io.err(`${file}: ${n} error${n === 1 ? '' : 's'}; nothing was converted\n`);
    return EXIT_USAGE;
  }

  let destination = 'written to standard output';
  let backup: string | undefined;
  try {
    if (inPlace) {
      const mode = (await stat(file)).mode & 0o7777;
      backup = await writeBackup(file, original, mode);
      try {
        await writeAtomically(file, result.text, true, mode);
      } catch (e) {
        await unlink(backup).catch(() => {}); // nothing is left behind when the replacement fails
        throw e;
      }
      destination = file;
    } else if (out !== undefined) {
      await writeAtomically(out, result.text, options.force);
      destination = out;
    }
  } catch (e) {
    if (e instanceof Refusal) {
      io.err(`${e.message}\n`);
    } else if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      refuseExisting();
    } else {
      io.err(`daq migrate: cannot write ${inPlace ? file : out}: ${reasonOf(e)}; nothing was written\n`);
    }
    return EXIT_IO;
  }
  if (!inPlace && out === undefined) io.out(result.text);

  const n = result.v2Count;
  const lines = [
    options.shadow ? 'Converting V2 configuration to shadow mode...' : 'Converting V2 configuration...',
    `  Found ${n} instrument${n === 1 ? '' : 's'}`,
  ];
  if (result.v4Kept === 1) lines.push('  Keeping 1 V4 instrument as it is');
  if (result.v4Kept > 1) lines.push(`  Keeping ${result.v4Kept} V4 instruments as they are`);
  for (const entry of result.report) {
    lines.push(`  - ${entry.id}: ${entry.label}`);
    if (entry.advice) lines.push(`    ${entry.advice}`);
  }
  for (const note of result.notes) lines.push(`  Note: ${note}`);
  if (backup) lines.push(`  Original kept as ${backup}`);
  lines.push(`Conversion complete: ${destination}`);
  io.err(`${lines.join('\n')}\n`);
  return EXIT_OK;
}
