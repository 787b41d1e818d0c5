// A pseudo-terminal whose slave side (/dev/pts/N) any serial client can open, the real
// `serialport` package included. The master side is served with Node's tty streams.

import koffi from 'koffi';
import { closeSync, openSync, constants, symlinkSync, unlinkSync, renameSync } from 'node:fs';
import tty from 'node:tty';
import { DaqError } from '@daq/core';

const libc = koffi.load('libc.so.6');
const posix_openpt = libc.func('int posix_openpt(int flags)');
const grantpt = libc.func('int grantpt(int fd)');
const unlockpt = libc.func('int unlockpt(int fd)');
const ptsname = libc.func('const char *ptsname(int fd)');
const dup = libc.func('int dup(int fd)');
const close = libc.func('int close(int fd)');
// struct termios is 60 bytes on Linux (glibc); a larger opaque buffer is safe.
const tcgetattr = libc.func('int tcgetattr(int fd, _Out_ uint8_t *termios)');
const tcsetattr = libc.func('int tcsetattr(int fd, int action, const uint8_t *termios)');
const cfmakeraw = libc.func('void cfmakeraw(_Inout_ uint8_t *termios)');

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const TCSANOW = 0;

export class Pty {
  private constructor(
    /** The slave path clients open, e.g. /dev/pts/7. */
    readonly path: string,
    private readonly reader: tty.ReadStream,
    private readonly writer: tty.WriteStream,
    /** A slave fd kept open so the master never sees EIO while clients close and reopen. */
    private readonly keepFd: number,
  ) {}

  /** Opens a new pty in raw mode (no echo, no CR/LF translation): bytes pass unchanged. */
  static open(onData: (chunk: Buffer) => void): Pty {
    const master = posix_openpt(O_RDWR | O_NOCTTY) as number;
    if (master < 0)
      throw new DaqError('DAQ_PORT_ERROR', 'posix_openpt failed: no pseudo-terminal available (is /dev/pts mounted?)');
    let keepFd = -1;
    try {
      if (grantpt(master) !== 0 || unlockpt(master) !== 0) throw new Error('grantpt/unlockpt failed');
      const path = ptsname(master) as string | null;
      if (!path) throw new Error('ptsname failed');
      keepFd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
      const termios = Buffer.alloc(128);
      if (tcgetattr(keepFd, termios) !== 0) throw new Error(`tcgetattr on ${path} failed`);
      cfmakeraw(termios);
      if (tcsetattr(keepFd, TCSANOW, termios) !== 0) throw new Error(`tcsetattr on ${path} failed`);
      const reader = new tty.ReadStream(master);
      // The writer gets its own fd: each tty stream closes its fd when destroyed.
      const writer = new tty.WriteStream(dup(master) as number);
      reader.on('data', onData);
      reader.on('error', () => undefined); // EIO when torn down; close() is the one way out
      writer.on('error', () => undefined);
      return new Pty(path, reader, writer, keepFd);
    } catch (e) {
      if (keepFd >= 0) closeSync(keepFd);
      close(master);
      throw e instanceof DaqError
        ? e
        : new DaqError('DAQ_PORT_ERROR', `cannot create a pseudo-terminal: ${(e as Error).message}`, {}, { cause: e });
    }
  }

  write(data: Uint8Array): void {
    if (!this.writer.destroyed) this.writer.write(data);
  }

  /** Tears the pty down: clients see the port disappear (a disconnect). */
  close(): void {
    this.reader.destroy();
    this.writer.destroy();
    try {
      closeSync(this.keepFd);
    } catch {
      // already closed
    }
  }
}

/** Points `link` at `target` atomically (a stable name across reconnects, like /dev/serial/by-id). */
export function pointLink(link: string, target: string): void {
  const tmp = `${link}.${process.pid}.tmp`;
  try {
    unlinkSync(tmp);
  } catch {
    // none left over
  }
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}
