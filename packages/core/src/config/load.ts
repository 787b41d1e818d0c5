// Loading a configuration: smol-toml → JSON Schema (ajv, defaults applied) → semantic checks.
// Every problem is reported at once, each with file, line, column and key path.

import { readFile } from 'node:fs/promises';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, DaqError, type ConfigDiagnostic } from '../errors.js';
import { didYouMean } from '../did-you-mean.js';
import { configSchema } from './schema.js';
import { PositionIndex, formatKeyPath, type KeyPath } from './locate.js';
import { semanticChecks, type PlacedInstrument } from './semantic.js';
import { retirementFindings, type ValidateOptions } from './retirement.js';
import type { JsonSchema } from './instrument-types.js';
import type { SubsystemName } from './types.js';
import type { DaqConfig, InstrumentConfig, LoadedConfig } from './types.js';

const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(configSchema);

export interface ValidationResult {
  /** Present when there are no errors (warnings allowed). */
  config?: DaqConfig;
  diagnostics: ConfigDiagnostic[];
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

/** Turns one ajv error into a path and a message a person can act on. */
function describeSchemaError(e: ErrorObject): { path: KeyPath; message: string } | undefined {
  const path = pointerToPath(e.instancePath);
  const parent = e.parentSchema as { properties?: Record<string, unknown>; description?: string } | undefined;
  switch (e.keyword) {
    case 'if':
      return undefined; // the failing `then` has been reported already
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(parent?.properties ?? {});
      const hint = didYouMean(key, known);
      const where = path.length ? `in ${formatKeyPath(path)}` : 'at the top level';
      return {
        path: [...path, key],
        message: `unknown key "${key}" ${where}${hint || ` (known keys: ${known.join(', ')})`}`,
      };
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      return { path, message: `required key "${key}" is missing` };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      const hint = typeof e.data === 'string' ? didYouMean(e.data, allowed.map(String)) : '';
      return { path, message: `${show(e.data)} is not one of ${allowed.map(show).join(', ')}${hint}` };
    }
    case 'type':
      return { path, message: `${show(e.data)} must be ${String((e.params as { type: string }).type).replace(',', ' or ')}` };
    case 'pattern': {
      const desc = (e.parentSchema as { description?: string } | undefined)?.description;
      return { path, message: `${show(e.data)} is not valid${desc ? `: ${desc}` : ` (must match ${String(e.schema)})`}` };
    }
    default:
      return { path, message: `${show(e.data)} ${e.message ?? 'is not valid'}` };
  }
}

type ObjectSchema = { properties: Record<string, JsonSchema> };
const sectionSchema = (name: string) => (configSchema.properties as Record<string, ObjectSchema>)[name]!;

/** The defaults the schema gives a section's keys (one level down for nested tables). */
function sectionDefaults<T>(schema: ObjectSchema): T {
  return Object.fromEntries(
    Object.entries(schema.properties)
      .filter(([, v]) => 'default' in v)
      .map(([k, v]) => [k, 'properties' in v ? sectionDefaults(v as ObjectSchema) : structuredClone(v.default)]),
  ) as T;
}

/** An absent [v2]/[v4]: disabled, with the schema's defaults for everything else. */
function emptySubsystem<S extends SubsystemName>(name: S): DaqConfig[S] {
  return { ...sectionDefaults<DaqConfig[S]>(sectionSchema(name)), enabled: false };
}

/**
 * Validates configuration text; never throws for bad input. `file` is used in messages.
 * `options` says what of V2 this installation has, and whether to report deprecated V2 types.
 */
export function validateConfigText(text: string, file: string, options: ValidateOptions = {}): ValidationResult {
  const diagnostics: ConfigDiagnostic[] = [];
  const push = (path: KeyPath, message: string, severity: 'error' | 'warning', at?: { line: number; column: number }) => {
    const pos = at ?? positions.find(path);
    diagnostics.push({ file, line: pos.line, column: pos.column, path: formatKeyPath(path), message, severity });
  };

  let data: unknown;
  try {
    data = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      return {
        diagnostics: [{ file, line: e.line, column: e.column, path: '', message: `TOML syntax: ${first}`, severity: 'error' }],
      };
    }
    throw e;
  }
  const positions = new PositionIndex(text);

  const badInstruments = new Set<string>();
  let badSection = false;
  if (!validate(data)) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      const d = describeSchemaError(e);
      if (!d) continue;
      const key = `${formatKeyPath(d.path)}|${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      push(d.path, d.message, 'error');
      if (d.path.length >= 3 && d.path[1] === 'instruments') badInstruments.add(`${d.path[0]}:${d.path[2]}`);
      if (d.path.length === 1 && (d.path[0] === 'v2' || d.path[0] === 'v4')) badSection = true;
    }
  }

  // Semantic checks see the defaulted document, restricted to instruments the schema accepted.
  const doc = (typeof data === 'object' && data !== null ? data : {}) as Partial<DaqConfig>;
  const config: DaqConfig = {
    application: doc.application ?? sectionDefaults(sectionSchema('application')),
    broker: doc.broker ?? sectionDefaults(sectionSchema('broker')),
    v2: (doc.v2 as DaqConfig['v2'] | undefined) ?? emptySubsystem('v2'),
    v4: (doc.v4 as DaqConfig['v4'] | undefined) ?? emptySubsystem('v4'),
  };
  const valid: PlacedInstrument[] = [];
  for (const s of ['v2', 'v4'] as SubsystemName[]) {
    const list = Array.isArray(config[s].instruments) ? (config[s].instruments as InstrumentConfig[]) : [];
    list.forEach((inst, index) => {
      if (badInstruments.has(`${s}:${index}`) || typeof inst !== 'object' || inst === null) return;
      // `address = 2` and `address = "a"` both mean one hex digit; keep the canonical "2" / "A".
      if (inst.type === 'Elliptec') {
        const a = inst.address as string | number;
        inst.address = (typeof a === 'number' ? a.toString(16) : a).toUpperCase();
      }
      valid.push({ subsystem: s, index, config: inst, where: `${s}.instruments[${index}]` });
    });
  }
  const schemaOk = diagnostics.length === 0;
  for (const f of semanticChecks(config, valid, (p) => positions.has(p), { sectionsValid: !badSection }))
    push(f.path, f.message, f.severity);
  if (!badSection)
    for (const f of retirementFindings(config, valid, file, (p) => positions.has(p), options))
      push(f.path, f.message, f.severity);

  diagnostics.sort((a, b) => a.line - b.line || a.column - b.column);
  const hasErrors = diagnostics.some((d) => d.severity === 'error');
  return schemaOk && !hasErrors ? { config, diagnostics } : { diagnostics };
}

/** Parses configuration text or throws a ConfigError carrying every problem found. */
export function parseConfig(text: string, file = '<config>', options: ValidateOptions = {}): LoadedConfig {
  const result = validateConfigText(text, file, options);
  if (!result.config) throw new ConfigError(result.diagnostics);
  return { file, config: result.config, warnings: result.diagnostics };
}

/** Reads and parses a configuration file. Unreadable files throw `DAQ_CONFIG_READ`. */
export async function loadConfig(path: string, options: ValidateOptions = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new DaqError('DAQ_CONFIG_READ', `cannot read configuration ${path}: ${reason}`, { file: path }, { cause: e });
  }
  return parseConfig(text, path, options);
}
