// Talks to a Spectra-Physics MaiTai for both V2 and V4 drivers: strictly one query at a time
// (replies interleave otherwise; the per-instrument queue and the lease guarantee it),
// LF-terminated, XON/XOFF on the line (the manual's setting), and replies can take seconds.
// Set commands are silent on the laser, so each one is checked: a wavelength is read back
// (`WAVelength?` returns the last accepted value) and the tuning range is read from the
// laser, since it differs between models.

import { DaqError, SerialChannel, badReply, type Reading } from '@daq/core';
import { parseMaiTaiFlag, parseMaiTaiValue } from './maitai.js';

/** Replies were seen to take 2 s and more on hardware; public drivers allow 5-10 s. */
export const MAITAI_REPLY_TIMEOUT_MS = 5000;
const SHUTTER_WAIT_MS = 2500;

export class MaiTaiDevice {
  /** The tuning range read from the laser (`WAVelength:MIN?`/`MAX?`), once identified. */
  range: { min: number; max: number } | undefined;

  constructor(
    private readonly channel: SerialChannel,
    private readonly instrument: string,
    private readonly replyTimeoutMs = MAITAI_REPLY_TIMEOUT_MS,
  ) {}

  query(command: string): Promise<string> {
    // XON/XOFF bytes that reach us (a line without software flow control) are not part of a reply.
    return this.channel.query(`${command}\n`, '\n', this.replyTimeoutMs).then((r) => r.replace(/[\x11\x13\r]/g, ''));
  }

  write(command: string): Promise<void> {
    return this.channel.transaction((io) => io.write(`${command}\n`));
  }

  private async value(command: string, unit: string): Promise<number> {
    return parseMaiTaiValue(this.instrument, command, await this.query(command), unit);
  }

  /** `*IDN?`, then the tuning range of this model. */
  async identify(): Promise<string> {
    const idn = (await this.query('*idn?')).trim();
    if (!/maitai|mai tai|spectra/i.test(idn)) throw badReply(this.instrument, '*idn?', idn, 'a Spectra-Physics MaiTai identity');
    this.range = { min: await this.value('wav:min?', 'nm'), max: await this.value('wav:max?', 'nm') };
    return idn;
  }

  /** How the laser was found (shutter, emission), for the start-up report: the driver changes neither unasked. */
  async describeState(): Promise<string> {
    const [shutter, emission] = [await this.shutter(), await this.emission()];
    const r = this.range ? `, tunes ${this.range.min}-${this.range.max} nm` : '';
    return `shutter ${shutter ? 'OPEN' : 'closed'}, emission ${emission ? 'on' : 'off'}${r}`;
  }

  /**
   * Start-up for the V2 and V4 drivers alike: identifies the laser, reports how it was found,
   * then commands `wavelengthNm` if one is configured. Returns the identity shown in status:
   * the `*IDN?` reply followed by the state found, in brackets.
   */
  async start(wavelengthNm: number | undefined): Promise<string> {
    const idn = await this.identify();
    const found = await this.describeState();
    if (wavelengthNm !== undefined) await this.setWavelength(wavelengthNm);
    return `${idn} (${found})`;
  }

  /** One poll: a reading of each of MAITAI_CHANNELS, the shutter as 1 (open) or 0. */
  async readings(): Promise<Reading[]> {
    return [
      { channel: 'wavelength', value: await this.wavelength(), unit: 'nm' },
      { channel: 'power', value: await this.power(), unit: 'W' },
      { channel: 'shutter', value: Number(await this.shutter()), unit: '' },
    ];
  }

  /** The actual wavelength, which follows the commanded one over seconds while tuning. */
  wavelength(): Promise<number> {
    return this.value('read:wav?', 'nm');
  }

  commandedWavelength(): Promise<number> {
    return this.value('wav?', 'nm');
  }

  /**
   * Commands a wavelength within the range the laser reported (nothing is sent outside it), then
   * reads the commanded value back: a set the laser refused is reported with its error.
   */
  async setWavelength(nm: number): Promise<void> {
    const r = this.range;
    if (r && (nm < r.min || nm > r.max))
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `${this.instrument}: ${nm} nm is outside this laser's tuning range ${r.min}-${r.max} nm (WAVelength:MIN?/MAX?); nothing was sent`,
        {
          instrument: this.instrument,
        },
      );
    await this.write(`wav ${nm}`);
    const now = await this.commandedWavelength();
    if (now !== nm) {
      const error = (await this.query('syst:err?').catch(() => 'no answer to SYST:ERR?')).trim();
      throw new DaqError(
        'DAQ_INSTRUMENT',
        `${this.instrument}: the laser did not accept "wav ${nm}": it stays commanded to ${now} nm (SYST:ERR? ${JSON.stringify(error)})`,
        {
          instrument: this.instrument,
          command: `wav ${nm}`,
        },
      );
    }
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
    throw new DaqError(
      'DAQ_INSTRUMENT',
      `${this.instrument}: the shutter is still ${open ? 'closed' : 'open'} after "shut ${open ? 1 : 0}" was sent twice and watched for ${(2 * SHUTTER_WAIT_MS) / 1000} s: check the interlock and that the laser is on`,
      { instrument: this.instrument, command: `shut ${open ? 1 : 0}` },
    );
  }

  /** Status byte bit 0: emission. */
  async emission(): Promise<boolean> {
    const stb = Number((await this.query('*stb?')).trim());
    if (!Number.isInteger(stb)) throw badReply(this.instrument, '*stb?', String(stb), 'a status byte');
    return (stb & 1) === 1;
  }
}
