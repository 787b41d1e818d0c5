// Talks to a Newport 1830-C for both V2 and V4 drivers. The meter may be found in any state:
// echoing commands (E1), in dB/dBm/REL, at another wavelength; the driver turns echo off and
// selects Watts at start, copes with a meter that still echoes (a line equal to the command is
// its echo, skipped), checks the units before every reading (a front-panel change to dBm is
// undone, never stored as W) and reads back every wavelength it sets (the detector head
// decides the range; a refused value is reported).

import { DaqError, SerialChannel, badReply, type SerialIo } from '@daq/core';
import { NEWPORT_FILTERS, NEWPORT_UNITS, newportWavelengthCommand, parseNewportReading } from './newport-1830c.js';

/** A reading takes up to ~0.5 s with the slow filter; hardware-tested drivers (Lantz) allow 2 s. */
export const NEWPORT_REPLY_TIMEOUT_MS = 2000;
/** Time for a set command to take effect and for any line it sends back (its echo) to arrive. */
const SETTLE_MS = 60;

export interface Newport1830CSetup {
  wavelength_nm?: number;
  filter?: keyof typeof NEWPORT_FILTERS;
  attenuator?: boolean;
}

export class Newport1830CDevice {
  /** Readings for which the meter was found in other units than W and set back (front-panel changes). */
  unitsRestored = 0;
  /** How the meter was found at start-up (echo, units), for the start-up report. */
  found: { echo: boolean; units: string } | undefined;

  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
    private readonly replyTimeoutMs = NEWPORT_REPLY_TIMEOUT_MS,
  ) {}

  private static settle(io: SerialIo): Promise<number> {
    return new Promise((r) => setTimeout(r, SETTLE_MS)).then(() => io.drain());
  }

  /** Sends set commands, then drains whatever lines an echoing meter sends back. */
  set(commands: string[]): Promise<void> {
    return this.channel.transaction(async (io) => {
      await this.write(io, commands);
    });
  }

  private async write(io: SerialIo, commands: string[]): Promise<void> {
    for (const c of commands) await io.write(`${c}\n`);
    await Newport1830CDevice.settle(io);
  }

  /** One query inside a lease; an echo of the command (a meter with E1) is skipped and reported. */
  private async askEchoed(io: SerialIo, command: string): Promise<{ line: string; echoed: boolean }> {
    const line = (await io.query(`${command}\n`, '\n', this.replyTimeoutMs)).replace(/\r$/, '');
    if (line.trim() !== command) return { line, echoed: false };
    return { line: (await io.readLine('\n', this.replyTimeoutMs)).replace(/\r$/, ''), echoed: true };
  }

  private async ask(io: SerialIo, command: string): Promise<string> {
    return (await this.askEchoed(io, command)).line;
  }

  private query(command: string): Promise<string> {
    return this.channel.transaction(async (io) => {
      await io.drain();
      return this.ask(io, command);
    });
  }

  private async units(io: SerialIo): Promise<number> {
    const reply = (await this.ask(io, 'U?')).trim();
    if (!/^[1-4]$/.test(reply)) throw badReply(this.instrument, 'U?', reply, 'the units, 1-4');
    return Number(reply);
  }

  /**
   * Echo off, Watts, then the optional settings, each checked; returns the wavelength read back.
   * What the meter was found in is kept in `found`.
   */
  async setup(s: Newport1830CSetup): Promise<number> {
    await this.channel.transaction(async (io) => {
      await io.drain();
      // An echoing meter answers U? with "U?" first: that is how echo is found.
      const { line, echoed: echo } = await this.askEchoed(io, 'U?');
      const units = line.trim();
      this.found = { echo, units: NEWPORT_UNITS[Number(units) as 1] ?? `U${units}` };
      const commands = ['E0', 'U1'];
      if (s.filter !== undefined) commands.push(NEWPORT_FILTERS[s.filter]);
      if (s.attenuator !== undefined) commands.push(s.attenuator ? 'A1' : 'A0');
      await this.write(io, commands);
      const now = await this.units(io);
      if (now !== 1)
        throw new DaqError(
          'DAQ_INSTRUMENT',
          `${this.instrument}: the meter stays in ${NEWPORT_UNITS[now as 1]} (U${now}) after U1; found with echo ${echo ? 'on' : 'off'} in ${this.found.units}: check that it is a 1830-C and that the front panel is not locked (L0)`,
          { instrument: this.instrument, command: 'U1' },
        );
    });
    if (s.wavelength_nm !== undefined) await this.setWavelength(s.wavelength_nm);
    return this.wavelength();
  }

  /** How the meter was found, for the start-up report. */
  describeFound(): string {
    return this.found ? `found with echo ${this.found.echo ? 'on' : 'off'} in ${this.found.units}` : 'not set up';
  }

  async wavelength(): Promise<number> {
    const reply = await this.query('W?');
    if (!/^\s*\d{1,4}\s*$/.test(reply)) throw badReply(this.instrument, 'W?', reply, 'the wavelength, e.g. 0780');
    return Number(reply);
  }

  /** Sets the wavelength and reads it back: the detector head decides the range, and a value it refuses is reported. */
  async setWavelength(nm: number): Promise<void> {
    const command = newportWavelengthCommand(nm);
    const now = await this.channel.transaction(async (io) => {
      await io.drain();
      await this.write(io, [command]);
      const reply = await this.ask(io, 'W?');
      if (!/^\s*\d{1,4}\s*$/.test(reply)) throw badReply(this.instrument, 'W?', reply, 'the wavelength, e.g. 0780');
      return Number(reply);
    });
    if (now !== nm)
      throw new DaqError(
        'DAQ_INSTRUMENT',
        `${this.instrument}: the meter refused ${nm} nm and stays at ${now} nm: the detector head's calibration does not cover it (818-SL ~400-1100 nm, 818-IR ~780-1800 nm)`,
        { instrument: this.instrument, command },
      );
  }

  setAttenuator(on: boolean): Promise<void> {
    return this.set([on ? 'A1' : 'A0']);
  }

  /** One reading in Watts: the units are checked first, and set back to W if someone changed them. */
  async power(): Promise<number> {
    const reply = await this.channel.transaction(async (io) => {
      await io.drain();
      if ((await this.units(io)) !== 1) {
        this.unitsRestored++;
        await this.write(io, ['U1']);
        if ((await this.units(io)) !== 1)
          throw new DaqError(
            'DAQ_INSTRUMENT',
            `${this.instrument}: the meter is not in W and does not accept U1; no reading taken`,
            {
              instrument: this.instrument,
              command: 'U1',
            },
          );
      }
      return this.ask(io, 'D?');
    });
    return parseNewportReading(this.instrument, reply);
  }
}
