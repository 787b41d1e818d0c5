// The simulators as a lab's own programs see them: `daq sim` is started on a configuration
// with every instrument type, and plain Python clients written from the manuals (pyserial for
// the serial instruments, PyVISA with its pure-Python backend for the SCPI meter; Debian's
// python3-serial, python3-pyvisa, python3-pyvisa-py) talk to the endpoints it prints. Each
// client uses only the manual's commands and checks the manual's answers
// (test/fixtures/clients/*.py). No code of this project is on the client side.

import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaqSim, type SimEndpointLine } from './helpers/daq-sim-process.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const PYTHON = '/usr/bin/python3';

const CONFIG = `
[v2]
[[v2.instruments]]
id = "rotator"
type = "Elliptec"
serial_port = "/dev/ttyUSB0"
address = "2"
[[v2.instruments]]
id = "meter"
type = "Newport1830C"
serial_port = "/dev/ttyUSB1"
[[v2.instruments]]
id = "laser"
type = "MaiTai"
serial_port = "/dev/ttyUSB2"
[v4]
[[v4.instruments]]
id = "stage"
type = "ESP300"
serial_port = "/dev/ttyUSB3"
[[v4.instruments]]
id = "dmm"
type = "ScpiInstrument"
resource = "TCPIP0::192.168.1.50::5025::SOCKET"
`;

/** Which client script talks to which instrument, and how it reaches it. */
const CLIENTS: { id: string; script: string; args: (e: Endpoint) => string[] }[] = [
  { id: 'rotator', script: 'elliptec.py', args: (e) => [e.serial_port!, '2'] },
  { id: 'meter', script: 'newport1830c.py', args: (e) => [e.serial_port!] },
  { id: 'laser', script: 'maitai.py', args: (e) => [e.serial_port!] },
  { id: 'stage', script: 'esp300.py', args: (e) => [e.serial_port!] },
  { id: 'dmm', script: 'scpi.py', args: (e) => [e.resource!] },
];

type Endpoint = SimEndpointLine;

function run(script: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, [join(root, 'test/fixtures/clients', script), ...args], { timeout: 60_000 }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

t.test("plain Python clients written from the manuals get the manuals' answers from daq sim", async (t) => {
  const sim = await startDaqSim(t, CONFIG, CLIENTS.length);
  const endpoints = sim.endpoints;
  t.equal(endpoints.size, CLIENTS.length, `one endpoint per instrument (${sim.stderr()})`);
  // One client after the other: each has its instrument to itself, as on a lab bench.
  for (const c of CLIENTS) {
    const e = endpoints.get(c.id)!;
    const r = await run(c.script, c.args(e));
    const checks = r.out.split('\n').filter((l) => /^(ok|FAIL)/.test(l));
    t.ok(checks.length >= 5, `${c.script}: ${checks.length} checks ran`);
    t.same(
      checks.filter((l) => l.startsWith('FAIL')),
      [],
      `${c.script} against ${e.type}: every check passed`,
    );
    t.equal(r.code, 0, `${c.script} exited 0${r.code ? `:\n${r.out}\n${r.err}` : ''}`);
  }
  t.equal(await sim.stop(), 0, 'daq sim exits 0 after SIGTERM');
});
