// run.json's instrument lines from what the run's parts report: live status first, the last
// line kept when a worker has stopped, flagged rows and corrections, notes, shadow lines.

import t from 'tap';
import { parseConfig } from '@daq/core';
import { instrumentRecords, newRunRecord, type InstrumentSources } from '../src/run-record.js';
import type { ScalarFileStats } from '../src/storage/scalar-file-sink.js';
import type { RuntimeStatus } from '../src/runtime/dual-runtime-manager.js';

const loaded = parseConfig(
  `
[v2]
instruments = [{ id = "pm", type = "Newport1830C", serial_port = "/dev/ttyUSB1" }]
[v4]
instruments = [
  { id = "dmm", type = "ScpiInstrument", resource = "TCPIP0::10.0.0.9::5025::SOCKET" },
  { id = "idle", type = "ScpiInstrument", resource = "TCPIP0::10.0.0.10::5025::SOCKET" },
]
`,
  'lab.toml',
);

const scalars = {
  perInstrument: { pm: 40, dmm: 12 },
  flaggedPerInstrument: { dmm: { overload: 3 } },
} as unknown as ScalarFileStats;

function sources(over: Partial<InstrumentSources>): InstrumentSources {
  return {
    config: loaded.config,
    status: undefined,
    scalars,
    frames: [],
    cameraIds: new Set(),
    previous: [],
    shadows: [],
    ...over,
  };
}

const status = {
  subsystems: [
    {
      name: 'v2',
      instruments: [
        {
          id: 'pm',
          state: 'polling',
          pollErrors: 2,
          corrections: { 'units-restored': 1 },
          error: { code: 'DAQ_READ_TIMEOUT', message: 'late' },
        },
      ],
    },
    { name: 'v4', instruments: [{ id: 'dmm', state: 'failing', pollErrors: 5 }] },
  ],
  notRun: [{ id: 'idle', type: 'ScpiInstrument', why: 'poll_hz = 0' }],
} as unknown as RuntimeStatus;

t.test('live status: rows, flags, corrections, state, last error and notes per instrument', async (t) => {
  const lines = instrumentRecords(sources({ status }));
  t.same(lines, [
    {
      id: 'pm',
      subsystem: 'v2',
      type: 'Newport1830C',
      rows: 40,
      corrections: { 'units-restored': 1 },
      state: 'polling',
      pollErrors: 2,
      lastError: 'DAQ_READ_TIMEOUT: late',
    },
    { id: 'dmm', subsystem: 'v4', type: 'ScpiInstrument', rows: 12, flagged: { overload: 3 }, state: 'failing', pollErrors: 5 },
    { id: 'idle', subsystem: 'v4', type: 'ScpiInstrument', rows: 0, note: 'poll_hz = 0' },
  ]);
});

t.test('a stopped worker reports nothing: the last line keeps what it said', async (t) => {
  const previous = instrumentRecords(sources({ status }));
  const lines = instrumentRecords(sources({ status: undefined, previous }));
  t.match(lines[0], {
    id: 'pm',
    state: 'polling',
    pollErrors: 2,
    lastError: 'DAQ_READ_TIMEOUT: late',
    corrections: { 'units-restored': 1 },
  });
  t.match(lines[1], { id: 'dmm', state: 'failing', pollErrors: 5 });
});

t.test('shadow lines follow the configured ones, with the comparison or why V4 could not run', async (t) => {
  const lines = instrumentRecords(
    sources({
      shadows: [{ id: 'pm', type: 'Newport1830C' }],
      shadowStats: { perInstrument: { pm: 38 } } as unknown as ScalarFileStats,
      shadowReport: { file: 'shadow.json', final: false, instruments: { pm: { pairs: 36 } as never } },
    }),
  );
  t.same(lines.at(-1), {
    id: 'pm',
    subsystem: 'v4-shadow',
    type: 'Newport1830C',
    rows: 38,
    note: 'shadow of V2: 36 pairs compared (shadow.json)',
  });
  const failed = instrumentRecords(
    sources({
      shadows: [{ id: 'pm', type: 'Newport1830C' }],
      shadowReport: { file: 'shadow.json', final: false, instruments: { pm: { v4Error: 'no reply' } as never } },
    }),
  );
  t.match(failed.at(-1), { rows: 0, note: 'shadow: V4 could not run it: no reply' });
});

t.test('a new record names the run, its file, versions and host', async (t) => {
  const r = newRunRecord(loaded, scalars);
  t.match(r, { format: 'daq-run/1', status: 'running', configFile: 'lab.toml', instruments: [], subsystems: [] });
  t.equal(r.versions.node, process.versions.node);
  t.ok(r.host.cores >= 1);
});
