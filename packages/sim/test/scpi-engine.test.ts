// The SCPI meter without a transport: IEEE 488.2 common commands and status registers, the
// SCPI-99 error queue, header forms, `;`-joined messages, measurements and their timing.

import t, { type Test } from 'tap';
import { ScpiEngine, formatScpiNumber } from '../src/scpi-engine.js';

const IDN = 'DAQ Simulators,SCPI-DMM,SIM0001,1.0';

function engine(t: Test, options: ConstructorParameters<typeof ScpiEngine>[0] = {}): ScpiEngine {
  const e = new ScpiEngine({ measurementMs: 0, ...options });
  t.teardown(() => e.close());
  return e;
}

t.test('numbers are formatted as +d.dddddddddE+dd', async (t) => {
  t.equal(formatScpiNumber(1.23456789), '+1.23456789E+00');
  t.equal(formatScpiNumber(-0.5), '-5.00000000E-01');
  t.equal(formatScpiNumber(0), '+0.00000000E+00');
  t.equal(formatScpiNumber(1234.5), '+1.23450000E+03');
  t.equal(formatScpiNumber(-2.5e-12), '-2.50000000E-12');
  t.equal(formatScpiNumber(9.9e37), '+9.90000000E+37');
  t.equal(formatScpiNumber(Number.NaN), '+9.90000000E+37', 'not-a-number is sent as SCPI overload');
});

t.test('*IDN? answers maker,model,serial,firmware; identity is configurable', async (t) => {
  t.equal(await engine(t).execute('*IDN?'), IDN);
  const custom = engine(t, { identity: { maker: 'ACME', serial: 'X42' } });
  t.equal(await custom.execute('*idn?'), 'ACME,SCPI-DMM,X42,1.0');
});

t.test('measurements return value + offset; the setter tells tests what to expect', async (t) => {
  const e = engine(t);
  t.equal(await e.execute('MEAS:VOLT:DC?'), '+1.23456789E+00', 'default value');
  e.setValue(-0.5);
  t.equal(e.expectedReply, '-5.00000000E-01');
  t.equal(await e.execute('MEASure:VOLTage:DC?'), '-5.00000000E-01');
  e.setValue(2, 0.125);
  t.equal(e.expectedReading, 2.125);
  t.equal(await e.execute('READ?'), '+2.12500000E+00', 'READ? measures with the current configuration');
  t.equal(await e.execute('SIM:VAL 3.5;OFFS 0;VAL?'), '+3.50000000E+00', 'simulator commands over the wire');
  t.equal(await e.execute('READ?'), '+3.50000000E+00');
  t.equal(e.counters.measurements, 4);
});

t.test('headers: long and short forms, any case, optional nodes, leading colon', async (t) => {
  const e = engine(t, { value: 4 });
  const forms = [
    'MEAS:VOLT:DC?',
    'measure:voltage:dc?',
    'MeAsUrE:VoLt?',
    'MEAS:SCAL:VOLT:DC?',
    ':MEASure:SCALar:VOLTage?',
    'meas:volt:dc?  ',
  ];
  for (const f of forms) t.equal(await e.execute(f), '+4.00000000E+00', f);
  t.equal(await e.execute('SYSTem:ERRor:NEXT?'), '0,"No error"');
  t.equal(await e.execute('syst:err?'), '0,"No error"');
  for (const bad of ['MEASU:VOLT?', 'MEAS:VOLT:AC?', 'MEAS:VOLT:DC', 'SYST:ERR', 'IDN?', '*IDN', 'MEAS::VOLT?']) {
    t.equal(await e.execute(bad), undefined, `${bad}: no reply`);
  }
  t.same(
    e.errorQueue.map((x) => x.code),
    [-113, -113, -113, -113, -113, -113, -113],
  );
});

