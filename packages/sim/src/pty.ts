// A pseudo-terminal whose slave side (/dev/pts/N) any serial client can open, the real
// `serialport` package, python and `cat` included; the simulator serves the master side.

import koffi from 'koffi';
import { closeSync, constants, openSync, renameSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import tty from 'node:tty';
import { DaqError } from '@daq/core';

const libc = koffi.load('libc.so.6');
const posix_openpt = libc.func('int posix_openpt(int flags)');
const grantpt = libc.func('int grantpt(int fd)');
const unlockpt = libc.func('int unlockpt(int fd)');
// ptsname_r, not ptsname: the latter returns a static buffer another pty could overwrite.
const ptsname_r = libc.func('int ptsname_r(int fd, _Out_ uint8_t *buf, size_t len)');
const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
const closeFd = libc.func('int close(int fd)');
// glibc's struct termios is 60 bytes; an opaque, larger buffer is safe for all calls below.
const tcgetattr = libc.func('int tcgetattr(int fd, _Out_ uint8_t *termios)');
const tcsetattr = libc.func('int tcsetattr(int fd, int action, const uint8_t *termios)');
const cfmakeraw = libc.func('void cfmakeraw(_Inout_ uint8_t *termios)');
const cfsetspeed = libc.func('int cfsetspeed(_Inout_ uint8_t *termios, uint32_t speed)');
const cfgetospeed = libc.func('uint32_t cfgetospeed(const uint8_t *termios)');

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;
const TCSANOW = 0;
const TERMIOS_BYTES = 128;

// Linux termios flag bits (asm-generic/termbits.h): c_iflag at offset 0, c_cflag at offset 8.
const IXON = 0o2000;
const IXOFF = 0o10000;
const CRTSCTS = 0o20000000000;

/** Linux `speed_t` codes (termios-baud.h) for the rates instruments use. */
const SPEED_CODES = new Map<number, number>([
  [300, 0o7],
  [1200, 0o11],
  [2400, 0o13],
  [4800, 0o14],
  [9600, 0o15],
  [19200, 0o16],
  [38400, 0o17],
  [57600, 0o10001],
  [115200, 0o10002],
  [230400, 0o10003],
  [460800, 0o10004],
  [921600, 0o10007],
]);
const SPEED_RATES = new Map([...SPEED_CODES].map(([rate, code]) => [code, rate]));

export interface PtyOptions {
  /** Line speed stored in the slave's termios, so a client that never sets one (cat, python) inherits it. */
  baudRate?: number;
}

export class Pty {
  private open = true;

  private constructor(
    /** The slave path clients open, e.g. /dev/pts/7. */
    readonly path: string,
    private readonly master: number,
    private readonly reader: tty.ReadStream,
    /** A slave fd kept open so the master never sees EIO while clients close and reopen. */
    private readonly keepFd: number,
  ) {}

  /** Opens a new pty in raw mode (no echo, no CR/LF translation): bytes pass unchanged. */
  static open(onData: (chunk: Buffer) => void, options: PtyOptions = {}): Pty {
    const master = posix_openpt(O_RDWR | O_NOCTTY) as number;
    if (master < 0)
      throw new DaqError('DAQ_PORT_ERROR', 'posix_openpt failed: no pseudo-terminal available (is /dev/pts mounted?)');
    let keepFd = -1;
    try {
      if (grantpt(master) !== 0 || unlockpt(master) !== 0) throw new Error('grantpt/unlockpt failed');
      const name = Buffer.alloc(128);
      if (ptsname_r(master, name, name.length) !== 0) throw new Error('ptsname_r failed');
      const path = name.toString('latin1', 0, name.indexOf(0));
      // Writes must never block the event loop when nobody reads the slave: with O_NONBLOCK
      // a full pty buffer makes write() fail with EAGAIN, which `write` reports as an overflow.
      const flags = fcntl(master, F_GETFL) as number;
      if (flags < 0 || (fcntl(master, F_SETFL, 'int', flags | O_NONBLOCK) as number) < 0) throw new Error('fcntl failed');
      keepFd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
      const termios = Buffer.alloc(TERMIOS_BYTES);
      if (tcgetattr(keepFd, termios) !== 0) throw new Error(`tcgetattr on ${path} failed`);
      cfmakeraw(termios);
      const speed = options.baudRate === undefined ? undefined : SPEED_CODES.get(options.baudRate);
      if (speed !== undefined) cfsetspeed(termios, speed);
      if (tcsetattr(keepFd, TCSANOW, termios) !== 0) throw new Error(`tcsetattr on ${path} failed`);
      const reader = new tty.ReadStream(master);
      reader.on('data', onData);
      reader.on('error', () => undefined); // EIO while torn down; close() is the one way out
      return new Pty(path, master, reader, keepFd);
    } catch (e) {
      if (keepFd >= 0) closeSync(keepFd);
      closeFd(master);
      throw new DaqError('DAQ_PORT_ERROR', `cannot create a pseudo-terminal: ${(e as Error).message}`, {}, { cause: e });
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * The line speed the client last configured (termios is shared by every fd of the slave),
   * or undefined when it is not one of the standard rates.
   */
  clientBaudRate(): number | undefined {
    if (!this.open) return undefined;
    const termios = Buffer.alloc(TERMIOS_BYTES);
    if (tcgetattr(this.keepFd, termios) !== 0) return undefined;
    return SPEED_RATES.get(cfgetospeed(termios) as number);
  }

  /**
   * The flow control the client configured on its end (termios c_iflag IXON/IXOFF and c_cflag
   * CRTSCTS, as node-serialport sets them for `xon`/`xoff`/`rtscts`), or undefined when closed.
   */
  clientFlowControl(): { xonxoff: boolean; rtscts: boolean } | undefined {
    if (!this.open) return undefined;
    const termios = Buffer.alloc(TERMIOS_BYTES);
    if (tcgetattr(this.keepFd, termios) !== 0) return undefined;
    const iflag = termios.readUInt32LE(0);
    const cflag = termios.readUInt32LE(8);
    return { xonxoff: (iflag & (IXON | IXOFF)) === (IXON | IXOFF), rtscts: (cflag & CRTSCTS) !== 0 };
  }

  /**
   * Writes to the master; returns the number of bytes the pty took. Fewer than asked means
   * its buffer was full (no client reading): the rest is lost, as on an overrun serial line.
   */
  write(data: Uint8Array): number {
    if (!this.open) return 0;
    let done = 0;
    while (done < data.length) {
      try {
        done += writeSync(this.master, data, done, data.length - done);
      } catch {
        break; // EAGAIN: full; EIO: torn down
      }
    }
    return done;
  }

  /** Tears the pty down: clients see the port disappear (a disconnect). */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.reader.destroy(); // closes the master fd
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
  removeLink(tmp);
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

/** Removes `link` if it exists (udev removes a by-id link when the device is unplugged). */
export function removeLink(link: string): void {
  try {
    unlinkSync(link);
  } catch {
    // none there
  }
}
