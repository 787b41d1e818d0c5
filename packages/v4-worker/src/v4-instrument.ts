// What every V4 driver shares: core's InstrumentDriver (identity and poll rate from the
// config) and an axis check for the motion controllers.

import { DaqError, InstrumentDriver, type V4InstrumentConfig } from '@daq/core';

export abstract class V4Instrument<C extends V4InstrumentConfig = V4InstrumentConfig> extends InstrumentDriver<C> {
  /** The axis a motion call means: the first configured one by default; others are refused. */
  protected axisOf(axes: readonly number[], axis: number | undefined): number {
    const a = axis ?? axes[0]!;
    if (!axes.includes(a))
      throw new DaqError('DAQ_INVALID_ARGUMENT', `${this.id} has no axis ${a}; configured axes: ${axes.join(', ')}`, {
        instrument: this.id,
      });
    return a;
  }
}
