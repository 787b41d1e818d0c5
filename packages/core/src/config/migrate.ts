// `daq migrate`: turns a configuration's V2 instruments into V4 instruments with the same ids
// (or, with `shadow`, lists them in [v4.shadow]), as commented TOML that is validated before use.
// The planning, rendering, TOML writing and type table live in migrate-*.ts and toml-writer.ts.

import { parse as parseToml } from 'smol-toml';
import { DaqError, type ConfigDiagnostic } from '../errors.js';
import { validateConfigText } from './load.js';
import { PositionIndex } from './locate.js';
import { planMigration, type MigrationEntry, type MigrationOptions } from './migrate-plan.js';
import { renderMigration } from './migrate-render.js';
import { typeMigration } from './migrate-type-table.js';

export type { MigrationEntry, MigrationOptions, MigrationOutcome } from './migrate-plan.js';
export {
  TYPE_MIGRATIONS,
  migrationFieldMap,
  migrationGuideLink,
  typeMigration,
  type TypeMigration,
  RETIREMENT_BATCHES,
  V2_DRIVER_MODULES,
  retirementBatchOf,
  batchGuideLink,
  type RetirementBatch,
} from './migrate-type-table.js';
export { migrateCommandFor, type V2Installation, type ValidateOptions } from './retirement.js';
export {
  auditConfigText,
  summarizeAudit,
  type AuditInstrument,
  type AuditSummary,
  type AuditUse,
  type ConfigAudit,
} from './audit.js';

export type MigrationResult =
  | {
      ok: true;
      /** The new configuration (TOML). */
      text: string;
      /** One entry per V2 instrument, in file order. */
      report: MigrationEntry[];
      /** V2 instruments in the input. */
      v2Count: number;
      /** V4 instruments of the input, kept as they are. */
      v4Kept: number;
      /** Changes to whole sections the user should know about (e.g. [v4] enabled). */
      notes: string[];
    }
  | { ok: false; diagnostics: ConfigDiagnostic[] };

/** Converts configuration text; never throws for bad input (ok: false carries its diagnostics). */
export function migrateConfigText(text: string, file: string, options: MigrationOptions = {}): MigrationResult {
  const input = validateConfigText(text, file, { deprecations: false });
  if (!input.config) return { ok: false, diagnostics: input.diagnostics };
  const config = input.config;
  const positions = new PositionIndex(text);

  if (options.shadow && !config.v2.enabled && config.v2.instruments.some((i) => typeMigration(i.type))) {
    const at = positions.find(['v2', 'enabled']);
    const message =
      'shadow mode runs V4 beside a running V2, but [v2] is disabled: enable it, or migrate directly with daq migrate';
    return { ok: false, diagnostics: [{ file, ...at, path: 'v2.enabled', severity: 'error', message }] };
  }

  const plan = planMigration(config, parseToml(text) as Record<string, unknown>, positions, file, options);
  const out = renderMigration(plan);
  const check = validateConfigText(out, `${file} (migrated)`, { deprecations: false });
  if (!check.config) {
    const errors = check.diagnostics.filter((d) => d.severity === 'error');
    const list = errors.map((d) => `${d.line}:${d.column}: ${d.path}: ${d.message}`).join('; ');
    throw new DaqError(
      'DAQ_CONFIG',
      `daq migrate produced an invalid configuration from ${file} (a bug in daq migrate; please report it): ${list}`,
      { file, diagnostics: check.diagnostics },
    );
  }
  const { report, notes } = plan;
  return { ok: true, text: out, report, v2Count: config.v2.instruments.length, v4Kept: config.v4.instruments.length, notes };
}