t.test('a bad command gives no reply, only a queued error; SYST:ERR? pops oldest first', async (t) => {
  const e = engine(t);
  t.equal(await e.execute('BOGUS'), undefined);
  t.equal(await e.execute('CONF:VOLT:DC 5000'), undefined, 'range beyond 1000 V');
  t.equal(await e.execute('*ESE 256'), undefined);
  t.equal(await e.execute('*ESE'), undefined);
  t.equal(await e.execute('*ESE abc'), undefined);
  t.equal(await e.execute('*IDN? 1'), undefined);
  t.equal(await e.execute('SYST:ERR:COUN?'), '6');
  const popped: string[] = [];
  for (let i = 0; i < 7; i++) popped.push((await e.execute('SYST:ERR?'))!);
  t.same(popped, [
    '-113,"Undefined header"',
    '-222,"Data out of range"',
    '-222,"Data out of range"',
    '-109,"Missing parameter"',
    '-104,"Data type error"',
    '-108,"Parameter not allowed"',
    '0,"No error"',
  ]);
  t.same(e.counters, { commands: 14, replies: 8, errors: 6, measurements: 0 });
});

t.test('the error queue overflows as SCPI-99 says: the newest error becomes -350', async (t) => {
  const e = engine(t, { errorQueueLength: 5 });
  for (let i = 0; i < 8; i++) await e.execute(`BAD${i}`);
  t.same(e.errorQueue, [
    { code: -113, message: 'Undefined header' },
    { code: -113, message: 'Undefined header' },
    { code: -113, message: 'Undefined header' },
    { code: -113, message: 'Undefined header' },
    { code: -350, message: 'Queue overflow' },
  ]);
  t.equal(e.counters.errors, 8, 'every error is counted, even those lost to the overflow');
  for (let i = 0; i < 4; i++) t.equal(await e.execute('SYST:ERR?'), '-113,"Undefined header"');
  t.equal(await e.execute('SYST:ERR?'), '-350,"Queue overflow"');
  t.equal(await e.execute('SYST:ERR?'), '0,"No error"');
  await e.execute('BAD');
  t.same(
    e.errorQueue.map((x) => x.code),
    [-113],
    'room again after reading',
  );

  const d = engine(t);
  for (let i = 0; i < 25; i++) await d.execute('X');
  t.equal(d.errorQueue.length, 20, 'default length 20, overflow slot included');
  t.same(d.errorQueue[19], { code: -350, message: 'Queue overflow' });
});

t.test('*ESR? reports and clears event bits; *CLS clears queue and status', async (t) => {
  const e = engine(t);
  t.equal(await e.execute('*ESR?'), '0');
  await e.execute('BOGUS');
  t.equal(await e.execute('*ESR?'), '32', 'command error (CME)');
  t.equal(await e.execute('*ESR?'), '0', 'reading clears it');
  await e.execute('CONF:VOLT:DC -1');
  await e.execute('*OPC');
  t.equal(await e.execute('*ESR?'), String(16 | 1), 'execution error (EXE) and operation complete (OPC)');
  await e.execute('BOGUS');
  t.equal(await e.execute('*STB?'), '4', 'EAV: the error queue is not empty');
  await e.execute('*CLS');
  t.equal(await e.execute('SYST:ERR?'), '0,"No error"');
  t.equal(await e.execute('*ESR?'), '0');
  t.equal(await e.execute('*STB?'), '0');
});

t.test('*ESE/*SRE set the enable registers that *STB? summarises', async (t) => {
  const e = engine(t);
  t.equal(await e.execute('*ESE 32;*ESE?'), '32');
  t.equal(await e.execute('*SRE 36;*SRE?'), '36');
  await e.execute('*SRE 255');
  t.equal(await e.execute('*SRE?'), '191', 'bit 6 cannot be enabled');
  await e.execute('*SRE 36');
  await e.execute('BOGUS'); // CME with ESE 32 → ESB; EAV; both enabled by SRE → MSS
  t.equal(await e.execute('*STB?'), String(4 | 32 | 64));
  t.equal(await e.execute('*IDN?;*STB?'), `${IDN};${4 | 16 | 32 | 64}`, 'MAV while a reply waits in the output queue');
  await e.execute('*RST');
  t.equal(await e.execute('*ESE?;*SRE?'), '32;36', '*RST keeps the enable registers (488.2)');
  await e.execute('*CLS');
  t.equal(await e.execute('*STB?'), '0');
});

