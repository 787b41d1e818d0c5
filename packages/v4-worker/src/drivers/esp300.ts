// V4 ESP300 driver: a MotionController over the configured axes. Motion commands do not
// reply, so each is checked with TB? (in the same lease) and a refusal becomes an error
// with the controller's own code and message; a move that ends on a travel limit is reported
// when it settles. Each axis's unit is read from the controller (SN?), never assumed, and the
// state found at start (motor off, errors left in the buffer) is reported, then fixed.

import { DaqError, serialChannelFor, type DriverContext, type Esp300Config, type Reading } from '@daq/core';
import { Esp300Device, type Esp300Error } from '@daq/protocols';
import { motionCommands, type AxisLimits, type MotionController } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

/** A home search over a long stage takes minutes at worst. */
const DEFAULT_MOVE_TIMEOUT_MS = 120_000;

export class Esp300Motion extends V4Instrument<Esp300Config> implements MotionController {
  readonly axes: readonly number[];
  private readonly device: Esp300Device;
  private readonly units = new Map<number, string>();
  readonly commands;
  /** What start-up found and fixed: errors left in the buffer, axes whose motor was off. */
  found: { errors: Esp300Error[]; motorsOff: number[] } = { errors: [], motorsOff: [] };

  constructor(config: Esp300Config, context: DriverContext) {
    super(config, context);
    this.axes = [...config.axes];
    this.device = new Esp300Device(serialChannelFor(config, context), config.id, config.timeout_ms);
    this.commands = {
      ...motionCommands(this),
      lastError: { params: [], description: 'Pops the error buffer (TB?).', run: () => this.device.lastError() },
    };
  }

  /** The unit of the first axis (every axis has its own: see `unitOf`). */
  get unit(): string {
    return this.unitOf(this.axes[0]!);
  }

  unitOf(axis: number): string {
    const u = this.units.get(axis);
    if (!u) throw new DaqError('DAQ_INSTRUMENT', `${this.id} is not initialised yet`, { instrument: this.id });
    return u;
  }

  async initialize(): Promise<string> {
    const version = await this.device.version();
    // Errors left from before (e.g. a previous session) would be blamed on our first command.
    this.found = { errors: await this.device.drainErrors(), motorsOff: [] };
    for (const axis of this.axes) {
      this.units.set(axis, await this.device.units(axis));
      if (!(await this.device.motorIsOn(axis))) {
        this.found.motorsOff.push(axis);
        await this.device.motorOn(axis);
        if (!(await this.device.motorIsOn(axis)))
          throw new DaqError(
            'DAQ_INSTRUMENT',
            `${this.id}: axis ${axis}'s motor stays off after MO: check the stage cable and the controller's front panel`,
            {
              instrument: this.id,
              axis,
            },
          );
      }
    }
    const found = [
      ...(this.found.errors.length ? [`cleared ${this.found.errors.map((e) => `${e.code} ${e.message}`).join('; ')}`] : []),
      ...(this.found.motorsOff.length ? [`motor switched on for axis ${this.found.motorsOff.join(', ')}`] : []),
    ];
    return `${version}, axes ${this.axes.map((a) => `${a} (${this.unitOf(a)})`).join(', ')}${found.length ? `; found: ${found.join('; ')}` : ''}`;
  }

  channels() {
    return this.axes.map((a) => ({ channel: `axis${a}`, unit: this.unitOf(a) }));
  }

  async read(): Promise<Reading[]> {
    const out: Reading[] = [];
    for (const axis of this.axes)
      out.push({ channel: `axis${axis}`, value: await this.device.position(axis), unit: this.unitOf(axis) });
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

  /** Waits for the axis to stop; a travel limit hit on the way is an error that says where the axis is. */
  async waitSettled(axis?: number, timeoutMs = this.config.move_timeout_ms ?? DEFAULT_MOVE_TIMEOUT_MS): Promise<number> {
    const a = this.axisOf(this.axes, axis);
    const deadline = performance.now() + timeoutMs;
    while (!(await this.device.motionDone(a))) {
      if (performance.now() > deadline)
        throw new DaqError(
          'DAQ_TIMEOUT',
          `${this.id}: axis ${a} still moving after ${timeoutMs} ms (raise move_timeout_ms for long or slow moves)`,
          {
            instrument: this.id,
          },
        );
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.device.checkMotionErrors(a);
    return this.device.position(a);
  }

  async stop(axis?: number): Promise<void> {
    return this.device.stop(this.axisOf(this.axes, axis));
  }
}
