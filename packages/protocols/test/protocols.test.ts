// The protocol codecs on their own: replies as the manuals give them, with bus garbage,
// malformed and error replies, and the numbers at the edges of their ranges.

import t from 'tap';
import { DaqError } from '@daq/core';
import {
  decodePulses,
  elliptecStatusError,
  encodePulses,
  esp300Value,
  newportWavelengthCommand,
  parseElliptecReply,
  parseEsp300ErrorBuffer,
  parseEsp300Number,
  parseMaiTaiFlag,
  parseMaiTaiValue,
  parseNewportReading,
} from '@daq/protocols';

t.test('Elliptec IN reply from the manual: ELL14 with 143360 pulses per revolution', async (t) => {
  const r = parseElliptecReply('2', '2IN0E1140051720231701016800023000\r\n');
  t.match(r, {
    kind: 'info',
    info: {
      address: '2',
      model: 14,
      serial: '11400517',
      year: 2023,
      firmware: '17',
      hardware: '01',
      travel: 360,
      rotary: true,
      unit: 'deg',
    },
  });
  t.equal(r?.kind === 'info' && r.info.pulsesPerUnit, 143360 / 360);
  const linear = parseElliptecReply('A', 'AIN1112345678202201010028' + '00000400');
  t.match(linear, { kind: 'info', info: { model: 17, rotary: false, unit: 'mm', pulsesPerUnit: 1024, travel: 40 } });
});

t.test("Elliptec positions: two's complement both ways, garbage before the reply is skipped", async (t) => {
  t.equal(encodePulses(17920), '00004600');
  t.equal(encodePulses(-1), 'FFFFFFFF');
  t.equal(decodePulses('FFFFFFFF'), -1);
  t.equal(decodePulses('80000000'), -2147483648);
  t.throws(() => encodePulses(2 ** 31), { code: 'DAQ_INVALID_ARGUMENT' });
  t.same(parseElliptecReply('0', '0PO00004600'), { kind: 'position', pulses: 17920 });
  t.same(parseElliptecReply('0', '\x00\xff0G0PO00004600\r\n'), { kind: 'position', pulses: 17920 }, 'leading bus garbage');
  t.same(parseElliptecReply('3', '3GS0C'), { kind: 'status', code: 12, text: 'out of range' });
  t.same(parseElliptecReply('3', '3GS09'), { kind: 'status', code: 9, text: 'busy' });
  t.equal(parseElliptecReply('1', '0PO00004600'), undefined, 'another address answered');
  t.same(
    parseElliptecReply('1', '1PO123'),
    { kind: 'position', pulses: 0x123 },
    'fewer than 8 digits: a small positive position',
  );
  t.same(parseElliptecReply('3', '3PO0'), { kind: 'position', pulses: 0 }, '3PO0, as some firmware answers at position 0');
  t.same(parseElliptecReply('3', '3PO'), { kind: 'position', pulses: 0 }, 'no digits at all: position 0');
  t.same(parseElliptecReply('3', '3POFFFFFFFF'), { kind: 'position', pulses: -1 }, "eight digits: two's complement");
  t.same(
    parseElliptecReply('1', '1PO123456789'),
    { kind: 'other', header: 'PO', data: '123456789' },
    'nine digits is not a position',
  );
  t.equal(parseElliptecReply('1', ''), undefined);
});

t.test('Elliptec status errors say what to do', async (t) => {
  t.match(elliptecStatusError('rot', '0ma00010000', 0x0c), {
    code: 'DAQ_INSTRUMENT',
    message: 'rot: Elliptec answered "0ma00010000" with GS0C (out of range); the target is beyond the travel of this device',
    facts: { instrument: 'rot', status: 12 },
  });
  t.match(elliptecStatusError('rot', '0gp', 0x09).message, /busy; retry when the move ends/);
  t.match(elliptecStatusError('rot', '0xx', 0x03).message, /does not support the command/);
  t.match(elliptecStatusError('rot', '0gp', 0x0b).message, /motor error\); check the device/);
  t.match(elliptecStatusError('rot', '0gp', 0x77).message, /status 0x77/);
});

t.test('Newport 1830-C readings in every documented form, and the error words', async (t) => {
  for (const [reply, value] of [
    ['+.75E-9', 0.75e-9],
    ['5E-9', 5e-9],
    ['1.234E-06\r', 1.234e-6],
    ['-15.24', -15.24],
  ] as const)
    t.equal(parseNewportReading('pm', reply), value, reply);
  t.throws(() => parseNewportReading('pm', 'SAT'), {
    code: 'DAQ_INSTRUMENT',
    message: /pm: reading SAT: the detector is saturated/,
  });
  t.throws(() => parseNewportReading('pm', 'OVER'), { message: /over range/ });
  t.throws(() => parseNewportReading('pm', 'UNDER'), { message: /under range/ });
  t.throws(() => parseNewportReading('pm', 'ERR'), { message: /reports an error/ });
  t.throws(() => parseNewportReading('pm', 'PM:Power?'), { message: /unexpected reply "PM:Power\?" to "D\?"/ });
  t.equal(newportWavelengthCommand(800), 'W0800');
  t.equal(newportWavelengthCommand(1550), 'W1550', 'an IR head goes beyond 1100 nm: the meter decides');
  t.throws(() => newportWavelengthCommand(10000), { code: 'DAQ_INVALID_ARGUMENT' });
  t.throws(() => newportWavelengthCommand(800.5), { code: 'DAQ_INVALID_ARGUMENT' });
});

