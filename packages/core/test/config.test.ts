import t from 'tap';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ConfigError, DaqError, loadConfig, parseConfig, validateConfigText, type ConfigDiagnostic } from '@daq/core';

const brief = (ds: ConfigDiagnostic[]) => ds.map((d) => `${d.line}:${d.column}: ${d.severity}: ${d.path}: ${d.message}`);

t.test('defaults from each type are made explicit', async (t) => {
  const { config, warnings } = parseConfig(
    `
[v2]
instruments = [
  { id = "rot", type = "Elliptec", serial_port = "/dev/ttyUSB0" },
  { id = "mock", type = "MockPower" },
]
[v4]
instruments = [
  { id = "stage", type = "ESP300", serial_port = "/dev/ttyUSB3" },
  { id = "cam", type = "PVCAMInstrument", camera_name = "pvcam0" },
]
`,
    '<config>',
    { deprecations: false }, // deprecated V2 types: packages/core/test/retirement.test.ts
  );
  t.same(warnings, []);
  t.same(config.application, { name: 'daq', log_level: 'info', data_dir: 'data', simulate: false });
  t.same(config.broker, {
    serial_lease_timeout_ms: 2000,
    visa_timeout_ms: 2000,
    heartbeat_interval_ms: 1000,
    heartbeat_timeout_ms: 5000,
    start_timeout_ms: 30000,
    shutdown_timeout_ms: 5000,
    processing_threads: 1,
  });
  t.equal(config.v2.enabled, true, 'a present section is enabled');
  t.same(config.v2.storage, { enabled: true, flush_interval_ms: 1000 });
  t.same(config.v2.instruments[0], {
    id: 'rot',
    type: 'Elliptec',
    serial_port: '/dev/ttyUSB0',
    baud_rate: 9600,
    data_bits: 8,
    parity: 'none',
    stop_bits: 1,
    flow_control: 'none',
    address: '0',
    poll_hz: 2,
    timeout_ms: 1000,
    move_timeout_ms: 30000,
  });
  t.same(config.v2.instruments[1], { id: 'mock', type: 'MockPower', poll_hz: 10, power_w: 0.001, noise: 0.01 });
  t.match(config.v4.instruments[0], { type: 'ESP300', baud_rate: 19200, axes: [1], poll_hz: 5 });
  t.same(config.v4.instruments[1], {
    id: 'cam',
    type: 'PVCAMInstrument',
    camera_name: 'pvcam0',
    exposure_ms: 10,
    binning: 1,
    bit_depth: 16,
    buffer_frames: 32,
    retrieval: 'oldest',
    ring_frames: 8,
    stats: true,
    stats_bins: 256,
    chunk_mb: 1024,
  });
  t.equal(config.v4.pvcam_library, 'libpvcam.so.2');
});

t.test('an absent section is a disabled subsystem', async (t) => {
  const { config } = parseConfig(
    '[v4]\n[[v4.instruments]]\nid = "m"\ntype = "ScpiInstrument"\nresource = "TCPIP::h::1::SOCKET"\n',
  );
  t.same(config.v2, {
    enabled: false,
    instruments: [],
    storage: { enabled: true, flush_interval_ms: 1000 },
    restart: 'on-failure',
    max_restarts: 3,
    restart_backoff_ms: 1000,
    batch_rows: 1000,
    batch_interval_ms: 100,
    allow_deprecated: true,
  });
  t.equal(config.v4.enabled, true);
});

t.test('Elliptec addresses are normalised to one upper-case hex digit', async (t) => {
  const written = ['2', '"a"', '11'];
  const { config } = parseConfig(
    written
      .map((a, i) => `[[v2.instruments]]\nid = "r${i}"\ntype = "Elliptec"\nserial_port = "/dev/ttyUSB0"\naddress = ${a}\n`)
      .join(''),
  );
  t.same(
    config.v2.instruments.map((i) => (i as { address: string }).address),
    ['2', 'A', 'B'],
  );
});

t.test('positions point into arrays, inline tables and dotted keys', async (t) => {
  const { diagnostics } = validateConfigText(
    `v4.enabled = true
[[v4.instruments]]
id = "stage"
type = "ESP300"
serial_port = "/dev/ttyUSB3"
axes = [1,   5]
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "c"
roi = { x = 0, y = -1, width = 8, height = 8 }
`,
    'p.toml',
  );
  t.same(brief(diagnostics), [
    '6:14: error: v4.instruments[0].axes[1]: 5 must be <= 3',
    '11:16: error: v4.instruments[1].roi.y: -1 must be >= 0',
  ]);
});

t.test('TOML values of the wrong kind are named plainly', async (t) => {
  const { diagnostics } = validateConfigText('v2 = 5\n[application]\nname = 1979-05-27\n', 'k.toml');
  t.same(brief(diagnostics), [
    '1:1: error: v2: 5 must be object',
    '3:1: error: application.name: the date 1979-05-27 must be string',
  ]);
});

