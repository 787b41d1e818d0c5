// Newport ESP300 protocol codec (docs/protocols.md, "Newport ESP300"; ESP300 user's manual,
// section 3): axis commands `<axis><CMD>[value]`, CR out and CR LF back; errors are read with
// `TB?`.

import { DaqError } from '@daq/core';

export interface Esp300Error {
  code: number;
  timestamp: number;
  message: string;
  /** The axis for axis errors (code = axis × 100 + n), else undefined. */
  axis?: number;
}

/** Parses a `TB?` reply: `code, timestamp, MESSAGE`. */
export function parseEsp300ErrorBuffer(instrument: string, reply: string): Esp300Error {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(.*?)\s*$/.exec(reply);
  if (!m)
    throw new DaqError(
      'DAQ_INSTRUMENT',
      `${instrument}: unexpected reply ${JSON.stringify(reply)} to "TB?" (expected "code, timestamp, MESSAGE")`,
      { instrument, reply },
    );
  const code = Number(m[1]);
  return { code, timestamp: Number(m[2]), message: m[3]!, axis: code >= 100 ? Math.floor(code / 100) : undefined };
}

/** Parses a numeric reply such as `10.00000` or `-2.5`. */
export function parseEsp300Number(instrument: string, command: string, reply: string): number {
  const t = reply.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([Ee][+-]?\d+)?$/.test(t)) return Number(t);
  throw new DaqError(
    'DAQ_INSTRUMENT',
    `${instrument}: unexpected reply ${JSON.stringify(reply)} to "${command}" (expected a number)`,
    {
      instrument,
      command,
      reply,
    },
  );
}

/** Formats a position or velocity for a command (the controller takes up to 6 decimals). */
export function esp300Value(v: number): string {
  return Number(v.toFixed(6)).toString();
}

/**
 * `SN?` unit codes (ESP300 manual, SN command; every driver uses 0-11 though the manual's range
 * line says 0-10). The unit is a label the controller applies to every position of the axis.
 */
export const ESP300_UNITS: readonly string[] = [
  'counts',
  'steps',
  'mm',
  'um',
  'in',
  'mil',
  'uin',
  'deg',
  'grad',
  'rad',
  'mrad',
  'urad',
];

/** Axis error codes (axis × 100 + code) that mean the stage ran into a limit, with what to do. */
export const ESP300_LIMIT_ERRORS: Readonly<Record<number, string>> = {
  4: 'positive hardware limit (travel end switch)',
  5: 'negative hardware limit (travel end switch)',
  6: 'positive software limit (SR)',
  7: 'negative software limit (SL)',
};
