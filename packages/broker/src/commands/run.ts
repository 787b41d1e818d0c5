// `daq run CONFIG [--duration S] [--out DIR]`: a headless acquisition. Progress goes to
// stderr (a live bar on a terminal, a line every few seconds otherwise); it stops at the
// duration or on Ctrl-C (a second Ctrl-C terminates the workers at once), then prints a
// summary: rows per instrument, drops, files written.

import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { LoadedConfig } from '@daq/core';
import { loadCommandConfig } from './load-command-config.js';
import type { CliIo } from '../cli-io.js';
import { startSimulators } from '@daq/sim';
import { Acquisition, type AcquisitionOptions, type Progress, type RunRecord } from '../acquisition.js';
import { formatShadow } from '../shadow/shadow-format.js';
import { rateShortfall, rateWarning } from '../run-record.js';

export interface RunCommandOptions {
  durationS?: number;
  out?: string;
  /** Resolves when the run should stop early (default: SIGINT or SIGTERM). */
  until?: Promise<string>;
  /** Progress display: 'bar' on a TTY, else 'lines' (default: by stderr). */
  progress?: 'bar' | 'lines' | 'none';
  /** Seconds between progress lines (default 5). */
  progressEveryS?: number;
}

function signals(onSecond: () => void): { first: Promise<string>; dispose(): void } {
  let count = 0;
  let resolve!: (s: string) => void;
  const first = new Promise<string>((r) => (resolve = r));
  const on = (sig: string) => {
    count++;
    if (count === 1) resolve(sig);
    else onSecond();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    first,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

function line(p: Progress): string {
  const rows = Object.entries(p.rows)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const states = Object.entries(p.subsystems)
    .filter(([, s]) => s !== 'running')
    .map(([k, s]) => ` ${k} ${s}`)
    .join('');
  const frames = Object.entries(p.frames)
    .map(([k, f]) => `, ${k} ${f.acquired} frames (${f.stored} stored, ${f.dropped} dropped)`)
    .join('');
  const shown = p.short.slice(0, 3).map((s) => `${s.instrument} ${s.achievedHz}/${s.requestedHz} Hz`);
  if (p.short.length > 3) shown.push(`${p.short.length - 3} more (run.json)`);
  const short = p.short.length ? `; BELOW poll rate: ${shown.join(', ')}` : '';
  return `daq run: ${p.elapsedS.toFixed(0)} s, ${rows || 'no rows yet'}, ${Math.round(p.rate)} rows/s, stored ${p.stored}, backlog ${p.backlog}, dropped ${p.dropped}, late ${p.late}${frames}${states}${short}${publishLine(p.publish)}`;
}

/** The publisher's part of the progress line: `; published 1200 (lag 0.3 s)` or its trouble. */
export function publishLine(p: Progress['publish']): string {
  if (!p) return '';
  const lag = p.lagS !== undefined ? `, lag ${p.lagS.toFixed(1)} s` : '';
  if (p.state === 'connected') return `; published ${p.acked}${lag}${p.behindS > 5 ? `, ${p.behindS.toFixed(0)} s behind` : ''}`;
  const why = p.error ? `: ${p.error.message.split(': ')[0]}` : '';
  return `; publish ${p.state.toUpperCase()}${why} (${p.pendingBytes} bytes waiting, kept on disk)`;
}

/** The publisher's lines of the run summary. */
export function publishSummary(r: RunRecord): string[] {
  const p = r.publish;
  if (!p) return [];
  const out = [
    `  published to ${p.stream} as ${p.prefix}.${p.live?.run ?? '?'}.*: ${p.live?.complete ? 'every file acknowledged' : `NOT complete (${p.state}, ${p.pendingBytes} bytes waiting): the next daq started with this data_dir publishes the rest`}; ${p.acked} messages, ${p.bytes} bytes${p.medianLagS !== undefined ? `, median lag ${p.medianLagS} s` : ''}${p.failed ? `, ${p.failed} attempts failed (retried)` : ''}`,
  ];
  if (p.error && !p.live?.complete) out.push(`  publish error: ${p.error.code}: ${p.error.message}`);
  return out;
}

/**
 * What `daq run` starts: with `simulate = true` first the simulators of the configuration, then
 * the acquisition on them (which owns and closes them); otherwise the acquisition on the hardware.
 */
export async function startAcquisition(
  loaded: LoadedConfig,
  options: Omit<AcquisitionOptions, 'simulators'> = {},
): Promise<Acquisition> {
  const simulators = loaded.config.application.simulate ? await startSimulators(loaded.config) : undefined;
  return Acquisition.start(loaded, { ...options, simulators });
}

export function summary(r: RunRecord, dir: string): string {
  const out = [`daq run: ${r.status}${r.reason ? ` (${r.reason})` : ''} after ${r.durationS ?? 0} s`, `  run directory: ${dir}`];
  for (const f of r.streams.scalars.files) out.push(`  file: ${join(dir, f)}`);
  out.push(`  file: ${join(dir, 'run.json')}`);
  const w = Math.max(10, ...r.instruments.map((i) => i.id.length));
  out.push(`  ${'instrument'.padEnd(w)}  subsystem  ${'type'.padEnd(16)}  rows      polled (Hz, asked)`);
  for (const i of r.instruments)
    out.push(
      `  ${i.id.padEnd(w)}  ${i.subsystem.padEnd(9)}  ${i.type.padEnd(16)}  ${String(i.rows).padStart(8)}` +
        (i.rate ? `  ${i.rate.achievedHz} (${i.rate.requestedHz})` : '') +
        (rateShortfall(i) ? `  BELOW ITS POLL RATE: ${i.rate!.missedPolls} polls missed` : '') +
        (i.note ? `  (${i.note})` : '') +
        (i.flagged
          ? `  ${Object.entries(i.flagged)
              .map(([f, n]) => `${n} ${f}`)
              .join(', ')} (stored as null)`
          : '') +
        (i.corrections
          ? `  corrected on the device: ${Object.entries(i.corrections)
              .map(([k, n]) => `${k} ${n}×`)
              .join(', ')}`
          : '') +
        (i.pollErrors ? `  ${i.pollErrors} failed polls${i.lastError ? `, last: ${i.lastError}` : ''}` : '') +
        (i.state === 'failed' ? `  FAILED${i.lastError && !i.pollErrors ? `: ${i.lastError}` : ''}` : ''),
    );
  const s = r.streams.scalars;
  const src = Object.entries(s.sources)
    .map(([k, c]) => `${k} ${c.in} in / ${c.out} out${c.late ? ` / ${c.late} late` : ''}`)
    .join(', ');
  out.push(
    `  rows: ${s.rowsFlushed} stored${s.rowsNotStored ? `, ${s.rowsNotStored} not stored (storage disabled)` : ''}; ${src}; dropped ${s.dropped}`,
  );
  if (s.flushErrors) out.push(`  WRITE ERRORS: ${s.flushErrors} (last: ${s.lastError})`);
  for (const i of r.instruments) {
    const w = rateWarning(i);
    if (w) out.push(`  warning: ${w}`);
  }
  const sh = r.streams.shadow;
  if (sh) {
    for (const f of sh.files) out.push(`  file: ${join(dir, f)} (V4 shadow readings: ${sh.rowsFlushed} rows)`);
    if (sh.flushErrors) out.push(`  SHADOW WRITE ERRORS: ${sh.flushErrors} (last: ${sh.lastError})`);
  }
  if (r.shadow) {
    out.push(`  file: ${join(dir, r.shadow.file)} (the comparison, with the worst moments)`);
    out.push(...formatShadow(r.shadow.instruments, { final: r.shadow.final }));
  }
  for (const c of Object.values(r.streams.frames ?? {})) {
    const d = c.dropped;
    const where = d.total ? ` (at the camera ${d.atSource}, ring ${d.ring}, storage ${d.storage})` : '';
    const cpu =
      c.cpu?.requested === undefined
        ? 'not pinned'
        : c.cpu.pinned
          ? `pinned to CPU ${c.cpu.requested}`
          : `NOT pinned: ${c.cpu.error}`;
    const g = c.geometry ? `${c.geometry.width}x${c.geometry.height}x${c.geometry.bitDepth}` : '?';
    out.push(
      `  camera ${c.id} (${c.source ?? '?'}, ${g}, ${cpu}): ${c.acquired} frames acquired, ${c.stored} stored, ${d.total} dropped${where}`,
    );
    if (c.stats)
      out.push(`    frame_stats: ${c.stats.computed} computed, ${c.stats.skipped} skipped (pool busy), ${c.stats.failed} failed`);
    for (const f of c.files) out.push(`    file: ${f}`);
    if (c.error) out.push(`    ERROR: ${c.error}`);
  }
  out.push(...publishSummary(r));
  for (const sub of r.subsystems) for (const c of sub.crashes) out.push(`  ${sub.name} crashed at ${c.at}: ${c.cause}`);
  return `${out.join('\n')}\n`;
}

export async function runCommand(file: string | undefined, options: RunCommandOptions, io: CliIo): Promise<number> {
  if (!file) {
    io.err('daq run: name a configuration file (daq run lab.toml --duration 60)\n');
    return 2;
  }
  if (options.durationS !== undefined && !(options.durationS > 0)) {
    io.err(`daq run: --duration must be a positive number of seconds, got ${options.durationS}\n`);
    return 2;
  }
  const loaded = await loadCommandConfig('run', file, io);
  if (typeof loaded === 'number') return loaded;

  let acq: Acquisition | undefined;
  const sig = signals(() => {
    io.err(
      `daq run: second interrupt: terminating the workers now${acq?.publisher ? '; what is not published yet is left for the next daq (publish.json)' : ''}\n`,
    );
    void acq?.runtime.kill();
    void acq?.publisher?.close();
  });
  try {
    try {
      acq = await startAcquisition(loaded, { out: options.out });
    } catch (e) {
      io.err(`daq run: could not start: ${(e as Error).message}\n`);
      return 1;
    }
    io.err(`daq run: recording to ${acq.dir}${options.durationS ? ` for ${options.durationS} s` : ''}; Ctrl-C stops\n`);
    acq.runtime.on('crash', (c) =>
      io.err(
        `daq run: ${c.subsystem} crashed: ${c.cause}${c.willRestart ? ' (restarting)' : ''}; ${c.leasesReleased} leases released\n`,
      ),
    );

    const mode = options.progress ?? (process.stderr.isTTY ? 'bar' : 'lines');
    const bar =
      mode === 'bar'
        ? new cliProgress.SingleBar(
            {
              format: options.durationS
                ? '{bar} {percentage}% | {elapsed}s | {rows} rows | {rate} rows/s | stored {stored} | dropped {dropped}{pub}'
                : '{elapsed}s | {rows} rows | {rate} rows/s | stored {stored} | dropped {dropped}{pub}',
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    const a = acq;
    const show = () => {
      const p = a.progress();
      if (bar) {
        const rows = Object.values(p.rows).reduce((x, y) => x + y, 0);
        bar.update(Math.min(p.elapsedS, options.durationS ?? p.elapsedS), {
          elapsed: p.elapsedS.toFixed(0),
          rows,
          rate: Math.round(p.rate),
          stored: p.stored,
          dropped: p.dropped,
          pub: publishLine(p.publish).replace(/^; /, ' | '),
        });
      } else if (mode === 'lines') io.err(`${line(p)}\n`);
    };
    bar?.start(options.durationS ?? 1, 0, { elapsed: 0, rows: 0, rate: 0, stored: 0, dropped: 0, pub: '' });
    const ticker = setInterval(show, mode === 'bar' ? 250 : (options.progressEveryS ?? 5) * 1000);

    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      options.until ?? sig.first,
      new Promise<string>((r) => {
        if (options.durationS) timer = setTimeout(() => r('duration'), options.durationS * 1000);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(ticker);
    if (bar) show(); // the bar's final state; in line mode the summary follows at once
    bar?.stop();
    const interrupted = done !== 'duration';
    io.err(`daq run: stopping${interrupted ? ` (${done})` : ''}…\n`);
    const record = await acq.stop(interrupted ? 'interrupted' : 'completed', interrupted ? `stopped by ${done}` : undefined);
    io.err(summary(record, acq.dir));
    if (record.status === 'failed') return 1;
    return interrupted ? 130 : 0;
  } finally {
    sig.dispose();
  }
}
