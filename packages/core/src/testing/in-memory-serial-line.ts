// A serial line for unit tests of one driver: what the driver writes is recorded, and a
// scripted device answers it. Bytes are latin1 strings, as on the BrokerApi. No timing beyond
// the read timeout: a device either has answered by the time the driver reads, or it has not.

/** What the device sends back for one chunk the driver wrote; undefined: nothing. */
export type ScriptedDevice = (written: string, line: InMemorySerialLine) => string | undefined;

export class InMemorySerialLine {
  /** Every chunk the driver wrote, in order. */
  readonly written: string[] = [];
  /** Bytes the device sent that nobody has read yet. */
  private input = '';
  /** Bytes discarded by drain(), over the line's life. */
  drained = 0;

  constructor(
    readonly path: string,
    private device: ScriptedDevice = () => undefined,
  ) {}

  /** Replaces the device's script (a device changing state mid-test). */
  answerWith(device: ScriptedDevice): void {
    this.device = device;
  }

  /** The device sends bytes unprompted (bus garbage, a late reply, an echo). */
  send(data: string): void {
    this.input += data;
  }

  /** What is waiting to be read. */
  get pending(): string {
    return this.input;
  }

  write(data: string): void {
    this.written.push(data);
    const reply = this.device(data, this);
    if (reply !== undefined) this.input += reply;
  }

  /** The bytes before the first `terminator`, consumed with it; undefined when no whole line is waiting. */
  takeLine(terminator: string): string | undefined {
    const at = this.input.indexOf(terminator);
    if (at < 0) return undefined;
    const line = this.input.slice(0, at);
    this.input = this.input.slice(at + terminator.length);
    return line;
  }

  drain(): number {
    const n = this.input.length;
    this.input = '';
    this.drained += n;
    return n;
  }
}
