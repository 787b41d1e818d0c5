// Thorlabs Elliptec protocol codec (docs/protocols.md, "Thorlabs Elliptec (ELLx bus)"; Thorlabs
// "Elliptec communication protocol" manual): `<addr><cmd>[data]` out, `<addr><RESP>[data]\r\n`
// back, positions as 32-bit two's-complement pulses in 8 hex digits, scaled with the pulses each
// device reports.

import { DaqError } from '@daq/core';

export const ELLIPTEC_STATUS: Readonly<Record<number, string>> = {
  0x00: 'ok',
  0x01: 'communication timeout',
  0x02: 'mechanical timeout',
  0x03: 'command error or not supported',
  0x04: 'value out of range',
  0x05: 'module isolated',
  0x06: 'module out of isolation',
  0x07: 'initialising error',
  0x08: 'thermal error',
  0x09: 'busy',
  0x0a: 'sensor error',
  0x0b: 'motor error',
  0x0c: 'out of range',
  0x0d: 'over current',
};

/**
 * The IN reply's type is the ELL model number in hex. Rotary mounts and stages (ELL8, ELL14,
 * ELL16, ELL18, ELL21, ELL22) report pulses per revolution; linear stages (ELL7, ELL10, ELL17,
 * ELL20) and the ELL15 iris pulses per mm. Sources: TapyrLabs/tl_elliptec devices/models.py and
 * docs/guide/units.md, few-cycle's ELLxx.py model codes, rwpeterson/elliptec and
 * gabrielbenedikt/elliptecpp device groups (docs/protocols.md).
 */
const ROTARY_TYPES = new Set([0x08, 0x0e, 0x10, 0x12, 0x15, 0x16]);
/**
 * Multi-position (indexed) sliders: slots, not a continuous travel. Their IN reply gives 0
 * pulses per unit (real ELL6 and ELL9 replies) and positions are in mm: slot k sits at k ×
 * pitch (31 mm on ELL6/ELL9: `gp` answers 0x1F, 0x3E, 0x5D; about 19 mm on ELL12, unconfirmed).
 */
export const ELLIPTEC_SLIDERS: Readonly<Record<number, { slots: number; pitchMm: number }>> = {
  0x06: { slots: 2, pitchMm: 31 },
  0x09: { slots: 4, pitchMm: 31 },
  0x0c: { slots: 6, pitchMm: 19 },
};

export type ElliptecKind = 'rotary' | 'linear' | 'slider';

export interface ElliptecInfo {
  address: string;
  /** ELL model number, e.g. 14 for an ELL14. */
  model: number;
  serial: string;
  year: number;
  firmware: string;
  hardware: string;
  /** Travel in mm or degrees (for a slider: the last slot's position in mm). */
  travel: number;
  kind: ElliptecKind;
  rotary: boolean;
  /** Pulses per degree (rotary) or per mm (linear); for a slider, position units (mm) per mm: 1. */
  pulsesPerUnit: number;
  unit: 'deg' | 'mm' | 'slot';
  /** Sliders only: number of slots and their pitch in mm. */
  slots?: number;
  pitchMm?: number;
  /** Characters after the 30 the manual defines (reported for some firmware; kept, not parsed). */
  extra?: string;
}

export type ElliptecReply =
  | { kind: 'position'; pulses: number }
  | { kind: 'status'; code: number; text: string }
  | { kind: 'info'; info: ElliptecInfo }
  | { kind: 'other'; header: string; data: string };

