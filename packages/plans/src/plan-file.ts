// TOML plan files, for people who do not program: the plan's name and parameters at the top,
// then optional tables for what to do on a failed point, suspenders and metadata. Every
// problem is reported with the file's line and column (as configuration errors are), and all
// of them at once.
//
//   plan = "scan"
//   detectors = ["pm"]
//   motor = "rot"
//   start = 0
//   stop = 180
//   num = 37
//   settle_ms = 50
//   [on_failure]            # retries = 0, then = "abort" unless given
//   retries = 1
//   then = "skip"
//   [[suspenders]]
//   when = "laser.shutter == 0"
//   resume_after_ms = 1000
//   [md]
//   sample = "polarizer A"

import { readFile } from 'node:fs/promises';
import { parse, TomlError } from 'smol-toml';
import { ConfigError, PositionIndex, didYouMean, type ConfigDiagnostic, type KeyPath } from '@daq/core';
import { limitProblems, resolvePlan, type FailurePolicy, type Suspender } from './engine.js';
import { resolveDetector } from './devices.js';
import { BUILTIN_PLANS, type BuiltinPlanName, type Plan } from './plans.js';

export interface PlanFile {
  file: string;
  plan: Plan;
  onFailure: FailurePolicy;
  suspenders: Suspender[];
  md: Record<string, unknown>;
  /** Where each key is written, for errors found later (limits, instruments). */
  positions: PositionIndex;
}

type Param = { type: 'number' | 'integer' | 'string' | 'string[]' | 'number[]' | 'boolean' | 'axes'; required?: boolean };

const COMMON: Record<string, Param> = {
  detectors: { type: 'string[]', required: true },
  settle_ms: { type: 'number' },
  average: { type: 'integer' },
  frames_per_point: { type: 'integer' },
};
const AXIS: Record<string, Param> = {
  motor: { type: 'string', required: true },
  start: { type: 'number', required: true },
  stop: { type: 'number', required: true },
  num: { type: 'integer', required: true },
};

/** The parameters each built-in plan takes in a plan file. */
export const PLAN_PARAMS: Record<BuiltinPlanName, Record<string, Param>> = {
  count: { ...COMMON, num: { type: 'integer' }, delay_ms: { type: 'number' } },
  scan: { ...COMMON, ...AXIS },
  rel_scan: { ...COMMON, ...AXIS },
  list_scan: { ...COMMON, motor: { type: 'string', required: true }, positions: { type: 'number[]', required: true } },
  grid_scan: { ...COMMON, axes: { type: 'axes', required: true }, snake: { type: 'boolean' } },
  time_series: { ...COMMON, rate_hz: { type: 'number', required: true }, duration_s: { type: 'number', required: true } },
};

const TABLES = new Set(['plan', 'on_failure', 'suspenders', 'md']);

function typeOk(p: Param, v: unknown): boolean {
  switch (p.type) {
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return Number.isInteger(v);
    case 'string':
      return typeof v === 'string' && v.length > 0;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);
    case 'number[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    case 'axes':
      return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
  }
}

const SUSPENDER = /^\s*([A-Za-z][A-Za-z0-9_-]*)\.(\S+)\s*(==|!=|<=|>=|<|>)\s*([-+0-9.eE]+)\s*$/;

/** Reads and checks a plan file; throws a ConfigError listing every problem with its position. */
export async function loadPlanFile(file: string): Promise<PlanFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError([
      { file, line: 1, column: 1, path: '', message: `cannot read the plan file: ${(e as Error).message}`, severity: 'error' },
    ]);
  }
  return parsePlanFile(text, file);
}

