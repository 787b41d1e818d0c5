// A Thorlabs Elliptec RS-485 bus: several devices at addresses 0-F behind one port, 9600 8N1.
//
// Sources (the ELLx protocol manual itself was not readable here; these quote or follow it):
// - /work/shared/PROTOCOLS.md (command set, IN layout, GS codes, example IN reply);
// - rust-daq docs/architecture/03_hardware_communication.md (hardware-validated): commands
//   have no terminator, replies end CR LF, addresses are uppercase 0-9 A-F, and "if the time
//   between received bytes exceeds 2 seconds the packet is discarded; CR clears the receive
//   state machine";
// - roesel/elliptec (tools.py, errcodes.py) and gabrielbenedikt/elliptecpp (ell.cpp): IN field
//   layout (hardware byte: bit 7 thread, rest release), GJ/HO reply ids, moves answer PO when
//   done, `ho` carries a direction byte (0 cw, 1 ccw);
// - rwpeterson/elliptec (elliptec.py): lowercase hex digits are not accepted, reading the
//   status clears an error;
// - TapyrLabs/tl_elliptec (devices/base.py, docs/guide/stop.md): a jog step of 0 makes fw/bw
//   move continuously until `st`; `st` does not interrupt a bounded move; sv/gv velocity %.
// Choices where the sources are silent are marked "assumption" below.

