// Planning for `daq migrate`: which V2 instruments move to V4, stay in [v2], are dropped or are
// already driven by V4, and which [v4] settings change; decided before any text is written.

import { PositionIndex } from './locate.js';
import { serialPortOf } from './semantic.js';
import { comment, tomlValue, unbroken } from './toml-writer.js';
import { migrationFieldMap, migrationGuideLink, typeMigration } from './migrate-type-table.js';
import type { DaqConfig, InstrumentConfig, SubsystemName, V2InstrumentConfig, V4InstrumentConfig } from './types.js';

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

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

interface Placed<I> {
  inst: I;
  index: number;
  entry: MigrationEntry;
}

/** What goes where; decided before any text is written. */
export interface Plan {
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

export function planMigration(
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
  const where = (s: SubsystemName) => (i: number) =>
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
