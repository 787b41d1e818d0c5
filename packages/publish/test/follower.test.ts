// RunFollower (what of a run directory becomes which message) and Collector (putting the
// messages back together) on their own: the follower's messages, delivered to the collector
// shuffled and partly twice, rebuild the directory byte for byte. The transports are in-memory
// here; test/publish*.test.ts runs both against real nats-server processes.

import t from 'tap';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Table, makeVector, tableToIPC, tableFromIPC, tableFromArrays } from 'apache-arrow';
import { mulberry32 } from '@daq/core';
import {
  Collector,
  H_FILE,
  H_OFFSET,
  H_VERSION,
  REMOTE_FILES,
  RunFollower,
  parseSubject,
  safeRelativePath,
  wholeIpcPrefix,
  type CollectTransport,
  type InMessage,
} from '../src/index.js';
import type { Pending } from '../src/follower.js';

const tmp = await mkdtemp(join(tmpdir(), 'daq-follower-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

/** An Arrow IPC stream of `batches` record batches of `rows` rows each. */
function arrowStream(batches: number, rows: number): Uint8Array {
  const parts = Array.from(
    { length: batches },
    (_, b) =>
      tableFromArrays({
        value: Float64Array.from({ length: rows }, (_, i) => b * rows + i),
        id: Int32Array.from({ length: rows }, (_, i) => i),
      }).batches[0]!,
  );
  return tableToIPC(new Table(parts), 'stream');
}

/** The messages as the collector receives them, acknowledged into `acked`. */
function inMessages(msgs: Pending[], acked: Set<number>): InMessage[] {
  return msgs.map((m, seq) => {
    const headers = new Map([[H_FILE, m.file]]);
    headers.set(m.kind === 'json' ? H_VERSION : H_OFFSET, String(m.position));
    return {
      subject: m.subject,
      headers,
      payload: m.payload,
      seq,
      redelivered: 0,
      ack: () => acked.add(seq),
      term: () => acked.add(-1 - seq),
    };
  });
}

/** A transport that hands out `batches`, then nothing. */
function replay(batches: InMessage[][]): CollectTransport {
  return {
    connect: async () => undefined,
    fetch: async () => batches.shift() ?? [],
    pending: async () => batches.length,
    close: async () => undefined,
  };
}

async function collect(batches: InMessage[][], out: string) {
  const c = new Collector({ transport: replay(batches), out, idleExitMs: 0 });
  return c.run(new AbortController().signal);
}

t.test('whole IPC messages only', async (t) => {
  const bytes = arrowStream(3, 100);
  t.equal(wholeIpcPrefix(bytes), bytes.byteLength, 'a finished stream is whole, end marker included');
  const cut = bytes.subarray(0, bytes.byteLength - 20);
  const p = wholeIpcPrefix(cut);
  t.ok(p > 0 && p < cut.byteLength, `a stream cut mid-batch: ${p} of ${cut.byteLength} bytes are whole messages`);
  t.equal(tableFromIPC(Buffer.concat([cut.subarray(0, p), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0])])).numRows, 200);
  t.equal(wholeIpcPrefix(bytes.subarray(0, 6)), 0, 'less than a prefix');
  t.equal(wholeIpcPrefix(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), 0, 'not IPC: nothing is taken');
});

t.test('subjects and paths from the network are checked', async (t) => {
  t.match(parseSubject('daq.lab.host.run.doc'), { root: 'daq', lab: 'lab', host: 'host', run: 'run', kind: 'doc' });
  t.match(parseSubject('daq.lab.host.run'), { error: /does not have the form/ });
  t.match(parseSubject('daq.lab.host.run.exe'), { error: /unknown kind/ });
  t.match(parseSubject('daq.l*b.host.run.doc'), { error: /is not a name/ });
  for (const ok of ['run.json', 'plans/001-scan/documents.jsonl', 'frames/cam/frame_stats.arrows'])
    t.ok(safeRelativePath(ok), ok);
  for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', '.hidden', 'a/./b', 'a//b', 'a/b/c/d/e', 'x'.repeat(600)])
    t.notOk(safeRelativePath(bad), JSON.stringify(bad.slice(0, 20)));
});

