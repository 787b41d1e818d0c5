// SCPI reply values (SCPI-99 Volume 1, 7.2.1.4 and 7.2.1.5): an instrument that cannot give
// a number answers with a sentinel: 9.9E37 for positive "infinity" (an overload, or a value
// beyond the range), -9.9E37 for negative infinity, 9.91E37 for "not a number". These are not
// readings: the driver reports them as flagged readings, stored with a null value.

import type { ReadingFlag } from '@daq/core';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([Ee][+-]?\d+)?$/;

/** A parsed numeric reply: the value, or NaN and why there is none. */
export interface ScpiValue {
  value: number;
  flag?: ReadingFlag;
}

/** Within float formatting of the sentinel (instruments print 9.9E37, +9.90000000E+37, 9.900E+37...). */
function near(x: number, sentinel: number): boolean {
  return Math.abs(x - sentinel) <= sentinel * 1e-6;
}

/** Parses one SCPI number; undefined when the text is not a number at all. */
export function parseScpiValue(text: string): ScpiValue | undefined {
  const t = text.trim();
  if (!NUMBER.test(t)) return undefined;
  const x = Number(t);
  if (near(Math.abs(x), 9.91e37)) return { value: Number.NaN, flag: 'not-a-number' };
  if (near(Math.abs(x), 9.9e37)) return { value: Number.NaN, flag: 'overload' };
  return { value: x };
}
