// V4 Elliptec driver: one device of a shared RS-485 bus as a single-axis MotionController.
// Absolute targets are checked against the travel the device reports before anything is
// sent; relative moves are left to the device, which answers GS0C beyond its travel. A
// multi-position slider (ELL6/ELL9/ELL12) moves by slot: positions 0 … slots-1.

import { DaqError, serialChannelFor, type ElliptecConfig, type Reading } from '@daq/core';
import { ELLIPTEC_MOVE_TIMEOUT_MS, ElliptecDevice } from '@daq/protocols';
import { motionCommands, type AxisLimits, type MotionController } from '../traits.js';
import { V4Instrument } from '../v4-instrument.js';

export class ElliptecMotion extends V4Instrument<ElliptecConfig> implements MotionController {
  readonly axes = [1] as const;
  private readonly device = new ElliptecDevice(serialChannelFor(this.config, this.context), this.config.address, this.id, {
    replyTimeoutMs: this.config.timeout_ms,
    moveTimeoutMs: this.config.move_timeout_ms,
  });
  readonly commands = motionCommands(this);

  get unit(): string {
    return this.device.identity.unit;
  }

  async initialize(): Promise<string> {
    await this.device.identify();
    return this.device.describe();
  }

  channels() {
    return [{ channel: 'position', unit: this.unit }];
  }

  async read(): Promise<Reading[]> {
    return [{ channel: 'position', value: await this.device.position(), unit: this.unit }];
  }

  async limits(axis?: number): Promise<AxisLimits> {
    this.axisOf(this.axes, axis);
    const i = this.device.identity;
    // A rotation mount turns without end; a linear stage stops at its travel; a slider has slots.
    if (i.kind === 'slider') return { min: 0, max: i.slots! - 1 };
    return i.rotary ? { min: -Infinity, max: Infinity } : { min: 0, max: i.travel };
  }

  async moveAbs(position: number, axis?: number): Promise<number> {
    const { min, max } = await this.limits(axis);
    // A slider's slot is checked by the device client (whole numbers too), with the model's slots.
    if (this.unit !== 'slot' && (position < min || position > max))
      throw new DaqError(
        'DAQ_INVALID_ARGUMENT',
        `${this.id}: ${position} ${this.unit} is outside the travel ${min}-${max} ${this.unit}; nothing was sent`,
        { instrument: this.id },
      );
    return this.device.move('absolute', position);
  }

  async moveRel(distance: number, axis?: number): Promise<number> {
    this.axisOf(this.axes, axis);
    return this.device.move('relative', distance);
  }

  async home(axis?: number): Promise<number> {
    this.axisOf(this.axes, axis);
    return this.device.home(0);
  }

  async position(axis?: number): Promise<number> {
    this.axisOf(this.axes, axis);
    return this.device.position();
  }

  /** Elliptec moves answer when they end, so a settled device is one that is not busy. */
  async waitSettled(axis?: number, timeoutMs = this.config.move_timeout_ms ?? ELLIPTEC_MOVE_TIMEOUT_MS): Promise<number> {
    this.axisOf(this.axes, axis);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.device.status();
      if (s.code !== 0x09) return this.device.position();
      if (performance.now() > deadline)
        throw new DaqError('DAQ_TIMEOUT', `${this.id} still busy after ${timeoutMs} ms`, { instrument: this.id });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(axis?: number): Promise<void> {
    this.axisOf(this.axes, axis);
    await this.device.exchange('st');
  }
}