/** `ma`/`mr` data: 8 upper-case hex digits, two's complement. */
export function encodePulses(pulses: number): string {
  const n = Math.round(pulses);
  if (n < -0x80000000 || n > 0x7fffffff)
    throw new DaqError('DAQ_INVALID_ARGUMENT', `position ${pulses} pulses does not fit the Elliptec's 32-bit range`);
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/**
 * A position field: 8 hex digits are a 32-bit two's-complement number; some firmware sends
 * fewer digits for small positions (`3PO0`, even `3PO` for 0: rust-daq's ELL14 driver handles
 * both), which are read as a plain non-negative number.
 */
export function decodePulses(hex: string): number {
  if (hex === '') return 0;
  return hex.length === 8 ? Number.parseInt(hex, 16) | 0 : Number.parseInt(hex, 16);
}

/** The IN data: 30 characters at fixed offsets; characters after them are tolerated and kept. */
function parseInfo(address: string, d: string): ElliptecInfo | undefined {
  if (!/^[0-9A-Fa-f]{2}[0-9A-Za-z]{8}\d{4}[0-9A-Fa-f]{4}[0-9A-Fa-f]{4}[0-9A-Fa-f]{8}/.test(d)) return undefined;
  const model = Number.parseInt(d.slice(0, 2), 16);
  const slider = ELLIPTEC_SLIDERS[model];
  const kind: ElliptecKind = slider ? 'slider' : ROTARY_TYPES.has(model) ? 'rotary' : 'linear';
  const pulses = Number.parseInt(d.slice(22, 30), 16);
  if (pulses <= 0 && !slider) return undefined;
  const extra = d.slice(30).trim();
  return {
    address,
    model,
    serial: d.slice(2, 10),
    year: Number(d.slice(10, 14)),
    firmware: d.slice(14, 16),
    hardware: d.slice(16, 18),
    travel: Number.parseInt(d.slice(18, 22), 16),
    kind,
    rotary: kind === 'rotary',
    // Rotary devices report pulses per revolution (143360 for an ELL14); linear ones per mm;
    // sliders take positions in mm.
    pulsesPerUnit: kind === 'rotary' ? pulses / 360 : kind === 'linear' ? pulses : 1,
    unit: kind === 'rotary' ? 'deg' : kind === 'linear' ? 'mm' : 'slot',
    ...(slider ? { slots: slider.slots, pitchMm: slider.pitchMm } : {}),
    ...(extra ? { extra } : {}),
  };
}

/**
 * Parses one reply line from `address`. Bus contention can put garbage before the reply, so
 * the reply is the first `<address><HEADER><data>` that runs well-formed to the end of the
 * line. Returns undefined when the line holds no reply from that address.
 */
export function parseElliptecReply(address: string, line: string): ElliptecReply | undefined {
  const text = line.replace(/[\r\n]+$/, '');
  const addr = address.toUpperCase();
  let other: ElliptecReply | undefined;
  for (let i = text.indexOf(addr); i >= 0 && i + 3 <= text.length; i = text.indexOf(addr, i + 1)) {
    const header = text.slice(i + 1, i + 3);
    if (!/^[A-Z]{2}$/.test(header)) continue;
    const data = text.slice(i + 3);
    if (header === 'PO' && /^[0-9A-Fa-f]{0,8}$/.test(data)) return { kind: 'position', pulses: decodePulses(data) };
    if (header === 'GS' && /^[0-9A-Fa-f]{1,2}$/.test(data)) {
      const code = Number.parseInt(data, 16);
      return { kind: 'status', code, text: ELLIPTEC_STATUS[code] ?? `status 0x${data}` };
    }
    const info = header === 'IN' ? parseInfo(addr, data) : undefined;
    if (info) return { kind: 'info', info };
    other ??= { kind: 'other', header, data };
  }
  return other;
}

/** The error a non-zero GS status becomes: says which device, what it was asked and what to do. */
export function elliptecStatusError(instrument: string, command: string, code: number): DaqError {
  const text = ELLIPTEC_STATUS[code] ?? `status 0x${code.toString(16)}`;
  const hint =
    code === 0x04 || code === 0x0c
      ? 'the target is beyond the travel of this device'
      : code === 0x09
        ? 'the device is busy; retry when the move ends'
        : code === 0x03
          ? 'this device does not support the command'
          : 'check the device (power, cabling, mechanical load)';
  return new DaqError(
    'DAQ_INSTRUMENT',
    `${instrument}: Elliptec answered "${command}" with GS${code.toString(16).toUpperCase().padStart(2, '0')} (${text}); ${hint}`,
    {
      instrument,
      command,
      status: code,
    },
  );
}
