// Starts a simulator for every instrument of a configuration and rewrites the configuration
// to point at them: one simulator per serial line (an Elliptec bus answers all its
// addresses; a device configured in both V2 and V4 is one device) and one per VISA resource.
// A Newport1830C's `sim.light` puts simulators on one optical bench (optical-bench.ts): the
// meter reads the named MaiTai's beam through a polarizer on the named Elliptec mount.

import {
  DaqError,
  onSerialGrant,
  parseVisaResource,
  serialPortOf,
  type DaqConfig,
  type InstrumentConfig,
  type SimFaultsConfig,
} from '@daq/core';
import { faultsFromConfig } from './faults.js';
import { ElliptecBusSimulator, KIND_NAMES, type ElliptecDeviceOptions, type ElliptecModel } from './elliptec-bus.js';
import { Newport1830CSimulator, type Detector } from './newport-1830c.js';
import { Esp300Simulator } from './esp300.js';
import { MaiTaiSimulator, type MaiTaiModel, type MaiTaiOptions } from './maitai.js';
import { opticalPath, planBenches, type BenchPlan } from './optical-bench.js';
import { ScpiTcpSimulator } from './scpi-tcp-simulator.js';
import { ScpiSerialSimulator } from './scpi-serial-simulator.js';
import type { SerialSimulator } from './serial-simulator.js';

export interface SimEndpoint {
  id: string;
  type: string;
  serial_port?: string;
  resource?: string;
  /** Why this instrument has no simulator endpoint (e.g. it needs none). */
  note?: string;
}

export interface SimulatorSet extends AsyncDisposable {
  /** The configuration with every serial_port and resource pointing at a simulator. */
  config: DaqConfig;
  endpoints: SimEndpoint[];
  serial: Map<string, SerialSimulator>;
  scpi: Map<string, ScpiTcpSimulator>;
  close(): Promise<void>;
}

const NO_ENDPOINT: Record<string, string> = {
  MockPower: 'no hardware: simulated inside the V2 worker',
  PVCAMInstrument: 'simulated in the camera worker (SimCamera)',
};

/**
 * A DMM reading at its default 10 power-line cycles with auto-zero takes ~0.4 s (two
 * integrations of 200 ms at 50 Hz, e.g. a Keysight 34461A); the fast profile measures at once.
 */
function scpiMeasurementMs(profile: string | undefined): number | undefined {
  return profile === 'hardware' ? 400 : undefined;
}

function simOf(inst: InstrumentConfig): SimFaultsConfig | undefined {
  return 'sim' in inst ? inst.sim : undefined;
}

/** Points a bench's meter at its light: the laser's beam through the polarizer's mount. */
function wireBench(b: BenchPlan, serial: Map<string, SerialSimulator>): void {
  const refuse = (what: string): never => {
    throw new DaqError('DAQ_CONFIG', `${b.meter.id}: ${what}`, { instrument: b.meter.id });
  };
  const meter = serial.get(b.meter.serial_port);
  if (!(meter instanceof Newport1830CSimulator))
    return refuse(`sim.light needs the meter's own simulator on ${b.meter.serial_port}`);
  const laser = b.laser && serial.get(b.laser.serial_port);
  if (b.laser && !(laser instanceof MaiTaiSimulator))
    refuse(`sim.light.laser = "${b.laser.id}" has no MaiTai simulator on ${b.laser.serial_port}`);
  let angleDeg: ((at: number) => number) | undefined;
  if (b.polarizer) {
    const where = `sim.light.polarizer = "${b.polarizer.id}"`;
    const bus = serial.get(b.polarizer.serial_port);
    if (!(bus instanceof ElliptecBusSimulator))
      return refuse(`${where} has no Elliptec bus simulator on ${b.polarizer.serial_port}`);
    // The device itself, not its address: it keeps turning the polarizer after a `ca`.
    const mount = bus.device(b.polarizer.address);
    if (mount.kind !== 'rotary')
      refuse(
        `${where} is an ${mount.model}, ${KIND_NAMES[mount.kind]}: it must be an Elliptec rotation mount (sim.model ELL14, ELL16, ELL18, ELL21 or ELL22)`,
      );
    angleDeg = (at) => mount.angleDegAt(at);
  }
  const source = laser instanceof MaiTaiSimulator ? (at: number) => laser.beamPowerW(at) : () => b.light.source_w;
  meter.opticalPower = opticalPath({
    source,
    angleDeg,
    axisDeg: b.light.axis_deg,
    transmission: b.light.transmission,
    leakW: b.light.leak_w,
    noise: b.light.noise,
    seed: b.seed,
  });
}

