// `daq migrate`: turns a configuration's V2 instruments into V4 instruments with the same ids
// (or, with `shadow`, lists them in [v4.shadow]), as commented TOML that is validated before use.

import { parse as parseToml } from 'smol-toml';
import { DaqError, type ConfigDiagnostic } from '../errors.js';
import { instrumentTypeSpec } from './instrument-types.js';
import { configSchema } from './schema.js';
import { validateConfigText } from './load.js';
import { PositionIndex } from './locate.js';
import { serialPortOf } from './semantic.js';
import type { DaqConfig, InstrumentConfig, V2InstrumentConfig, V4InstrumentConfig } from './types.js';

export type MigrationOutcome = 'migrated' | 'v2-only' | 'already-in-v4' | 'kept-v2' | 'shadowed';

export interface MigrationEntry {
  id: string;
  type: string;
  outcome: MigrationOutcome;
  /** The report line after "id: ", e.g. "V2 -> V4 (power meter, fully compatible)". */
  label: string;
  /** What the user should do or know, one line. */
  advice?: string;
}

export interface MigrationOptions {
  /** Keep instruments without a V4 driver in [v2] instead of commenting them out. */
  keepV2?: boolean;
  /** Do not move anything: list the V2 instruments in [v4.shadow] so V4 runs beside V2. */
  shadow?: boolean;
  /** The date written in the header (tests pass a fixed one). */
  now?: Date;
}

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

/** How one V2 type becomes its V4 type; from comparing packages/v2-worker and v4-worker drivers. */
export interface TypeMigration {
  /** Report label: "serial adapter", "power meter", "laser". */
  kind: string;
  compatibility: string;
  /** V2 field → V4 field where the names differ (none today; every other field keeps its name). */
  renames: Readonly<Record<string, string>>;
  /** What to check after migrating: the behavioural differences of the two drivers. */
  check: string;
  /** Why leaving an optional field without default unset is fine, per field. */
  notSet: Readonly<Record<string, string>>;
}

export const TYPE_MIGRATIONS: Readonly<Record<string, TypeMigration>> = {
  Elliptec: {
    kind: 'serial adapter',
    compatibility: 'fully compatible',
    renames: {},
    check:
      'same channel (position, in the unit the device reports). Commands: getPosition is now position, getStatus is gone; new: waitSettled, limits, stop; an absolute move beyond a linear stage travel is refused before anything is sent.',
    notSet: {},
  },
  Newport1830C: {
    kind: 'power meter',
    compatibility: 'fully compatible',
    renames: {},
    check: 'same channel (power, W). Commands: readPower is now power, getWavelength is now wavelength; new: setAttenuator.',
    notSet: {
      wavelength_nm: 'the meter is left as it is',
      filter: 'the meter keeps its filter',
      attenuator: 'the attenuator is left as it is',
    },
  },
  MaiTai: {
    kind: 'laser',
    compatibility: 'fully compatible',
    renames: {},
    check:
      'same channels (wavelength nm, power W, shutter). Commands: readWavelength is now wavelength, readPower is now power; new: shutter, emission.',
    notSet: { wavelength_nm: 'the laser is left as it is' },
  },
};

const NOT_SET_ANY: Readonly<Record<string, string>> = { sim: 'no simulator faults (used with simulate = true only)' };

/** Section of docs/migration.md for a type (headings are the type names). */
export function migrationGuideLink(type: string): string {
  return `docs/migration.md#${type.toLowerCase()}`;
}

/** The migration rules of a type, if it has both a V2 and a V4 driver (a test keeps the table complete). */
export function typeMigration(type: string): TypeMigration | undefined {
  if (!instrumentTypeSpec('v2', type) || !instrumentTypeSpec('v4', type)) return undefined;
  return TYPE_MIGRATIONS[type];
}

