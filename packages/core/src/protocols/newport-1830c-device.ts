// Talks to a Newport 1830-C for both V2 and V4 drivers: echo off and Watts at start, then
// `D?` per reading. Set commands can leave one line behind on some units, so every exchange
// drains first and set commands wait briefly and drain after.

import { SerialChannel, badReply } from '../runtime/serial-channel.js';
import { NEWPORT_FILTERS, newportWavelengthCommand, parseNewportReading } from './newport-1830c.js';

/** A reading can take ~0.5 s with the slow filter. */
const READ_TIMEOUT_MS = 1500;
/** Time for a set command to take effect and for any line it sends back to arrive. */
const SETTLE_MS = 60;

export interface Newport1830CSetup {
  wavelength_nm?: number;
  filter?: keyof typeof NEWPORT_FILTERS;
  attenuator?: boolean;
}

export class Newport1830CDevice {
  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
  ) {}

  /** Sends set commands, then drains whatever line a unit answers them with. */
  set(commands: string[]): Promise<void> {
    return this.channel.transaction(async (io) => {
      for (const c of commands) await io.write(`${c}\n`);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      await io.drain();
    });
  }

  private query(command: string): Promise<string> {
    return this.channel.transaction(async (io) => {
      await io.drain();
      return io.query(`${command}\n`, '\n', READ_TIMEOUT_MS);
    });
  }

  /** Echo off, Watts, then the optional settings; returns the wavelength read back. */
  async setup(s: Newport1830CSetup): Promise<number> {
    const commands = ['E0', 'U1'];
    if (s.wavelength_nm !== undefined) commands.push(newportWavelengthCommand(s.wavelength_nm));
    if (s.filter !== undefined) commands.push(NEWPORT_FILTERS[s.filter]);
    if (s.attenuator !== undefined) commands.push(s.attenuator ? 'A1' : 'A0');
    await this.set(commands);
    return this.wavelength();
  }

  async wavelength(): Promise<number> {
    const reply = await this.query('W?');
    if (!/^\s*\d{1,4}\s*$/.test(reply)) throw badReply(this.instrument, 'W?', reply, 'the wavelength, e.g. 0780');
    return Number(reply);
  }

  setWavelength(nm: number): Promise<void> {
    return this.set([newportWavelengthCommand(nm)]);
  }

  setAttenuator(on: boolean): Promise<void> {
    return this.set([on ? 'A1' : 'A0']);
  }

  /** One reading in Watts. */
  async power(): Promise<number> {
    return parseNewportReading(this.instrument, await this.query('D?'));
  }
}
