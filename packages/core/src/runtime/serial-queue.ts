// One operation at a time per instrument (a poll or a command), in arrival order, so a
// driver's exchanges never interleave; the queue length is visible in status.

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** Operations waiting or running. */
  pending = 0;

  run<T>(op: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(op);
    const settled = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    this.tail = settled;
    return result;
  }

  /** Resolves when everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