export function parsePlanFile(text: string, file: string): PlanFile {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const t = e as TomlError;
    throw new ConfigError([
      {
        file,
        line: t.line ?? 1,
        column: t.column ?? 1,
        path: '',
        message: `not valid TOML: ${t.message.split('\n')[0]}`,
        severity: 'error',
      },
    ]);
  }
  const positions = new PositionIndex(text);
  const problems: ConfigDiagnostic[] = [];
  const report = (path: KeyPath, message: string) => {
    const at = positions.find(path);
    problems.push({ file, line: at.line, column: at.column, path: path.map(String).join('.'), message, severity: 'error' });
  };

  const name = doc.plan;
  const names = Object.keys(BUILTIN_PLANS);
  if (typeof name !== 'string' || !(name in BUILTIN_PLANS)) {
    report(
      ['plan'],
      `${name === undefined ? 'missing' : JSON.stringify(name)}: plan must be one of ${names.join(', ')}${typeof name === 'string' ? didYouMean(name, names) : ''}`,
    );
    throw new ConfigError(problems);
  }
  const params = PLAN_PARAMS[name as BuiltinPlanName];
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (TABLES.has(key)) continue;
    const p = params[key];
    if (!p) {
      report(
        [key],
        `${name} has no parameter ${key}${didYouMean(key, Object.keys(params))}; it takes: ${Object.keys(params).join(', ')}`,
      );
      continue;
    }
    if (!typeOk(p, value)) {
      report(
        [key],
        `${JSON.stringify(value)} is not ${p.type === 'axes' ? 'a list of { motor, start, stop, num } tables' : `a valid ${p.type}`}`,
      );
      continue;
    }
    args[key] = value;
  }
  for (const [key, p] of Object.entries(params)) if (p.required && !(key in doc)) report([], `${name} needs ${key}`);
  if (Array.isArray(args.axes))
    (args.axes as Record<string, unknown>[]).forEach((axis, i) => {
      for (const [key, p] of Object.entries(AXIS))
        if (!typeOk(p, axis[key])) report(['axes', i, key], `axis ${i + 1}: ${key} must be a ${p.type}`);
      for (const key of Object.keys(axis))
        if (!(key in AXIS)) report(['axes', i, key], `axis ${i + 1}: unknown key ${key}; an axis has motor, start, stop, num`);
    });

  const onFailure: FailurePolicy = { retries: 0, then: 'abort' };
  const of = doc.on_failure as Record<string, unknown> | undefined;
  if (of !== undefined) {
    for (const [key, value] of Object.entries(of)) {
      if (key === 'retries' && Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 100)
        onFailure.retries = value as number;
      else if (key === 'then' && (value === 'skip' || value === 'abort')) onFailure.then = value;
      else
        report(
          ['on_failure', key],
          key === 'retries' || key === 'then'
            ? `${JSON.stringify(value)} is not valid: retries is 0-100, then is "skip" or "abort"`
            : `unknown key ${key}; on_failure has retries and then`,
        );
    }
  }

  const suspenders: Suspender[] = [];
  const ss = doc.suspenders;
  if (ss !== undefined && !Array.isArray(ss)) report(['suspenders'], 'suspenders must be [[suspenders]] tables');
  (Array.isArray(ss) ? (ss as Record<string, unknown>[]) : []).forEach((s, i) => {
    const m = typeof s.when === 'string' ? SUSPENDER.exec(s.when) : null;
    if (!m) report(['suspenders', i, 'when'], `when must read "<instrument>.<channel> <op> <number>", e.g. "laser.shutter == 0"`);
    const after = s.resume_after_ms ?? 1000;
    if (typeof after !== 'number' || after < 0)
      report(['suspenders', i, 'resume_after_ms'], 'resume_after_ms must be a number ≥ 0');
    for (const key of Object.keys(s))
      if (key !== 'when' && key !== 'resume_after_ms')
        report(['suspenders', i, key], `unknown key ${key}; a suspender has when and resume_after_ms`);
    if (m)
      suspenders.push({
        instrument: m[1]!,
        channel: m[2]!,
        op: m[3] as Suspender['op'],
        value: Number(m[4]),
        resumeAfterMs: after as number,
      });
  });

  const md = (doc.md ?? {}) as Record<string, unknown>;
  if (typeof md !== 'object' || Array.isArray(md)) report(['md'], 'md must be a table of metadata');
  for (const key of Object.keys(md))
    if (/[./]/.test(key)) report(['md', key], 'metadata keys may not contain "." or "/" (event-model)');

  if (problems.length) throw new ConfigError(problems);
  let plan: Plan;
  try {
    plan = (BUILTIN_PLANS[name as BuiltinPlanName].make as unknown as (a: Record<string, unknown>) => Plan)(args);
  } catch (e) {
    report([], (e as Error).message);
    throw new ConfigError(problems);
  }
  return { file, plan, onFailure, suspenders, md, positions };
}

/**
 * What can be known before anything runs: every motor and detector exists and can do what the
 * plan asks, and every position is within the limits known from the configuration. The device
 * limits are checked again when the plan starts (RunEngine.run), before anything moves.
 */
export function checkPlanFile(pf: PlanFile, config: Parameters<typeof resolvePlan>[0]): ConfigDiagnostic[] {
  const out: ConfigDiagnostic[] = [];
  const at = (path: KeyPath, message: string) => {
    const p = pf.positions.find(path);
    out.push({ file: pf.file, line: p.line, column: p.column, path: path.map(String).join('.'), message, severity: 'error' });
  };
  const wherePlanNames = (kind: 'motor' | 'detector', name: string): KeyPath => {
    if (kind === 'detector') return ['detectors', pf.plan.detectors.indexOf(name)];
    const axes = (pf.plan.args.axes as { motor: string }[] | undefined) ?? [];
    const i = axes.findIndex((a) => a.motor === name);
    return i >= 0 ? ['axes', i, 'motor'] : ['motor'];
  };
  const { motors, problems } = resolvePlan(config, pf.plan);
  for (const p of problems) {
    const m = /^(motor|detector) (\S+): (.*)$/s.exec(p);
    if (m) at(wherePlanNames(m[1] as 'motor' | 'detector', m[2]!), m[3]!);
    else at(['detectors'], p);
  }
  const limits = new Map(motors.map((m) => [m.name, m.staticLimits]));
  if (!pf.plan.relative)
    for (const p of limitProblems(pf.plan.points(), limits)) at(pf.plan.motors.length > 1 ? ['axes'] : ['start'], p);
  for (const s of pf.suspenders) {
    const i = pf.suspenders.indexOf(s);
    const d = resolveDetector(config, s.instrument);
    if (typeof d === 'string') at(['suspenders', i, 'when'], d);
  }
  return out;
}
