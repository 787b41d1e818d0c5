// What the runtime publishes for observers outside it (simulators, tests, benchmarks), on Node's
// diagnostics channels: production code only publishes, and only when someone subscribed, so it
// carries no hook for any particular observer.

import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';

/** Published by the serial port pool each time it grants a line's lease. */
export interface SerialGrantMessage {
  /** The serial port's path as configured. */
  path: string;
  /** The lease owner, `v2:<instrument>` or `v4:<instrument>`. */
  owner: string;
}

export const SERIAL_GRANT_CHANNEL = 'daq:serial-grant';
const serialGrant = channel(SERIAL_GRANT_CHANNEL);

/** Tells subscribers who holds `path` now (nothing happens without subscribers). */
export function publishSerialGrant(message: SerialGrantMessage): void {
  if (serialGrant.hasSubscribers) serialGrant.publish(message);
}

/** Calls `fn` on every serial lease granted in this thread until the returned function is called. */
export function onSerialGrant(fn: (message: SerialGrantMessage) => void): () => void {
  const listener = (m: unknown) => fn(m as SerialGrantMessage);
  subscribe(SERIAL_GRANT_CHANNEL, listener);
  return () => void unsubscribe(SERIAL_GRANT_CHANNEL, listener);
}