t.test('a run directory: what is published while it runs, what at its end, and the copy', async (t) => {
  const dir = join(tmp, 'run-1');
  await mkdir(join(dir, 'plans', '001-scan'), { recursive: true });
  await mkdir(join(dir, 'frames', 'cam'), { recursive: true });
  const stream = arrowStream(4, 500);
  const firstPart = wholeIpcPrefix(stream.subarray(0, Math.floor(stream.byteLength / 2)));
  await writeFile(join(dir, 'scalars.arrows'), stream.subarray(0, firstPart + 10)); // a batch being written
  await writeFile(join(dir, 'documents.jsonl'), '{"name":"start","doc":{}}\n{"name":"descr');
  await writeFile(join(dir, 'run.json'), '{"status":"running"}\n');
  await writeFile(join(dir, 'plan.json'), '{"half": '); // a writer that is not atomic, mid-write
  await writeFile(join(dir, 'plans', '001-scan', 'documents.jsonl'), '{"name":"start","doc":{"uid":"u"}}\n');
  const events = tableToIPC(new Table({ seq_num: makeVector(Int32Array.from([1, 2, 3])) }), 'file');
  await writeFile(join(dir, 'events-primary.arrows'), events);
  await writeFile(join(dir, 'frames', 'cam', 'frames-000001.arrows'), Buffer.alloc(4096, 7));
  await writeFile(join(dir, '.run.json.tmp'), 'hidden');
  await writeFile(join(dir, 'empty.arrows'), ''); // e.g. a camera's statistics with no frame yet

  const f = new RunFollower(dir, 'daq.lab.hostX', 'DAQ');
  t.equal(f.run, 'run-1');
  const live = await f.scan(false, 64 * 1024);
  const byFile = (ms: Pending[]) => ms.map((m) => `${m.kind} ${m.file}@${m.kind === 'json' ? 'v' : m.position}`).sort();
  t.same(
    byFile(live).map((s) => s.replace(/@v$/, '')),
    ['arrow scalars.arrows@0', 'doc documents.jsonl@0', 'doc plans/001-scan/documents.jsonl@0', 'json run.json'],
    'while running: whole lines, whole IPC messages and valid JSON; nothing written whole at the end yet, no frames, no hidden files',
  );
  t.equal(live.find((m) => m.file === 'scalars.arrows')!.payload.byteLength, firstPart, 'the batch being written waits');
  t.ok(f.pendingBytes > 0);
  t.match(live[0]!.subject, /^daq\.lab\.hostX\.run-1\.(doc|arrow|json)$/);
  for (const m of live) m.commit(f.state);
  await f.save();

  // The rest is written; the run ends.
  await writeFile(join(dir, 'scalars.arrows'), stream);
  await appendFile(join(dir, 'documents.jsonl'), 'iptor","doc":{}}\n{"name":"stop","doc":{}}\n');
  await writeFile(join(dir, 'plan.json'), '{"plan":"scan","events":3}\n');
  await writeFile(join(dir, 'run.json'), '{"status":"completed"}\n');

  // A new follower (daq restarted) resumes from publish.json.
  const g = new RunFollower(dir, 'daq.lab.hostX', 'DAQ');
  t.equal(g.state.files['scalars.arrows'], firstPart, 'publish.json kept how far it got');
  const end = await g.scan(true, 1024); // small pieces: a batch is cut into several
  const files = new Set(end.map((m) => m.file));
  t.same(
    [...files].sort(),
    ['documents.jsonl', 'empty.arrows', 'events-primary.arrows', 'plan.json', REMOTE_FILES, 'run.json', 'scalars.arrows'].sort(),
  );
  t.ok(
    end.filter((m) => m.file === 'scalars.arrows').every((m) => m.payload.byteLength <= 1024),
    'pieces of at most 1024 bytes',
  );
  const remote = JSON.parse(Buffer.from(end.find((m) => m.file === REMOTE_FILES)!.payload).toString());
  t.same(remote.files, [{ file: 'frames/cam/frames-000001.arrows', bytes: 4096 }], 'frames stay, listed by name and size');

  // Every message, shuffled, some twice, in several batches: the copy is the directory.
  const all = [...live, ...end];
  const rand = mulberry32(3);
  const order = [...all, ...all.filter(() => rand() < 0.3)].sort(() => rand() - 0.5);
  const acked = new Set<number>();
  const ins = inMessages(order, acked);
  const out = join(tmp, 'out-1');
  const counts = await collect([ins.slice(0, 7), ins.slice(7, 20), ins.slice(20)], out);
  t.equal(acked.size, ins.length, 'every message acknowledged');
  t.equal(counts.rejected, 0);
  t.ok(counts.stale > 0, `older JSON versions ignored (${counts.stale})`);
  const copy = join(out, 'lab', 'hostX', 'run-1');
  t.equal((await readFile(join(out, 'lab', 'hostX', 'run-1', 'empty.arrows'))).byteLength, 0, 'an empty file is there, empty');
  for (const file of [
    'scalars.arrows',
    'documents.jsonl',
    'run.json',
    'plan.json',
    'events-primary.arrows',
    'plans/001-scan/documents.jsonl',
  ])
    t.ok((await readFile(join(dir, file))).equals(await readFile(join(copy, file))), `${file} identical`);
  t.equal(tableFromIPC(await readFile(join(copy, 'scalars.arrows'))).numRows, 2000);
  t.equal(JSON.parse(await readFile(join(copy, 'run.json'), 'utf8')).status, 'completed', 'the newest run.json wins');
  t.notOk(existsSync(join(copy, 'frames')), 'no frames copied');

  // Done: nothing more to publish.
  for (const m of end) m.commit(g.state);
  t.same(await g.scan(true, 1024), []);
  t.equal(g.pendingBytes, 0);
});

