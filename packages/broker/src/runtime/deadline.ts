// A promise with a deadline: rejects with DAQ_TIMEOUT (saying what took too long) and
// clears its timer on every path.

import { DaqError, type FactsOf } from '@daq/core';

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, facts: FactsOf<'DAQ_TIMEOUT'> = {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaqError('DAQ_TIMEOUT', `${what} did not finish within ${ms} ms`, facts)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
