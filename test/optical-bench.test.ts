// The simulated optical bench of examples/polarization-scan.toml, seen as a lab program sees
// hardware: plain serialport clients turn the Elliptec mount (`ma`), read the Newport meter
// (`D?`) and work the MaiTai's shutter. The readings must follow Malus's law around the
// configured axis, at the laser's power times the configured transmission; a closed shutter
// leaves the leak; a light table naming the wrong instruments is refused at start.

import t, { type Test } from 'tap';
import { readFile } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import { DaqError, parseConfig, type DaqConfig, type InstrumentConfig, type SimLightConfig } from '@daq/core';
import { startSimulators, type SimulatorSet } from '@daq/sim';

const EXAMPLE = new URL('../examples/polarization-scan.toml', import.meta.url);
const exampleText = await readFile(EXAMPLE, 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An ordinary serial client kept open: write a command, read the next reply ending `term`. */
class Line {
  private buffer = '';
  private wake: (() => void) | undefined;

  private constructor(private readonly port: SerialPort) {
    port.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.wake?.();
    });
  }

  static async open(path: string): Promise<Line> {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    return new Line(port);
  }

  write(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.port.write(text, (e) => (e ? reject(e) : resolve())));
  }

  async query(command: string, term: string, timeoutMs = 5000): Promise<string> {
    await this.write(command);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.buffer.indexOf(term);
      if (i >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + term.length);
        return line;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply to ${JSON.stringify(command)} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

function instrument(config: DaqConfig, id: string): InstrumentConfig {
  const found = [...config.v2.instruments, ...config.v4.instruments].find((i) => i.id === id);
  if (!found) throw new Error(`${id} is not in the example`);
  return found;
}

function portOf(sims: SimulatorSet, id: string): string {
  const path = sims.endpoints.find((e) => e.id === id)?.serial_port;
  if (!path) throw new Error(`${id} has no simulated serial port`);
  return path;
}

/** The example's bench: its light table, and clients on the mount, the meter and the laser. */
async function bench(t: Test) {
  const { config } = parseConfig(exampleText);
  const pmConfig = instrument(config, 'pm');
  const rotConfig = instrument(config, 'rot');
  if (pmConfig.type !== 'Newport1830C' || !pmConfig.sim?.light) throw new Error('pm must be a Newport1830C with sim.light');
  if (rotConfig.type !== 'Elliptec') throw new Error('rot must be an Elliptec');
  const light: SimLightConfig = pmConfig.sim.light;
  const sims = await startSimulators(config);
  t.teardown(() => sims.close());
  const [rot, pm, laser] = await Promise.all([
    Line.open(portOf(sims, light.polarizer!)),
    Line.open(portOf(sims, 'pm')),
    Line.open(portOf(sims, light.laser!)),
  ]);
  t.teardown(() => Promise.all([rot.close(), pm.close(), laser.close()]));
  const address = rotConfig.address;
  // The mount's IN reply: ...travel (4 hex digits, degrees) then pulses per revolution (8).
  const info = await rot.query(`${address}in`, '\r\n');
  const m = /^.IN(..)(.{8})(.{4})(..)(..)(.{4})(.{8})/.exec(info);
  if (!m) throw new Error(`unexpected IN reply ${info}`);
  const pulsesPerDeg = parseInt(m[7]!, 16) / parseInt(m[6]!, 16);
  /** Moves to `deg` and returns the angle the mount reports when the move is done. */
  const moveTo = async (deg: number): Promise<number> => {
    const target = Math.round(deg * pulsesPerDeg);
    const reply = await rot.query(`${address}ma${(target >>> 0).toString(16).toUpperCase().padStart(8, '0')}`, '\r\n');
    const po = /^.PO([0-9A-F]{8})$/.exec(reply);
    if (!po) throw new Error(`unexpected move reply ${reply}`);
    return (parseInt(po[1]!, 16) | 0) / pulsesPerDeg;
  };
  const read = async (): Promise<number> => {
    const text = await pm.query('D?\n', '\n');
    t.match(text, /^[+-]\.\d{4}E[+-]\d+$/, 'the meter answers in W, as at power-up');
    return Number(text);
  };
  const laserPower = async (): Promise<number> => {
    const text = await laser.query('READ:POW?\n', '\n');
    const w = /^(\d+\.\d+)W$/.exec(text);
    if (!w) throw new Error(`unexpected READ:POW? reply ${text}`);
    return Number(w[1]);
  };
  return { light, rot, pm, laser, moveTo, read, laserPower, pulsesPerDeg };
}

/** cos² of an angle difference in degrees (Malus's law), computed here, independently. */
const cos2 = (deg: number) => Math.cos((deg * Math.PI) / 180) ** 2;

/** Least squares P = a + b·cos 2θ + c·sin 2θ, which is A·cos²(θ − φ) + L with A = 2·√(b² + c²). */
function fitMalus(points: { deg: number; w: number }[]): { amplitude: number; axisDeg: number; offset: number } {
  const rows = points.map(({ deg, w }) => {
    const r = (2 * deg * Math.PI) / 180;
    return { x: [1, Math.cos(r), Math.sin(r)], y: w };
  });
  // Normal equations, solved by Gaussian elimination.
  const n = 3;
  const a = Array.from({ length: n }, (_, i) => [
    ...Array.from({ length: n }, (_, j) => rows.reduce((s, r) => s + r.x[i]! * r.x[j]!, 0)),
    rows.reduce((s, r) => s + r.x[i]! * r.y, 0),
  ]);
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) {
      const f = a[k]![i]! / a[i]![i]!;
      for (let j = i; j <= n; j++) a[k]![j]! -= f * a[i]![j]!;
    }
  }
  const x = [0, 0, 0];
  for (let i = n - 1; i >= 0; i--) {
    let s = a[i]![n]!;
    for (let j = i + 1; j < n; j++) s -= a[i]![j]! * x[j]!;
    x[i] = s / a[i]![i]!;
  }
  const [c0, b, c] = x as [number, number, number];
  const amplitude = 2 * Math.hypot(b, c);
  return { amplitude, axisDeg: ((((Math.atan2(c, b) * 90) / Math.PI) % 180) + 180) % 180, offset: c0 - amplitude / 2 };
}