t.test('a record batch larger than one read, and a tail cut by a kill', async (t) => {
  const dir = join(tmp, 'run-big');
  await mkdir(dir);
  const big = arrowStream(1, 1_500_000); // about 18 MiB of values and ids in one batch: more than one read (16 MiB)
  const stream = Buffer.concat([big.subarray(0, big.byteLength - 8), arrowStream(1, 10).subarray(0)]);
  t.ok(stream.byteLength > 16 * 1024 * 1024, `${stream.byteLength} bytes`);
  await writeFile(join(dir, 'scalars.arrows'), big.subarray(0, big.byteLength - 8)); // no end marker yet
  const f = new RunFollower(dir, 'daq.lab.h', 'DAQ');
  // Pass after pass, as the publisher does: the schema first, then the batch read whole.
  const msgs: Pending[] = [];
  for (let pass = 0; pass < 5; pass++) {
    const got = await f.scan(false, 900 * 1024);
    for (const m of got) m.commit(f.state);
    msgs.push(...got);
  }
  const covered = msgs.reduce((n, m) => n + m.payload.byteLength, 0);
  t.equal(covered, big.byteLength - 8, 'the whole batch, in pieces');
  t.ok(msgs.length > 10, `${msgs.length} pieces`);
  t.ok(msgs.every((m) => m.payload.byteLength <= 900 * 1024));

  // A killed writer leaves half a message: at the end it is published as it is.
  await appendFile(join(dir, 'scalars.arrows'), Buffer.from([255, 255, 255, 255, 200, 0, 0, 0, 1, 2, 3]));
  t.same(await f.scan(false, 900 * 1024), [], 'not while the run may still write it');
  const tail = await f.scan(true, 900 * 1024);
  t.same(
    tail.map((m) => [m.kind, m.payload.byteLength]),
    [['file', 11]],
    'after the end: the cut tail, raw',
  );
});

