// A SCPI instrument on a serial line (an `ASRL…::INSTR` resource): the same IEEE 488.2 engine
// as the TCP simulator behind a pty, LF-terminated, paced at the configured baud rate.

import { ScpiEngine, type ScpiEngineOptions } from './scpi-engine.js';
import { SerialSimulator, type Reply, type SerialSimulatorOptions } from './serial-simulator.js';

export interface ScpiSerialOptions extends SerialSimulatorOptions, ScpiEngineOptions {}

export class ScpiSerialSimulator extends SerialSimulator {
  readonly engine: ScpiEngine;

  constructor(options: ScpiSerialOptions = {}) {
    super(options, 9600);
    this.engine = new ScpiEngine(options);
  }

  protected get replyTerminator(): string {
    return '\n';
  }

  protected handle(command: string): Reply[] {
    // The engine works in instrument time of its own (measurements take time): reply when it answers.
    void this.engine.execute(command).then((reply) => {
      if (reply !== undefined) this.sendLater({ text: `${reply}\n` });
    });
    return [];
  }

  override async close(): Promise<void> {
    this.engine.close();
    await super.close();
  }
}
