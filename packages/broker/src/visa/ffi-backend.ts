// The `ffi` VISA backend: a vendor VISA C library (NI-VISA, Keysight, R&S) through koffi, for
// TCPIP INSTR, GPIB and USB resources. Blocking calls run as koffi async calls on its worker
// threads, so a read waiting for a slow instrument never stalls the broker's event loop.

import koffi, { type LibraryHandle } from 'koffi';
import { DaqError, type ErrorFacts, type FactsOf, type VisaResource } from '@daq/core';
import type { VisaBackend, VisaOpenOptions, VisaSession } from './backend.js';

// Numbers from the IVI Foundation's visa.h / visatype.h (VISA 4.0 headers; see the fake
// library's visa-subset.h in this package's tests for where they were confirmed).
const VI_SUCCESS = 0;
const VI_SUCCESS_MAX_CNT = 0x3fff0006;
const VI_ERROR_TMO = 0xbfff0015 | 0;
const VI_ERROR_RSRC_NFOUND = 0xbfff0011 | 0;
const VI_ERROR_RSRC_LOCKED = 0xbfff000f | 0;
const VI_ERROR_INV_RSRC_NAME = 0xbfff0012 | 0;
const VI_ATTR_TMO_VALUE = 0x3fff001a;
const VI_ATTR_TERMCHAR = 0x3fff0018;
const VI_ATTR_TERMCHAR_EN = 0x3fff0038;
const VI_EXCLUSIVE_LOCK = 1;
const VI_SHARED_LOCK = 2;
const VI_NO_LOCK = 0;
const VI_TMO_MAX = 0xfffffffe; // 0xFFFFFFFF is VI_TMO_INFINITE: never pass it by accident
/** viStatusDesc and viLock's access key need at least this many bytes (VI_FIND_BUFLEN). */
const VI_FIND_BUFLEN = 256;
/** A reply longer than this is read in several viRead calls (VI_SUCCESS_MAX_CNT). */
const READ_CHUNK = 16 * 1024;
/** How long past its own timeout a library call may take before we stop waiting for it. */
const WATCHDOG_GRACE_MS = 5000;

type KoffiFunction = ReturnType<LibraryHandle['func']>;

interface VisaLibrary {
  path: string;
  viOpenDefaultRM: KoffiFunction;
  viOpen: KoffiFunction;
  viClose: KoffiFunction;
  viRead: KoffiFunction;
  viWrite: KoffiFunction;
  viClear: KoffiFunction;
  viSetAttribute: KoffiFunction;
  viGetAttribute: KoffiFunction;
  viLock: KoffiFunction;
  viUnlock: KoffiFunction;
  viStatusDesc: KoffiFunction;
}

