// The pseudo-terminal under the serial simulators: raw bytes both ways for the real serialport
// package and for plain clients (cat, python), reopenable, never blocking, and leak-free.

import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readlink, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { Pty, pointLink, removeLink } from '../src/index.js';

const handlesBefore = process.getActiveResourcesInfo().length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openPort(path: string, baudRate = 9600): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  port.on('error', () => undefined);
  return port;
}

function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
}

/** Collects what arrives until `n` bytes are there (or the timeout). */
function collect(source: { on(e: 'data', f: (d: Buffer) => void): unknown }, n: number, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => resolve(Buffer.concat(parts)), timeoutMs);
    source.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        clearTimeout(timer);
        resolve(Buffer.concat(parts));
      }
    });
  });
}

t.test('every byte value passes unchanged both ways through the real serialport package, with no echo', async (t) => {
  const fromClient: Buffer[] = [];
  const pty = Pty.open((chunk) => fromClient.push(chunk), { baudRate: 9600 });
  t.teardown(() => pty.close());
  t.match(pty.path, /^\/dev\/pts\/\d+$/);
  const port = await openPort(pty.path);
  t.teardown(() => closePort(port));
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const received = collect(port, 256);
  t.equal(pty.write(all), 256, 'the master took all bytes');
  t.same(await received, all, 'client got 0x00-0xFF, CR and LF untranslated');
  await new Promise<void>((r) => port.write(all, () => port.drain(() => r())));
  for (let i = 0; i < 50 && Buffer.concat(fromClient).length < 256; i++) await sleep(10);
  t.same(Buffer.concat(fromClient), all, 'the simulator got the same 256 bytes from the client');
  const extra = collect(port, 1, 100);
  t.equal((await extra).length, 0, 'nothing came back to the client: no echo');
});

t.test("the slave's speed starts at the instrument's rate and shows the client's choice", async (t) => {
  const pty = Pty.open(() => undefined, { baudRate: 19200 });
  t.teardown(() => pty.close());
  t.equal(pty.clientBaudRate(), 19200, 'a client that never sets a speed inherits 19200');
  const port = await openPort(pty.path, 115200);
  t.equal(pty.clientBaudRate(), 115200, 'what the client configured');
  await closePort(port);
});

t.test('a client can close and reopen the port: the pty keeps a slave fd', async (t) => {
  const pty = Pty.open((chunk) => pty.write(Buffer.concat([Buffer.from('>'), chunk])));
  t.teardown(() => pty.close());
  for (let round = 0; round < 3; round++) {
    const port = await openPort(pty.path);
    const reply = collect(port, 4);
    port.write('ab\n');
    t.equal((await reply).toString(), '>ab\n', `round trip ${round + 1}`);
    await closePort(port);
  }
});

t.test('cat and python use the port without CR/LF translation (raw mode)', async (t) => {
  const fromClient: Buffer[] = [];
  const pty = Pty.open((chunk) => fromClient.push(chunk), { baudRate: 9600 });
  t.teardown(() => pty.close());

  const cat = spawn('cat', [pty.path], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => {
    if (cat.exitCode === null) cat.kill();
  });
  const catOut = collect(cat.stdout, 7);
  await sleep(200); // let cat open the port
  pty.write(Buffer.from('a\rb\r\n\n'));
  t.same(await catOut, Buffer.from('a\rb\r\n\n'), 'cat read CR and LF exactly as sent');
  cat.kill();
  await new Promise((r) => cat.once('exit', r));

  const script = [
    'import os, sys',
    'fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)',
    'os.write(fd, b"D?\\r\\n")',
    'data = b""',
    'while not data.endswith(b"\\n"): data += os.read(fd, 64)',
    'sys.stdout.write(repr(data))',
  ].join('\n');
  const replyWhenAsked = setInterval(() => {
    if (Buffer.concat(fromClient).includes('D?\r\n')) {
      clearInterval(replyWhenAsked);
      pty.write(Buffer.from('+.75E-9\r\n'));
    }
  }, 5);
  t.teardown(() => clearInterval(replyWhenAsked));
  const out = await new Promise<string>((resolve, reject) =>
    execFile('python3', ['-c', script, pty.path], { timeout: 5000 }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
  t.equal(out, "b'+.75E-9\\r\\n'", 'python read the reply byte for byte');
  t.same(Buffer.concat(fromClient).subarray(-4), Buffer.from('D?\r\n'), 'and its CR LF arrived as CR LF');
});

t.test('writing never blocks when nobody reads: the pty takes what fits and reports it', async (t) => {
  const pty = Pty.open(() => undefined);
  t.teardown(() => pty.close());
  let taken = 0;
  const chunk = Buffer.alloc(1000, 0x41);
  for (let i = 0; i < 500; i++) taken += pty.write(chunk);
  t.ok(taken > 0 && taken < 500_000, `took ${taken} of 500000 bytes and returned at once`);
  t.equal(pty.write(chunk), 0, 'a full pty takes nothing more');
});

t.test('closing the pty is a disconnect for the client, and writes after it are ignored', async (t) => {
  const pty = Pty.open(() => undefined);
  const port = await openPort(pty.path);
  const closed = new Promise<Error | undefined>((r) => port.once('close', (e?: Error) => r(e)));
  pty.close();
  t.equal(pty.isOpen, false);
  t.equal(pty.write(Buffer.from('x')), 0);
  t.equal(pty.clientBaudRate(), undefined);
  const failed = await new Promise<Error | null | undefined>((r) => port.write('x', (e) => r(e)));
  t.match(failed, /EIO|closed/i, 'the next write fails');
  const why = await closed;
  t.equal(port.isOpen, false, 'and the port closes');
  if (why) t.match(why, { disconnected: true }, 'as disconnected');
  pty.close(); // twice is harmless
});

t.test('a stable link can be pointed at a new pty and removed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'daq-pty-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const link = join(dir, 'ttyELL');
  const a = Pty.open(() => undefined);
  const b = Pty.open(() => undefined);
  t.teardown(() => {
    a.close();
    b.close();
  });
  pointLink(link, a.path);
  t.equal(await readlink(link), a.path);
  pointLink(link, b.path);
  t.equal(await readlink(link), b.path, 'repointed atomically');
  removeLink(link);
  t.notOk(existsSync(link));
  removeLink(link); // already gone: no error
});

t.test('no handles are left open', async (t) => {
  await sleep(100);
  t.ok(process.getActiveResourcesInfo().length <= handlesBefore, process.getActiveResourcesInfo().join(', '));
});