/** The V2 → V4 field names of a type that has both drivers; throws if a target is not a V4 field. */
export function migrationFieldMap(type: string): Record<string, string> {
  const rules = typeMigration(type);
  if (!rules) throw new DaqError('DAQ_INVALID_ARGUMENT', `${type} has no V4 driver to migrate to`, {});
  const v4 = instrumentTypeSpec('v4', type)!;
  const map: Record<string, string> = { id: 'id', type: 'type' };
  for (const field of Object.keys(instrumentTypeSpec('v2', type)!.fields)) {
    const target = rules.renames[field] ?? field;
    if (!(target in v4.fields))
      throw new DaqError('DAQ_CONFIG', `the migration table maps ${type}.${field} to ${target}, which V4 does not have`, {});
    map[field] = target;
  }
  return map;
}

// ---------------------------------------------------------------------------------------
// TOML writing (smol-toml's stringify cannot write comments).

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

/** A JSON string is a TOML basic string, except that TOML also wants DEL escaped. */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\u007f/g, '\\u007f');
}

function tomlValue(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (typeof v === 'object' && v !== null) {
    const parts = Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  throw new DaqError('DAQ_CONFIG', `daq migrate cannot write ${String(v)} as TOML`, {});
}

/** A phrase that `comment` never breaks across lines (a file:line reference, say). */
const unbroken = (phrase: string) => phrase.replace(/ /g, '\u00a0');

/** `# ` lines wrapped at about 96 columns. */
function comment(text: string, width = 96): string[] {
  const out: string[] = [];
  let line = '#';
  for (const word of text.split(/[ \t\n]+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      out.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  out.push(line);
  return out.map((l) => l.replace(/\u00a0/g, ' '));
}

function pairs(obj: object, keys: readonly string[]): string[] {
  const rec = obj as Record<string, unknown>;
  return keys.filter((k) => rec[k] !== undefined).map((k) => `${tomlKey(k)} = ${tomlValue(rec[k])}`);
}

/** An instrument table; scalar fields in the type's order, inline tables (sim, roi) last. */
function instrumentLines(header: string, inst: InstrumentConfig, order: readonly string[]): string[] {
  const rec = inst as unknown as Record<string, unknown>;
  const known = ['id', 'type', ...order];
  const keys = [...known, ...Object.keys(rec).filter((k) => !known.includes(k))];
  const isTable = (k: string) => typeof rec[k] === 'object' && rec[k] !== null && !Array.isArray(rec[k]);
  return [
    header,
    ...pairs(
      rec,
      keys.filter((k) => !isTable(k)),
    ),
    ...pairs(rec, keys.filter(isTable)),
  ];
}

/** One comment line per optional field without default that is unset (sim only when simulating). */
function unsetNotes(inst: InstrumentConfig, subsystem: 'v2' | 'v4', simulate: boolean): string[] {
  const spec = instrumentTypeSpec(subsystem, inst.type)!;
  const rec = inst as unknown as Record<string, unknown>;
  const why: Record<string, string | undefined> = { ...NOT_SET_ANY, ...TYPE_MIGRATIONS[inst.type]?.notSet };
  // Otherwise the schema's own words: "...; unset: the full sensor.", "...; default [broker] visa_timeout_ms."
  const fromDescription = (d: unknown) => {
    const m = /[Uu]nset: ([^.;]+)|(default [^.;)]+)/.exec(String(d ?? ''));
    return m ? (m[1] ?? m[2]) : undefined;
  };
  return Object.entries(spec.fields)
    .filter(([k, s]) => rec[k] === undefined && !('default' in s) && !spec.required.includes(k))
    .filter(([k]) => k !== 'sim' || simulate)
    .map(([k, s]) => `# ${k} not set: ${why[k] ?? fromDescription(s.description) ?? 'left to the driver'}`);
}

type SectionName = 'application' | 'broker' | 'v2' | 'v4';
const schemaKeys = (section: SectionName, sub?: string): string[] => {
  type Props = { properties: Record<string, Props> };
  const s = (configSchema as unknown as Props).properties[section]!;
  return Object.keys((sub ? s.properties[sub]! : s).properties);
};
const SETTINGS_SKIP = new Set(['instruments', 'storage', 'shadow']);

function sectionLines(name: SectionName, values: object, notes: string[] = []): string[] {
  const keys = schemaKeys(name).filter((k) => !SETTINGS_SKIP.has(k));
  return [`[${name}]`, ...notes, ...pairs(values, keys), ''];
}

// ---------------------------------------------------------------------------------------

/** The device an instrument drives: type, serial line and, on an Elliptec bus, address. */
function deviceKey(inst: InstrumentConfig): string | undefined {
  const port = serialPortOf(inst);
  if (port === undefined || inst.type === 'ScpiInstrument') return undefined;
  return inst.type === 'Elliptec' ? `${inst.type} ${port} address ${inst.address}` : `${inst.type} ${port}`;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}

/** "poll_hz 1 (V4: 2), filter "slow" (V4: not set)" for the settings a V2 entry and its V4 twin disagree on. */
function differences(v2: V2InstrumentConfig, v4: V4InstrumentConfig): string[] {
  const map = migrationFieldMap(v2.type);
  const a = v2 as unknown as Record<string, unknown>;
  const b = v4 as unknown as Record<string, unknown>;
  const show = (x: unknown) => (x === undefined ? 'not set' : tomlValue(x));
  return Object.entries(map)
    .filter(([from, to]) => from !== 'id' && !deepEqual(a[from], b[to]))
    .map(([from, to]) => `${from} ${show(a[from])} (V4: ${show(b[to])})`);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

interface Placed<I> {
  inst: I;
  index: number;
  entry: MigrationEntry;
}

/** What goes where; decided before any text is written. */
interface Plan {
  file: string;
  date: string;
  shadowMode: boolean;
  keepV2: boolean;
  config: DaqConfig;
  report: MigrationEntry[];
  notes: string[];
  /** V2 instruments that stay in [v2] (all of them in shadow mode). */
  keptV2: Placed<V2InstrumentConfig>[];
  migrated: Placed<V2InstrumentConfig>[];
  /** V2 instruments left out, written as comments: why. */
  dropped: (Placed<V2InstrumentConfig> & { why: string })[];
  /** Comments for kept V4 instruments that absorbed a V2 entry. */
  twinNotes: Map<V4InstrumentConfig, string[]>;
  emitV2: boolean;
  emitV4: boolean;
  v4Settings: Record<string, unknown>;
  v4Storage: object;
  v4Notes: string[];
  shadow: object;
  whereV2: (index: number) => string;
  whereV4: (index: number) => string;
}

/** Converts configuration text; never throws for bad input (ok: false carries its diagnostics). */
export function migrateConfigText(text: string, file: string, options: MigrationOptions = {}): MigrationResult {
  const input = validateConfigText(text, file);
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
  const check = validateConfigText(out, `${file} (migrated)`);
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

function planMigration(
  config: DaqConfig,
  raw: Record<string, unknown>,
  positions: PositionIndex,
  file: string,
  options: MigrationOptions,
): Plan {
  const shadowMode = options.shadow ?? false;
  const keepV2 = options.keepV2 ?? false;
  const v4 = config.v4.instruments;
  const v4ByDevice = new Map<string, V4InstrumentConfig>();
  for (const inst of v4) {
    const key = deviceKey(inst);
    if (key !== undefined && !v4ByDevice.has(key)) v4ByDevice.set(key, inst);
  }
  const inputShadow = config.v4.shadow.instruments;
  const shadowIds = shadowMode ? [...inputShadow] : [];
  const where = (s: 'v2' | 'v4') => (i: number) =>
    unbroken(`${file}:${positions.find([s, 'instruments', i]).line} ([[${s}.instruments]] #${i + 1})`);
  const whereV2 = where('v2');

  const report: MigrationEntry[] = [];
  const notes: string[] = [];
  const keptV2: Placed<V2InstrumentConfig>[] = [];
  const migrated: Placed<V2InstrumentConfig>[] = [];
  const dropped: (Placed<V2InstrumentConfig> & { why: string })[] = [];
  const twinNotes = new Map<V4InstrumentConfig, string[]>();

  config.v2.instruments.forEach((inst, index) => {
    const rules = typeMigration(inst.type);
    const base = { id: inst.id, type: inst.type };
    let entry: MigrationEntry;
    if (!rules) {
      const link = migrationGuideLink(inst.type);
      if (keepV2 || shadowMode) {
        entry = {
          ...base,
          outcome: 'kept-v2',
          label: 'V2-only (kept in V2)',
          advice: `${inst.type} has no V4 driver: it stays on V2, so V2 keeps running; replace it before you retire V2 (${link})`,
        };
        keptV2.push({ inst, index, entry });
      } else {
        entry = {
          ...base,
          outcome: 'v2-only',
          label: 'V2-only (skipped, create manually)',
          advice: `${inst.type} has no V4 driver: keep it on V2 with --keep-v2, or replace it (${link}); its settings are commented out at the end of the new file`,
        };
        dropped.push({ inst, index, entry, why: `no V4 driver for ${inst.type} (${link})` });
      }
    } else if (v4ByDevice.has(deviceKey(inst) ?? '')) {
      const twin = v4ByDevice.get(deviceKey(inst)!)!;
      const diff = differences(inst, twin);
      entry = {
        ...base,
        outcome: 'already-in-v4',
        label: `already in V4 as ${twin.id} (${shadowMode ? 'not shadowed' : 'not duplicated'})`,
        advice:
          `V4 already drives this device as ${twin.id}, whose settings are kept; its readings continue under that id` +
          (diff.length ? `. V2 settings that differ: ${diff.join(', ')}` : ''),
      };
      if (shadowMode) {
        keptV2.push({ inst, index, entry });
      } else {
        dropped.push({ inst, index, entry, why: `V4 already drives this device as ${twin.id}` });
        const list = twinNotes.get(twin) ?? [];
        list.push(`Also configured in V2 as ${inst.id} at ${whereV2(index)}; that entry was dropped, not duplicated.`);
        if (diff.length) list.push(`Its V2 settings that differ (V4's are kept): ${diff.join(', ')}.`);
        twinNotes.set(twin, list);
      }
    } else if (shadowMode) {
      entry = { ...base, outcome: 'shadowed', label: 'V2 + V4 shadow (compare before migrating)' };
      if (inst.poll_hz === 0) entry.advice = 'poll_hz = 0: neither V2 nor V4 takes readings, so there is nothing to compare';
      if (!shadowIds.includes(inst.id)) shadowIds.push(inst.id);
      keptV2.push({ inst, index, entry });
    } else {
      entry = { ...base, outcome: 'migrated', label: `V2 -> V4 (${rules.kind}, ${rules.compatibility})` };
      const advice: string[] = [];
      if (inputShadow.includes(inst.id)) advice.push('its [v4.shadow] entry was removed: it now runs on V4 only');
      if (!config.v2.enabled) advice.push('[v2] was disabled, so it did not run; on V4 it will');
      if (advice.length) entry.advice = advice.join('; ');
      migrated.push({ inst, index, entry });
    }
    report.push(entry);
  });

  const hadV2 = 'v2' in raw;
  const hadV4 = 'v4' in raw;
  const emitV2 = shadowMode ? hadV2 : keptV2.length > 0;
  // V4 must run when it receives instruments, and when it is all that is left.
  const needV4 = shadowMode ? shadowIds.length > 0 : migrated.length > 0 || !emitV2;
  const v4Settings: Record<string, unknown> = { ...config.v4 };
  let v4Storage: object = config.v4.storage;
  const v4Notes: string[] = [];
  if (!hadV4 && needV4) {
    // A new [v4] runs like the V2 it replaces: same supervision, batching and storage.
    for (const k of ['restart', 'max_restarts', 'restart_backoff_ms', 'batch_rows', 'batch_interval_ms'] as const)
      v4Settings[k] = config.v2[k];
    v4Storage = config.v2.storage;
    v4Settings.enabled = true;
    v4Notes.push(
      ...comment(
        'New section: restart, max_restarts, restart_backoff_ms, batch_rows, batch_interval_ms and [v4.storage] are those of [v2]; the ring settings are V4 defaults.',
      ),
    );
    notes.push('[v4] added (enabled), with the supervision, batching and storage settings of [v2]');
  } else if (hadV4 && !config.v4.enabled && needV4) {
    v4Settings.enabled = true;
    const also = v4.length ? `; its ${plural(v4.length, 'instrument')} will run too` : '';
    v4Notes.push(...comment(`enabled = true: it was false, and V4 now has instruments to run${also}.`));
    notes.push(`[v4] was disabled (enabled = false): it is enabled now, since V4 has instruments to run${also}`);
  }
  const droppedShadow = inputShadow.filter((id) => !shadowIds.includes(id));
  if (droppedShadow.length)
    notes.push(`[v4.shadow] no longer lists ${droppedShadow.join(', ')}: migrated instruments run on V4 only`);

  return {
    file,
    date: (options.now ?? new Date()).toISOString(),
    shadowMode,
    keepV2,
    config,
    report,
    notes,
    keptV2,
    migrated,
    dropped,
    twinNotes,
    emitV2,
    emitV4: hadV4 || needV4,
    v4Settings,
    v4Storage,
    v4Notes,
    shadow: { ...config.v4.shadow, instruments: shadowIds },
    whereV2,
    whereV4: where('v4'),
  };
}

function headerLines(p: Plan): string[] {
  const count = (o: MigrationOutcome) => p.report.filter((e) => e.outcome === o).length;
  const v2 = p.config.v2.instruments.length;
  const v4 = p.config.v4.instruments.length;
  const lines: string[] = [];
  if (p.shadowMode) {
    const shadowed = (p.shadow as { instruments: string[] }).instruments.length;
    lines.push(
      ...comment(`Generated by \`daq migrate --shadow\` from ${p.file} on ${p.date}.`),
      ...comment(
        `Shadow mode: V2 keeps running all ${plural(v2, 'V2 instrument')} and its readings stay the ones used (scalars.arrows). V4 runs its own driver beside the ${plural(shadowed, 'instrument')} listed in [v4.shadow]; their V4 readings go to shadow.arrows (subsystem "v4-shadow") and the two are compared in shadow.json (daq inspect and the run summary show it). When they agree, run daq migrate on the original file.`,
      ),
    );
  } else {
    const parts = [`${count('migrated')} migrated to V4 with the same ids (their data series continue)`];
    if (count('already-in-v4')) parts.push(`${count('already-in-v4')} already driven by V4 (not duplicated)`);
    if (count('v2-only')) parts.push(`${count('v2-only')} without a V4 driver (commented out at the end: create manually)`);
    if (count('kept-v2')) parts.push(`${count('kept-v2')} without a V4 driver kept in [v2]`);
    lines.push(
      ...comment(`Generated by \`daq migrate${p.keepV2 ? ' --keep-v2' : ''}\` from ${p.file} on ${p.date}.`),
      ...comment(v2 ? `${plural(v2, 'V2 instrument')}: ${parts.join('; ')}.` : 'No V2 instruments: nothing to migrate.'),
    );
  }
  if (v4) lines.push(...comment(`${plural(v4, 'V4 instrument')} kept as they were.`));
  for (const n of p.notes) lines.push(...comment(`${n}.`));
  lines.push(...comment('Every setting is written out, defaults included. Guide: docs/migration.md.'), '');
  return lines;
}

function renderMigration(p: Plan): string {
  const { config } = p;
  const simulate = config.application.simulate;
  const lines = [...headerLines(p), ...sectionLines('application', config.application), ...sectionLines('broker', config.broker)];

  if (p.emitV2) {
    lines.push(...comment('V2: the legacy subsystem.'), ...sectionLines('v2', config.v2));
    lines.push('[v2.storage]', ...pairs(config.v2.storage, schemaKeys('v2', 'storage')), '');
    for (const { inst, index, entry } of p.keptV2) {
      const spec = instrumentTypeSpec('v2', inst.type)!;
      const why = [`${inst.id}: ${spec.description}`, `From ${p.whereV2(index)}.`];
      if (entry.outcome === 'shadowed') why.push('V4 runs beside it (listed in [v4.shadow]).');
      if (entry.advice) why.push(`${entry.advice}.`);
      lines.push(...comment(why.join(' ')), ...instrumentLines('[[v2.instruments]]', inst, Object.keys(spec.fields)));
      lines.push(...unsetNotes(inst, 'v2', simulate), '');
    }
  }

  if (p.emitV4) {
    lines.push(...comment('V4: the successor subsystem.'), ...sectionLines('v4', p.v4Settings, p.v4Notes));
    lines.push('[v4.storage]', ...pairs(p.v4Storage, schemaKeys('v4', 'storage')), '');
    lines.push(
      ...comment('Shadow mode (docs/migration.md#shadow-mode): V2 instruments that V4 runs beside V2, for comparison.'),
      '[v4.shadow]',
      ...pairs(p.shadow, schemaKeys('v4', 'shadow')),
      '',
    );
    for (const { inst, index, entry } of p.migrated) {
      const spec = instrumentTypeSpec('v4', inst.type)!;
      const map = migrationFieldMap(inst.type);
      const v4 = Object.fromEntries(
        Object.entries(inst as unknown as Record<string, unknown>).map(([k, v]) => [map[k] ?? k, v]),
      ) as unknown as V4InstrumentConfig;
      const why = [
        `${inst.id}: ${spec.description}`,
        `Migrated from ${p.whereV2(index)}; same id, so its data series continue.`,
        `Check: ${typeMigration(inst.type)!.check} See ${migrationGuideLink(inst.type)}.`,
      ];
      if (entry.advice) why.push(`Note: ${entry.advice}.`);
      lines.push(...comment(why.join(' ')), ...instrumentLines('[[v4.instruments]]', v4, Object.keys(spec.fields)));
      lines.push(...unsetNotes(v4, 'v4', simulate), '');
    }
    config.v4.instruments.forEach((inst, index) => {
      const spec = instrumentTypeSpec('v4', inst.type)!;
      const why = [`${inst.id}: ${spec.description}`, `Kept from ${p.whereV4(index)}.`, ...(p.twinNotes.get(inst) ?? [])];
      lines.push(...comment(why.join(' ')), ...instrumentLines('[[v4.instruments]]', inst, Object.keys(spec.fields)));
      lines.push(...unsetNotes(inst, 'v4', simulate), '');
    });
  }

  if (p.dropped.length) {
    lines.push(
      '# ---------------------------------------------------------------------------------------',
      ...comment('Not migrated: commented out so that nothing is lost silently; the settings are those of the input.'),
      '',
    );
    for (const { inst, index, why } of p.dropped) {
      const spec = instrumentTypeSpec('v2', inst.type)!;
      lines.push(...comment(`${inst.id}: ${spec.description} From ${p.whereV2(index)}. Not migrated: ${why}.`));
      lines.push(...instrumentLines('[[v2.instruments]]', inst, Object.keys(spec.fields)).map((l) => `# ${l}`), '');
    }
  }
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}
