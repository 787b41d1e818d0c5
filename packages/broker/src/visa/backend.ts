// One small interface per VISA transport (after node-serialport's BindingInterface): the
// VisaSessionManager queues, times and routes commands; a backend only moves bytes.
// Backends: `socket` (TCPIP::SOCKET over node:net), `asrl` (ASRL through a SerialPortPool
// lease), `ffi` (a vendor VISA C library through koffi).

import type { VisaResource } from '@daq/core';

export interface VisaOpenOptions {
  /** Appended to every write (e.g. "\n"). */
  writeTermination: string;
  /** A read completes when this arrives (e.g. "\n"); it is stripped from the reply. */
  readTermination: string;
  /** Default I/O timeout of the session. */
  timeoutMs: number;
  /** Who opens it (for errors and backends that lease hardware). */
  owner: string;
}

export interface VisaSession {
  readonly resource: VisaResource;
  /** Sends `command` plus the write termination. Rejects with DAQ_VISA_TIMEOUT / DAQ_VISA_ERROR. */
  write(command: string, timeoutMs: number): Promise<void>;
  /** Reads one reply up to the read termination (stripped). Rejects with DAQ_VISA_TIMEOUT on timeout. */
  read(timeoutMs: number): Promise<string>;
  /**
   * Optional: sends several commands in one write (each with the write termination), for a
   * transport where the instrument takes them back to back and queues its replies in order (a
   * raw socket). Without it, queryMany writes and reads one command at a time.
   */
  writeMany?(commands: readonly string[], timeoutMs: number): Promise<void>;
  /**
   * Brings the session back to a clean state after a timeout or error: discards pending
   * and late input, and sends a device clear where the transport has one (viClear).
   */
  clear(): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: called before each queued command or transaction of `owner` (the ASRL backend
   * takes a serial lease here, so VISA and direct serial users of one port take turns).
   */
  begin?(owner: string, timeoutMs: number): Promise<void>;
  /** Optional: called after each command or transaction, on every path. */
  end?(): Promise<void>;
}

export interface VisaBackend {
  readonly name: 'socket' | 'asrl' | 'ffi';
  /** True when this backend can open `resource`. */
  supports(resource: VisaResource): boolean;
  open(resource: VisaResource, options: VisaOpenOptions): Promise<VisaSession>;
  /** Releases backend-wide state (e.g. the VISA resource manager session). */
  close(): Promise<void>;
}
