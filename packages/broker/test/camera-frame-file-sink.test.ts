// FrameFileSink's way of writing: frames cut into several writes (writeBytes), part files
// preallocated with fallocate(2) and cut to their data when they end, and a part that never ended
// (a crash) still read to its last synced frame by an Arrow reader. Every file is read back with
// apache-arrow and compared pixel for pixel with what was written.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import koffi from 'koffi';
import t from 'tap';
import { RecordBatchReader } from 'apache-arrow';
import { copyBytes, decodeFrameRecord, encodeFrameRecord, frameLayout, type FrameLayout } from '@daq/core';
import { FrameFileSink, alignedBytes, type FrameFileSinkOptions } from '../src/storage/frame-file-sink.js';

const pl = createRequire(import.meta.url)('nodejs-polars') as typeof import('nodejs-polars');
const tmp = await mkdtemp(join(tmpdir(), 'daq-camera-sink-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

// 96 x 80 x 16 bit: 15,360 pixel bytes, a message of a few FRAME_ALIGN blocks.
const layout = frameLayout('cam', { width: 96, height: 80, bitDepth: 16, frameBytes: 96 * 80 * 2 });

/** Frame `i`'s message, block-aligned in memory (as in the ring), pixels that differ per frame and per position. */
function message(l: FrameLayout, i: number): Uint8Array {
  const record = alignedBytes(l.recordBytes);
  const pixels = new Uint16Array(l.geometry.frameBytes / 2).map((_, k) => (i * 7919 + k * 31) & 0xffff);
  const n = encodeFrameRecord(
    l,
    record,
    koffi.address(record) as bigint,
    new Uint8Array(pixels.buffer),
    BigInt(i),
    BigInt(i) * 1000n,
    copyBytes,
  );
  return decodeFrameRecord(l, record.subarray(0, n)).message;
}

/** The frames an Arrow stream reader finds in `bytes`: frame index and whether its pixels are the ones written. */
function readFrames(bytes: Uint8Array): { index: number; intact: boolean }[] {
  const reader = RecordBatchReader.from(bytes);
  const out: { index: number; intact: boolean }[] = [];
  for (const batch of reader) {
    for (let r = 0; r < batch.numRows; r++) {
      const index = Number(batch.getChild('frame_index')!.get(r));
      // A binary column: each row's pixels as bytes (little-endian uint16).
      const bytes = batch.getChild('pixels')!.get(r) as Uint8Array;
      const values = new Uint16Array(bytes.slice().buffer);
      const intact = values.length === 96 * 80 && values.every((v, k) => v === ((index * 7919 + k * 31) & 0xffff));
      out.push({ index, intact });
    }
  }
  return out;
}

async function writeAll(sink: FrameFileSink, from: number, to: number): Promise<void> {
  // As FramePipeline does: a write is issued while the sink is ready, else the next completion is awaited.
  const inFlight = new Set<Promise<void>>();
  const all: Promise<void>[] = [];
  for (let i = from; i <= to; i++) {
    while (!sink.ready) await (inFlight.size > 0 ? Promise.race(inFlight) : new Promise((r) => setImmediate(r)));
    const p = sink.write(message(layout, i));
    const settled = p.catch(() => undefined).then(() => void inFlight.delete(settled));
    inFlight.add(settled);
    all.push(p);
  }
  await Promise.all(all);
}

async function sinkIn(name: string, o: Partial<FrameFileSinkOptions> = {}) {
  const sink = new FrameFileSink(join(tmp, name), layout, { flushIntervalMs: 60_000, ...o });
  await sink.open();
  return sink;
}

t.test('the message layout this test relies on', async (t) => {
  t.ok(layout.messageBytes > 3 * 4096, `a message (${layout.messageBytes} bytes) spans several 4 KiB writes`);
});

t.test('frames cut into 4 KiB writes are stored whole and in order, as with one write per frame', async (t) => {
  const files: Uint8Array[] = [];
  for (const [name, writeBytes] of [
    ['pieces', 4096],
    ['whole', 2 ** 30],
    ['odd', 4096 * 3 + 100], // rounded down to a multiple of FRAME_ALIGN
  ] as const) {
    const sink = await sinkIn(name, { writeBytes, maxInFlight: 3 });
    await writeAll(sink, 1, 40);
    await sink.close();
    t.match(sink.stats, { framesWritten: 40, framesStored: 40, writeErrors: 0 }, name);
    t.equal(sink.stats.files.length, 1);
    const bytes = await readFile(sink.stats.files[0]!);
    const frames = readFrames(bytes);
    t.same(
      frames.map((f) => f.index),
      Array.from({ length: 40 }, (_, i) => i + 1),
      `${name}: every frame, in order`,
    );
    t.ok(
      frames.every((f) => f.intact),
      `${name}: every pixel as written`,
    );
    files.push(bytes);
  }
  t.same(Buffer.compare(files[0]!, files[1]!), 0, 'byte for byte the same file, however the frames were cut');
  t.same(Buffer.compare(files[0]!, files[2]!), 0);
});

t.test(
  'a part is preallocated to chunkBytes while written, and cut to its data (plus the end marker) when it ends',
  async (t) => {
    const chunkBytes = layout.preamble.byteLength + 10 * layout.messageBytes + 8;
    const sink = await sinkIn('prealloc', { chunkBytes });
    await writeAll(sink, 1, 3);
    const first = sink.stats.files[0]!;
    t.equal((await stat(first)).size, chunkBytes, 'preallocated: the file has its full size from the start');
    await writeAll(sink, 4, 25); // 25 frames: parts of 10, 10 and 5
    await sink.close();
    const files = sink.stats.files;
    t.equal(files.length, 3);
    const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
    t.same(
      sizes,
      [10, 10, 5].map((n) => layout.preamble.byteLength + n * layout.messageBytes + 8),
      'each part is exactly its frames and the end-of-stream marker',
    );
    const all = (await Promise.all(files.map(async (f) => readFrames(await readFile(f))))).flat();
    t.same(
      all.map((f) => f.index),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    t.ok(all.every((f) => f.intact));
    const dir = await import('node:fs/promises').then((fs) => fs.readdir(join(tmp, 'prealloc')));
    t.same(dir.sort(), files.map((f) => f.split('/').pop()).sort(), 'the part opened ahead and never used is gone');
  },
);

t.test('without preallocation, the file grows with its frames', async (t) => {
  const sink = await sinkIn('grow', { preallocate: false, chunkBytes: 2 ** 24 });
  await writeAll(sink, 1, 3);
  t.equal((await stat(sink.stats.files[0]!)).size, layout.preamble.byteLength + 3 * layout.messageBytes);
  await sink.close();
  t.equal((await stat(sink.stats.files[0]!)).size, layout.preamble.byteLength + 3 * layout.messageBytes + 8);
  t.equal(readFrames(await readFile(sink.stats.files[0]!)).length, 3);
});

t.test('a part that never ended (the process died): its preallocated tail reads as the end of the stream', async (t) => {
  const sink = await sinkIn('crash', { chunkBytes: 2 ** 24 });
  await writeAll(sink, 1, 12);
  await sink.sync();
  t.equal(sink.stats.framesStored, 12, 'synced: stored');
  // What a crash leaves: the file as it is now, 16 MiB long, no end-of-stream marker, zeros after the last frame.
  const left = await readFile(sink.stats.files[0]!);
  t.equal(left.byteLength, 2 ** 24);
  t.ok(
    left.subarray(layout.preamble.byteLength + 12 * layout.messageBytes).every((b) => b === 0),
    'zeros after the last frame',
  );
  const frames = readFrames(left);
  t.same(
    frames.map((f) => f.index),
    Array.from({ length: 12 }, (_, i) => i + 1),
    'an Arrow reader reads every synced frame and stops at the zeros',
  );
  t.ok(frames.every((f) => f.intact));
  const df = pl.readIPCStream(Buffer.from(left));
  t.same(
    df.getColumn('frame_index').toArray().map(Number),
    Array.from({ length: 12 }, (_, i) => i + 1),
    'polars (Rust Arrow) too',
  );
  await sink.close();
});
