// Waiting in the stress harness: a plain sleep, and a wait bounded by a timer that never outlives it.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or `undefined` after `ms`; the timer is cleared either way (no handle outlives the run). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