import { DaqError } from '@daq/core';
import { SerialSimulator, type FramedCommand, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export type ElliptecModel = 'ELL14' | 'ELL17' | 'ELL20';

interface ModelSpec {
  type: number;
  /** Travel in the IN reply: degrees (rotary) or mm (linear). */
  travel: number;
  /** The IN reply's pulses field: per revolution (rotary) or per mm (linear). */
  pulses: number;
  rotary: boolean;
  /** Full speed in travel units per second (assumption: the manual gives none). */
  speed: number;
}

const MODELS: Record<ElliptecModel, ModelSpec> = {
  ELL14: { type: 0x0e, travel: 360, pulses: 143360, rotary: true, speed: 360 },
  ELL17: { type: 0x11, travel: 28, pulses: 1024, rotary: false, speed: 60 },
  ELL20: { type: 0x14, travel: 60, pulses: 1024, rotary: false, speed: 60 },
};

/** GS status codes (PROTOCOLS.md, roesel/elliptec errcodes.py). */
export const ElliptecStatus = {
  OK: 0x00,
  COMMUNICATION_TIMEOUT: 0x01,
  MECHANICAL_TIMEOUT: 0x02,
  COMMAND_ERROR: 0x03,
  VALUE_OUT_OF_RANGE: 0x04,
  BUSY: 0x09,
  OUT_OF_RANGE: 0x0c,
} as const;

export interface ElliptecDeviceOptions {
  /** 0-9 or A-F. */
  address: string;
  model?: ElliptecModel;
  /** Eight characters. */
  serial?: string;
  year?: number;
  /** Two characters, as the IN reply shows them. */
  firmware?: string;
  /** Hardware release (0-127); the IN byte's bit 7 is the thread (set: imperial). */
  hardwareRelease?: number;
  imperial?: boolean;
  /** Initial position in pulses. */
  position?: number;
  /** Full speed in degrees or mm per second (default per model). */
  speed?: number;
}

export interface ElliptecBusOptions extends SerialSimulatorOptions {
  devices: ElliptecDeviceOptions[];
  /** Time a device takes to answer a command, in ms (default 2). */
  responseMs?: number;
}

/** A move: linear in time from `from` at t0 to `to` at t1 (unwrapped pulses). */
interface Motion {
  from: number;
  to: number;
  t0: number;
  /** Infinity for a continuous jog of a rotary mount. */
  t1: number;
  /** Pulses per ms, signed (continuous jogs). */
  velocity: number;
  /** A continuous jog, which `st` ends. */
  jog: boolean;
}

/** One device on the bus; positions are in pulses. */
export class ElliptecDevice {
  readonly spec: ModelSpec;
  address: string;
  jogStep: number;
  homeOffset = 0;
  velocityPercent = 100;
  /** The last error, reported (then cleared) by `gs`. */
  status: number = ElliptecStatus.OK;
  private motion: Motion;

  constructor(
    readonly options: Required<Omit<ElliptecDeviceOptions, 'speed' | 'position'>> & { speed: number; position: number },
  ) {
    this.spec = MODELS[options.model];
    this.address = options.address;
    // Assumption: factory jog step 1 degree or 1 mm.
    this.jogStep = Math.round(this.pulsesPerUnit);
    this.motion = { from: options.position, to: options.position, t0: 0, t1: 0, velocity: 0, jog: false };
  }

  /** Pulses per degree or per mm. */
  get pulsesPerUnit(): number {
    return this.spec.rotary ? this.spec.pulses / this.spec.travel : this.spec.pulses;
  }

  /** Pulses in a full revolution or the full travel. */
  get range(): number {
    return this.spec.rotary ? this.spec.pulses : this.spec.travel * this.spec.pulses;
  }

  /** The current position (pulses). */
  get position(): number {
    return this.positionAt(performance.now());
  }

  get moving(): boolean {
    return this.movingAt(performance.now());
  }

  positionAt(t: number): number {
    const m = this.motion;
    let p: number;
    if (t >= m.t1) p = m.to;
    else if (m.t1 === Infinity) p = m.from + m.velocity * (t - m.t0);
    else p = m.from + ((m.to - m.from) * (t - m.t0)) / (m.t1 - m.t0);
    const pulses = Math.round(p);
    return this.spec.rotary ? this.wrap(pulses) : pulses;
  }

  movingAt(t: number): boolean {
    return t < this.motion.t1;
  }

  /** A continuous jog is under way at `t`. */
  joggingAt(t: number): boolean {
    return this.motion.jog && this.movingAt(t);
  }

  /** Pulses per ms at the current velocity setting. */
  private get pulsesPerMs(): number {
    return (this.options.speed * this.pulsesPerUnit * Math.max(this.velocityPercent, 1)) / 100 / 1000;
  }

  /**
   * Starts a bounded move to `target` (pulses, unwrapped for rotary mounts) at time `at`;
   * returns its duration in ms, or undefined when a linear stage cannot get there.
   */
  moveTo(target: number, at: number): number | undefined {
    if (!this.spec.rotary && (target < 0 || target > this.range)) return undefined;
    const from = this.positionAt(at);
    // A rotary mount turns through `target - from` pulses and reports positions within one turn.
    const ms = Math.abs(target - from) / this.pulsesPerMs;
    this.motion = { from, to: target, t0: at, t1: at + ms, velocity: 0, jog: false };
    return ms;
  }

  /** A continuous jog (jog step 0) in direction `sign` until `st` (or a linear stage's end). */
  jog(sign: 1 | -1, at: number): void {
    const from = this.positionAt(at);
    const velocity = sign * this.pulsesPerMs;
    if (this.spec.rotary) this.motion = { from, to: from, t0: at, t1: Infinity, velocity, jog: true };
    else {
      // A linear stage stops by itself at the end of its travel.
      const to = sign > 0 ? this.range : 0;
      this.motion = { from, to, t0: at, t1: at + Math.abs(to - from) / this.pulsesPerMs, velocity, jog: true };
    }
  }

  /** Stops where the device is at `at`. */
  stop(at: number): void {
    const here = this.positionAt(at);
    this.motion = { from: here, to: here, t0: at, t1: at, velocity: 0, jog: false };
  }

  identity(): string {
    const o = this.options;
    const hw = (o.imperial ? 0x80 : 0) | (o.hardwareRelease & 0x7f);
    return `IN${hex(this.spec.type, 2)}${o.serial}${String(o.year).padStart(4, '0')}${o.firmware}${hex(hw, 2)}${hex(this.spec.travel, 4)}${hex32(this.spec.pulses)}`;
  }

  private wrap(p: number): number {
    return ((p % this.range) + this.range) % this.range;
  }
}

function hex(n: number, width: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(width, '0').slice(-width);
}

/** 32-bit two's complement as 8 uppercase hex digits (positions, offsets, steps). */
export function hex32(n: number): string {
  return hex(n, 8);
}

/** Inverse of hex32. */
export function parseHex32(text: string): number {
  return parseInt(text, 16) | 0;
}

/** Data characters after the two command letters; commands not listed carry none. */
const DATA_LEN: Record<string, number> = { ma: 8, mr: 8, sj: 8, so: 8, ho: 1, sv: 2, ca: 1 };
const ADDRESS = /^[0-9A-F]$/;
/** The manual's inter-byte timeout: a packet left incomplete this long is discarded. */
const INTER_BYTE_TIMEOUT_MS = 2000;

export class ElliptecBusSimulator extends SerialSimulator {
  private readonly byAddress = new Map<string, ElliptecDevice>();
  private readonly responseMs: number;
  /** Bytes skipped while looking for an address (bus noise, lowercase addresses). */
  garbageBytes = 0;
  /** Packets discarded incomplete (CR/LF or the 2 s inter-byte timeout). */
  discardedPackets = 0;

  constructor(options: ElliptecBusOptions) {
    super(options, 9600);
    this.responseMs = options.responseMs ?? 2;
    for (const d of options.devices) {
      const address = d.address.toUpperCase();
      if (!ADDRESS.test(address))
        throw new DaqError('DAQ_INVALID_ARGUMENT', `Elliptec address must be one of 0-9 or A-F, got "${d.address}"`);
      if (this.byAddress.has(address))
        throw new DaqError('DAQ_INVALID_ARGUMENT', `two Elliptec devices at address ${address}: give each its own address`);
      const model = d.model ?? 'ELL14';
      const device = new ElliptecDevice({
        address,
        model,
        serial: (d.serial ?? `1140051${address}`).padStart(8, '0').slice(-8),
        year: d.year ?? 2023,
        firmware: (d.firmware ?? '17').padStart(2, '0').slice(-2),
        hardwareRelease: d.hardwareRelease ?? 1,
        imperial: d.imperial ?? false,
        speed: d.speed ?? MODELS[model].speed,
        position: d.position ?? 0,
      });
      this.byAddress.set(address, device);
    }
  }

  /** Every device, by its current address. */
  get devices(): ReadonlyMap<string, ElliptecDevice> {
    return this.byAddress;
  }

  device(address: string): ElliptecDevice {
    const d = this.byAddress.get(address.toUpperCase());
    if (!d) throw new DaqError('DAQ_INVALID_ARGUMENT', `no Elliptec device at address ${address} on this bus`);
    return d;
  }

  protected get replyTerminator(): string {
    return '\r\n';
  }

  protected override get partialTimeoutMs(): number {
    return INTER_BYTE_TIMEOUT_MS;
  }

  protected override onPartialTimeout(rest: Buffer): void {
    this.discardedPackets++;
    const dev = this.byAddress.get(String.fromCharCode(rest[0] ?? 0));
    if (dev) dev.status = ElliptecStatus.COMMUNICATION_TIMEOUT;
  }

  /**
   * No terminator: a packet is an address, two letters and the command's fixed number of data
   * characters. CR or LF between packets is ignored; inside one it discards the packet.
   */
  protected override frame(input: Buffer): { commands: FramedCommand[]; rest: Buffer } {
    const commands: FramedCommand[] = [];
    let i = 0;
    scan: while (i < input.length) {
      const first = String.fromCharCode(input[i]!);
      if (first === '\r' || first === '\n') {
        i++;
        continue;
      }
      if (!ADDRESS.test(first)) {
        this.garbageBytes++;
        i++;
        continue;
      }
      const known = Math.min(input.length, i + 3);
      for (let k = i + 1; k < known; k++) {
        if (input[k] === 0x0d || input[k] === 0x0a) {
          this.discardedPackets++;
          i = k + 1;
          continue scan;
        }
      }
      if (known < i + 3) break;
      const need = 3 + (DATA_LEN[input.toString('latin1', i + 1, i + 3)] ?? 0);
      const end = Math.min(input.length, i + need);
      for (let k = i + 3; k < end; k++) {
        if (input[k] === 0x0d || input[k] === 0x0a) {
          this.discardedPackets++;
          i = k + 1;
          continue scan;
        }
      }
      if (end < i + need) break;
      commands.push({ text: input.toString('latin1', i, end), end });
      i = end;
    }
    return { commands, rest: input.subarray(i) };
  }

  protected handle(command: string, at: number): Reply[] {
    const dev = this.byAddress.get(command[0]!);
    if (!dev) return []; // nobody answers an empty address: the caller times out
    const cmd = command.slice(1, 3);
    const data = command.slice(3);
    const addr = dev.address;
    const reply = (text: string, afterMs = this.responseMs): Reply[] => [{ text: `${addr}${text}\r\n`, afterMs }];
    const status = (code: number) => reply(`GS${hex(code, 2)}`);
    const fail = (code: number) => {
      dev.status = code;
      return status(code);
    };
    const busy = dev.movingAt(at);
    const move = (target: number): Reply[] => {
      if (busy) return fail(ElliptecStatus.BUSY);
      const ms = dev.moveTo(target, at);
      // Assumption: a linear stage refuses a target beyond its travel with GS0C and stays put.
      if (ms === undefined) return fail(ElliptecStatus.OUT_OF_RANGE);
      return [{ text: `${addr}PO${hex32(dev.positionAt(at + ms))}\r\n`, afterMs: this.responseMs + ms, background: true }];
    };
    // Data must be uppercase hex (rwpeterson/elliptec: a-f are not accepted).
    const hexData = (len: number) => new RegExp(`^[0-9A-F]{${len}}$`).test(data);
    switch (cmd) {
      case 'in':
        return reply(dev.identity());
      case 'gs': {
        if (busy) return status(ElliptecStatus.BUSY);
        const code = dev.status;
        dev.status = ElliptecStatus.OK; // reading the status clears it
        return status(code);
      }
      case 'gp':
        return reply(`PO${hex32(dev.positionAt(at) + Math.round(this.readingOffset))}`);
      case 'ma':
        return hexData(8) ? move(parseHex32(data)) : fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
      case 'mr':
        return hexData(8) ? move(dev.positionAt(at) + parseHex32(data)) : fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
      case 'ho': {
        if (data !== '0' && data !== '1') return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        // Home reads position 0; a rotary mount gets there turning cw (0: down) or ccw (1: up).
        return move(dev.spec.rotary && data === '1' && dev.positionAt(at) !== 0 ? dev.range : 0);
      }
      case 'fw':
      case 'bw': {
        const sign = cmd === 'fw' ? 1 : -1;
        if (busy) return fail(ElliptecStatus.BUSY);
        if (dev.jogStep !== 0) return move(dev.positionAt(at) + sign * dev.jogStep);
        dev.jog(sign, at);
        return []; // the position comes with the `st` that ends a continuous jog
      }
      case 'st':
        if (dev.joggingAt(at)) {
          dev.stop(at);
          return reply(`PO${hex32(dev.positionAt(at))}`);
        }
        return status(busy ? ElliptecStatus.BUSY : ElliptecStatus.OK); // bounded moves run to the end
      case 'gj':
        return reply(`GJ${hex32(dev.jogStep)}`);
      case 'sj':
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.jogStep = parseHex32(data);
        return status(ElliptecStatus.OK);
      case 'go':
        return reply(`HO${hex32(dev.homeOffset)}`);
      case 'so':
        if (!hexData(8)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.homeOffset = parseHex32(data);
        return status(ElliptecStatus.OK);
      case 'gv':
        return reply(`GV${hex(dev.velocityPercent, 2)}`);
      case 'sv': {
        const pct = hexData(2) ? parseInt(data, 16) : NaN;
        if (!(pct >= 0 && pct <= 100)) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        dev.velocityPercent = pct;
        return status(ElliptecStatus.OK);
      }
      case 'ca': {
        if (!ADDRESS.test(data) || (data !== addr && this.byAddress.has(data))) return fail(ElliptecStatus.VALUE_OUT_OF_RANGE);
        this.byAddress.delete(addr);
        dev.address = data;
        this.byAddress.set(data, dev);
        return [{ text: `${data}GS00\r\n`, afterMs: this.responseMs }]; // answered from the new address
      }
      case 'us':
        return status(ElliptecStatus.OK); // settings are kept anyway
      default:
        return fail(ElliptecStatus.COMMAND_ERROR);
    }
  }
}
