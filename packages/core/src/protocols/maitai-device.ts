// Talks to a Spectra-Physics MaiTai for both V2 and V4 drivers: strictly one query at a time
// (replies interleave otherwise; the per-instrument queue and the lease guarantee it),
// LF-terminated, and replies can take over a second.

import { SerialChannel, badReply } from '../runtime/serial-channel.js';
import { parseMaiTaiFlag, parseMaiTaiValue } from './maitai.js';

const REPLY_TIMEOUT_MS = 2000;
const SHUTTER_WAIT_MS = 2500;

export class MaiTaiDevice {
  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
  ) {}

  query(command: string): Promise<string> {
    return this.channel.query(`${command}\n`, '\n', REPLY_TIMEOUT_MS);
  }

  write(command: string): Promise<void> {
    return this.channel.transaction((io) => io.write(`${command}\n`));
  }

  private async value(command: string, unit: string): Promise<number> {
    return parseMaiTaiValue(this.instrument, command, await this.query(command), unit);
  }

  async identify(): Promise<string> {
    const idn = (await this.query('*idn?')).trim();
    if (!/maitai|mai tai|spectra/i.test(idn)) throw badReply(this.instrument, '*idn?', idn, 'a Spectra-Physics MaiTai identity');
    return idn;
  }

  /** The actual wavelength, which follows the commanded one over seconds while tuning. */
  wavelength(): Promise<number> {
    return this.value('read:wav?', 'nm');
  }

  commandedWavelength(): Promise<number> {
    return this.value('wav?', 'nm');
  }

  setWavelength(nm: number): Promise<void> {
    return this.write(`wav ${nm}`);
  }

  power(): Promise<number> {
    return this.value('read:pow?', 'W');
  }

  async shutter(): Promise<boolean> {
    return parseMaiTaiFlag(this.instrument, 'shut?', await this.query('shut?'));
  }

  /**
   * The shutter takes about a second to move (manual), and hardware needed the command sent
   * more than once to take effect: send, watch `shut?` for up to 2.5 s, send again once.
   */
  async setShutter(open: boolean): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      await this.write(`shut ${open ? 1 : 0}`);
      const deadline = performance.now() + SHUTTER_WAIT_MS;
      while (performance.now() < deadline) {
        if ((await this.shutter()) === open) return open;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw badReply(
      this.instrument,
      `shut ${open ? 1 : 0}`,
      `shutter still ${open ? 'closed' : 'open'} after 2 attempts`,
      `shut? to read ${open ? 1 : 0}; check the interlock and that the laser is on`,
    );
  }

  /** Status byte bit 0: emission. */
  async emission(): Promise<boolean> {
    const stb = Number((await this.query('*stb?')).trim());
    if (!Number.isInteger(stb)) throw badReply(this.instrument, '*stb?', String(stb), 'a status byte');
    return (stb & 1) === 1;
  }
}
