// Retiring V2 (docs/migration.md#deprecation-batches): the loader's findings for deprecated V2
// types and for a V2 (or a batch of V2 drivers) this installation does not have, and
// daq migrate --audit is audit.ts.

import { instrumentTypeSpec } from './instrument-types.js';
import type { KeyPath } from './locate.js';
import { batchGuideLink, retirementBatchOf } from './migrate-type-table.js';
import { shadowedInstruments, type Finding, type PlacedInstrument } from './semantic.js';
import type { DaqConfig } from './types.js';

/** What of V2 this installation has. The broker finds out (entry-points.ts); core only reads it. */
export interface V2Installation {
  /** The package @daq/v2-worker is installed. */
  installed: boolean;
  /** The V2 types whose driver module is present (all of them when omitted). */
  types?: ReadonlySet<string>;
}

/** Options of the configuration loader (validateConfigText, parseConfig, loadConfig). */
export interface ValidateOptions {
  /** What of V2 is installed (default: all of it, e.g. for a library user that runs no V2). */
  v2?: V2Installation;
  /** Report deprecated V2 types (default true); daq migrate turns it off: migrating is the remedy. */
  deprecations?: boolean;
}

const shellWord = (s: string) => (/^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * The command that migrates a configuration: `daq migrate lab.toml -o lab.v4.toml`, with
 * --keep-v2 when some V2 instrument has no V4 driver (so it keeps running on V2).
 */
export function migrateCommandFor(file: string, config: Pick<DaqConfig, 'v2'>): string {
  const keep = config.v2.instruments.some((i) => !instrumentTypeSpec('v4', i.type)) ? ' --keep-v2' : '';
  return `daq migrate ${shellWord(file)} -o ${shellWord(`${file.replace(/\.toml$/i, '')}.v4.toml`)}${keep}`;
}

/**
 * The loader's findings about V2's retirement, for an enabled [v2] only (a disabled one runs
 * nothing): V2 absent from this installation (one error), a V2 driver absent (an error per
 * instrument), a deprecated type (a warning per instrument; an error with allow_deprecated =
 * false, except for an instrument V4 shadows: shadowing is the first step of migrating it).
 */
export function retirementFindings(
  config: DaqConfig,
  valid: readonly PlacedInstrument[],
  file: string,
  written: (path: KeyPath) => boolean,
  options: ValidateOptions = {},
): Finding[] {
  if (!config.v2.enabled) return [];
  const findings: Finding[] = [];
  const command = migrateCommandFor(file, config);
  const v2 = options.v2 ?? { installed: true };
  if (!v2.installed) {
    findings.push({
      path: written(['v2', 'enabled']) ? ['v2', 'enabled'] : ['v2'],
      severity: 'error',
      message: `this installation has no V2 subsystem (package @daq/v2-worker absent), and [v2] is enabled: migrate with ${command} (docs/migration.md), set [v2] enabled = false, or install @daq/v2-worker`,
    });
    return findings;
  }
  const shadowed = new Set(shadowedInstruments(config).map((i) => i.id));
  for (const p of valid) {
    if (p.subsystem !== 'v2') continue;
    const { id, type } = p.config;
    const path: KeyPath = ['v2', 'instruments', p.index];
    const batch = retirementBatchOf(type);
    const link = batch ? batchGuideLink(batch.batch) : 'docs/migration.md';
    if (v2.types && !v2.types.has(type)) {
      findings.push({
        path,
        severity: 'error',
        message: `${type} "${id}": this installation's V2 has no ${type} driver${batch ? ` (removed with batch ${batch.batch}, ${batch.title})` : ''}: migrate it with: ${command} (${link})`,
      });
      continue;
    }
    if (!batch || options.deprecations === false) continue;
    const what = `${type} "${id}" is deprecated in batch ${batch.batch} (${batch.title}): its V2 driver will be removed`;
    if (shadowed.has(id)) {
      findings.push({
        path,
        severity: 'warning',
        message: `${what}; V4 shadows it already ([v4.shadow]): when the two agree, migrate it with: ${command} (${link})`,
      });
    } else if (config.v2.allow_deprecated) {
      findings.push({ path, severity: 'warning', message: `${what}; migrate it with: ${command} (${link})` });
    } else {
      findings.push({
        path,
        severity: 'error',
        message: `${what}, and [v2] allow_deprecated = false: migrate it with: ${command} (${link}), or set allow_deprecated = true meanwhile`,
      });
    }
  }
  return findings;
}
