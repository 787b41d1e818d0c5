// The stress scenario: the options of a run and their defaults, and the lab it runs against:
// simulators for an Elliptec bus shared by a V2 and a V4 instrument, a Newport 1830-C and a SCPI
// instrument over TCP, with the broker's shared resources (serial pool, VISA queues) over them.

import { parseConfig, type DaqConfig } from '@daq/core';
import { startSimulators, type Newport1830CSimulator, type SimulatorSet } from '@daq/sim';
import { SharedResources, type PortStats, type VisaStats } from '@daq/broker';
import type { PortKey, StressPorts } from '../workers/stress-client.js';

export interface StressOptions {
  /** How long clients keep issuing commands. */
  seconds: number;
  /** Worker threads per subsystem identity (default 3 "v2" and 3 "v4"). */
  workersPerSubsystem?: number;
  serialClientsPerWorker?: number;
  visaClientsPerWorker?: number;
  /** Every n-th operation of a client is a trouble operation (default 10). */
  troubleEvery?: number;
  /** A worker dies holding a lease (or while queued for one) this often (default: 6 per run, at most one per 4 s). */
  abandonEveryMs?: number;
  sampleEveryMs?: number;
  /** Samples before this are warm-up (default 25 % of the run, at most 10 s). */
  warmupMs?: number;
  /** After the deadline, how long everything has to finish (default 10 s). */
  graceMs?: number;
  log?: (line: string) => void;
}

/** The options with every default filled in. */
export type StressSettings = Required<Omit<StressOptions, 'log'>>;

export function resolveOptions(opts: StressOptions): StressSettings {
  return {
    seconds: opts.seconds,
    workersPerSubsystem: opts.workersPerSubsystem ?? 3,
    serialClientsPerWorker: opts.serialClientsPerWorker ?? 2,
    visaClientsPerWorker: opts.visaClientsPerWorker ?? 1,
    troubleEvery: opts.troubleEvery ?? 10,
    abandonEveryMs: opts.abandonEveryMs ?? Math.max(4000, (opts.seconds * 1000) / 6),
    sampleEveryMs: opts.sampleEveryMs ?? 1000,
    warmupMs: opts.warmupMs ?? Math.min(10_000, opts.seconds * 250),
    graceMs: opts.graceMs ?? 10_000,
  };
}

const CONFIG = `
[application]
name = "stress"
simulate = true

[broker]
serial_lease_timeout_ms = 20000
visa_timeout_ms = 5000

[v2]
enabled = true

[[v2.instruments]]
id = "rot_a"
type = "Elliptec"
serial_port = "/dev/ttySTRESS0"
address = "0"

[[v2.instruments]]
id = "power"
type = "Newport1830C"
serial_port = "/dev/ttySTRESS1"

[v4]
enabled = true

[[v4.instruments]]
id = "rot_b"
type = "Elliptec"
serial_port = "/dev/ttySTRESS0"
address = "1"

[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "TCPIP0::127.0.0.1::5025::SOCKET"
`;

/** What the broker and the simulators counted, read once every client is done. */
export interface LabCounts {
  ports: Record<PortKey, PortStats>;
  visa: VisaStats;
  /** Commands each serial simulator received. */
  simCommands: Record<PortKey, number>;
}

export interface StressLab {
  resources: SharedResources;
  /** Where the clients find the instruments. */
  ports: StressPorts;
  counts(): LabCounts;
  /** Closes the broker's resources, then the simulators. */
  close(): Promise<void>;
}

type InstrumentAddress = { id: string; serial_port?: string; resource?: string };

/**
 * Where the clients find the instruments. The meter is set up on the simulator itself, so every
 * command on its line is a counted client command.
 */
function labPorts(sims: SimulatorSet): StressPorts {
  const inst = [...sims.config.v2.instruments, ...sims.config.v4.instruments] as InstrumentAddress[];
  const byId = (id: string) => inst.find((i) => i.id === id)!;
  const newport = sims.serial.get('/dev/ttySTRESS1') as Newport1830CSimulator;
  newport.echo = false;
  newport.filter = 3;
  const { maker, model, serial, firmware } = [...sims.scpi.values()][0]!.engine.identity;
  return {
    bus: byId('rot_a').serial_port!,
    newport: byId('power').serial_port!,
    resource: byId('dmm').resource!,
    busAddresses: ['0', '1'],
    idn: `${maker},${model},${serial},${firmware}`,
  };
}

function lab(sims: SimulatorSet, ports: StressPorts, resources: SharedResources): StressLab {
  const commands = (path: string) => sims.serial.get(path)!.counters.commands;
  return {
    resources,
    ports,
    counts: () => ({
      ports: { bus: resources.serial.stats(ports.bus), newport: resources.serial.stats(ports.newport) },
      visa: resources.visa.stats(ports.resource),
      simCommands: { bus: commands('/dev/ttySTRESS0'), newport: commands('/dev/ttySTRESS1') },
    }),
    async close() {
      await resources.close();
      await sims.close();
    },
  };
}

/** Starts the simulators and the broker's shared resources over them. */
export async function startLab(): Promise<StressLab> {
  const config: DaqConfig = parseConfig(CONFIG, 'stress.toml').config;
  const sims = await startSimulators(config);
  try {
    const ports = labPorts(sims);
    return lab(sims, ports, await SharedResources.create(sims.config));
  } catch (e) {
    await sims.close();
    throw e;
  }
}