/** The distance between two polarizer angles, which repeat every 180°. */
const axisDistance = (a: number, b: number) => {
  const d = (((a - b) % 180) + 180) % 180;
  return Math.min(d, 180 - d);
};

t.test('the meter reads the laser through the polarizer: Malus’s law around the configured axis', async (t) => {
  const { light, laser, moveTo, read, laserPower } = await bench(t);
  t.equal(await laser.query('SHUT?\n', '\n'), '1', 'laser_on: the shutter is open at start');
  t.equal(Number(await laser.query('*STB?\n', '\n')) & 1, 1, 'laser_on: the laser emits at start');
  const pLaser = await laserPower();
  t.ok(pLaser > 1, `the laser emits watts (${pLaser} W)`);
  const peak = pLaser * light.transmission;
  const points: { deg: number; w: number }[] = [];
  for (let deg = 0; deg < 180; deg += 15) {
    const at = await moveTo(deg);
    t.ok(Math.abs(at - deg) < 0.01, `the mount went to ${deg}° (reports ${at.toFixed(4)}°)`);
    const expected = peak * cos2(at - light.axis_deg) + light.leak_w;
    // Three readings, each with its own noise draw; their mean has a third of the variance.
    const readings = [await read(), await read(), await read()];
    t.not(readings[0], readings[1], 'each reading has its own noise');
    const w = readings.reduce((s, r) => s + r, 0) / readings.length;
    // 5 standard deviations of the mean, plus the laser's 2-decimal READ:POW? and the meter's 4 digits.
    const tolerance = (5 * light.noise) / Math.sqrt(3) + 0.005;
    t.ok(
      Math.abs(w - expected) <= tolerance * expected,
      `at ${at.toFixed(2)}°: ${w.toExponential(4)} W read, ${expected.toExponential(4)} W expected`,
    );
    points.push({ deg: at, w });
  }
  const fit = fitMalus(points);
  t.ok(axisDistance(fit.axisDeg, light.axis_deg) < 1, `fitted axis ${fit.axisDeg.toFixed(2)}°, configured ${light.axis_deg}°`);
  t.ok(
    Math.abs(fit.amplitude - peak) < 0.03 * peak,
    `fitted amplitude ${fit.amplitude.toExponential(4)} W = laser ${pLaser} W × transmission ${light.transmission}`,
  );
  t.ok(Math.abs(fit.offset) < 0.02 * peak, `the fitted offset ${fit.offset.toExponential(2)} W is small next to the peak`);
  // Crossed: only the leak is left (it is well below the noise of an open beam, so read it there).
  const crossed = await moveTo(light.axis_deg + 90);
  const dark = await read();
  t.ok(
    Math.abs(dark - light.leak_w) <= (5 * light.noise + 0.005) * light.leak_w + peak * cos2(crossed - light.axis_deg),
    `crossed at ${crossed.toFixed(2)}°: ${dark} W, the leak ${light.leak_w} W`,
  );
});

