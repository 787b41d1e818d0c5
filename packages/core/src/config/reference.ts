// The configuration reference in Markdown, generated from the schema and the instrument
// table (docs/configuration.md; a test fails when it is stale).

import { INSTRUMENT_TYPES, type JsonSchema } from './instrument-types.js';
import { configSchema } from './schema.js';

function kind(s: JsonSchema): string {
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (Array.isArray(s.type)) return s.type.join(' or ');
  if (s.type === 'array') return (s.items as JsonSchema).$ref ? 'array of tables' : `array of ${kind(s.items as JsonSchema)}`;
  if (s.type === 'object') return 'table';
  const range = [
    s.minimum !== undefined ? `≥ ${String(s.minimum)}` : '',
    s.exclusiveMinimum !== undefined ? `> ${String(s.exclusiveMinimum)}` : '',
    s.maximum !== undefined ? `≤ ${String(s.maximum)}` : '',
  ].filter(Boolean);
  return `${String(s.type)}${range.length ? ` (${range.join(', ')})` : ''}`;
}

function table(props: Record<string, JsonSchema>, required: readonly string[] = []): string[] {
  const rows = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const [key, s] of Object.entries(props)) {
    if (typeof s !== 'object') continue;
    const def = required.includes(key) ? '**required**' : s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : '—';
    const desc = String(s.description ?? '').replace(/\|/g, '\\|');
    rows.push(`| \`${key}\` | ${kind(s)} | ${def} | ${desc} |`);
  }
  return rows;
}

export function configReferenceMarkdown(): string {
  const props = configSchema.properties as Record<string, JsonSchema>;
  const section = (name: string) => (props[name]!.properties ?? {}) as Record<string, JsonSchema>;
  const out = [
    '# Configuration reference',
    '',
    'Generated from `packages/core/src/config` by `npm run schema`; do not edit by hand.',
    'One TOML file with the sections below; the JSON Schema for editors is `schema/daq-config.schema.json`.',
    'Check a file with `daq validate FILE`: every problem is reported as `FILE:LINE:COL: key.path: message`.',
    '',
    '## [application]',
    '',
    ...table(section('application')),
    '',
    '## [broker]',
    '',
    ...table(section('broker')),
    '',
    '## [v2] and [v4]',
    '',
    'A section that is present is enabled unless it says `enabled = false`; an absent section is disabled.',
    'At least one must be enabled.',
    '',
    ...table(section('v2')),
    '',
    '`storage` table (`[v2.storage]`, `[v4.storage]`):',
    '',
    ...table((section('v2').storage as JsonSchema).properties as Record<string, JsonSchema>),
    '',
    '### [v4] only',
    '',
    'V4 sends its batches through a SharedArrayBuffer ring and opens cameras through PVCAM:',
    '',
    ...table(Object.fromEntries(Object.entries(section('v4')).filter(([k]) => !(k in section('v2')) && k !== 'shadow'))),
    '',
    '### [v4.shadow]',
    '',
    String((section('v4').shadow as JsonSchema).description),
    'Guide: [migration.md](migration.md#shadow-mode).',
    '',
    ...table((section('v4').shadow as JsonSchema).properties as Record<string, JsonSchema>),
    '',
    '## Instruments',
    '',
    'Each `[[v2.instruments]]` or `[[v4.instruments]]` table has an `id` (unique across both subsystems:',
    'letters, digits, `_` and `-`, starting with a letter) and a `type`; the other keys depend on the type.',
    'Instruments that share a serial port must agree on its line settings; only Elliptec devices share a',
    'bus (with distinct addresses); the same non-bus device may be configured once in V2 and once in V4.',
    '',
  ];
  for (const spec of INSTRUMENT_TYPES) {
    out.push(`### ${spec.type} (${spec.subsystems.map((s) => s.toUpperCase()).join(', ')})`, '', spec.description, '');
    out.push(...table(spec.fields, spec.required), '');
  }
  return out.join('\n');
}
