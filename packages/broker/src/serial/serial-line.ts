// One open serial port as the pool sees it (after node-serialport's BindingPortInterface):
// bytes in as events, bytes out, input flush, close. The real line is `serialport`; unit
// tests of the pool may use an in-memory one.

import { SerialPort } from 'serialport';
import { DaqError, type SerialLineSettings } from '@daq/core';

export interface SerialLineEvents {
  data(chunk: Buffer): void;
  /** The line is gone (device unplugged, pty closed); no more data will come. */
  lost(error: Error): void;
}

export interface SerialLine {
  readonly path: string;
  /** Sends bytes and resolves once the OS has transmitted them (tcdrain). */
  write(data: Uint8Array): Promise<void>;
  /** Discards input received but not yet read, in the OS and the driver. */
  flushInput(): Promise<void>;
  close(): Promise<void>;
}

export interface SerialLineFactory {
  open(path: string, settings: SerialLineSettings, events: SerialLineEvents): Promise<SerialLine>;
}

class NodeSerialLine implements SerialLine {
  private closing = false;

  constructor(
    readonly path: string,
    private readonly port: SerialPort,
    events: SerialLineEvents,
  ) {
    port.on('data', (chunk: Buffer) => events.data(chunk));
    port.on('close', (err?: Error & { disconnected?: boolean }) => {
      if (!this.closing) events.lost(err ?? new Error('the port closed unexpectedly'));
    });
    // Errors also surface through write/flush callbacks or 'close'; an unhandled 'error'
    // event would crash the broker, so it is reported as a lost line.
    port.on('error', (err: Error) => {
      if (!this.closing) events.lost(err);
    });
  }

  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
        if (err) return reject(err);
        this.port.drain((drainErr) => (drainErr ? reject(drainErr) : resolve()));
      });
    });
  }

  flushInput(): Promise<void> {
    return new Promise((resolve, reject) => this.port.flush((err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    this.closing = true;
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

/** Opens real serial ports (and pseudo-terminals) with the `serialport` package. */
export const nodeSerialLineFactory: SerialLineFactory = {
  open(path, settings, events) {
    const port = new SerialPort({
      path,
      baudRate: settings.baud_rate,
      dataBits: settings.data_bits,
      parity: settings.parity,
      stopBits: settings.stop_bits,
      rtscts: settings.flow_control === 'rtscts',
      xon: settings.flow_control === 'xonxoff',
      xoff: settings.flow_control === 'xonxoff',
      autoOpen: false,
    });
    return new Promise((resolve, reject) => {
      port.open((err) => {
        if (err) {
          reject(
            new DaqError(
              'DAQ_PORT_ERROR',
              `cannot open serial port ${path}: ${err.message} (check that the device is connected, the path is right and you may open it, e.g. membership of the dialout group)`,
              { port: path },
              { cause: err },
            ),
          );
          return;
        }
        resolve(new NodeSerialLine(path, port, events));
      });
    });
  },
};
