// A BrokerApi in one thread, for unit tests of drivers: serial lines are InMemorySerialLines,
// VISA resources are functions from command to reply. Leases are exclusive per port and
// checked like the broker's (a released or foreign lease is refused); a read with no whole line
// waiting fails at once with the broker's DAQ_READ_TIMEOUT shape, so a test never waits for a
// timeout to pass.

import { DaqError } from '../errors.js';
import type { BrokerApi, SerialLeaseRequest } from '../rpc.js';
import type { SubsystemName } from '../config/types.js';
import { InMemorySerialLine, type ScriptedDevice } from './in-memory-serial-line.js';

/** A VISA instrument: the reply to a query, or undefined for a write (or a query nobody answers). */
export type ScriptedVisaDevice = (command: string) => string | undefined;

interface Lease {
  port: string;
  owner: string;
}

export class InMemoryBroker implements BrokerApi {
  private readonly lines = new Map<string, InMemorySerialLine>();
  private readonly visa = new Map<string, ScriptedVisaDevice>();
  private readonly leases = new Map<number, Lease>();
  private readonly held = new Set<string>();
  private nextLease = 1;
  /** Every VISA command, as `owner resource command`. */
  readonly visaLog: string[] = [];
  /** Leases granted and released, for leak checks. */
  readonly counts = { granted: 0, released: 0 };

  /** @param subsystem prefixes lease owners, as the broker does for each worker. */
  constructor(readonly subsystem: SubsystemName = 'v4') {}

  /** Adds a serial line with a scripted device on `path`; returns it for the test to inspect. */
  serialLine(path: string, device?: ScriptedDevice): InMemorySerialLine {
    const line = new InMemorySerialLine(path, device);
    this.lines.set(path, line);
    return line;
  }

  /** Adds a VISA resource answered by `device`. */
  visaResource(resource: string, device: ScriptedVisaDevice): void {
    this.visa.set(resource, device);
  }

  /** Leases not released yet (a driver that leaks one fails its test). */
  get openLeases(): number {
    return this.leases.size;
  }

  async whoami(): Promise<string> {
    return this.subsystem;
  }

  async leaseSerial(port: string, instrument: string, _request?: SerialLeaseRequest): Promise<number> {
    return this.grant(port, instrument);
  }

  async tryLeaseSerial(port: string, instrument: string): Promise<number> {
    return this.grant(port, instrument);
  }

  async serialWrite(lease: number, data: string): Promise<void> {
    this.line(lease).write(data);
  }

  async serialReadLine(lease: number, terminator: string, timeoutMs: number): Promise<string> {
    const line = this.line(lease);
    const got = line.takeLine(terminator);
    if (got !== undefined) return got;
    const owner = this.leases.get(lease)!.owner;
    throw new DaqError(
      'DAQ_READ_TIMEOUT',
      `no reply on ${line.path} within ${timeoutMs} ms for ${owner}` +
        (line.pending.length ? ` (received ${line.pending.length} bytes without the terminator)` : ' (nothing received)'),
      { port: line.path, owner, waitedMs: timeoutMs, received: line.pending.length },
    );
  }

  async serialQuery(lease: number, command: string, terminator: string, timeoutMs: number): Promise<string> {
    this.line(lease).write(command);
    return this.serialReadLine(lease, terminator, timeoutMs);
  }

  async serialQueryMany(lease: number, commands: string[], terminator: string, timeoutMs: number): Promise<string[]> {
    const out: string[] = [];
    for (const c of commands) out.push(await this.serialQuery(lease, c, terminator, timeoutMs));
    return out;
  }

  async serialDrain(lease: number): Promise<number> {
    return this.line(lease).drain();
  }

  async releaseSerial(lease: number): Promise<void> {
    const l = this.lease(lease);
    this.leases.delete(lease);
    this.held.delete(l.port);
    this.counts.released++;
  }

  async visaQuery(resource: string, instrument: string, command: string, timeoutMs = 2000): Promise<string> {
    const reply = this.visaDevice(resource, instrument, command);
    if (reply === undefined)
      throw new DaqError(
        'DAQ_VISA_TIMEOUT',
        `${command} from ${this.owner(instrument)} timed out after ${timeoutMs} ms on ${resource}`,
        {
          resource,
          owner: this.owner(instrument),
          command,
          timeoutMs,
        },
      );
    return reply;
  }

  async visaQueryMany(resource: string, instrument: string, commands: string[], timeoutMs = 2000): Promise<string[]> {
    const out: string[] = [];
    for (const c of commands) out.push(await this.visaQuery(resource, instrument, c, timeoutMs));
    return out;
  }

  async visaWrite(resource: string, instrument: string, command: string): Promise<void> {
    this.visaDevice(resource, instrument, command);
  }

  async visaIdentify(resource: string, instrument: string): Promise<string> {
    return this.visaQuery(resource, instrument, '*IDN?');
  }

  private owner(instrument: string): string {
    return `${this.subsystem}:${instrument}`;
  }

  private grant(port: string, instrument: string): number {
    if (!this.lines.has(port))
      throw new DaqError('DAQ_PORT_UNKNOWN', `${port} is not a configured serial port`, { port, owner: this.owner(instrument) });
    // Drivers run one exchange at a time; a second lease on a held port is a driver bug here.
    if (this.held.has(port))
      throw new DaqError('DAQ_PORT_BUSY', `${port} is already leased; ${this.owner(instrument)} asked again`, { port });
    const id = this.nextLease++;
    this.leases.set(id, { port, owner: this.owner(instrument) });
    this.held.add(port);
    this.counts.granted++;
    return id;
  }

  private lease(id: number): Lease {
    const l = this.leases.get(id);
    if (!l) throw new DaqError('DAQ_LEASE_RELEASED', `lease ${id} is not held (released, or never granted)`, { lease: id });
    return l;
  }

  private line(id: number): InMemorySerialLine {
    return this.lines.get(this.lease(id).port)!;
  }

  private visaDevice(resource: string, instrument: string, command: string): string | undefined {
    const device = this.visa.get(resource);
    if (!device) throw new DaqError('DAQ_VISA_RESOURCE', `${resource} is not a configured VISA resource`, { resource });
    this.visaLog.push(`${this.owner(instrument)} ${resource} ${command}`);
    return device(command);
  }
}
