// Validation of documents against the event-model JSON schemas (packages/plans/event-model,
// v1.24.0). The schemas are 2020-12 (`$defs`, `unevaluatedProperties`), so Ajv2020; they
// declare properties that also match their own patternProperties, hence allowMatchingProperties.

import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { DocumentName } from './documents.js';

const FILES: Record<DocumentName, string> = {
  start: 'run_start.json',
  descriptor: 'event_descriptor.json',
  event: 'event.json',
  stop: 'run_stop.json',
  stream_resource: 'stream_resource.json',
  stream_datum: 'stream_datum.json',
};

let validators: Map<DocumentName, ValidateFunction> | undefined;

function compile(): Map<DocumentName, ValidateFunction> {
  const ajv = new Ajv2020({ allowMatchingProperties: true, strictTypes: false, allErrors: true });
  const out = new Map<DocumentName, ValidateFunction>();
  for (const [name, file] of Object.entries(FILES) as [DocumentName, string][]) {
    const schema = JSON.parse(readFileSync(new URL(`../event-model/${file}`, import.meta.url), 'utf8')) as object;
    out.set(name, ajv.compile(schema));
  }
  return out;
}

/** The schema errors of one document, as `path: message` lines; empty when it is valid. */
export function documentErrors(name: DocumentName, doc: unknown): string[] {
  validators ??= compile();
  const validate = validators.get(name)!;
  if (validate(doc)) return [];
  return (validate.errors ?? []).map(
    (e) => `${name}${e.instancePath}: ${e.message ?? 'invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
  );
}
