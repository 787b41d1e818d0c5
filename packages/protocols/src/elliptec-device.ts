// Talks to one Elliptec device on a shared RS-485 bus, for both V2 and V4 drivers: every
// exchange is addressed and runs inside a lease, with input drained first because the bus
// can leave garbage behind. Positions are scaled with the pulses the device itself reports;
// multi-position sliders (ELL6/ELL9/ELL12) are driven by slot.

import { DaqError, SerialChannel, badReply } from '@daq/core';
import {
  ELLIPTEC_STATUS,
  elliptecStatusError,
  encodePulses,
  parseElliptecReply,
  type ElliptecInfo,
  type ElliptecReply,
} from './elliptec.js';

/** A query is answered within tens of ms; hardware-tested drivers allow 2-3 s (docs/instruments.md). */
export const ELLIPTEC_REPLY_TIMEOUT_MS = 1000;
/** Moves and homes: hardware-tested drivers (pyLabLib, tl_elliptec, few-cycle) allow 30 s (slow velocity, long homes). */
export const ELLIPTEC_MOVE_TIMEOUT_MS = 30_000;
const BUSY = 0x09;

export interface ElliptecTimeouts {
  replyTimeoutMs?: number;
  moveTimeoutMs?: number;
}

export class ElliptecDevice {
  private info: ElliptecInfo | undefined;
  private readonly replyTimeoutMs: number;
  private readonly moveTimeoutMs: number;
  /** What the device reported at start-up before the driver cleared it (a status left from before). */
  foundStatus: { code: number; text: string } | undefined;

  constructor(
    private readonly channel: SerialChannel,
    readonly address: string,
    private readonly instrument: string,
    timeouts: ElliptecTimeouts = {},
  ) {
    this.replyTimeoutMs = timeouts.replyTimeoutMs ?? ELLIPTEC_REPLY_TIMEOUT_MS;
    this.moveTimeoutMs = timeouts.moveTimeoutMs ?? ELLIPTEC_MOVE_TIMEOUT_MS;
  }

  get identity(): ElliptecInfo {
    if (!this.info)
      throw new DaqError('DAQ_INSTRUMENT', `${this.instrument} is not identified yet`, { instrument: this.instrument });
    return this.info;
  }

