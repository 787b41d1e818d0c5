// `daq plan list | check CONFIG PLAN | run CONFIG PLAN [--out DIR] [--md key=value ...]`:
// experiments from TOML plan files. `check` reports every problem with the plan file's line
// and column and moves nothing; `run` starts the acquisition (continuous polling goes on beside
// the plan), runs the plan through the runtime's command routing, writes its documents into
// the run directory and reports progress; Ctrl-C pauses and asks on a terminal, aborts cleanly
// otherwise.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { ConfigError, DaqError, formatDiagnostic, type LoadedConfig } from '@daq/core';
import {
  BUILTIN_PLANS,
  RunEngine,
  RunOutput,
  checkPlanFile,
  loadPlanFile,
  type FrameRange,
  type PlanFile,
  type PlanTarget,
  type Progress,
  type RunResult,
} from '@daq/plans';
import type { CliIo } from '../cli-io.js';
import { loadCommandConfig } from './load-command-config.js';
import { publishSummary, startAcquisition } from './run.js';
import type { Acquisition } from '../acquisition.js';

/**
 * What a plan run reaches: the runtime's command routing, and the cameras' frame streams. A
 * camera's frames for a point are the next `count` it takes after the call; the stored stream
 * is the frames taken less those dropped, so their indices are known before they are written.
 */
export function planTarget(acq: Acquisition): PlanTarget {
  return {
    command: (instrument, method, args = []) => acq.runtime.command(instrument, method, args),
    frames: async (camera: string, count: number): Promise<FrameRange> => {
      const report = () => acq.cameras.reports().find((r) => r.id === camera);
      const first = report();
      if (!first || !first.geometry)
        throw new DaqError('DAQ_CAMERA', `camera ${camera} is not running, so it has no frames to take`, { instrument: camera });
      const start = first.acquired - first.dropped.total;
      const deadline = performance.now() + 10_000 + 100 * count;
      for (;;) {
        const r = report()!;
        if (r.stored >= start + count) break;
        if (r.state === 'failed' || r.state === 'stopped' || performance.now() > deadline)
          throw new DaqError(
            'DAQ_CAMERA',
            `camera ${camera}: ${r.stored - start} of ${count} frames stored (state ${r.state}${r.error ? `: ${r.error}` : ''})`,
            { instrument: camera },
          );
        await new Promise((res) => setTimeout(res, 5));
      }
      const g = first.geometry;
      return {
        start,
        stop: start + count,
        uri: `frames/${camera}/`,
        height: g.height,
        width: g.width,
        dtypeNumpy: g.bitDepth <= 8 ? '|u1' : '<u2',
      };
    },
  };
}

export interface PlanCommandOptions {
  out?: string;
  md?: string[];
  /** Answer to the Ctrl-C question (tests); default: ask on a terminal, abort otherwise. */
  onInterrupt?: () => Promise<'resume' | 'stop' | 'abort'>;
}

export function planListText(): string {
  const rows = Object.entries(BUILTIN_PLANS).map(
    ([name, p]) => `  ${name.padEnd(12)} ${p.does}\n  ${''.padEnd(12)} parameters: ${p.params}`,
  );
  return `Built-in plans (write plan = "<name>" in a plan file; examples in examples/plans/):\n${rows.join('\n')}\nEvery plan also takes settle_ms and average; a plan file may add [on_failure] (retries, then = "skip" | "abort"), [[suspenders]] (when = "laser.shutter == 0", resume_after_ms) and [md].\n`;
}

/** What the start document records of each instrument: what the device said at start-up and how it is configured. */
export function instrumentSnapshot(acq: Acquisition): (ids: string[]) => Promise<Record<string, unknown>> {
  return async (ids) => {
    const status = await acq.runtime.status();
    const all = status.subsystems.flatMap((s) => s.instruments.map((i) => ({ ...i, subsystem: s.name })));
    return Object.fromEntries(
      ids.map((id) => {
        const st = all.find((i) => i.id === id);
        const configured = [...acq.config.v2.instruments, ...acq.config.v4.instruments].find((i) => i.id === id);
        return [
          id,
          { subsystem: st?.subsystem, type: st?.type, identity: st?.identity ?? null, state: st?.state, config: configured },
        ];
      }),
    );
  };
}

/** Loads the configuration and the plan file and checks them together; an exit code on failure. */
async function loadChecked(command: string, configFile: string | undefined, planFile: string | undefined, io: CliIo) {
  if (!configFile || !planFile) {
    io.err(`daq plan ${command}: name a configuration and a plan file (daq plan ${command} lab.toml scan.toml)\n`);
    return 2;
  }
  const loaded = await loadCommandConfig(`plan ${command}`, configFile, io);
  if (typeof loaded === 'number') return loaded;
  let pf: PlanFile;
  try {
    pf = await loadPlanFile(planFile);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const d of e.diagnostics) io.err(`${formatDiagnostic(d)}\n`);
    return 2;
  }
  const problems = checkPlanFile(pf, loaded.config);
  for (const d of problems) io.err(`${formatDiagnostic(d)}\n`);
  return problems.length ? 2 : { loaded, pf };
}

/** One line: "scan, 37 points, motors rot, detectors pm". */
export function describePlan(pf: Pick<PlanFile, 'plan'>): string {
  const p = pf.plan;
  return `${p.name}, ${p.total ?? '?'} points, motors ${p.motors.join(', ') || 'none'}, detectors ${p.detectors.join(', ')}`;
}

