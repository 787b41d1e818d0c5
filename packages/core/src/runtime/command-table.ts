// The commands an instrument accepts from outside its worker (`command("elliptec1",
// "moveAbs", [45])`), each with typed, range-checked parameters. Arguments arrive over RPC
// from anywhere, so they are checked here before a driver sees them; a bad call changes nothing.

import { DaqError } from '../errors.js';
import { didYouMean } from '../did-you-mean.js';

export interface ParamSpec {
  name: string;
  type: 'number' | 'integer' | 'string' | 'boolean';
  min?: number;
  max?: number;
  /** Allowed string values. */
  oneOf?: readonly string[];
  optional?: boolean;
}

export interface CommandSpec {
  params: readonly ParamSpec[];
  description: string;
  run: (...args: never[]) => Promise<unknown>;
}

export type CommandTable = Record<string, CommandSpec>;

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v;
}

function checkArg(where: string, i: number, p: ParamSpec, v: unknown): string | undefined {
  const label = `${where}: argument ${i + 1} (${p.name})`;
  if (v === undefined) return p.optional ? undefined : `${label} is missing`;
  switch (p.type) {
    case 'number':
    case 'integer':
      if (typeof v !== 'number' || !Number.isFinite(v)) return `${label} must be a finite number, got ${describe(v)}`;
      if (p.type === 'integer' && !Number.isInteger(v)) return `${label} must be an integer, got ${v}`;
      if (p.min !== undefined && v < p.min) return `${label} must be at least ${p.min}, got ${v}`;
      if (p.max !== undefined && v > p.max) return `${label} must be at most ${p.max}, got ${v}`;
      return undefined;
    case 'string':
      if (typeof v !== 'string') return `${label} must be a string, got ${describe(v)}`;
      if (p.oneOf && !p.oneOf.includes(v)) return `${label} must be one of ${p.oneOf.join(', ')}, got ${JSON.stringify(v)}`;
      return undefined;
    case 'boolean':
      return typeof v === 'boolean' ? undefined : `${label} must be true or false, got ${describe(v)}`;
  }
}

/** Checks `args` against the command's parameters and runs it; unknown commands and bad arguments throw DAQ_* errors. */
export async function invokeCommand(instrument: string, table: CommandTable, method: unknown, args: unknown): Promise<unknown> {
  if (typeof method !== 'string' || !Object.hasOwn(table, method)) {
    const names = Object.keys(table);
    const hint = typeof method === 'string' ? didYouMean(method, names) : '';
    throw new DaqError(
      'DAQ_UNKNOWN_COMMAND',
      `${instrument} has no command ${JSON.stringify(method)}${hint}; it accepts: ${names.join(', ')}`,
      { instrument, command: String(method) },
    );
  }
  const spec = table[method]!;
  const where = `${instrument}.${method}`;
  if (!Array.isArray(args)) throw new DaqError('DAQ_INVALID_ARGUMENT', `${where}: arguments must be an array`, { instrument });
  if (args.length > spec.params.length)
    throw new DaqError('DAQ_INVALID_ARGUMENT', `${where} takes ${spec.params.length} argument(s), got ${args.length}`, {
      instrument,
    });
  for (const [i, p] of spec.params.entries()) {
    const problem = checkArg(where, i, p, args[i]);
    if (problem) throw new DaqError('DAQ_INVALID_ARGUMENT', problem, { instrument, command: method });
  }
  return spec.run(...(args as never[]));
}

/** The command table as plain data (name, parameters, description), for status and docs. */
export function describeCommands(table: CommandTable): { name: string; params: ParamSpec[]; description: string }[] {
  return Object.entries(table).map(([name, c]) => ({ name, params: [...c.params], description: c.description }));
}
