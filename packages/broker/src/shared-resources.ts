// The one container of everything that touches hardware: the serial pool, the VISA session
// manager and the device cache, initialised in order and closed in reverse.

import {
  DaqError,
  parseVisaResource,
  serialPortOf,
  type DaqConfig,
  type InstrumentConfig,
  type SerialLineSettings,
} from '@daq/core';
import { SerialPortPool, DEFAULT_LINE_SETTINGS, type LeaseOptions } from './serial/serial-port-pool.js';
import type { SerialLease } from './serial/serial-lease.js';
import type { SerialLineFactory } from './serial/serial-line.js';
import { VisaSessionManager } from './visa/visa-session-manager.js';
import { SocketBackend } from './visa/socket-backend.js';
import { AsrlBackend } from './visa/asrl-backend.js';
import type { VisaBackend } from './visa/backend.js';
import { FfiBackend } from './visa/ffi-backend.js';
import { DeviceCache, parseIdn, type DeviceIdentity } from './device-cache.js';

export interface SharedResourcesOptions {
  /** Serial transport (default: the real `serialport` package). */
  lineFactory?: SerialLineFactory;
  /** Backend for INSTR resources; default: the VISA library of `[broker] visa_library`, if set. */
  instrBackend?: VisaBackend;
  /** Open every configured serial port at start-up (default true): a missing device fails early. */
  openPorts?: boolean;
}

export interface ExecuteVisaOptions {
  owner: string;
  timeoutMs?: number;
  /** Read a reply; default: when the command contains "?". */
  expectReply?: boolean;
}

function lineSettingsOf(inst: InstrumentConfig): SerialLineSettings | undefined {
  if ('serial_port' in inst) {
    const { baud_rate, data_bits, parity, stop_bits, flow_control } = inst;
    return { baud_rate, data_bits, parity, stop_bits, flow_control };
  }
  if (inst.type === 'ScpiInstrument' && inst.baud_rate !== undefined)
    return { ...DEFAULT_LINE_SETTINGS, baud_rate: inst.baud_rate };
  return undefined;
}

export class SharedResources implements AsyncDisposable {
  private closed = false;

  private constructor(
    readonly config: DaqConfig,
    readonly serial: SerialPortPool,
    readonly visa: VisaSessionManager,
    readonly devices: DeviceCache,
  ) {}

  /** Builds the pool (ports from every enabled instrument), then the VISA manager, then the cache. */
  static async create(config: DaqConfig, options: SharedResourcesOptions = {}): Promise<SharedResources> {
    const instruments = [
      ...(config.v2.enabled ? config.v2.instruments : []),
      ...(config.v4.enabled ? config.v4.instruments : []),
    ] as InstrumentConfig[];

    const serial = new SerialPortPool({
      factory: options.lineFactory,
      defaultLeaseTimeoutMs: config.broker.serial_lease_timeout_ms,
    });
    // Direct serial users define a port's settings; an ASRL resource without its own adopts them.
    const ordered = [...instruments].sort((a, b) => Number(a.type === 'ScpiInstrument') - Number(b.type === 'ScpiInstrument'));
    for (const inst of ordered) {
      const port = serialPortOf(inst);
      if (port === undefined || serial.paths.includes(port)) continue;
      serial.configure(port, lineSettingsOf(inst) ?? DEFAULT_LINE_SETTINGS);
    }

    const backends: VisaBackend[] = [new SocketBackend(), new AsrlBackend(serial)];
    const instr = options.instrBackend ?? (config.broker.visa_library ? new FfiBackend(config.broker.visa_library) : undefined);
    if (instr) backends.push(instr);
    const visa = new VisaSessionManager({ backends, defaultTimeoutMs: config.broker.visa_timeout_ms });
    for (const inst of instruments) {
      if (inst.type !== 'ScpiInstrument') continue;
      visa.register(inst.resource, {
        readTermination: inst.read_termination,
        writeTermination: inst.write_termination,
        timeoutMs: inst.timeout_ms ?? config.broker.visa_timeout_ms,
      });
    }

    const resources = new SharedResources(config, serial, visa, new DeviceCache());
    if (options.openPorts !== false) {
      try {
        await serial.openAll();
      } catch (e) {
        await resources.close();
        throw e;
      }
    }
    return resources;
  }

  /** A serial lease with the configured default timeout (`serial_lease_timeout_ms`). */
  acquireSerial(path: string, options: LeaseOptions): Promise<SerialLease> {
    return this.serial.lease(path, { timeoutMs: this.config.broker.serial_lease_timeout_ms, ...options });
  }

  /** One queued VISA command with the configured default timeout; returns the reply or "". */
  async executeVisa(resource: string, command: string, options: ExecuteVisaOptions): Promise<string> {
    const call = { owner: options.owner, timeoutMs: options.timeoutMs };
    if (options.expectReply ?? command.includes('?')) return this.visa.query(resource, command, call);
    await this.visa.write(resource, command, call);
    return '';
  }

  /** `*IDN?` of a VISA instrument, read once and cached. */
  identifyVisa(resource: string, owner: string): Promise<DeviceIdentity> {
    const key = parseVisaResource(resource).canonical;
    return this.devices.identify(key, async () => parseIdn(key, await this.visa.query(resource, '*IDN?', { owner })));
  }

  /** Releases the leases and fails the queued commands of a worker that exited. */
  releaseOwner(owner: string, reason?: string): { leases: number; commands: number } {
    return { leases: this.serial.releaseOwner(owner, reason), commands: this.visa.failOwner(owner, reason) };
  }

  status() {
    return { serial: this.serial.status(), visa: this.visa.status(), devices: this.devices.entries() };
  }

  /** Reverse order of creation: no VISA command can take a serial lease once the pool is gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.visa.close();
    await this.serial.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  assertOpen(): void {
    if (this.closed) throw new DaqError('DAQ_CLOSED', 'shared resources are closed');
  }
}