t.test('several commands joined by ";" answer in one line, in order', async (t) => {
  const e = engine(t, { value: 5 });
  t.equal(await e.execute('*IDN?;*OPC?'), `${IDN};1`);
  t.equal(await e.execute('*CLS;BOGUS;*OPC?'), '1', 'a bad unit is skipped, the rest runs');
  t.equal(await e.execute('SYST:ERR?;ERR?'), '-113,"Undefined header";0,"No error"', 'ERR? continues the SYST: path');
  t.equal(await e.execute('CONF:VOLT:DC 0.1;:READ?'), '+9.90000000E+37', 'overload on the 100 mV range');
  t.equal(await e.execute('*RST;:READ?'), '+5.00000000E+00', '*RST returns to autorange');
  t.equal(await e.execute('CONF:VOLT:DC 10, 0.001;:MEAS:VOLT:DC? MAX;*OPC?'), '+5.00000000E+00;1');
  t.equal(await e.execute('*CLS;;  ;*OPC?;'), '1', 'empty units are ignored');
  t.equal(await e.execute('MEAS:VOLT:DC?;DC?'), `${e.expectedReply};${e.expectedReply}`, 'DC? continues MEAS:VOLT:');
  t.equal(await e.execute('*CLS'), undefined, 'commands without a query produce no line');
});

t.test('after ";" a header continues the previous path (SCPI-99), never the root: a wrong header is -113', async (t) => {
  const e = engine(t);
  await e.execute('*CLS');
  t.equal(await e.execute('CONF:VOLT:DC;READ?'), undefined, 'CONF:VOLT:READ? does not exist: no reply');
  t.equal(await e.execute('SYST:ERR?'), '-113,"Undefined header"');
  t.equal(await e.execute('SIM:VAL 2;SIM:VAL?'), undefined, 'SIM:SIM:VAL? does not exist either');
  t.equal(await e.execute('SYST:ERR?'), '-113,"Undefined header"');
  t.equal(await e.execute('SIM:VAL 2;*OPC?;VAL?'), '1;+2.00000000E+00', 'a common command keeps the path');
  t.equal(await e.execute('SIM:VAL 3;:READ?'), '+3.00000000E+00', 'a leading colon returns to the root');
  t.equal(await e.execute('SYST:ERR?'), '0,"No error"');
});

t.test('INIT takes a reading that FETC? returns; FETC? without one is an error', async (t) => {
  const e = engine(t, { value: 1 });
  t.equal(await e.execute('FETC?'), undefined);
  t.equal(await e.execute('SYST:ERR?'), '-230,"Data corrupt or stale"');
  await e.execute('INIT');
  e.setValue(2);
  t.equal(await e.execute('FETCh?'), '+1.00000000E+00', 'the reading taken at INIT');
  t.equal(await e.execute('INITiate:IMMediate;:FETC?'), '+2.00000000E+00');
});

t.test('a measurement takes measurementMs; messages run one at a time, in order', async (t) => {
  const e = engine(t, { measurementMs: 30, value: 7 });
  const started = performance.now();
  const order: string[] = [];
  const a = e.execute('READ?').then((r) => order.push(`a:${r}`));
  const b = e.execute('*IDN?').then((r) => order.push(`b:${r}`));
  const c = e.execute('MEAS:VOLT?').then((r) => order.push(`c:${r}`));
  await Promise.all([a, b, c]);
  t.ok(performance.now() - started >= 55, 'two measurements of 30 ms each');
  t.same(order, ['a:+7.00000000E+00', `b:${IDN}`, 'c:+7.00000000E+00']);
});

t.test('close() ends a pending measurement without a reply and leaves no timer', async (t) => {
  const e = new ScpiEngine({ measurementMs: 10_000 });
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const pending = e.execute('READ?');
  const queued = e.execute('*IDN?');
  await new Promise((r) => setImmediate(r)); // the measurement has started: its timer is pending
  t.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before + 1);
  e.close();
  t.equal(await pending, undefined);
  t.equal(await queued, undefined);
  t.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, before);
});
