// Errors with stable codes (after undici's lib/core/errors.js): callers branch on `code`,
// users read a message that says what happened, where, and what to do. What each code means,
// the facts it carries and what to do about it: error-catalogue.ts (docs/errors.md).

import type { ErrorFactsByCode } from './error-catalogue.js';

/** Every code a DaqError can carry. Stable: tests, callers and docs branch on these. */
export const ErrorCodes = [
  'DAQ_CONFIG',
  'DAQ_CONFIG_READ',
  'DAQ_VISA_RESOURCE',
  'DAQ_INVALID_ARGUMENT',
  'DAQ_PORT_BUSY',
  'DAQ_PORT_UNKNOWN',
  'DAQ_PORT_ERROR',
  'DAQ_LEASE_TIMEOUT',
  'DAQ_LEASE_REVOKED',
  'DAQ_LEASE_RELEASED',
  'DAQ_READ_TIMEOUT',
  'DAQ_VISA_TIMEOUT',
  'DAQ_VISA_ERROR',
  'DAQ_INSTRUMENT',
  'DAQ_CLOSED',
  'DAQ_ABORTED',
  'DAQ_RING_FULL',
  'DAQ_WORKER',
  'DAQ_UNKNOWN_INSTRUMENT',
  'DAQ_UNKNOWN_COMMAND',
  'DAQ_TIMEOUT',
  'DAQ_CAMERA',
  'DAQ_STORAGE',
  'DAQ_API',
  'DAQ_BUSY',
  'DAQ_PUBLISH_UNREACHABLE',
  'DAQ_PUBLISH_AUTH',
  'DAQ_PUBLISH_REFUSED',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/**
 * Facts of an error whose code is not known statically (a caught error, one from another
 * thread): the places every code may name, and whatever else its code carries.
 */
export interface ErrorFacts {
  port?: string;
  owner?: string;
  resource?: string;
  instrument?: string;
  file?: string;
  line?: number;
  column?: number;
  [key: string]: unknown;
}

/** The facts a DaqError of code `C` must be given (ErrorFactsByCode in error-catalogue.ts). */
export type FactsOf<C extends ErrorCode> = ErrorFactsByCode[C];

/**
 * An error with a stable code. It is made with its code's facts and no others (the compiler
 * checks each `new DaqError(code, …, facts)` against the catalogue); it is read as ErrorFacts,
 * since a caught error's code is not known statically.
 */
export class DaqError<C extends ErrorCode = ErrorCode> extends Error {
  override name = 'DaqError';
  readonly code: C;
  readonly facts: ErrorFacts;

  constructor(code: C, message: string, facts: FactsOf<C> = {} as FactsOf<C>, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.facts = facts;
  }

  /** Plain-data form that survives structured clone (postMessage, Comlink). */
  toJSON(): SerializedDaqError {
    return {
      daqError: true,
      code: this.code,
      name: this.name,
      message: this.message,
      facts: this.facts,
      stack: this.stack,
    };
  }
}

export interface SerializedDaqError {
  daqError: true;
  code: ErrorCode;
  name: string;
  message: string;
  facts: ErrorFacts;
  stack?: string;
}

export function isSerializedDaqError(value: unknown): value is SerializedDaqError {
  return typeof value === 'object' && value !== null && (value as { daqError?: unknown }).daqError === true;
}

/** Rebuilds a DaqError on the receiving side of a thread boundary, keeping code, facts and remote stack. */
export function deserializeDaqError(data: SerializedDaqError): DaqError {
  const err = new DaqError(data.code, data.message, data.facts as FactsOf<ErrorCode>);
  err.name = data.name;
  if (data.stack) err.stack = data.stack;
  return err;
}

/** One problem found in a configuration file, with its position. */
export interface ConfigDiagnostic {
  file: string;
  line: number;
  column: number;
  /** Key path such as `v4.instruments[1].resource`; empty for the whole document. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatDiagnostic(d: ConfigDiagnostic): string {
  const where = `${d.file}:${d.line}:${d.column}`;
  const tag = d.severity === 'warning' ? 'warning: ' : '';
  return d.path ? `${where}: ${tag}${d.path}: ${d.message}` : `${where}: ${tag}${d.message}`;
}

/** A configuration that failed to load; carries every problem found, not only the first. */
export class ConfigError extends DaqError {
  override name = 'ConfigError';
  readonly diagnostics: ConfigDiagnostic[];

  constructor(diagnostics: ConfigDiagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0] ?? diagnostics[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super('DAQ_CONFIG', `${first ? formatDiagnostic(first) : 'invalid configuration'}${more}`, {
      file: first?.file,
      line: first?.line,
      column: first?.column,
    });
    this.diagnostics = diagnostics;
  }

  override toJSON(): SerializedDaqError {
    return { ...super.toJSON(), facts: { ...this.facts, diagnostics: this.diagnostics } };
  }
}
