// Checks the schema cannot express: across instruments, across subsystems, and against
// the VISA resource grammar. Runs on schema-valid instruments only, so one bad table does
// not hide the problems of the others.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseVisaResource, type VisaResource } from '../visa-resource.js';
import { DaqError } from '../errors.js';
import { didYouMean } from '../did-you-mean.js';
import { SERIAL_LINE_KEYS, instrumentTypeSpec } from './instrument-types.js';
import type { SubsystemName } from './types.js';
import { formatKeyPath, type KeyPath } from './locate.js';
import type { DaqConfig, InstrumentConfig, V2InstrumentConfig } from './types.js';

export interface Finding {
  path: KeyPath;
  message: string;
  severity: 'error' | 'warning';
}

export interface PlacedInstrument {
  subsystem: SubsystemName;
  index: number;
  config: InstrumentConfig;
  /** `v2.instruments[0]`. */
  where: string;
}

/** The serial device an instrument uses, directly or through an ASRL VISA resource. */
export function serialPortOf(inst: InstrumentConfig): string | undefined {
  if ('serial_port' in inst) return inst.serial_port;
  if (inst.type === 'ScpiInstrument') {
    try {
      const r = parseVisaResource(inst.resource);
      if (r.interface === 'ASRL') return r.path;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The V2 instruments V4 shadows ([v4.shadow]); none unless both subsystems are enabled. */
export function shadowedInstruments(config: DaqConfig): V2InstrumentConfig[] {
  if (!config.v2.enabled || !config.v4.enabled) return [];
  const listed = new Set(config.v4.shadow?.instruments ?? []);
  return config.v2.instruments.filter((i) => listed.has(i.id));
}

function describe(p: PlacedInstrument): string {
  return `${p.where} (${p.config.id})`;
}

export function semanticChecks(
  config: DaqConfig,
  valid: PlacedInstrument[],
  written: (path: KeyPath) => boolean,
  { sectionsValid }: { sectionsValid: boolean },
): Finding[] {
  const findings: Finding[] = [];
  const error = (path: KeyPath, message: string) => findings.push({ path, message, severity: 'error' });
  const warning = (path: KeyPath, message: string) => findings.push({ path, message, severity: 'warning' });
  const pathOf = (p: PlacedInstrument, key?: string): KeyPath =>
    key === undefined ? [p.subsystem, 'instruments', p.index] : [p.subsystem, 'instruments', p.index, key];

  // A malformed [v2]/[v4] has been reported; whether it was meant to be enabled is unknown.
  if (sectionsValid && !config.v2.enabled && !config.v4.enabled) {
    const at: KeyPath = written(['v2', 'enabled']) ? ['v2', 'enabled'] : written(['v4', 'enabled']) ? ['v4', 'enabled'] : [];
    error(at, 'no subsystem is enabled: add a [v2] or [v4] section with enabled = true and its instruments');
  }
  const pub = config.application.publish;
  if (pub) {
    const at = (k: string): KeyPath => ['application', 'publish', k];
    if (pub.user !== undefined && pub.password === undefined && !process.env.DAQ_NATS_PASSWORD)
      error(at('user'), 'user is set without a password: add password (or set DAQ_NATS_PASSWORD in the environment)');
    if (pub.password !== undefined && pub.user === undefined && !process.env.DAQ_NATS_USER)
      error(at('password'), 'password is set without a user: add user (or set DAQ_NATS_USER in the environment)');
    const methods = [
      pub.token !== undefined && 'token',
      pub.user !== undefined && 'user',
      pub.nkey_seed !== undefined && 'nkey_seed',
    ].filter(Boolean);
    if (methods.length > 1)
      error(at(methods[1] as string), `only one authentication method may be set; found ${methods.join(' and ')}`);
    if ((pub.tls_cert === undefined) !== (pub.tls_key === undefined))
      error(
        at(pub.tls_cert === undefined ? 'tls_key' : 'tls_cert'),
        'tls_cert and tls_key go together (a client certificate and its private key)',
      );
    for (const [key, env] of [
      ['token', 'DAQ_NATS_TOKEN'],
      ['password', 'DAQ_NATS_PASSWORD'],
      ['nkey_seed', 'DAQ_NATS_NKEY_SEED'],
    ] as const)
      if (pub[key] !== undefined)
        warning(
          at(key),
          `a secret in the configuration file: prefer the environment (${env}), which overrides it; run.json shows it as (redacted)`,
        );
    if (pub.nkey_seed !== undefined && !/^SU[A-Z2-7]{50,}$/.test(pub.nkey_seed))
      error(at('nkey_seed'), 'not an NKey user seed (it starts with SU, as printed by `nk -gen user`)');
  }
  for (const s of ['v2', 'v4'] as const) {
    const shadows = s === 'v4' && (config.v4.shadow?.instruments?.length ?? 0) > 0;
    if (config[s].enabled && config[s].instruments.length === 0 && !shadows) {
      warning([s], `[${s}] is enabled but has no instruments`);
    }
  }

  // Ids are the names used in commands, files and reports: unique across both subsystems.
  const byId = new Map<string, PlacedInstrument>();
  for (const p of valid) {
    const first = byId.get(p.config.id);
    if (first) {
      error(pathOf(p, 'id'), `id "${p.config.id}" is already used by ${first.where}; ids must be unique across v2 and v4`);
    } else {
      byId.set(p.config.id, p);
    }
  }

  shadowChecks(config, byId, written, error, warning);

  // A V4 worker waiting for ring space sleeps in Atomics.wait: it answers no heartbeat meanwhile.
  if (
    config.v4.enabled &&
    config.v4.ring_policy === 'block' &&
    config.v4.ring_block_timeout_ms >= config.broker.heartbeat_timeout_ms
  ) {
    error(
      written(['v4', 'ring_block_timeout_ms']) ? ['v4', 'ring_block_timeout_ms'] : ['broker', 'heartbeat_timeout_ms'],
      `ring_block_timeout_ms ${config.v4.ring_block_timeout_ms} must be shorter than [broker] heartbeat_timeout_ms ${config.broker.heartbeat_timeout_ms}: a V4 worker waiting for ring space answers no heartbeat and would be declared unresponsive instead of dropping and reporting the batch`,
    );
  }

  // VISA resources parse, and serial line settings only go with serial resources.
  const resources = new Map<PlacedInstrument, VisaResource>();
  for (const p of valid) {
    if (p.config.type !== 'ScpiInstrument') continue;
    try {
      const r = parseVisaResource(p.config.resource);
      resources.set(p, r);
      if (p.config.baud_rate !== undefined && r.interface !== 'ASRL') {
        error(pathOf(p, 'baud_rate'), `baud_rate applies only to ASRL (serial) resources, not ${r.interface}`);
      }
      const needsLibrary =
        r.interface === 'GPIB' || r.interface === 'USB' || (r.interface === 'TCPIP' && r.resourceClass === 'INSTR');
      if (needsLibrary && !config.broker.visa_library && !config.application.simulate) {
        warning(
          pathOf(p, 'resource'),
          `${r.canonical} needs a VISA library: set [broker] visa_library, or use simulate = true, or a ::SOCKET resource`,
        );
      }
    } catch (e) {
      error(pathOf(p, 'resource'), e instanceof DaqError ? e.message : String(e));
    }
  }

  // Instruments sharing a serial port: one line, one protocol, one set of line settings.
  const byPort = new Map<string, PlacedInstrument[]>();
  for (const p of valid) {
    const port = serialPortOf(p.config);
    if (port === undefined) continue;
    const list = byPort.get(port) ?? [];
    list.push(p);
    byPort.set(port, list);
  }
  for (const [port, users] of byPort) {
    const settingsOwner = new Map<string, PlacedInstrument>();
    for (const p of users) {
      for (const key of SERIAL_LINE_KEYS) {
        const value = (p.config as unknown as Record<string, unknown>)[key];
        // A ScpiInstrument on ASRL that leaves a setting out adopts the port's.
        if (value === undefined || (p.config.type === 'ScpiInstrument' && !written(pathOf(p, key)))) continue;
        const owner = settingsOwner.get(key);
        if (!owner) {
          settingsOwner.set(key, p);
          continue;
        }
        const theirs = (owner.config as unknown as Record<string, unknown>)[key];
        if (theirs !== value) {
          error(
            pathOf(p, key),
            `${key} ${JSON.stringify(value)} conflicts with ${JSON.stringify(theirs)} for ${port} in ${describe(owner)}; instruments sharing a port must agree on its line settings`,
          );
        }
      }
    }
    const protocolUsers = users.filter((p) => p.config.type !== 'ScpiInstrument');
    const first = protocolUsers[0];
    if (!first) continue;
    for (const p of protocolUsers.slice(1)) {
      if (p.config.type !== first.config.type) {
        error(
          pathOf(p, 'serial_port'),
          `${port} is already used by ${first.config.type} ${describe(first)}; one port carries one protocol (only Elliptec devices share a bus)`,
        );
      }
    }
    if (first.config.type === 'Elliptec') {
      const byAddress = new Map<string, PlacedInstrument>();
      for (const p of protocolUsers) {
        if (p.config.type !== 'Elliptec') continue;
        const key = `${p.subsystem}:${p.config.address}`;
        const same = byAddress.get(key);
        if (same) {
          error(
            pathOf(p, 'address'),
            `Elliptec address ${p.config.address} on ${port} is already used by ${describe(same)}; devices on one bus need distinct addresses`,
          );
          continue;
        }
        byAddress.set(key, p);
        const other = byAddress.get(`${p.subsystem === 'v2' ? 'v4' : 'v2'}:${p.config.address}`);
        if (other) {
          warning(
            pathOf(p, 'address'),
            `Elliptec address ${p.config.address} on ${port} is also ${describe(other)}: V2 and V4 will both drive this one device (fine for side-by-side comparison; otherwise give it another address)`,
          );
        }
      }
    } else {
      // The same device may be configured once in V2 and once in V4 (run side by side), never twice in one.
      const seen = new Map<SubsystemName, PlacedInstrument>();
      for (const p of protocolUsers) {
        if (p.config.type !== first.config.type) continue;
        const same = seen.get(p.subsystem);
        if (same) {
          error(
            pathOf(p, 'serial_port'),
            `${port} already has a ${p.config.type} in ${p.subsystem}: ${describe(same)}; one port has one such device (configure it once per subsystem)`,
          );
        } else {
          seen.set(p.subsystem, p);
        }
      }
    }
  }

  // Cameras: one owner per camera, and a CPU this machine has.
  const cameras = new Map<string, PlacedInstrument>();
  const cpus = availableParallelism();
  for (const p of valid) {
    if (p.config.type !== 'PVCAMInstrument') continue;
    const same = cameras.get(p.config.camera_name);
    if (same) {
      error(pathOf(p, 'camera_name'), `camera "${p.config.camera_name}" is already opened by ${describe(same)}`);
    } else {
      cameras.set(p.config.camera_name, p);
    }
    if (p.config.cpu !== undefined && p.config.cpu >= cpus) {
      warning(
        pathOf(p, 'cpu'),
        `cpu ${p.config.cpu} does not exist on this machine (CPUs 0-${cpus - 1}); pinning will fail here`,
      );
    }
    const rt = p.config.realtime_priority;
    if (rt !== undefined) {
      const denied = realtimeDenied(rt);
      if (denied)
        warning(
          pathOf(p, 'realtime_priority'),
          `realtime_priority ${rt}: ${denied}, so the camera worker will run without it (its report says so); docs/performance.md says what to set up`,
        );
    }
    const roi = p.config.roi;
    if (roi && (roi.width % p.config.binning !== 0 || roi.height % p.config.binning !== 0)) {
      error(pathOf(p, 'roi'), `roi ${roi.width}x${roi.height} is not a multiple of binning ${p.config.binning}`);
    }
  }
  return findings;
}

/**
 * Why this process could not give a thread SCHED_FIFO at `priority` (no CAP_SYS_NICE and
 * RLIMIT_RTPRIO below it), or undefined when it could or /proc cannot tell.
 */
function realtimeDenied(priority: number): string | undefined {
  try {
    const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!eff || ((BigInt(`0x${eff[1]!}`) >> 23n) & 1n) === 1n) return undefined; // CAP_SYS_NICE
    const limit = /^Max realtime priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (limit === undefined || limit === 'unlimited' || Number(limit) >= priority) return undefined;
    return `this process may not use real-time priorities (RLIMIT_RTPRIO ${limit}, no CAP_SYS_NICE)`;
  } catch {
    return undefined; // no /proc (not Linux): the worker reports what happens
  }
}

/** The device an instrument drives: its serial line, and on an Elliptec bus its address. */
function deviceOf(inst: InstrumentConfig): string | undefined {
  const port = serialPortOf(inst);
  if (port === undefined || inst.type === 'ScpiInstrument') return undefined;
  return inst.type === 'Elliptec' ? `${port} address ${inst.address}` : port;
}

/** [v4.shadow]: every listed id is a V2 instrument with a V4 driver, on a device V4 does not already drive. */
function shadowChecks(
  config: DaqConfig,
  byId: Map<string, PlacedInstrument>,
  written: (path: KeyPath) => boolean,
  error: (path: KeyPath, message: string) => void,
  warning: (path: KeyPath, message: string) => void,
): void {
  const shadow = config.v4.shadow;
  if (!shadow || !Array.isArray(shadow.instruments) || shadow.instruments.length === 0) return;
  const at = (k: number): KeyPath => ['v4', 'shadow', 'instruments', k];
  if (!config.v4.enabled) {
    error(written(['v4', 'enabled']) ? ['v4', 'enabled'] : ['v4', 'shadow'], 'shadow mode runs V4 drivers: [v4] must be enabled');
  }
  if (!config.v2.enabled) {
    error(['v4', 'shadow', 'instruments'], 'shadow mode compares V4 with V2: [v2] must be enabled');
  }
  const v2Ids = [...byId.values()].filter((p) => p.subsystem === 'v2').map((p) => p.config.id);
  shadow.instruments.forEach((id, k) => {
    const placed = byId.get(id);
    if (!placed) {
      error(
        at(k),
        `no V2 instrument has id "${id}"${didYouMean(id, v2Ids)}; list ids of [[v2.instruments]] (V2 ids: ${v2Ids.join(', ') || 'none'})`,
      );
      return;
    }
    if (placed.subsystem !== 'v2') {
      error(
        at(k),
        `"${id}" is a V4 instrument (${placed.where}); shadow mode runs V4 beside a V2 instrument, so list V2 ids only`,
      );
      return;
    }
    const type = placed.config.type;
    if (!instrumentTypeSpec('v4', type)) {
      error(
        at(k),
        `"${id}" is a ${type}, which has no V4 driver: it cannot be shadowed (keep it on V2; see docs/migration.md#${type.toLowerCase()})`,
      );
      return;
    }
    if ('poll_hz' in placed.config && placed.config.poll_hz === 0) {
      warning(at(k), `"${id}" has poll_hz = 0: neither V2 nor V4 takes readings, so there is nothing to compare`);
    }
    const device = deviceOf(placed.config);
    const twin = [...byId.values()].find(
      (p) => p.subsystem === 'v4' && p.config.type === type && device !== undefined && deviceOf(p.config) === device,
    );
    if (twin) {
      error(
        at(k),
        `V4 already drives the device of "${id}" (${device}) as ${twin.where} (${twin.config.id}); shadowing it would drive it twice from V4: remove ${twin.config.id} or the shadow entry`,
      );
    }
  });
}

export { formatKeyPath };
