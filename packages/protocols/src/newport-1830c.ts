// Newport 1830-C protocol codec (docs/protocols.md, "Newport 1830-C"; Newport 1830-C user's
// manual, "Computer interface"): single-letter commands, LF-terminated replies; `D?` answers a
// number in scientific notation, or ERR/OVER/UNDER/SAT.

import { DaqError } from '@daq/core';

/**
 * U1-U4. Sources disagree on U2/U3; three independent drivers (Lantz, written from the manual;
 * Hayden Jones' GPIB driver, whose docstring says "1 is W, 2 is dB, 3 is dBm, and 4 is REL";
 * Instrumental's get_units) agree on U2 = dB, U3 = dBm (docs/protocols.md). The driver only
 * ever selects U1.
 */
export const NEWPORT_UNITS = { 1: 'W', 2: 'dB', 3: 'dBm', 4: 'REL' } as const;
export const NEWPORT_FILTERS = { slow: 'F1', medium: 'F2', fast: 'F3' } as const;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([Ee][+-]?\d+)?$/;

/** Parses a `D?` reply; a saturation or error word becomes a DaqError that names it. */
export function parseNewportReading(instrument: string, reply: string): number {
  const text = reply.trim();
  if (NUMBER.test(text)) return Number(text);
  const word = text.toUpperCase();
  const meaning: Record<string, string> = {
    ERR: 'the meter reports an error',
    OVER: 'the signal is over range; select a higher range or add the attenuator (A1)',
    UNDER: 'the signal is under range; select a lower range',
    SAT: 'the detector is saturated; reduce the power or add the attenuator (A1)',
  };
  throw new DaqError(
    'DAQ_INSTRUMENT',
    meaning[word]
      ? `${instrument}: reading ${word}: ${meaning[word]}`
      : `${instrument}: unexpected reply ${JSON.stringify(reply)} to "D?" (expected a number such as +.75E-9)`,
    { instrument, command: 'D?', reply },
  );
}

/** `Wnnnn`: four digits; which wavelengths the meter accepts depends on its detector head. */
export function newportWavelengthCommand(nm: number): string {
  if (!Number.isInteger(nm) || nm < 1 || nm > 9999)
    throw new DaqError(
      'DAQ_INVALID_ARGUMENT',
      `Newport 1830-C wavelength must be an integer of at most four digits (nm), got ${nm}`,
    );
  return `W${String(nm).padStart(4, '0')}`;
}