t.test('warnings do not stop a configuration from loading', async (t) => {
  const { config, warnings } = parseConfig(
    `
[v2]
[[v2.instruments]]
id = "rot_v2"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
address = "1"
[v4]
[[v4.instruments]]
id = "rot_v4"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
address = "1"
[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "GPIB0::22::INSTR"
[[v4.instruments]]
id = "cam"
type = "PVCAMInstrument"
camera_name = "c"
cpu = ${availableParallelism()}
`,
    'w.toml',
  );
  t.ok(config);
  t.same(brief(warnings), [
    '3:1: warning: v2.instruments[0]: Elliptec "rot_v2" is deprecated in batch 1 (Newport 1830-C and Elliptec): its V2 driver will be removed; migrate it with: daq migrate w.toml -o w.v4.toml (docs/migration.md#batch-1)',
    '13:1: warning: v4.instruments[0].address: Elliptec address 1 on /dev/ttyUSB0 is also v2.instruments[0] (rot_v2): V2 and V4 will both drive this one device (fine for side-by-side comparison; otherwise give it another address)',
    '17:1: warning: v4.instruments[1].resource: GPIB0::22::INSTR needs a VISA library: set [broker] visa_library, or use simulate = true, or a ::SOCKET resource',
    `22:1: warning: v4.instruments[2].cpu: cpu ${availableParallelism()} does not exist on this machine (CPUs 0-${availableParallelism() - 1}); pinning will fail here`,
  ]);
  const withLibrary = parseConfig(
    '[broker]\nvisa_library = "/usr/lib/libvisa.so"\n[[v4.instruments]]\nid = "d"\ntype = "ScpiInstrument"\nresource = "USB::1::2::S"\n',
  );
  t.same(withLibrary.warnings, [], 'a VISA library serves INSTR resources');
  const empty = validateConfigText('[v2]\n[v4]\nenabled = false\n', 'e.toml');
  t.same(brief(empty.diagnostics), ['1:1: warning: v2: [v2] is enabled but has no instruments']);
});

t.test('an ASRL VISA resource shares its serial port with direct users', async (t) => {
  const base = `[[v2.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyUSB2"
[[v4.instruments]]
id = "term"
type = "ScpiInstrument"
resource = "ASRL/dev/ttyUSB2::INSTR"
`;
  const quiet = { deprecations: false }; // deprecated V2 types: packages/core/test/retirement.test.ts
  t.same(validateConfigText(base, 'a.toml', quiet).diagnostics, [], "without baud_rate it adopts the port's settings");
  t.same(brief(validateConfigText(`${base}baud_rate = 115200\n`, 'a.toml', quiet).diagnostics), [
    '9:1: error: v4.instruments[0].baud_rate: baud_rate 115200 conflicts with 9600 for /dev/ttyUSB2 in v2.instruments[0] (laser); instruments sharing a port must agree on its line settings',
  ]);
});

t.test('one non-bus device appears at most once per subsystem on a port', async (t) => {
  const { diagnostics } = validateConfigText(
    `[[v2.instruments]]
id = "p1"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
[[v2.instruments]]
id = "p2"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
`,
    'd.toml',
    { deprecations: false },
  );
  t.same(brief(diagnostics), [
    '8:1: error: v2.instruments[1].serial_port: /dev/ttyUSB1 already has a Newport1830C in v2: v2.instruments[0] (p1); one port has one such device (configure it once per subsystem)',
  ]);
});

t.test('one bad instrument does not hide problems elsewhere', async (t) => {
  const { config, diagnostics } = validateConfigText(
    `[[v2.instruments]]
id = "a"
type = "MockPower"
extra = 1
[[v2.instruments]]
id = "b"
type = "MockPower"
[[v4.instruments]]
id = "b"
type = "ScpiInstrument"
resource = "TCPIP::h::1::SOCKET"
`,
    'm.toml',
  );
  t.equal(config, undefined);
  t.same(
    diagnostics.map((d) => `${d.line}:${d.path}`),
    ['4:v2.instruments[0].extra', '9:v4.instruments[0].id'],
  );
  t.match(diagnostics[1]!.message, /^id "b" is already used by v2.instruments\[1\]/);
});

t.test('loadConfig reads files and says which one failed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.toml');
  await writeFile(good, '[[v2.instruments]]\nid = "m"\ntype = "MockPower"\n');
  const loaded = await loadConfig(good);
  t.equal(loaded.file, good);
  t.equal(loaded.config.v2.instruments.length, 1);

  const bad = join(dir, 'bad.toml');
  await writeFile(bad, '[v2]\nenabled = false\n[[v2.instruments]]\nid = "m"\ntype = "Mock"\n');
  const err = await loadConfig(bad).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.equal((err as ConfigError).code, 'DAQ_CONFIG');
  t.equal(
    (err as ConfigError).message,
    `${bad}:2:1: v2.enabled: no subsystem is enabled: add a [v2] or [v4] section with enabled = true and its instruments (and 1 more)`,
  );
  t.same(
    (err as ConfigError).diagnostics.map((d) => `${d.line}:${d.path}`),
    ['2:v2.enabled', '5:v2.instruments[0].type'],
  );

  const missing = await loadConfig(join(dir, 'nope.toml')).catch((e: unknown) => e);
  t.ok(missing instanceof DaqError);
  t.match(missing, { code: 'DAQ_CONFIG_READ', message: /cannot read configuration .*nope\.toml: no such file/ });
  const dirErr = await loadConfig(dir).catch((e: unknown) => e);
  t.match(dirErr, { code: 'DAQ_CONFIG_READ', message: /EISDIR/ });
});
