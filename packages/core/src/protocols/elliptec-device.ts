// Talks to one Elliptec device on a shared RS-485 bus, for both V2 and V4 drivers: every
// exchange is addressed and runs inside a lease, with input drained first because the bus
// can leave garbage behind. Positions are scaled with the pulses the device itself reports.

import { DaqError } from '../errors.js';
import { SerialChannel, badReply } from '../runtime/serial-channel.js';
import {
  ELLIPTEC_STATUS,
  elliptecStatusError,
  encodePulses,
  parseElliptecReply,
  type ElliptecInfo,
  type ElliptecReply,
} from './elliptec.js';

const REPLY_TIMEOUT_MS = 500;
/** A full turn of an ELL14 takes about a second; leave room for slower stages. */
export const ELLIPTEC_MOVE_TIMEOUT_MS = 8000;

export class ElliptecDevice {
  private info: ElliptecInfo | undefined;

  constructor(
    private readonly channel: SerialChannel,
    readonly address: string,
    private readonly instrument: string,
  ) {}

  get identity(): ElliptecInfo {
    if (!this.info)
      throw new DaqError('DAQ_INSTRUMENT', `${this.instrument} is not identified yet`, { instrument: this.instrument });
    return this.info;
  }

  /** One addressed command and its reply, in a lease of its own; a non-zero GS status throws. */
  async exchange(command: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<ElliptecReply> {
    const full = `${this.address}${command}`;
    return this.channel.transaction(async (io) => {
      await io.drain();
      const line = await io.query(full, '\n', timeoutMs);
      const reply = parseElliptecReply(this.address, line);
      if (!reply) throw badReply(this.instrument, full, line, `a reply from address ${this.address}`);
      if (reply.kind === 'status' && reply.code !== 0 && command !== 'gs')
        throw elliptecStatusError(this.instrument, full, reply.code);
      return reply;
    });
  }

  private toUnits(command: string, r: ElliptecReply): number {
    if (r.kind !== 'position')
      throw badReply(this.instrument, `${this.address}${command}`, JSON.stringify(r), 'PO<8 hex digits>');
    return r.pulses / this.identity.pulsesPerUnit;
  }

  /** `in`: model, serial, travel and the pulses per unit used for every position. */
  async identify(): Promise<ElliptecInfo> {
    const r = await this.exchange('in');
    if (r.kind !== 'info')
      throw badReply(this.instrument, `${this.address}in`, JSON.stringify(r), 'IN followed by 30 characters');
    this.info = r.info;
    return r.info;
  }

  describe(): string {
    const i = this.identity;
    return `ELL${i.model} serial ${i.serial} firmware ${i.firmware} at address ${i.address} (${i.pulsesPerUnit.toFixed(3)} pulses/${i.unit})`;
  }

  async position(): Promise<number> {
    return this.toUnits('gp', await this.exchange('gp'));
  }

  /** Moves and waits for the device to report where it stopped (degrees or mm). */
  async move(kind: 'absolute' | 'relative', amount: number): Promise<number> {
    const op = kind === 'absolute' ? 'ma' : 'mr';
    const command = `${op}${encodePulses(amount * this.identity.pulsesPerUnit)}`;
    return this.toUnits(command, await this.exchange(command, ELLIPTEC_MOVE_TIMEOUT_MS));
  }

  /** `ho0` (clockwise) or `ho1`; returns the position reached. */
  async home(direction: 0 | 1 = 0): Promise<number> {
    return this.toUnits(`ho${direction}`, await this.exchange(`ho${direction}`, ELLIPTEC_MOVE_TIMEOUT_MS));
  }

  async status(): Promise<{ code: number; text: string }> {
    const r = await this.exchange('gs');
    if (r.kind !== 'status') throw badReply(this.instrument, `${this.address}gs`, JSON.stringify(r), 'GS<code>');
    return { code: r.code, text: ELLIPTEC_STATUS[r.code] ?? r.text };
  }
}
