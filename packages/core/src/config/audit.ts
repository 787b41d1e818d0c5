// `daq migrate --audit CONFIG...`: which configurations still use V2, per instrument type, and
// which retirement batch (docs/migration.md#deprecation-batches) could be removed today.

import type { ConfigDiagnostic } from '../errors.js';
import { instrumentTypeSpec } from './instrument-types.js';
import { validateConfigText } from './load.js';
import { PositionIndex } from './locate.js';
import { RETIREMENT_BATCHES, retirementBatchOf } from './migrate-type-table.js';
import { migrateCommandFor } from './retirement.js';
import { shadowedInstruments } from './semantic.js';

/** One instrument of a [v2] section. */
export interface AuditInstrument {
  id: string;
  type: string;
  /** Where it is written: `v2.instruments[0]` and its line. */
  where: string;
  line: number;
  /** The batch that deprecates its type; none for a type without a V4 driver (MockPower). */
  batch?: number;
  v4Driver: boolean;
  /** Listed in [v4.shadow]. */
  shadowed: boolean;
  /** Run on V2: its [v2] is enabled (a disabled section's instruments are not started). */
  runs: boolean;
}

/** What one configuration asks of V2. */
export interface ConfigAudit {
  file: string;
  /** False when the file is invalid: it was not audited (errors holds why). */
  ok: boolean;
  errors: ConfigDiagnostic[];
  /** [v2] is enabled: V2 is started for this configuration. */
  v2Enabled: boolean;
  instruments: AuditInstrument[];
  /** The command that migrates it (when it runs V2 instruments with a V4 driver). */
  migrate?: string;
}

/** A configuration (file) and instrument that keep a batch, or V2, in use. */
export interface AuditUse {
  file: string;
  id: string;
  type: string;
}

export interface AuditSummary {
  /** Configurations given, audited (valid), and those that start V2. */
  configurations: number;
  audited: number;
  onV2: string[];
  /** Per V2 type run by some configuration: instruments and configurations. */
  types: { type: string; batch?: number; v4Driver: boolean; instruments: number; configurations: string[] }[];
  /**
   * Per batch: removable today when no audited configuration runs any of its types on V2 and
   * every configuration could be audited (null: unknown, some could not).
   */
  batches: { batch: number; title: string; types: string[]; removable: boolean | null; usedBy: AuditUse[] }[];
  /** The V2 package itself (MockPower and the V2 runtime): removable when no configuration enables [v2]. */
  v2Package: { removable: boolean | null; usedBy: string[] };
}

/** Audits one configuration's text (validated as daq validate does, deprecations aside). */
export function auditConfigText(text: string, file: string): ConfigAudit {
  const { config, diagnostics } = validateConfigText(text, file, { deprecations: false });
  if (!config)
    return { file, ok: false, errors: diagnostics.filter((d) => d.severity === 'error'), v2Enabled: false, instruments: [] };
  const shadowed = new Set(shadowedInstruments(config).map((i) => i.id));
  const positions = new PositionIndex(text);
  const instruments = config.v2.instruments.map((i, index): AuditInstrument => {
    return {
      id: i.id,
      type: i.type,
      where: `v2.instruments[${index}]`,
      line: positions.find(['v2', 'instruments', index]).line,
      batch: retirementBatchOf(i.type)?.batch,
      v4Driver: instrumentTypeSpec('v4', i.type) !== undefined,
      shadowed: shadowed.has(i.id),
      runs: config.v2.enabled,
    };
  });
  const migrate = instruments.some((i) => i.runs && i.v4Driver) ? migrateCommandFor(file, config) : undefined;
  return { file, ok: true, errors: [], v2Enabled: config.v2.enabled, instruments, migrate };
}

/** The summary of several audits: types still on V2, and which batch could be removed today. */
export function summarizeAudit(audits: readonly ConfigAudit[]): AuditSummary {
  const audited = audits.filter((a) => a.ok);
  const complete = audited.length === audits.length;
  const running = audited.flatMap((a) => a.instruments.filter((i) => i.runs).map((i) => ({ ...i, file: a.file })));
  const types = new Map<string, AuditSummary['types'][number]>();
  for (const i of running) {
    const t = types.get(i.type) ?? { type: i.type, batch: i.batch, v4Driver: i.v4Driver, instruments: 0, configurations: [] };
    t.instruments++;
    if (!t.configurations.includes(i.file)) t.configurations.push(i.file);
    types.set(i.type, t);
  }
  const verdict = (used: boolean) => (used ? false : complete ? true : null);
  const batches = RETIREMENT_BATCHES.map((b) => {
    const usedBy = running.filter((i) => b.types.includes(i.type)).map(({ file, id, type }) => ({ file, id, type }));
    return { batch: b.batch, title: b.title, types: [...b.types], removable: verdict(usedBy.length > 0), usedBy };
  });
  const onV2 = audited.filter((a) => a.v2Enabled).map((a) => a.file);
  return {
    configurations: audits.length,
    audited: audited.length,
    onV2,
    types: [...types.values()].sort((a, b) => (a.batch ?? 99) - (b.batch ?? 99) || a.type.localeCompare(b.type)),
    batches,
    v2Package: { removable: verdict(onV2.length > 0), usedBy: onV2 },
  };
}
