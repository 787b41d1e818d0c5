// Spectra-Physics MaiTai protocol codec (docs/protocols.md, "Spectra-Physics MaiTai"; MaiTai
// user's manual, "RS-232 commands"): LF-terminated text; values come back with their unit
// attached (`820nm`, `3.00W`).

import { DaqError } from '@daq/core';

/** The V2 API's fixed range (pinned); the device client checks the range each laser reports. */
export const MAITAI_MIN_NM = 690;
export const MAITAI_MAX_NM = 1040;
/** Wide enough for every MaiTai model (690-1040 HP/DeepSee, 710-990 BB, 750-850 early units): commands are first checked against this, then against the laser's own range. */
export const MAITAI_ANY_MIN_NM = 600;
export const MAITAI_ANY_MAX_NM = 1100;

/** What a MaiTai driver reports per poll, in both subsystems. */
export const MAITAI_CHANNELS = [
  { channel: 'wavelength', unit: 'nm' },
  { channel: 'power', unit: 'W' },
  { channel: 'shutter', unit: '' },
];

/** Parses `820nm`, `3.00W`, `45.2%` or a bare number; `unit` is the suffix expected (case-insensitive). */
export function parseMaiTaiValue(instrument: string, command: string, reply: string, unit: string): number {
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[Ee][+-]?\d+)?)\s*([A-Za-z%]*)\s*$/.exec(reply);
  if (m && (m[2] === '' || m[2]!.toLowerCase() === unit.toLowerCase())) return Number(m[1]);
  throw new DaqError(
    'DAQ_INSTRUMENT',
    `${instrument}: unexpected reply ${JSON.stringify(reply)} to "${command}" (expected a number in ${unit})`,
    { instrument, command, reply },
  );
}

/** `shut?` and `*stb?` style flags: "0" or "1". */
export function parseMaiTaiFlag(instrument: string, command: string, reply: string): boolean {
  const t = reply.trim();
  if (t === '0' || t === '1') return t === '1';
  throw new DaqError(
    'DAQ_INSTRUMENT',
    `${instrument}: unexpected reply ${JSON.stringify(reply)} to "${command}" (expected 0 or 1)`,
    {
      instrument,
      command,
      reply,
    },
  );
}
