// run.json: what a run directory says about its run (format `daq-run/1`): the configuration,
// versions and host, the streams' counts, each instrument's rows and last state, each
// subsystem's restarts and crashes. The Acquisition refreshes it while running and at the end;
// the functions here build it from what the run's parts report.

import { hostname, cpus, platform, release } from 'node:os';
import { createRequire } from 'node:module';
import {
  redactConfig,
  type DaqConfig,
  type DataSource,
  type InstrumentState,
  type LoadedConfig,
  type SubsystemName,
} from '@daq/core';
import type { CrashReport, StopReport, SupervisorState } from './runtime/subsystem-supervisor.js';
import type { RuntimeStatus } from './runtime/dual-runtime-manager.js';
import { SHADOW_SUBSYSTEM, type SourceCounts } from './bridge/measurement-bridge.js';
import type { ShadowReport, ShadowInstrumentReport } from './shadow/shadow-comparator.js';
import type { ScalarFileStats } from './storage/scalar-file-sink.js';
import type { CameraReport } from './camera/camera-manager.js';
import type { PublisherStatus } from './publish-handle.js';

export type RunStatus = 'running' | 'completed' | 'interrupted' | 'failed';

/** One instrument's line in run.json. */
export interface RunInstrument {
  id: string;
  subsystem: DataSource;
  type: string;
  rows: number;
  note?: string;
  /** From the worker's last status: the instrument's state, failed polls and its last error. */
  state?: InstrumentState;
  pollErrors?: number;
  lastError?: string;
  /** Rows stored with a null value because the instrument sent a sentinel (SCPI overload / not-a-number), per flag. */
  flagged?: Record<string, number>;
  /** What the driver put right on the device during the run, by kind (e.g. units-restored). */
  corrections?: Record<string, number>;
  /**
   * A polled instrument's rate: what poll_hz asked, what it got (InstrumentStatus.achievedHz), and
   * the polls that did not happen because it could not keep up (see rateShortfall).
   */
  rate?: { requestedHz: number; achievedHz: number; missedPolls: number; polledS: number };
}

/** An instrument below this share of its requested poll rate is reported (summary, run.json warnings, progress line). */
export const RATE_SHORTFALL = 0.05;

/** The instrument's rate, when it fell more than RATE_SHORTFALL short of its poll_hz over at least a second. */
export function rateShortfall(i: RunInstrument): RunInstrument['rate'] | undefined {
  const r = i.rate;
  if (!r || r.polledS < 1 || r.requestedHz <= 0) return undefined;
  return r.missedPolls > RATE_SHORTFALL * r.requestedHz * r.polledS ? r : undefined;
}

/** The warning for an instrument that fell short of its poll rate, or undefined. */
export function rateWarning(i: RunInstrument): string | undefined {
  const r = rateShortfall(i);
  if (!r) return undefined;
  const pct = Math.round((1 - r.achievedHz / r.requestedHz) * 100);
  return (
    `${i.subsystem}.${i.id}: polled at ${r.achievedHz} Hz of the ${r.requestedHz} Hz asked (${pct} % short, ${r.missedPolls} polls missed): ` +
    `its polls take longer than the period (the ${i.subsystem} worker, the line or the instrument cannot keep up); lower poll_hz or spread the instruments`
  );
}

export interface RunRecord {
  format: 'daq-run/1';
  name: string;
  status: RunStatus;
  reason?: string;
  configFile: string;
  config: DaqConfig;
  versions: Record<string, string>;
  host: { hostname: string; platform: string; release: string; cpu: string; cores: number };
  startedAt: string;
  stoppedAt?: string;
  durationS?: number;
  streams: {
    scalars: ScalarFileStats & { sources: Record<string, SourceCounts>; dropped: number };
    /** Per producer thread's SharedArrayBuffer ring (V4): written, read, dropped, high-water, backpressure pauses. */
    rings?: Record<string, unknown>;
    /** Per camera: frames acquired, stored, dropped (and where), statistics, files, CPU pinning. */
    frames?: Record<string, CameraReport>;
    /** Shadow mode: V4's readings of the shadowed V2 instruments (shadow.arrows). */
    shadow?: ScalarFileStats;
  };
  /** Shadow mode: the comparison of V2 and V4 per instrument and channel (worst moments in shadow.json). */
  shadow?: { file: 'shadow.json'; final: boolean; instruments: Record<string, ShadowSummary> };
  /** [application.publish]: the publisher's state, counts and lag (docs/publishing.md). */
  publish?: PublisherStatus;
  instruments: RunInstrument[];
  subsystems: { name: SubsystemName; state: SupervisorState; restarts: number; crashes: CrashReport[]; stop?: StopReport }[];
  warnings: string[];
}

export type ShadowSummary = Omit<ShadowInstrumentReport, 'channels'> & {
  channels: Record<string, Omit<ShadowInstrumentReport['channels'][string], 'worst'>>;
};