t.test('closing the laser’s shutter leaves the leak; opening it brings the beam back', async (t) => {
  const { light, laser, moveTo, read, laserPower } = await bench(t);
  const at = await moveTo(light.axis_deg);
  const peak = (await laserPower()) * light.transmission * cos2(at - light.axis_deg) + light.leak_w;
  const open = await read();
  t.ok(Math.abs(open - peak) <= (5 * light.noise + 0.005) * peak, `aligned: ${open} W, ${peak} W expected`);
  await laser.write('SHUT 0\n'); // a set command: no reply
  // The shutter takes about a second to move; SHUT? reports the old state meanwhile.
  const begun = performance.now();
  while ((await laser.query('SHUT?\n', '\n')) !== '0' && performance.now() - begun < 5000) await sleep(100);
  t.equal(await laser.query('SHUT?\n', '\n'), '0', `the shutter closed (${(performance.now() - begun).toFixed(0)} ms)`);
  const closed = [await read(), await read(), await read()];
  for (const w of closed)
    t.ok(Math.abs(w - light.leak_w) <= 5 * light.noise * light.leak_w + 1e-4 * light.leak_w, `shutter closed: ${w} W`);
  t.ok((await laserPower()) > 1, 'READ:POW? still reports the power inside the laser, before its shutter');
  await laser.write('SHUT 1\n');
  const reopened = performance.now();
  while ((await laser.query('SHUT?\n', '\n')) !== '1' && performance.now() - reopened < 5000) await sleep(100);
  const again = await read();
  t.ok(Math.abs(again - peak) <= (5 * light.noise + 0.005) * peak, `shutter open again: ${again} W`);
});

t.test('without a laser or a polarizer: a constant source_w through the transmission, plus the leak', async (t) => {
  const text = exampleText.replace(
    /light = \{[^}]*\}/,
    'light = { source_w = 0.002, transmission = 0.5, leak_w = 1e-6, noise = 0 }',
  );
  t.not(text, exampleText, 'the example has a light table to replace');
  const { config } = parseConfig(text);
  const sims = await startSimulators(config);
  t.teardown(() => sims.close());
  const pm = await Line.open(portOf(sims, 'pm'));
  t.teardown(() => pm.close());
  t.equal(Number(await pm.query('D?\n', '\n')), Number((0.002 * 0.5 + 1e-6).toPrecision(4)), 'no noise: the exact power');
  t.equal(await pm.query('U3\nD?\n', '\n'), (10 * Math.log10((0.002 * 0.5 + 1e-6) / 1e-3)).toFixed(2), 'in dBm too');
});

t.test('a light table naming the wrong instruments is refused at start, saying which id and what it must be', async (t) => {
  const refused = async (from: RegExp, to: string, message: RegExp) => {
    const text = exampleText.replace(from, to);
    t.not(text, exampleText, `the example has ${from}`);
    const { config } = parseConfig(text);
    const e = await startSimulators(config).then(
      async (sims) => {
        await sims.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    t.type(e, DaqError);
    t.match(e, { code: 'DAQ_CONFIG', facts: { instrument: 'pm' }, message });
  };
  await refused(
    /laser = "laser"/,
    'laser = "lazer"',
    /^pm: sim\.light\.laser = "lazer" names no instrument; did you mean "laser"\?: it must be the id of a MaiTai laser \(MaiTai instruments configured: laser\)$/,
  );
  await refused(
    /polarizer = "rot"/,
    'polarizer = "laser"',
    /^pm: sim\.light\.polarizer = "laser" is an instrument of type MaiTai: it must be the id of an Elliptec rotation mount \(Elliptec instruments configured: rot\)$/,
  );
  await refused(
    /sim = \{ model = "ELL14" \}/,
    'sim = { model = "ELL6" }',
    /^pm: sim\.light\.polarizer = "rot" is an ELL6, a slider: it must be an Elliptec rotation mount/,
  );
  await refused(
    /\[v2\]\nenabled = true/,
    '[v2]\nenabled = false',
    /^pm: sim\.light\.polarizer = "rot" is in \[v2\], which is disabled, so it has no simulator/,
  );
});
