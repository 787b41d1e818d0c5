// `daq migrate CONFIG [-o FILE | --in-place]`: converts a configuration's V2 instruments to V4
// (or lists them in [v4.shadow] with --shadow); a report per instrument on stderr, files written atomically.
// `daq migrate --audit CONFIG...`: which configurations still use V2 and which batch could go today.

import { randomBytes } from 'node:crypto';
import { link, open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  auditConfigText,
  batchGuideLink,
  formatDiagnostic,
  migrateConfigText,
  summarizeAudit,
  type AuditSummary,
  type ConfigAudit,
} from '@daq/core';
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

export interface AuditOptions {
  json: boolean;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    `${indent}${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd(),
  );
}

function auditText(audits: ConfigAudit[], s: AuditSummary): string {
  const out: string[] = [];
  for (const a of audits) {
    if (!a.ok) {
      out.push(
        `${a.file}: not audited: ${a.errors[0]?.message ?? 'invalid'}${a.errors.length > 1 ? ` (and ${a.errors.length - 1} more; daq validate ${a.file})` : ''}`,
      );
      continue;
    }
    const running = a.instruments.filter((i) => i.runs).length;
    if (!a.v2Enabled) {
      out.push(
        `${a.file}: no V2 ([v2] ${a.instruments.length ? `disabled; its ${plural(a.instruments.length, 'instrument')} are not run` : 'absent or disabled'})`,
      );
      continue;
    }
    out.push(`${a.file}: V2 enabled, ${plural(running, 'instrument')} on V2`);
    if (a.instruments.length) {
      const rows = [['line', 'id', 'type', 'batch', 'note']];
      for (const i of a.instruments)
        rows.push([
          String(i.line),
          i.id,
          i.type,
          i.batch === undefined ? '-' : String(i.batch),
          [i.v4Driver ? '' : 'no V4 driver: goes with the V2 package', i.shadowed ? 'shadowed by V4' : '']
            .filter(Boolean)
            .join('; '),
        ]);
      out.push(...table(rows));
    }
    if (a.migrate) out.push(`  migrate with: ${a.migrate}`);
  }
  out.push('');
  const notAudited = s.configurations - s.audited;
  out.push(
    `Summary: ${plural(s.configurations, 'configuration')}${notAudited ? ` (${notAudited} not audited)` : ''}; ${s.onV2.length} start V2${s.onV2.length ? ` (${s.onV2.join(', ')})` : ''}`,
  );
  if (s.types.length) {
    const rows = [['type', 'batch', 'instruments', 'configurations']];
    for (const t of s.types)
      rows.push([t.type, t.batch === undefined ? '-' : String(t.batch), String(t.instruments), String(t.configurations.length)]);
    out.push(...table(rows));
  } else out.push('  no instrument runs on V2');
  const verdict = (removable: boolean | null, blockers: string) =>
    removable === true
      ? 'can be removed today'
      : removable === null
        ? `unknown: ${plural(notAudited, 'configuration')} not audited`
        : `not yet: ${blockers}`;
  for (const b of s.batches) {
    const files = [...new Set(b.usedBy.map((u) => u.file))];
    const uses = files
      .map(
        (f) =>
          `${f}: ${b.usedBy
            .filter((u) => u.file === f)
            .map((u) => u.id)
            .join(', ')}`,
      )
      .join('; ');
    out.push(
      `  batch ${b.batch} (${b.title}): ${verdict(b.removable, `${plural(b.usedBy.length, 'instrument')} in ${plural(files.length, 'configuration')} (${uses})`)} (${batchGuideLink(b.batch)})`,
    );
  }
  out.push(
    `  the V2 package (the V2 runtime; MockPower, which has no V4 driver, goes with it): ${verdict(s.v2Package.removable, `[v2] enabled in ${s.v2Package.usedBy.join(', ')}`)}`,
  );
  return `${out.join('\n')}\n`;
}

/**
 * `daq migrate --audit CONFIG...`: which configurations still use V2, per instrument type, and which
 * retirement batch could be removed today. Exit 0 when every file was audited, 2 if one is invalid,
 * 1 if one is unreadable (as daq validate).
 */
export async function auditCommand(files: string[], options: AuditOptions, io: CliIo): Promise<number> {
  if (files.length === 0) {
    io.err('daq migrate --audit: name the configurations to audit (daq migrate --audit lab/*.toml)\n');
    return EXIT_USAGE;
  }
  const audits: ConfigAudit[] = [];
  let unreadable = false;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      unreadable = true;
      const message = `cannot read: ${reasonOf(e)}`;
      audits.push({
        file,
        ok: false,
        errors: [{ file, line: 0, column: 0, path: '', message, severity: 'error' }],
        v2Enabled: false,
        instruments: [],
      });
      continue;
    }
    audits.push(auditConfigText(text, file));
  }
  const summary = summarizeAudit(audits);
  io.out(options.json ? `${JSON.stringify({ configurations: audits, summary }, null, 2)}\n` : auditText(audits, summary));
  if (unreadable) return EXIT_IO;
  return audits.every((a) => a.ok) ? EXIT_OK : EXIT_USAGE;
}