t.test('MaiTai values carry their unit', async (t) => {
  t.equal(parseMaiTaiValue('l', 'wav?', '820nm', 'nm'), 820);
  t.equal(parseMaiTaiValue('l', 'read:pow?', '3.00W\r', 'W'), 3);
  t.equal(parseMaiTaiValue('l', 'read:pow?', '3.00', 'W'), 3, 'a bare number');
  t.throws(() => parseMaiTaiValue('l', 'read:pow?', '3.00nm', 'W'), { message: /expected a number in W/ });
  t.throws(() => parseMaiTaiValue('l', 'wav?', '', 'nm'), { code: 'DAQ_INSTRUMENT' });
  t.equal(parseMaiTaiFlag('l', 'shut?', '1\r'), true);
  t.equal(parseMaiTaiFlag('l', 'shut?', '0'), false);
  t.throws(() => parseMaiTaiFlag('l', 'shut?', 'yes'), { message: /expected 0 or 1/ });
});

t.test('ESP300 error buffer and numbers', async (t) => {
  t.same(parseEsp300ErrorBuffer('s', '0, 451, NO ERROR DETECTED'), {
    code: 0,
    timestamp: 451,
    message: 'NO ERROR DETECTED',
    axis: undefined,
  });
  t.same(parseEsp300ErrorBuffer('s', '107, 9001, NEGATIVE SOFTWARE LIMIT DETECTED'), {
    code: 107,
    timestamp: 9001,
    message: 'NEGATIVE SOFTWARE LIMIT DETECTED',
    axis: 1,
  });
  t.throws(() => parseEsp300ErrorBuffer('s', 'garbage'), {
    code: 'DAQ_INSTRUMENT',
    message: /expected "code, timestamp, MESSAGE"/,
  });
  t.equal(parseEsp300Number('s', '1TP?', '10.00000'), 10);
  t.equal(parseEsp300Number('s', '1TP?', '-2.5\r'), -2.5);
  t.throws(() => parseEsp300Number('s', '1TP?', ''), { message: /expected a number/ });
  t.equal(esp300Value(12.5), '12.5');
  t.equal(esp300Value(1 / 3), '0.333333');
  t.ok(DaqError);
});

t.test('SCPI sentinels: 9.9E37 and -9.9E37 are overloads, 9.91E37 is not-a-number, in any formatting', async (t) => {
  const { parseScpiValue } = await import('../src/index.js');
  t.same(parseScpiValue('+1.23456789E+00'), { value: 1.23456789 });
  t.same(parseScpiValue(' -5.0E-3 '), { value: -0.005 });
  for (const text of ['9.9E37', '+9.90000000E+37', '9.900E+37', '-9.9E37']) {
    const v = parseScpiValue(text)!;
    t.equal(v.flag, 'overload', text);
    t.ok(Number.isNaN(v.value), `${text}: no value`);
  }
  for (const text of ['9.91E37', '+9.91000000E+37', '-9.91E+37']) t.equal(parseScpiValue(text)!.flag, 'not-a-number', text);
  t.same(parseScpiValue('9.8E37'), { value: 9.8e37 }, 'a large but ordinary number stays a number');
  t.equal(parseScpiValue('OVLD'), undefined);
  t.equal(parseScpiValue(''), undefined);
});

t.test('Elliptec IN replies: every model kind, and extra trailing characters tolerated', async (t) => {
  const info = (line: string) => {
    const r = parseElliptecReply(line[0]!, line);
    if (r?.kind !== 'info') throw new Error(`not an IN reply: ${line}`);
    return r.info;
  };
  // Real replies (docs/protocols.md): an ELL14, an ELL6 and an ELL9 (sliders report 0 pulses).
  t.match(info('2IN0E1140051720231701016800023000'), { model: 14, kind: 'rotary', unit: 'deg', travel: 360 });
  t.match(info('0IN061060005120170801001F00000000'), { model: 6, kind: 'slider', unit: 'slot', slots: 2, pitchMm: 31 });
  t.match(info('0IN091090010620200801005D00000000'), { model: 9, kind: 'slider', unit: 'slot', slots: 4, pitchMm: 31 });
  // Rotary mounts beyond the ELL14: ELL16 (0x10), ELL18 (0x12), ELL21 (0x15), ELL22 (0x16).
  for (const [type, model] of [
    ['10', 16],
    ['12', 18],
    ['15', 21],
    ['16', 22],
  ] as const) {
    const i = info(`1IN${type}1140051720231701016800010000`);
    t.match(i, { model, kind: 'rotary', unit: 'deg' }, `ELL${model} is rotary`);
    t.equal(i.pulsesPerUnit, 65536 / 360, `ELL${model}: pulses per revolution / 360`);
  }
  t.match(info('3IN1411400517202317010032200000400'.slice(0, 33)), { model: 20, kind: 'linear', unit: 'mm' });
  const extra = info('2IN0E1140051720231701016800023000AB1');
  t.match(extra, { model: 14, kind: 'rotary', extra: 'AB1' }, 'trailing characters are kept, not fatal');
  t.equal(extra.pulsesPerUnit, 143360 / 360);
  t.equal(parseElliptecReply('2', '2IN0E11400517202317010168000230')?.kind, 'other', 'a short IN reply is not an identity');
  t.equal(parseElliptecReply('2', '2IN0E1140051720231701016800000000')?.kind, 'other', 'a rotary mount with 0 pulses is refused');
});
