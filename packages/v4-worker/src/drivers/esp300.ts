// V4 ESP300 driver: a MotionController over the configured axes. Motion commands do not
// reply, so each is checked with TB? (in the same lease) and a refusal becomes an error
// with the controller's own code and message. Motors are switched on at start.

import { DaqError, Esp300Device, SerialChannel, type DriverContext, type Esp300Config, type Reading } from '@daq/core';
import { motionCommands, type AxisLimits, type MotionController } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class Esp300Motion extends V4Instrument<Esp300Config> implements MotionController {
  readonly pollHz: number;
  readonly axes: readonly number[];
  /** ESP300 units are set per stage (SN); the stages this runtime targets are in mm. */
  readonly unit = 'mm';
  private readonly device: Esp300Device;
  readonly commands;

  constructor(config: Esp300Config, context: DriverContext) {
    super(config, context);
    this.pollHz = config.poll_hz;
    this.axes = [...config.axes];
    const channel = new SerialChannel(context.broker, config.serial_port, {
      instrument: config.id,
      timeoutMs: context.leaseTimeoutMs,
    });
    this.device = new Esp300Device(channel, config.id);
    this.commands = {
      ...motionCommands(this),
      lastError: { params: [], description: 'Pops the error buffer (TB?).', run: () => this.device.lastError() },
    };
  }

  async initialize(): Promise<string> {
    const version = await this.device.version();
    // Errors left from before (e.g. a previous session) would be blamed on our first command.
    for (let i = 0; i < 10 && (await this.device.lastError()).code !== 0; i++);
    for (const axis of this.axes) await this.device.motorOn(axis);
    return `${version}, axes ${this.axes.join(', ')}`;
  }

  channels() {
    return this.axes.map((a) => ({ channel: `axis${a}`, unit: this.unit }));
  }

  async read(): Promise<Reading[]> {
    const out: Reading[] = [];
    for (const axis of this.axes) out.push({ channel: `axis${axis}`, value: await this.device.position(axis), unit: this.unit });
    return out;
  }

  async limits(axis?: number): Promise<AxisLimits> {
    return this.device.limits(this.axisOf(this.axes, axis));
  }

  /** Returns the commanded target; use waitSettled for where the axis stopped. */
  async moveAbs(position: number, axis?: number): Promise<number> {
    await this.device.moveAbsolute(this.axisOf(this.axes, axis), position);
    return position;
  }

  /** Returns the target (start + distance); use waitSettled for where the axis stopped. */
  async moveRel(distance: number, axis?: number): Promise<number> {
    const a = this.axisOf(this.axes, axis);
    const from = await this.device.position(a);
    await this.device.moveRelative(a, distance);
    return from + distance;
  }

  async home(axis?: number): Promise<number> {
    const a = this.axisOf(this.axes, axis);
    await this.device.home(a);
    return this.waitSettled(a);
  }

  async position(axis?: number): Promise<number> {
    return this.device.position(this.axisOf(this.axes, axis));
  }

  async waitSettled(axis?: number, timeoutMs = 60_000): Promise<number> {
    const a = this.axisOf(this.axes, axis);
    const deadline = performance.now() + timeoutMs;
    while (!(await this.device.motionDone(a))) {
      if (performance.now() > deadline)
        throw new DaqError('DAQ_TIMEOUT', `${this.id}: axis ${a} still moving after ${timeoutMs} ms`, { instrument: this.id });
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.device.position(a);
  }

  async stop(axis?: number): Promise<void> {
    return this.device.stop(this.axisOf(this.axes, axis));
  }
}