function bind(path: string): VisaLibrary {
  let lib: LibraryHandle;
  try {
    lib = koffi.load(path);
  } catch (e) {
    throw new DaqError(
      'DAQ_VISA_ERROR',
      `cannot load the VISA library ${path}: ${(e as Error).message}. Install a VISA (NI-VISA libvisa.so, Keysight libiovisa.so, R&S librsvisa.so) and point [broker] visa_library at it, or use ::SOCKET resources`,
      { library: path },
      { cause: e },
    );
  }
  // visatype.h: ViUInt32/ViSession/ViStatus are 32-bit everywhere; ViAttrState is 64-bit
  // wherever the platform is 64-bit (LP64 Unix, Win64), i.e. where pointers are 8 bytes.
  const state = koffi.sizeof('void *') === 8 ? 'uint64_t' : 'uint32_t';
  // _VI_FUNC is __stdcall on 32-bit Windows only; elsewhere the C convention.
  const cc = process.platform === 'win32' && process.arch === 'ia32' ? '__stdcall ' : '';
  const fn = (decl: string): KoffiFunction => {
    try {
      return lib.func(decl.replace('int32_t ', `int32_t ${cc}`));
    } catch (e) {
      throw new DaqError(
        'DAQ_VISA_ERROR',
        `${path} is not a usable VISA library: ${(e as Error).message} (point [broker] visa_library at the VISA C library itself)`,
        { library: path },
        { cause: e },
      );
    }
  };
  return {
    path,
    viOpenDefaultRM: fn('int32_t viOpenDefaultRM(_Out_ uint32_t *vi)'),
    viOpen: fn('int32_t viOpen(uint32_t sesn, const char *name, uint32_t mode, uint32_t timeout, _Out_ uint32_t *vi)'),
    viClose: fn('int32_t viClose(uint32_t vi)'),
    viRead: fn('int32_t viRead(uint32_t vi, _Out_ uint8_t *buf, uint32_t cnt, _Out_ uint32_t *retCnt)'),
    viWrite: fn('int32_t viWrite(uint32_t vi, const uint8_t *buf, uint32_t cnt, _Out_ uint32_t *retCnt)'),
    viClear: fn('int32_t viClear(uint32_t vi)'),
    viSetAttribute: fn(`int32_t viSetAttribute(uint32_t vi, uint32_t attr, ${state} value)`),
    viGetAttribute: fn('int32_t viGetAttribute(uint32_t vi, uint32_t attr, _Out_ uint8_t *value)'),
    viLock: fn(
      'int32_t viLock(uint32_t vi, uint32_t lockType, uint32_t timeout, const char *requestedKey, _Out_ uint8_t *accessKey)',
    ),
    viUnlock: fn('int32_t viUnlock(uint32_t vi)'),
    viStatusDesc: fn('int32_t viStatusDesc(uint32_t vi, int32_t status, _Out_ uint8_t *desc)'),
  };
}

/** Runs `fn` on a koffi worker thread; resolves to the ViStatus. */
function callAsync(fn: KoffiFunction, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, status: number) => (err ? reject(err) : resolve(status)));
  });
}

/** A C string from a fixed-size buffer. */
function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return Buffer.from(buf.buffer, buf.byteOffset, end < 0 ? buf.length : end).toString('latin1');
}

