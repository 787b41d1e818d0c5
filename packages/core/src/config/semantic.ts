// Checks the schema cannot express: across instruments, across subsystems, and against
// the VISA resource grammar. Runs on schema-valid instruments only, so one bad table does
// not hide the problems of the others.

import { availableParallelism } from 'node:os';
import { parseVisaResource, type VisaResource } from '../visa-resource.js';
import { DaqError } from '../errors.js';
import { SERIAL_LINE_KEYS, type Subsystem } from './instrument-types.js';
import { formatKeyPath, type KeyPath } from './locate.js';
import type { DaqConfig, InstrumentConfig } from './types.js';

export interface Finding {
  path: KeyPath;
  message: string;
  severity: 'error' | 'warning';
}

export interface PlacedInstrument {
  subsystem: Subsystem;
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
  for (const s of ['v2', 'v4'] as const) {
    if (config[s].enabled && config[s].instruments.length === 0) {
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
      const seen = new Map<Subsystem, PlacedInstrument>();
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
    const roi = p.config.roi;
    if (roi && (roi.width % p.config.binning !== 0 || roi.height % p.config.binning !== 0)) {
      error(pathOf(p, 'roi'), `roi ${roi.width}x${roi.height} is not a multiple of binning ${p.config.binning}`);
    }
  }
  return findings;
}

export { formatKeyPath };
