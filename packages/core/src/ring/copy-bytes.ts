// A fast copy into shared memory: how records get into a ring at memcpy speed.

import { Buffer } from 'node:buffer';

/** Below this many bytes TypedArray.set is as fast as the native copy and makes no Buffer. */
const NATIVE_COPY_MIN = 1024;

/**
 * Copies `source` into `target` at `offset` (they must not overlap). V8's TypedArray.set copies into
 * a SharedArrayBuffer word by word with relaxed atomics, at about half of memcpy speed; Node's
 * Buffer.fill with a buffer value is a plain native memcpy, so bulk copies into a ring go that way.
 */
export function copyBytes(target: Uint8Array, source: Uint8Array, offset = 0): void {
  const n = source.byteLength;
  if (!Number.isInteger(offset) || offset < 0 || offset + n > target.byteLength) {
    throw new RangeError(`copyBytes: ${n} bytes at offset ${offset} do not fit in ${target.byteLength} bytes`);
  }
  if (n < NATIVE_COPY_MIN) target.set(source, offset);
  // Exactly n bytes of target and a value of n bytes: fill copies the value once, never repeats it.
  else Buffer.from(target.buffer, target.byteOffset + offset, n).fill(source);
}
