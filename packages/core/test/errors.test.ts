import t from 'tap';
import { ConfigError, DaqError, deserializeDaqError, formatDiagnostic, isSerializedDaqError } from '@daq/core';

t.test('a DaqError keeps code, facts and stack across structured clone', async (t) => {
  const err = new DaqError('DAQ_PORT_BUSY', 'port /dev/ttyUSB0 is held by v2:elliptec1', {
    port: '/dev/ttyUSB0',
    owner: 'v2:elliptec1',
    heldMs: 2400,
  });
  const wire = structuredClone(err.toJSON());
  t.ok(isSerializedDaqError(wire));
  t.notOk(isSerializedDaqError({ code: 'x' }));
  t.notOk(isSerializedDaqError(null));
  const back = deserializeDaqError(wire);
  t.ok(back instanceof DaqError);
  t.equal(back.code, 'DAQ_PORT_BUSY');
  t.same(back.facts, { port: '/dev/ttyUSB0', owner: 'v2:elliptec1', heldMs: 2400 });
  t.equal(back.stack, err.stack, 'the remote stack is kept so a worker error shows where it happened');
});

t.test('a ConfigError summarises its first error and carries them all', async (t) => {
  const d = (line: number, severity: 'error' | 'warning', path = 'v2.enabled') => ({
    file: 'lab.toml',
    line,
    column: 1,
    path,
    message: 'bad',
    severity,
  });
  const err = new ConfigError([d(3, 'warning'), d(5, 'error'), d(9, 'error')]);
  t.equal(err.code, 'DAQ_CONFIG');
  t.equal(err.message, 'lab.toml:5:1: v2.enabled: bad (and 1 more)');
  t.same(err.facts, { file: 'lab.toml', line: 5, column: 1 });
  t.equal((err.toJSON().facts as { diagnostics: unknown[] }).diagnostics.length, 3);
  t.equal(formatDiagnostic(d(3, 'warning', '')), 'lab.toml:3:1: warning: bad');
  t.equal(new ConfigError([]).message, 'invalid configuration');
});