/** Starts every simulator the configuration needs. On failure, those already started are closed. */
export async function startSimulators(config: DaqConfig): Promise<SimulatorSet> {
  const out = structuredClone(config);
  const instruments = [
    ...(out.v2.enabled ? out.v2.instruments : []),
    ...(out.v4.enabled ? out.v4.instruments : []),
  ] as InstrumentConfig[];
  const serial = new Map<string, SerialSimulator>();
  const scpi = new Map<string, ScpiTcpSimulator>();
  const endpoints: SimEndpoint[] = [];
  // A pty cannot tell who writes to it: the serial port pool publishes who it granted each line
  // to, and the simulator on that line serves that client (V4's readings get v4_offset).
  const stopListening = onSerialGrant(({ path, owner }) => {
    for (const sim of serial.values()) if (sim.path === path) sim.client = owner;
  });
  const close = async () => {
    stopListening();
    await Promise.all([...serial.values(), ...scpi.values()].map((s) => s.close()));
  };
  try {
    // Optical benches: the ids their light tables name are checked before anything starts.
    const benches = planBenches(out, instruments);
    /** Ports of the lasers on a bench: they follow a tuning curve, and emit at start if asked. */
    const benchLasers = new Map<string, boolean>();
    for (const b of benches) {
      if (!b.laser) continue;
      const port = b.laser.serial_port;
      benchLasers.set(port, (benchLasers.get(port) ?? false) || b.light.laser_on);
    }
    // Serial lines: group the users of each port; the protocol of its non-VISA users decides the simulator.
    const byPort = new Map<string, InstrumentConfig[]>();
    for (const inst of instruments) {
      const port = serialPortOf(inst);
      if (port !== undefined) byPort.set(port, [...(byPort.get(port) ?? []), inst]);
    }
    const portPath = new Map<string, string>();
    for (const [port, users] of byPort) {
      const device = users.find((u) => u.type !== 'ScpiInstrument');
      const first = device ?? users[0]!;
      const baudRate = 'baud_rate' in first ? first.baud_rate : undefined;
      const faults = faultsFromConfig(simOf(first));
      const v4Offset = simOf(first)?.v4_offset;
      const profile = simOf(first)?.profile;
      let sim: SerialSimulator | undefined;
      if (device?.type === 'Elliptec') {
        // One device per address; its model from the first instrument naming that address.
        const devices = new Map<string, ElliptecDeviceOptions>();
        for (const u of users) {
          if (u.type !== 'Elliptec' || devices.has(u.address)) continue;
          devices.set(u.address, { address: u.address, model: u.sim?.model as ElliptecModel | undefined });
        }
        sim = new ElliptecBusSimulator({
          devices: [...devices.values()],
          baudRate,
          faults,
          v4Offset,
          profile,
        });
      } else if (device?.type === 'Newport1830C') {
        // The driver sets wavelength_nm at start-up; the meter powers up at its own (a configured
        // value outside the default head's range is then refused there, as on a real meter).
        sim = new Newport1830CSimulator({
          baudRate,
          faults,
          v4Offset,
          profile,
          detector: simOf(first)?.model as Detector | undefined,
        });
      } else if (device?.type === 'ESP300') {
        sim = new Esp300Simulator({ baudRate, faults, profile });
      } else if (device?.type === 'MaiTai') {
        const emitting = benchLasers.get(port);
        // A bench's laser, laser_on: warmed up, pump on, shutter open, watchdog off (no client
        // needs to keep it alive while a scan talks only to the mount and the meter).
        const bench: MaiTaiOptions =
          emitting === undefined
            ? {}
            : { tuningCurve: true, ...(emitting && { emission: true, shutterOpen: true, watchdogS: 0 }) };
        sim = new MaiTaiSimulator({
          baudRate,
          faults,
          v4Offset,
          profile,
          model: simOf(first)?.model as MaiTaiModel | undefined,
          ...bench,
        });
      } else if (!device) {
        // Only VISA users: a SCPI instrument on the serial line.
        sim = new ScpiSerialSimulator({ baudRate, faults, profile, measurementMs: scpiMeasurementMs(profile) });
      }
      if (!sim) continue; // reported per instrument below
      portPath.set(port, await sim.start());
      serial.set(port, sim);
    }
    for (const b of benches) wireBench(b, serial);
    // VISA resources over TCP (SOCKET, and INSTR, which becomes a raw socket on the simulator).
    const resourceMap = new Map<string, string>();
    for (const inst of instruments) {
      if (inst.type !== 'ScpiInstrument') continue;
      const r = parseVisaResource(inst.resource);
      if (r.interface !== 'TCPIP' || resourceMap.has(r.canonical)) continue;
      const sim = new ScpiTcpSimulator({
        faults: faultsFromConfig(inst.sim),
        measurementMs: scpiMeasurementMs(inst.sim?.profile),
      });
      resourceMap.set(r.canonical, await sim.start());
      scpi.set(r.canonical, sim);
    }
    for (const inst of instruments) {
      const port = serialPortOf(inst);
      if (inst.type === 'ScpiInstrument') {
        const r = parseVisaResource(inst.resource);
        const simulated = r.interface === 'ASRL' ? portPath.get(r.path) : resourceMap.get(r.canonical);
        if (simulated && r.interface === 'ASRL') inst.resource = `ASRL${simulated}::INSTR`;
        else if (simulated) inst.resource = simulated;
        endpoints.push(
          simulated
            ? { id: inst.id, type: inst.type, resource: inst.resource }
            : { id: inst.id, type: inst.type, note: `no simulator for ${r.interface} resources yet` },
        );
      } else if (port !== undefined && 'serial_port' in inst) {
        const path = portPath.get(port);
        if (path) inst.serial_port = path;
        endpoints.push(
          path
            ? { id: inst.id, type: inst.type, serial_port: path }
            : { id: inst.id, type: inst.type, note: `no simulator for ${inst.type} yet` },
        );
      } else {
        endpoints.push({ id: inst.id, type: inst.type, note: NO_ENDPOINT[inst.type] ?? 'no simulator' });
      }
    }
  } catch (e) {
    await close();
    throw e instanceof DaqError
      ? e
      : new DaqError('DAQ_PORT_ERROR', `cannot start simulators: ${(e as Error).message}`, {}, { cause: e });
  }
  return { config: out, endpoints, serial, scpi, close, [Symbol.asyncDispose]: close };
}
