// A plain serial client on the real `serialport` package, as any user program would be.
import { SerialPort } from 'serialport';

export class SerialClient {
  private buffer = '';
  private waiters: (() => void)[] = [];
  closed: Error | undefined;

  private constructor(private readonly port: SerialPort) {
    port.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    port.on('error', () => undefined); // surfaces through write callbacks and 'close'
    port.on('close', (err?: Error) => {
      this.closed = err ?? new Error('closed');
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(path: string, baudRate = 9600): Promise<SerialClient> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new SerialClient(port);
  }

  write(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.port.write(text, (e) => (e ? reject(e) : resolve())));
  }

  /** The next line ending in `term`, or undefined after `timeoutMs`. */
  async line(term = '\n', timeoutMs = 1000): Promise<string | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.buffer.indexOf(term);
      if (i >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + term.length);
        return line;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async query(command: string, term = '\n', timeoutMs = 1000): Promise<string | undefined> {
    await this.write(command);
    return this.line(term, timeoutMs);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}