  /**
   * One addressed command and its reply, in a lease of its own; a non-zero GS status throws.
   * With `motion`, the device may first report GS09 (busy) while it moves: those frames are
   * skipped until the final reply (PO, or a status), within the move timeout.
   */
  async exchange(command: string, motion = false): Promise<ElliptecReply> {
    const full = `${this.address}${command}`;
    const timeoutMs = motion ? this.moveTimeoutMs : this.replyTimeoutMs;
    return this.channel.transaction(async (io) => {
      await io.drain();
      const deadline = performance.now() + timeoutMs;
      let line = await io.query(full, '\n', timeoutMs);
      for (;;) {
        const reply = parseElliptecReply(this.address, line);
        if (!reply) throw badReply(this.instrument, full, line, `a reply from address ${this.address}`);
        if (motion && reply.kind === 'status' && reply.code === BUSY) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          line = await io.readLine('\n', left);
          continue;
        }
        if (reply.kind === 'status' && reply.code !== 0 && command !== 'gs')
          throw elliptecStatusError(this.instrument, full, reply.code);
        return reply;
      }
      throw new DaqError(
        'DAQ_TIMEOUT',
        `${this.instrument}: "${full}" still busy after ${timeoutMs} ms (raise move_timeout_ms for slow velocity settings)`,
        {
          instrument: this.instrument,
          command: full,
        },
      );
    });
  }

  private toUnits(command: string, r: ElliptecReply): number {
    if (r.kind !== 'position')
      throw badReply(this.instrument, `${this.address}${command}`, JSON.stringify(r), 'PO<hex position>');
    const i = this.identity;
    if (i.kind !== 'slider') return r.pulses / i.pulsesPerUnit;
    // A slider reports where its slot physically is, in mm: slot k at k × pitch.
    const slot = Math.round(r.pulses / i.pitchMm!);
    if (Math.abs(r.pulses - slot * i.pitchMm!) > i.pitchMm! / 4 || slot < 0 || slot >= i.slots!)
      throw new DaqError(
        'DAQ_INSTRUMENT',
        `${this.instrument}: ELL${i.model} reports position ${r.pulses} mm, which is not one of its ${i.slots} slots (every ${i.pitchMm} mm); home it (slot 0) or move it to a slot`,
        { instrument: this.instrument, command },
      );
    return slot;
  }

  /**
   * `in` (model, serial, travel and the pulses per unit used for every position), then `gs`:
   * a status left from before (an error, a move under way) is read, which clears it, and kept
   * in `foundStatus` for the start-up report; a device still moving is waited for.
   */
  async identify(): Promise<ElliptecInfo> {
    const r = await this.exchange('in');
    if (r.kind !== 'info')
      throw badReply(this.instrument, `${this.address}in`, JSON.stringify(r), 'IN followed by 30 characters');
    this.info = r.info;
    const s = await this.status();
    if (s.code !== 0) this.foundStatus = s;
    const deadline = performance.now() + this.moveTimeoutMs;
    for (let st = s; st.code === BUSY; st = await this.status()) {
      if (performance.now() > deadline)
        throw new DaqError('DAQ_TIMEOUT', `${this.instrument}: still busy (GS09) ${this.moveTimeoutMs} ms after start-up`, {
          instrument: this.instrument,
        });
      await new Promise((res) => setTimeout(res, 50));
    }
    return r.info;
  }

  describe(): string {
    const i = this.identity;
    const scale =
      i.kind === 'slider' ? `${i.slots} slots every ${i.pitchMm} mm` : `${i.pulsesPerUnit.toFixed(3)} pulses/${i.unit}`;
    const found = this.foundStatus
      ? `; found status GS${this.foundStatus.code.toString(16).toUpperCase().padStart(2, '0')} (${this.foundStatus.text}), cleared`
      : '';
    return `ELL${i.model} serial ${i.serial} firmware ${i.firmware} at address ${i.address} (${scale})${found}`;
  }

  async position(): Promise<number> {
    return this.toUnits('gp', await this.exchange('gp'));
  }

  /** What `ma` is sent for slot k: ELLO (Thorlabs' software) sends k × (pitch + 1) and the device snaps to the slot. */
  private slotTarget(slot: number): number {
    const i = this.identity;
    if (!Number.isInteger(slot) || slot < 0 || slot >= i.slots!)
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `${this.instrument}: slot ${slot} does not exist: ELL${i.model} has slots 0-${i.slots! - 1}; nothing was sent`,
        {
          instrument: this.instrument,
        },
      );
    return slot * (i.pitchMm! + 1);
  }

  /** Moves and waits for the device to report where it stopped (degrees, mm, or a slider's slot). */
  async move(kind: 'absolute' | 'relative', amount: number): Promise<number> {
    const i = this.identity;
    if (i.kind === 'slider') {
      const target = kind === 'absolute' ? amount : (await this.position()) + amount;
      return this.moveToSlot(target);
    }
    const op = kind === 'absolute' ? 'ma' : 'mr';
    const command = `${op}${encodePulses(amount * i.pulsesPerUnit)}`;
    return this.toUnits(command, await this.exchange(command, true));
  }

  private async moveToSlot(slot: number): Promise<number> {
    const command = `ma${encodePulses(this.slotTarget(slot))}`;
    const r = await this.exchange(command, true);
    // Some sliders answer a move with GS00 rather than the position: read it back.
    return r.kind === 'status' ? this.position() : this.toUnits(command, r);
  }

  /** `ho0` (clockwise) or `ho1`; returns the position reached. A slider goes to slot 0. */
  async home(direction: 0 | 1 = 0): Promise<number> {
    if (this.identity.kind === 'slider') return this.moveToSlot(0);
    return this.toUnits(`ho${direction}`, await this.exchange(`ho${direction}`, true));
  }

  async status(): Promise<{ code: number; text: string }> {
    const r = await this.exchange('gs');
    if (r.kind !== 'status') throw badReply(this.instrument, `${this.address}gs`, JSON.stringify(r), 'GS<code>');
    return { code: r.code, text: ELLIPTEC_STATUS[r.code] ?? r.text };
  }
}
