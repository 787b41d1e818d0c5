// Talks to a Newport ESP300 (user's manual section 3; PROTOCOLS.md): CR-terminated commands,
// CR LF replies. Motion commands answer nothing, so every one is followed by `TB?` to learn
// whether the controller refused it (e.g. a software limit), and the error is reported.

import { DaqError } from '../errors.js';
import { SerialChannel, badReply, type SerialIo } from '../runtime/serial-channel.js';
import { esp300Value, parseEsp300ErrorBuffer, parseEsp300Number, type Esp300Error } from './esp300.js';

const REPLY_TIMEOUT_MS = 1000;

export class Esp300Device {
  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
  ) {}

  private static ask(io: SerialIo, command: string): Promise<string> {
    return io.query(`${command}\r`, '\n', REPLY_TIMEOUT_MS).then((r) => r.replace(/\r$/, ''));
  }

  query(command: string): Promise<string> {
    return this.channel.transaction(async (io) => {
      await io.drain();
      return Esp300Device.ask(io, command);
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
      const error = parseEsp300ErrorBuffer(this.instrument, await Esp300Device.ask(io, 'TB?'));
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