/** A shadow report without its worst moments, for run.json. */
export function shadowSummary(report: ShadowReport): RunRecord['shadow'] {
  const instruments = Object.fromEntries(
    Object.entries(report.instruments).map(([id, r]) => [
      id,
      { ...r, channels: Object.fromEntries(Object.entries(r.channels).map(([c, ch]) => [c, { ...ch, worst: undefined }])) },
    ]),
  ) as Record<string, ShadowSummary>;
  return { file: 'shadow.json', final: report.final, instruments };
}

const require = createRequire(import.meta.url);
function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The record of a run that starts now, before anything has run. */
export function newRunRecord(loaded: LoadedConfig, scalars: ScalarFileStats): RunRecord {
  const cpu = cpus();
  return {
    format: 'daq-run/1',
    name: loaded.config.application.name,
    status: 'running',
    configFile: loaded.file,
    config: redactConfig(loaded.config),
    versions: { daq: '0.1.0', node: process.versions.node, 'apache-arrow': versionOf('apache-arrow') },
    host: {
      hostname: hostname(),
      platform: platform(),
      release: release(),
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
    },
    startedAt: new Date().toISOString(),
    streams: { scalars: { ...scalars, sources: {}, dropped: 0 } },
    instruments: [],
    subsystems: [],
    warnings: loaded.warnings.map((w) => `${w.path}: ${w.message}`),
  };
}

/** What instrumentRecords needs: the run's parts as they report now, and the previous lines. */
export interface InstrumentSources {
  config: DaqConfig;
  /** The workers' status; undefined when it could not be had (the run is stopping). */
  status: RuntimeStatus | undefined;
  scalars: ScalarFileStats;
  frames: CameraReport[];
  cameraIds: ReadonlySet<string>;
  /** The lines written last time: a worker that has stopped reports nothing, and they keep what it said. */
  previous: readonly RunInstrument[];
  /** Shadow mode: the V2 instruments V4 shadows, with V4's rows and the comparison. */
  shadows: readonly { id: string; type: string }[];
  shadowStats?: ScalarFileStats;
  shadowReport?: RunRecord['shadow'];
}

/** One line per configured instrument (and per shadowed one, under the shadow subsystem). */
export function instrumentRecords(s: InstrumentSources): RunInstrument[] {
  const notRun = new Map(s.status?.notRun.filter((n) => !s.cameraIds.has(n.id)).map((n) => [n.id, n.why]) ?? []);
  const out: RunInstrument[] = [];
  for (const subsystem of ['v2', 'v4'] as const) {
    if (!s.config[subsystem].enabled) continue;
    for (const { id, type } of s.config[subsystem].instruments) {
      const note = notRun.get(id);
      const camera = s.frames.find((c) => c.id === id);
      const live = s.status?.subsystems.find((x) => x.name === subsystem)?.instruments.find((i) => i.id === id);
      const prev = s.previous.find((i) => i.id === id && i.subsystem === subsystem);
      const corrections = live?.corrections ?? prev?.corrections;
      out.push({
        id,
        subsystem,
        type,
        rows: camera ? camera.stored : (s.scalars.perInstrument[id] ?? 0),
        ...(s.scalars.flaggedPerInstrument[id] ? { flagged: s.scalars.flaggedPerInstrument[id] } : {}),
        ...(corrections ? { corrections } : {}),
        ...(live
          ? {
              state: live.state,
              pollErrors: live.pollErrors,
              ...(live.error ? { lastError: `${live.error.code}: ${live.error.message}` } : {}),
              ...(live.pollHz > 0 && live.pollingS > 0
                ? {
                    rate: {
                      requestedHz: live.pollHz,
                      achievedHz: Math.round(live.achievedHz * 10) / 10,
                      missedPolls: live.missedPolls,
                      polledS: Math.round(live.pollingS * 1000) / 1000,
                    },
                  }
                : prev?.rate
                  ? { rate: prev.rate }
                  : {}),
            }
          : prev?.state
            ? {
                state: prev.state,
                pollErrors: prev.pollErrors,
                ...(prev.lastError ? { lastError: prev.lastError } : {}),
                ...(prev.rate ? { rate: prev.rate } : {}),
              }
            : {}),
        ...(camera ? { note: `camera: ${camera.stored} frames stored` } : {}),
        ...(note ? { note } : {}),
      });
    }
  }
  // Shadow mode: V4's run of each shadowed instrument, beside V2's.
  for (const i of s.shadows) {
    const c = s.shadowReport?.instruments[i.id];
    out.push({
      id: i.id,
      subsystem: SHADOW_SUBSYSTEM,
      type: i.type,
      rows: s.shadowStats?.perInstrument[i.id] ?? 0,
      note: c?.v4Error
        ? `shadow: V4 could not run it: ${c.v4Error}`
        : `shadow of V2: ${c?.pairs ?? 0} pairs compared (shadow.json)`,
    });
  }
  return out;
}