const hex = (status: number) => `0x${(status >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
const clampTimeout = (ms: number) => Math.min(VI_TMO_MAX, Math.max(1, Math.ceil(ms)));

export type VisaLockMode = 'exclusive' | 'shared';

export class FfiSession implements VisaSession {
  private closed = false;
  /** The VI_ATTR_TMO_VALUE last set, so a call with the same timeout costs no extra FFI call. */
  private tmo = -1;
  private readonly chunk = Buffer.alloc(READ_CHUNK);

  constructor(
    readonly resource: VisaResource,
    private readonly backend: FfiBackend,
    private readonly lib: VisaLibrary,
    /** The ViSession handle. */
    readonly vi: number,
    private readonly options: VisaOpenOptions,
  ) {}

  async write(command: string, timeoutMs: number): Promise<void> {
    this.assertOpen('write');
    this.setTimeoutMs(timeoutMs);
    const data = Buffer.from(command + this.options.writeTermination, 'latin1');
    const done = [0];
    const status = await this.guard('viWrite', timeoutMs, callAsync(this.lib.viWrite, this.vi, data, data.length, done));
    if (status < VI_SUCCESS)
      throw this.error('viWrite', status, { timeoutMs, subject: `write of ${JSON.stringify(command)} to ${this.name}` });
    if (done[0] !== data.length) {
      throw new DaqError(
        'DAQ_VISA_ERROR',
        `write to ${this.name} sent ${done[0]} of ${data.length} bytes: clear the session and send the command again`,
        { resource: this.name, library: this.lib.path },
      );
    }
  }

  async read(timeoutMs: number): Promise<string> {
    this.assertOpen('read');
    const deadline = performance.now() + timeoutMs;
    const parts: Buffer[] = [];
    for (;;) {
      this.setTimeoutMs(deadline - performance.now());
      const got = [0];
      const status = await this.guard(
        'viRead',
        timeoutMs,
        callAsync(this.lib.viRead, this.vi, this.chunk, this.chunk.length, got),
      );
      parts.push(Buffer.from(this.chunk.subarray(0, got[0])));
      if (status === VI_SUCCESS_MAX_CNT) continue; // the reply is longer than one chunk
      if (status < VI_SUCCESS) {
        const partial = Buffer.concat(parts).toString('latin1');
        throw this.error('viRead', status, { timeoutMs, partial });
      }
      break; // VI_SUCCESS (END) or VI_SUCCESS_TERM_CHAR
    }
    const reply = Buffer.concat(parts).toString('latin1');
    const term = this.options.readTermination;
    return term && reply.endsWith(term) ? reply.slice(0, -term.length) : reply;
  }

  /** viClear: a device clear, and the library discards pending input. */
  async clear(): Promise<void> {
    this.assertOpen('clear');
    this.setTimeoutMs(this.options.timeoutMs);
    const status = await this.guard('viClear', this.options.timeoutMs, callAsync(this.lib.viClear, this.vi));
    if (status < VI_SUCCESS) throw this.error('viClear', status, { timeoutMs: this.options.timeoutMs });
  }

  /**
   * viLock: waits up to `timeoutMs` for the lock. An exclusive lock keeps every other session
   * (in any program using this VISA) off the instrument; a shared lock admits sessions that
   * pass its key. Resolves to the access key (empty for exclusive locks).
   */
  async lock(timeoutMs: number, mode: VisaLockMode = 'exclusive', key?: string): Promise<string> {
    this.assertOpen('lock');
    const accessKey = Buffer.alloc(VI_FIND_BUFLEN);
    const type = mode === 'exclusive' ? VI_EXCLUSIVE_LOCK : VI_SHARED_LOCK;
    const status = await this.guard(
      'viLock',
      timeoutMs,
      callAsync(this.lib.viLock, this.vi, type, clampTimeout(timeoutMs), key ?? null, accessKey),
    );
    if (status < VI_SUCCESS) throw this.error('viLock', status, { timeoutMs, subject: `${mode} lock on ${this.name}` });
    return type === VI_SHARED_LOCK ? cString(accessKey) : '';
  }

  /** viUnlock: releases the most recent lock of this session. */
  async unlock(): Promise<void> {
    this.assertOpen('unlock');
    const status = this.lib.viUnlock(this.vi) as number; // never blocks: no need for a worker thread
    if (status < VI_SUCCESS) throw this.error('viUnlock', status, {});
  }

  /** A ViUInt32-or-smaller attribute, as the library reports it (for diagnostics and tests). */
  getAttribute(attribute: number): number {
    this.assertOpen('getAttribute');
    const value = Buffer.alloc(8);
    const status = this.lib.viGetAttribute(this.vi, attribute, value) as number;
    if (status < VI_SUCCESS)
      throw this.error('viGetAttribute', status, { subject: `reading attribute ${hex(attribute)} of ${this.name}` });
    return value.readUInt32LE(0); // smaller attributes leave the upper bytes zero
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.backend.forget(this);
    const status = await this.guard('viClose', this.options.timeoutMs, callAsync(this.lib.viClose, this.vi));
    if (status < VI_SUCCESS) throw this.error('viClose', status, {});
  }

  /** Applies the read termination to the session (called once by the backend after viOpen). */
  configure(): void {
    const term = this.options.readTermination;
    if (term.length === 1) {
      this.set(VI_ATTR_TERMCHAR, term.charCodeAt(0), 'VI_ATTR_TERMCHAR');
      this.set(VI_ATTR_TERMCHAR_EN, 1, 'VI_ATTR_TERMCHAR_EN');
    } else {
      this.set(VI_ATTR_TERMCHAR_EN, 0, 'VI_ATTR_TERMCHAR_EN'); // end of message (END) only
    }
    this.setTimeoutMs(this.options.timeoutMs);
  }

  private get name(): string {
    return this.resource.canonical;
  }

  private setTimeoutMs(ms: number): void {
    const tmo = clampTimeout(ms);
    if (tmo === this.tmo) return;
    this.set(VI_ATTR_TMO_VALUE, tmo, 'VI_ATTR_TMO_VALUE');
    this.tmo = tmo;
  }

  private set(attribute: number, value: number, label: string): void {
    const status = this.lib.viSetAttribute(this.vi, attribute, value) as number;
    if (status < VI_SUCCESS)
      throw this.error('viSetAttribute', status, { subject: `setting ${label} = ${value} on ${this.name}` });
  }

  private assertOpen(what: string): void {
    if (this.closed)
      throw new DaqError('DAQ_CLOSED', `VISA session ${this.name} is closed; cannot ${what}`, { resource: this.name });
  }

  /**
   * Every wait must end: if the library does not return within its own timeout plus a grace
   * period (a vendor bug or a hung driver), stop waiting and say so. The native call keeps its
   * worker thread until it returns.
   */
  private guard(operation: string, timeoutMs: number, call: Promise<number>): Promise<number> {
    const limit = timeoutMs + WATCHDOG_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DaqError(
              'DAQ_VISA_TIMEOUT',
              `${operation} on ${this.name} did not return within ${limit} ms although its VISA timeout was ${timeoutMs} ms: the VISA library ${this.lib.path} or its driver is hung; restart the instrument or the VISA service`,
              { resource: this.name, library: this.lib.path, operation, timeoutMs },
            ),
          ),
        limit,
      );
    });
    return Promise.race([call, watchdog]).finally(() => clearTimeout(timer));
  }

  private error(operation: string, status: number, ctx: ErrorContext): DaqError {
    return visaError(this.lib, operation, status, this.name, this.vi, ctx);
  }
}

interface ErrorContext {
  timeoutMs?: number;
  /** What failed, e.g. `write of "*IDN?" to GPIB0::5::INSTR` (default: `viXxx on <resource>`). */
  subject?: string;
  /** Bytes a timed-out read did receive. */
  partial?: string;
}

/** A DaqError for a failed VISA call: the library's own text, the hex status, and what to do. */
function visaError(
  lib: VisaLibrary,
  operation: string,
  status: number,
  resource: string,
  vi: number,
  ctx: ErrorContext,
): DaqError {
  const desc = Buffer.alloc(VI_FIND_BUFLEN);
  let text: string;
  try {
    const s = lib.viStatusDesc(vi, status, desc) as number;
    text = s < VI_SUCCESS ? 'no description from the library' : cString(desc);
  } catch {
    text = 'no description from the library';
  }
  const visa = `VISA ${operation} returned ${hex(status)}: ${text}`;
  const facts: FactsOf<'DAQ_VISA_ERROR'> & FactsOf<'DAQ_VISA_TIMEOUT'> = {
    library: lib.path,
    operation,
    status,
    statusHex: hex(status),
  };
  if (resource) facts.resource = resource;
  if (ctx.timeoutMs !== undefined) facts.timeoutMs = ctx.timeoutMs;
  const subject = ctx.subject ?? `${operation} on ${resource}`;
  if (status === VI_ERROR_TMO) {
    const partial = ctx.partial ? ` (received ${JSON.stringify(ctx.partial.slice(0, 64))} without the terminator)` : '';
    const message =
      operation === 'viRead'
        ? `no reply from ${resource} within ${ctx.timeoutMs} ms${partial} [${visa}]: check the command is a query and the instrument is not busy`
        : operation === 'viLock'
          ? `${subject} not obtained within ${ctx.timeoutMs} ms [${visa}]: another session holds the instrument; wait or raise the timeout`
          : `${subject} did not complete within ${ctx.timeoutMs} ms [${visa}]: check the instrument is on and responding`;
    return new DaqError('DAQ_VISA_TIMEOUT', message, { ...facts, waitedMs: ctx.timeoutMs });
  }
  const hint =
    status === VI_ERROR_RSRC_LOCKED
      ? 'another VISA session (maybe another program) holds a lock on it: wait until it unlocks, or close that program'
      : status === VI_ERROR_RSRC_NFOUND || status === VI_ERROR_INV_RSRC_NAME
        ? `check the resource name and that the instrument is on and reachable, and that the VISA library ${lib.path} lists it (NI MAX, Keysight Connection Expert or visainfo)`
        : 'clear the session before the next command (the VISA manager does); if it repeats, check the instrument and its connection';
  return new DaqError('DAQ_VISA_ERROR', `${subject} failed [${visa}]: ${hint}`, facts);
}

export class FfiBackend implements VisaBackend {
  readonly name = 'ffi' as const;
  private readonly lib: VisaLibrary;
  private rm: Promise<number> | undefined;
  private readonly sessions = new Set<FfiSession>();
  private closed = false;

  /** Loads the VISA library at `libraryPath` (`[broker] visa_library`); throws DAQ_VISA_ERROR if it cannot. */
  constructor(readonly libraryPath: string) {
    this.lib = bind(libraryPath);
  }

  /** INSTR resources a VISA library serves; ASRL goes through the broker's serial pool instead. */
  supports(resource: VisaResource): boolean {
    return (
      (resource.interface === 'TCPIP' && resource.resourceClass === 'INSTR') ||
      resource.interface === 'GPIB' ||
      resource.interface === 'USB'
    );
  }

  async open(resource: VisaResource, options: VisaOpenOptions): Promise<FfiSession> {
    const name = resource.canonical;
    if (this.closed) throw new DaqError('DAQ_CLOSED', `the ffi VISA backend is closed; cannot open ${name}`, { resource: name });
    if (!this.supports(resource)) {
      throw new DaqError('DAQ_VISA_ERROR', `the ffi backend does not open ${name} (it serves TCPIP INSTR, GPIB and USB)`, {
        resource: name,
      });
    }
    if (options.readTermination.length > 1) {
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `read termination ${JSON.stringify(options.readTermination)} for ${name} has ${options.readTermination.length} characters, but VISA ends a read on one termination character (VI_ATTR_TERMCHAR): use its last character, e.g. "\\n" (a "\\r" before it then stays in the reply), or "" to end on the instrument's END`,
        { resource: name },
      );
    }
    const rm = await this.resourceManager();
    const vi = [0];
    const status = await callAsync(this.lib.viOpen, rm, name, VI_NO_LOCK, clampTimeout(options.timeoutMs), vi);
    if (status < VI_SUCCESS) throw visaError(this.lib, 'viOpen', status, name, rm, { subject: `opening ${name}` });
    const session = new FfiSession(resource, this, this.lib, vi[0]!, options);
    this.sessions.add(session);
    try {
      session.configure();
    } catch (e) {
      await session.close().catch(() => undefined);
      throw e;
    }
    return session;
  }

  /** Sessions open now. */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** @internal called by a session that closes. */
  forget(session: FfiSession): void {
    this.sessions.delete(session);
  }

  /** Closes every session, then the default resource manager. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.sessions].map((s) => s.close().catch(() => undefined)));
    const rm = this.rm;
    this.rm = undefined;
    const handle = await rm?.catch(() => undefined);
    if (handle !== undefined) await callAsync(this.lib.viClose, handle);
  }

  private resourceManager(): Promise<number> {
    this.rm ??= (async () => {
      const out = [0];
      const status = await callAsync(this.lib.viOpenDefaultRM, out);
      if (status < VI_SUCCESS) {
        this.rm = undefined; // let the next open try again
        throw visaError(this.lib, 'viOpenDefaultRM', status, '', 0, { subject: 'opening the VISA resource manager' });
      }
      return out[0]!;
    })();
    return this.rm;
  }
}
