// A Thorlabs Elliptec RS-485 bus: several devices at addresses 0-F behind one port (9600
// 8N1). Commands `<addr><two lowercase letters>[data]` need no terminator; replies are
// `<addr><UPPER>[data]\r\n`. Per PROTOCOLS.md (Elliptec communication protocol manual).
// Assumption where the summary is silent: a linear stage answers a move beyond its travel
// with GS0C (out of range) and does not move; a rotation mount wraps at one revolution.

import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export type ElliptecModel = 'ELL14' | 'ELL20';

interface ModelSpec {
  type: number;
  /** Travel in the IN reply: degrees (rotary) or mm (linear). */
  travel: number;
  /** Pulses per revolution (rotary) or per mm (linear), as the IN reply reports. */
  pulses: number;
  rotary: boolean;
  /** Speed in travel units per second. */
  speed: number;
}

const MODELS: Record<ElliptecModel, ModelSpec> = {
  ELL14: { type: 0x0e, travel: 360, pulses: 143360, rotary: true, speed: 360 },
  ELL20: { type: 0x14, travel: 60, pulses: 1024, rotary: false, speed: 40 },
};

export interface ElliptecDeviceOptions {
  address: string;
  model?: ElliptecModel;
  serial?: string;
  year?: number;
  firmware?: number;
}

class ElliptecDevice {
  readonly spec: ModelSpec;
  /** Pulses; a move interpolates between from and to. */
  private from = 0;
  private to = 0;
  private moveStart = 0;
  private moveMs = 0;
  jogStep: number;
  homeOffset = 0;

  constructor(readonly options: Required<ElliptecDeviceOptions>) {
    this.spec = MODELS[options.model];
    this.jogStep = this.spec.rotary ? Math.round(this.spec.pulses / 360) * 10 : this.spec.pulses; // 10° or 1 mm
  }

  get address(): string {
    return this.options.address;
  }

  get position(): number {
    if (!this.moving) return this.to;
    const f = (performance.now() - this.moveStart) / this.moveMs;
    return Math.round(this.from + (this.to - this.from) * f);
  }

  /** Where the current (or last) move ends, in pulses. */
  get target(): number {
    return this.to;
  }

  get moving(): boolean {
    return performance.now() - this.moveStart < this.moveMs;
  }

  /** Full travel in pulses. */
  get range(): number {
    return this.spec.rotary ? this.spec.pulses : this.spec.travel * this.spec.pulses;
  }

  /** Starts a move; returns its duration in ms, or undefined when out of range. */
  moveTo(target: number): number | undefined {
    let t = target;
    if (this.spec.rotary) t = ((t % this.range) + this.range) % this.range;
    else if (t < 0 || t > this.range) return undefined;
    const here = this.position;
    const distance = Math.abs(t - here) / (this.spec.rotary ? this.spec.pulses / 360 : this.spec.pulses);
    this.from = here;
    this.to = t;
    this.moveStart = performance.now();
    this.moveMs = 20 + (distance / this.spec.speed) * 1000;
    return this.moveMs;
  }

  stop(): void {
    const here = this.position;
    this.from = this.to = here;
    this.moveMs = 0;
  }

  identity(): string {
    const o = this.options;
    const hex = (n: number, w: number) => (n >>> 0).toString(16).toUpperCase().padStart(w, '0').slice(-w);
    return `IN${hex(this.spec.type, 2)}${o.serial}${String(o.year).padStart(4, '0')}${String(o.firmware).padStart(2, '0')}01${hex(this.spec.travel, 4)}${hex(this.spec.pulses, 8)}`;
  }
}

/** Data length after the two command letters, for commands that carry data. */
const DATA_LEN: Record<string, number> = { ma: 8, mr: 8, sj: 8, so: 8, ho: 1 };

/** 32-bit two's complement, 8 upper-case hex digits. */
export function hex32(n: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

export function parseHex32(text: string): number {
  return parseInt(text, 16) | 0;
}

export class ElliptecBusSimulator extends SerialSimulator {
  readonly devices = new Map<string, ElliptecDevice>();

  constructor(options: SerialSimulatorOptions & { devices: ElliptecDeviceOptions[] }) {
    super(options, 9600);
    for (const d of options.devices) {
      const address = d.address.toUpperCase();
      this.devices.set(
        address,
        new ElliptecDevice({
          address,
          model: d.model ?? 'ELL14',
          serial: (d.serial ?? `1140051${address}`).slice(0, 8).padStart(8, '0'),
          year: d.year ?? 2023,
          firmware: d.firmware ?? 17,
        }),
      );
    }
  }

  device(address: string): ElliptecDevice {
    const d = this.devices.get(address.toUpperCase());
    if (!d) throw new Error(`no Elliptec device at address ${address}`);
    return d;
  }

  protected get replyTerminator(): string {
    return '\r\n';
  }

  /** Commands have no terminator: frame by address, two letters and the command's data length. */
  protected override frame(input: Buffer): { commands: string[]; rest: Buffer } {
    const text = input.toString('latin1').replace(/[\r\n]/g, '');
    const commands: string[] = [];
    let i = 0;
    while (i + 3 <= text.length) {
      const cmd = text.slice(i + 1, i + 3);
      const need = 3 + (DATA_LEN[cmd] ?? 0);
      if (cmd === 'ho' && i + 3 === text.length) break; // its direction digit may still come
      if (i + need > text.length) break;
      commands.push(text.slice(i, i + need));
      i += need;
    }
    return { commands, rest: Buffer.from(text.slice(i), 'latin1') };
  }

  protected handle(command: string): Reply[] {
    const addr = command[0]!.toUpperCase();
    const dev = this.devices.get(addr);
    if (!dev) return []; // nobody answers an empty address: the caller times out
    const cmd = command.slice(1, 3);
    const data = command.slice(3);
    const reply = (text: string, afterMs = 0): Reply[] => [{ text: `${addr}${text}\r\n`, afterMs }];
    const status = (code: number) => reply(`GS${code.toString(16).toUpperCase().padStart(2, '0')}`);
    const move = (target: number) => {
      const ms = dev.moveTo(target);
      return ms === undefined ? status(0x0c) : reply(`PO${hex32(dev.target)}`, ms);
    };
    switch (cmd) {
      case 'in':
        return reply(dev.identity());
      case 'gs':
        return status(dev.moving ? 0x09 : 0x00);
      case 'gp':
        return reply(`PO${hex32(dev.position)}`);
      case 'ma':
        return /^[0-9A-Fa-f]{8}$/.test(data) ? move(parseHex32(data)) : status(0x04);
      case 'mr':
        return /^[0-9A-Fa-f]{8}$/.test(data) ? move(dev.position + parseHex32(data)) : status(0x04);
      case 'ho':
        return move(dev.homeOffset);
      case 'fw':
        return move(dev.position + dev.jogStep);
      case 'bw':
        return move(dev.position - dev.jogStep);
      case 'st':
        dev.stop();
        return status(0x00);
      case 'gj':
        return reply(`GJ${hex32(dev.jogStep)}`);
      case 'sj':
        dev.jogStep = parseHex32(data);
        return status(0x00);
      case 'go':
        return reply(`HO${hex32(dev.homeOffset)}`);
      case 'so':
        dev.homeOffset = parseHex32(data);
        return status(0x00);
      default:
        return status(0x03);
    }
  }
}