t.test('the collector refuses what is not a run file, and keeps going', async (t) => {
  const acked = new Set<number>();
  const bad: InMessage[] = [
    {
      subject: 'other.subject',
      headers: new Map(),
      payload: new Uint8Array(1),
      seq: 1,
      redelivered: 0,
      ack: () => acked.add(1),
      term: () => acked.add(-1),
    },
    {
      subject: 'daq.l.h.r.json',
      headers: new Map([[H_FILE, 'run.json']]),
      payload: new Uint8Array(1),
      seq: 2,
      redelivered: 1,
      ack: () => acked.add(2),
      term: () => acked.add(-2),
    },
    {
      subject: 'daq.l.h.r.doc',
      headers: new Map([[H_OFFSET, '0']]),
      payload: new Uint8Array(1),
      seq: 3,
      redelivered: 0,
      ack: () => acked.add(3),
      term: () => acked.add(-3),
    },
  ];
  const lines: string[] = [];
  const out = join(tmp, 'out-bad');
  const c = new Collector({ transport: replay([bad]), out, idleExitMs: 0, log: (l) => lines.push(l) });
  const counts = await c.run(new AbortController().signal);
  t.same(
    [...acked].sort((a, b) => a - b),
    [-3, -2, -1],
    'all three terminated, none acknowledged',
  );
  t.equal(counts.rejected, 3);
  t.equal(counts.redelivered, 1);
  t.match(lines.join('\n'), /refused message 1 on other\.subject: subject other\.subject does not have the form/);
  t.match(lines.join('\n'), /header Daq-Version is not a version number/);
  t.match(lines.join('\n'), /header Daq-File undefined is not a relative path/);
  t.match(c.line(), /3 messages \(1 redelivered, 0 stale, 3 rejected\)/);
});

t.test('message ids name the exact bytes; an acknowledged piece never ends inside a message', async (t) => {
  const dir = join(tmp, 'run-ids');
  await mkdir(dir);
  const stream = arrowStream(3, 400);
  const cut = wholeIpcPrefix(stream.subarray(0, Math.floor(stream.byteLength * 0.6)));
  await writeFile(join(dir, 'scalars.arrows'), stream.subarray(0, cut));
  const f = new RunFollower(dir, 'daq.lab.h', 'DAQ');
  const first = await f.scan(false, 1 << 20);
  await writeFile(join(dir, 'scalars.arrows'), stream);
  const again = await f.scan(false, 1 << 20); // nothing acknowledged yet: the same start, more bytes
  t.equal(first[0]!.position, again[0]!.position);
  t.not(first[0]!.msgId, again[0]!.msgId, 'a piece with more bytes is not a duplicate of the shorter one');
  t.match(first[0]!.msgId, new RegExp(`^daq\\.lab\\.h\\.run-ids~${f.state.uid}/scalars\\.arrows@arrow:0\\+${cut}$`));

  // Pieces smaller than a message: only the piece that ends the message moves the offset.
  const small = await f.scan(false, 1000);
  // Every message boundary of the stream: the lengths at which its prefix is whole messages.
  const batchEnds = new Set<number>();
  for (let k = 1; k <= stream.byteLength; k++) if (wholeIpcPrefix(stream.subarray(0, k)) === k) batchEnds.add(k);
  t.ok(batchEnds.size >= 4, `${batchEnds.size} boundaries (schema, batches, end)`);
  t.ok(small.length > batchEnds.size, `${small.length} pieces: messages cut`);
  for (const m of small) {
    const before = f.state.files['scalars.arrows'] ?? 0;
    m.commit(f.state);
    const after = f.state.files['scalars.arrows'] ?? 0;
    if (after !== before) t.ok(batchEnds.has(after), `offset moved to a message boundary (${after})`);
  }
  t.equal(f.state.files['scalars.arrows'], stream.byteLength);
});

t.test('the collector keeps two runs of one name apart, and refuses what cannot be written', async (t) => {
  const out = join(tmp, 'out-uids');
  const msg = (uid: string, file: string, body: string, seq: number): InMessage => ({
    subject: 'daq.lab.h.run1.file',
    headers: new Map([
      [H_FILE, file],
      [H_OFFSET, '0'],
      ['Daq-Run', uid],
    ]),
    payload: Buffer.from(body),
    seq,
    redelivered: 0,
    ack: () => undefined,
    term: () => undefined,
  });
  const counts = await collect(
    [[msg('aaaaaa', 'x.txt', 'first', 1), msg('bbbbbb', 'x.txt', 'second', 2), msg('aaaaaa', 'x.txt/y', 'no', 3)]],
    out,
  );
  t.equal(await readFile(join(out, 'lab/h/run1/x.txt'), 'utf8'), 'first');
  t.equal(await readFile(join(out, 'lab/h/run1-bbbbbb/x.txt'), 'utf8'), 'second', 'the other run of that name beside it');
  t.equal(counts.rejected, 1, 'a file where a directory should be: refused, and the collector goes on');
});
