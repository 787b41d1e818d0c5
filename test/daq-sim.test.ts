// `daq sim`: simulators for a configuration, reachable by any ordinary serial or TCP client,
// stopped cleanly by SIGTERM/SIGINT.

import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createConnection } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialPort } from 'serialport';
import { main, type CliIo } from '@daq/broker';
import { parseConfig, parseVisaResource } from '@daq/core';
import { startSimulators } from '@daq/sim';
import { startDaqSim } from './helpers/daq-sim-process.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const CONFIG = `
[v2]
[[v2.instruments]]
id = "rot_a"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
address = "0"
[[v2.instruments]]
id = "power"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
[[v2.instruments]]
id = "mock"
type = "MockPower"
[v4]
[[v4.instruments]]
id = "rot_b"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
address = "1"
[[v4.instruments]]
id = "scpi_meter"
type = "ScpiInstrument"
resource = "TCPIP0::192.168.1.100::INSTR"
`;

async function serialQuery(path: string, command: string, term: string): Promise<string> {
  const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  let got = '';
  const reply = new Promise<string>((resolve) =>
    port.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.endsWith(term)) resolve(got);
    }),
  );
  port.write(command);
  const text = await reply;
  await new Promise<void>((resolve) => port.close(() => resolve()));
  return text;
}

async function tcpQuery(resource: string, command: string): Promise<string> {
  const r = parseVisaResource(resource);
  if (r.interface !== 'TCPIP' || r.resourceClass !== 'SOCKET') throw new Error(resource);
  const s = createConnection(r.port, r.host);
  const reply = new Promise<string>((resolve) => s.once('data', (d) => resolve(d.toString('latin1'))));
  s.write(`${command}\n`);
  const text = await reply;
  s.destroy();
  return text;
}

t.test('daq sim --json: one line per instrument; ordinary clients talk to them; SIGTERM exits 0', async (t) => {
  const sim = await startDaqSim(t, CONFIG, 4);
  const endpoints = Object.fromEntries(sim.endpoints);
  t.same(Object.keys(endpoints).sort(), ['power', 'rot_a', 'rot_b', 'scpi_meter']);
  t.match(endpoints.rot_a, { type: 'Elliptec', serial_port: /^\/dev\/pts\/\d+$/ });
  t.equal(endpoints.rot_a!.serial_port, endpoints.rot_b!.serial_port, 'one bus, one port');
  t.match(endpoints.scpi_meter, { type: 'ScpiInstrument', resource: /^TCPIP0::127\.0\.0\.1::\d+::SOCKET$/ });
  t.match(await serialQuery(endpoints.rot_b!.serial_port!, '1in', '\r\n'), /^1IN0E/);
  t.equal(await serialQuery(endpoints.power!.serial_port!, 'W?\n', '\n'), '0633\n', 'echo off at power-up, as real meters');
  t.match(await tcpQuery(endpoints.scpi_meter!.resource!, '*IDN?'), /,.*,.*,/);
  t.equal(await sim.stop(), 0, 'exit 0 after SIGTERM');
  t.match(sim.stderr(), /mock \(MockPower\): no hardware/);
});

t.test('daq sim in-process: human output, usage and config errors', async (t) => {
  const io = { out: '', err: '' };
  const cap: CliIo = { out: (s) => void (io.out += s), err: (s) => void (io.err += s) };
  t.equal(await main(['sim'], cap), 2);
  t.match(io.err, /name a configuration file/);
  t.equal(await main(['sim', 'test/fixtures/invalid/unknown-type.toml'], cap), 2);
  t.match(io.err, /"Eliptec" is not one of/);
  t.equal(await main(['sim', 'nope.toml'], cap), 1);
  t.match(io.err, /cannot read configuration nope\.toml: no such file/);
  const { simCommand } = await import('../packages/broker/src/commands/sim.js');
  const dir = await mkdtemp(join(tmpdir(), 'daq-sim-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'lab.toml'), CONFIG);
  io.out = '';
  t.equal(await simCommand(join(dir, 'lab.toml'), { json: false, until: Promise.resolve() }, cap), 0);
  t.match(io.out, /^rot_a\s+Elliptec\s+\/dev\/pts\/\d+$/m);
  t.match(io.out, /^mock\s+MockPower\s+\(no hardware/m);
});

t.test('startSimulators rewrites the configuration to the simulators and closes them all', async (t) => {
  const { config } = parseConfig(CONFIG);
  const sims = await startSimulators(config);
  t.not(
    sims.config.v2.instruments[0]!.type === 'Elliptec' && (sims.config.v2.instruments[0] as { serial_port: string }).serial_port,
    '/dev/ttyUSB0',
  );
  t.equal((config.v2.instruments[0] as { serial_port: string }).serial_port, '/dev/ttyUSB0', 'the original is untouched');
  t.equal(sims.serial.size, 2);
  t.equal(sims.scpi.size, 1);
  await sims.close();
});
