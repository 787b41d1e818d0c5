// Talks to a Newport ESP300 (user's manual section 3; docs/protocols.md): CR-terminated
// commands, CR LF replies. Motion commands answer nothing, so every one is followed by `TB?`
// to learn whether the controller refused it (e.g. a software limit), and the error is
// reported; a move that ends on a travel limit is reported when it settles. The controller is
// silent for 2-5 s after an axis hits a travel limit, so the reply timeout is 6 s.

import { DaqError, SerialChannel, badReply, type SerialIo } from '@daq/core';
import {
  ESP300_LIMIT_ERRORS,
  ESP300_UNITS,
  esp300Value,
  parseEsp300ErrorBuffer,
  parseEsp300Number,
  type Esp300Error,
} from './esp300.js';

/** Longer than the 2-5 s the controller is silent after a travel limit (EPICS drvESP300 uses 5 s). */
export const ESP300_REPLY_TIMEOUT_MS = 6000;

export class Esp300Device {
  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
    private readonly replyTimeoutMs = ESP300_REPLY_TIMEOUT_MS,
  ) {}

  private ask(io: SerialIo, command: string): Promise<string> {
    return io.query(`${command}\r`, '\n', this.replyTimeoutMs).then((r) => r.replace(/\r$/, ''));
  }

  query(command: string): Promise<string> {
    return this.channel.transaction(async (io) => {
      await io.drain();
      return this.ask(io, command);
    });
  }

  async number(command: string): Promise<number> {
    return parseEsp300Number(this.instrument, command, await this.query(command));
  }

  /** Pops the controller's error buffer (`TB?`); code 0 means none. */
  async lastError(): Promise<Esp300Error> {
    return parseEsp300ErrorBuffer(this.instrument, await this.query('TB?'));
  }

  /** Sends a command that has no reply and checks the error buffer in the same lease. */
  command(command: string): Promise<void> {
    return this.channel.transaction(async (io) => {
      await io.drain();
      await io.write(`${command}\r`);
      const error = parseEsp300ErrorBuffer(this.instrument, await this.ask(io, 'TB?'));
      if (error.code !== 0)
        throw new DaqError(
          'DAQ_INSTRUMENT',
          `${this.instrument}: ESP300 refused "${command}": error ${error.code} ${error.message}${error.axis ? ` (axis ${error.axis})` : ''}`,
          { instrument: this.instrument, command, errorCode: error.code },
        );
    });
  }

  async version(): Promise<string> {
    const v = await this.query('VE?');
    if (!/ESP/i.test(v)) throw badReply(this.instrument, 'VE?', v, 'a version string such as "ESP300 Version 3.04 07/27/01"');
    return v.trim();
  }

  position(axis: number): Promise<number> {
    return this.number(`${axis}TP?`);
  }

  /** The axis's unit (`SN?`), e.g. "mm" or "deg". */
  async units(axis: number): Promise<string> {
    const r = (await this.query(`${axis}SN?`)).trim();
    const unit = /^\d+$/.test(r) ? ESP300_UNITS[Number(r)] : undefined;
    if (!unit) throw badReply(this.instrument, `${axis}SN?`, r, 'a unit code 0-11');
    return unit;
  }

  /** Whether the axis's motor is powered (`MO?`). */
  async motorIsOn(axis: number): Promise<boolean> {
    const r = (await this.query(`${axis}MO?`)).trim();
    if (r !== '0' && r !== '1') throw badReply(this.instrument, `${axis}MO?`, r, '0 (off) or 1 (on)');
    return r === '1';
  }

  /** Pops every error in the buffer (at most its ten), oldest first. */
  async drainErrors(): Promise<Esp300Error[]> {
    const out: Esp300Error[] = [];
    for (let i = 0; i < 10; i++) {
      const e = await this.lastError();
      if (e.code === 0) break;
      out.push(e);
    }
    return out;
  }

  /** After a move: an axis error raised meanwhile (a travel limit hit) becomes an error that says where. */
  async checkMotionErrors(axis: number): Promise<void> {
    const errors = await this.drainErrors();
    const mine = errors.find((e) => e.axis === axis) ?? errors[0];
    if (!mine) return;
    const kind = mine.axis !== undefined ? ESP300_LIMIT_ERRORS[mine.code % 100] : undefined;
    const where = await this.position(axis).catch(() => undefined);
    const rest = errors.filter((e) => e !== mine).map((e) => `${e.code} ${e.message}`);
    throw new DaqError(
      'DAQ_INSTRUMENT',
      `${this.instrument}: axis ${axis} ${kind ? `stopped at the ${kind}` : 'reported an error'}: ESP300 error ${mine.code} ${mine.message}${where !== undefined ? `, now at ${where}` : ''}${kind ? '; move back inside the travel' : ''}${rest.length ? `; also in the error buffer: ${rest.join('; ')}` : ''}`,
      { instrument: this.instrument, errorCode: mine.code, axis },
    );
  }

  async motionDone(axis: number): Promise<boolean> {
    const r = (await this.query(`${axis}MD?`)).trim();
    if (r !== '0' && r !== '1') throw badReply(this.instrument, `${axis}MD?`, r, '0 (moving) or 1 (done)');
    return r === '1';
  }

  async limits(axis: number): Promise<{ min: number; max: number }> {
    return { min: await this.number(`${axis}SL?`), max: await this.number(`${axis}SR?`) };
  }

  motorOn(axis: number): Promise<void> {
    return this.command(`${axis}MO`);
  }

  moveAbsolute(axis: number, position: number): Promise<void> {
    return this.command(`${axis}PA${esp300Value(position)}`);
  }

  moveRelative(axis: number, distance: number): Promise<void> {
    return this.command(`${axis}PR${esp300Value(distance)}`);
  }

  home(axis: number): Promise<void> {
    return this.command(`${axis}OR`);
  }

  stop(axis: number): Promise<void> {
    return this.command(`${axis}ST`);
  }
}