export async function planCheckCommand(configFile: string | undefined, planFile: string | undefined, io: CliIo): Promise<number> {
  const checked = await loadChecked('check', configFile, planFile, io);
  if (typeof checked === 'number') return checked;
  io.out(`ok ${planFile}: ${describePlan(checked.pf)}\n`);
  return 0;
}

function parseMd(pairs: string[] | undefined, io: CliIo): Record<string, string> | number {
  const md: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    const key = at > 0 ? pair.slice(0, at) : '';
    if (!key || /[./]/.test(key)) {
      io.err(`daq plan run: --md takes key=value with a key without "." or "/", got ${JSON.stringify(pair)}\n`);
      return 2;
    }
    md[key] = pair.slice(at + 1);
  }
  return md;
}

function progressLine(p: Progress): string {
  const pos = Object.entries(p.positions)
    .map(([m, v]) => `${m}=${Number.isFinite(v) ? +v.toPrecision(6) : v}`)
    .join(' ');
  const eta = p.etaS === undefined ? '' : `, ETA ${Math.ceil(p.etaS)} s`;
  return `daq plan: ${p.done}/${p.total ?? '?'} points${eta}${pos ? `, ${pos}` : ''}${p.state !== 'running' ? ` [${p.state}]` : ''}\n`;
}

async function askOnTerminal(io: CliIo): Promise<'resume' | 'stop' | 'abort'> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    for (;;) {
      const a = (await rl.question('daq plan: paused. resume, stop (end cleanly) or abort? [r/s/a] ')).trim().toLowerCase();
      if (a === 'r' || a === 'resume') return 'resume';
      if (a === 's' || a === 'stop') return 'stop';
      if (a === 'a' || a === 'abort') return 'abort';
      io.err('daq plan: answer r, s or a\n');
    }
  } finally {
    rl.close();
  }
}

export async function planRunCommand(
  configFile: string | undefined,
  planFile: string | undefined,
  options: PlanCommandOptions,
  io: CliIo,
): Promise<number> {
  const md = parseMd(options.md, io);
  if (typeof md === 'number') return md;
  const checked = await loadChecked('run', configFile, planFile, io);
  if (typeof checked === 'number') return checked;
  const { loaded, pf } = checked as { loaded: LoadedConfig; pf: PlanFile };
  let acq;
  try {
    acq = await startAcquisition(loaded, { out: options.out });
  } catch (e) {
    io.err(`daq plan run: could not start: ${(e as Error).message}\n`);
    return 1;
  }
  io.err(`daq plan run: ${describePlan(pf)}; recording to ${acq.dir}; Ctrl-C pauses\n`);
  const engine = new RunEngine(planTarget(acq), acq.config);
  const output = new RunOutput(acq.dir);
  const ask = options.onInterrupt ?? (process.stdin.isTTY ? () => askOnTerminal(io) : async () => 'abort' as const);
  let asking = false;
  const onSignal = () => {
    if (asking) return;
    asking = true;
    engine.pause('immediate');
    void ask().then((answer) => {
      asking = false;
      if (answer === 'resume') engine.resume();
      else if (answer === 'stop') engine.stop();
      else engine.abort('interrupted (Ctrl-C)');
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: RunResult | undefined;
  let lastLine = 0;
  try {
    result = await engine.run(pf.plan, {
      md: { ...loaded.config.application.metadata, ...pf.md, ...md, config_file: loaded.file, plan_file: pf.file },
      onFailure: pf.onFailure,
      suspenders: pf.suspenders,
      onDocument: output.accept,
      onProgress: (p) => {
        if (p.state === 'done' || performance.now() - lastLine > 1000 || p.done === p.total) {
          lastLine = performance.now();
          io.err(progressLine(p));
        }
      },
      snapshot: instrumentSnapshot(acq),
    });
  } catch (e) {
    io.err(`daq plan run: ${(e as Error).message}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (result) {
    await writeFile(
      join(acq.dir, 'plan.json'),
      `${JSON.stringify(
        {
          format: 'daq-plan/1',
          uid: result.uid,
          plan: pf.plan.name,
          args: pf.plan.args,
          planFile: pf.file,
          points: pf.plan.total,
          events: result.events,
          exitStatus: result.exitStatus,
          reason: result.reason,
          skipped: result.skipped,
          suspensions: result.suspensions,
          files: output.counts.files,
        },
        null,
        2,
      )}\n`,
    );
  }
  // The acquisition's record says how the run ended: an aborted plan was interrupted.
  const status = result?.exitStatus === 'success' ? 'completed' : result?.exitStatus === 'abort' ? 'interrupted' : 'failed';
  const record = await acq.stop(status, result ? result.reason || undefined : 'the plan did not start');
  for (const l of publishSummary(record)) io.err(`${l}\n`);
  io.err(
    result
      ? `daq plan run: ${result.exitStatus}${result.reason ? ` (${result.reason})` : ''}: ${result.events} events, ${result.skipped.length} points skipped, ${result.suspensions.length} suspensions; documents in ${join(acq.dir, 'documents.jsonl')}\n`
      : `daq plan run: nothing ran; run.json in ${acq.dir} (${record.status})\n`,
  );
  return result?.exitStatus === 'success' ? 0 : result ? 1 : 2;
}
