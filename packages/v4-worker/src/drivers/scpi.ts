// V4 ScpiInstrument driver: anything that speaks IEEE 488.2 through VISA. Every command is
// queued by the broker per resource; the identity comes from the broker's device cache, so
// several users of one instrument ask it only once.

import { DaqError, VisaChannel, badReply, type DriverContext, type Reading, type ScpiInstrumentConfig } from '@daq/core';
import { parseScpiValue } from '@daq/protocols';
import { scpiCommands, type ScpiInstrument } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class ScpiDevice extends V4Instrument<ScpiInstrumentConfig> implements ScpiInstrument {
  private readonly channel: VisaChannel;
  readonly commands;

  constructor(config: ScpiInstrumentConfig, context: DriverContext) {
    // Without a poll query there is nothing to poll.
    super(config, context, config.poll_query ? config.poll_hz : 0);
    this.channel = new VisaChannel(context.broker, config.resource, config.id, config.timeout_ms);
    this.commands = scpiCommands(this);
  }

  async initialize(): Promise<string> {
    return this.identify();
  }

  channels() {
    return this.config.poll_query ? [{ channel: this.config.poll_query, unit: this.config.unit }] : [];
  }

  /** Readings the instrument answered with a sentinel (stored as null with their flag). */
  readonly flagged = { overload: 0, 'not-a-number': 0 };

  async read(): Promise<Reading[]> {
    const q = this.config.poll_query!;
    const reply = (await this.channel.query(q)).trim();
    const parsed = parseScpiValue(reply);
    if (!parsed) throw badReply(this.id, q, reply, 'a number such as +1.23456789E+00');
    if (parsed.flag) {
      this.flagged[parsed.flag]++;
      return [{ channel: q, value: parsed.value, unit: this.config.unit, flag: parsed.flag }];
    }
    return [{ channel: q, value: parsed.value, unit: this.config.unit }];
  }

  query(command: string): Promise<string> {
    return this.channel.query(command);
  }

  write(command: string): Promise<void> {
    return this.channel.write(command);
  }

  identify(): Promise<string> {
    return this.context.broker.visaIdentify(this.config.resource, this.id);
  }

  async errors(): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < 100; i++) {
      const e = (await this.channel.query('SYST:ERR?')).trim();
      if (/^[+-]?0\s*,/.test(e)) return out;
      out.push(e);
    }
    throw new DaqError('DAQ_INSTRUMENT', `${this.id}: the error queue did not empty after 100 reads`, { instrument: this.id });
  }
}
