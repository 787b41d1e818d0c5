// The ring's wake-ups after issue 18 (packages/core/src/ring): a consumer that found a dense stream
// sleeps until half the ring is pending (or 1 ms), and its poll adapts. These check that no record
// is ever left unannounced by that: a lone record after a burst, a flush(), a record that cannot be
// followed because the ring is full, and closing. Each wait has a generous timeout and must end
// with 'data' (or 'closed'); no test here judges how fast.

import t from 'tap';
import { RingReader, RingWriter, createRingBuffer } from '@daq/core';

const ring = (capacity = 64 * 1024) => {
  const sab = createRingBuffer(capacity, 'wakeups');
  return { reader: new RingReader(sab), writer: new RingWriter(sab, { policy: 'drop-newest' }) };
};

/** Reads every record available; returns how many. */
function drain(reader: RingReader): number {
  let n = 0;
  while (reader.tryRead()) n++;
  reader.release();
  return n;
}

/** A dense stream: records written as soon as the consumer waits, so that its waits end at once. */
async function burst(reader: RingReader, writer: RingWriter, records: number): Promise<void> {
  for (let i = 0; i < records; i++) {
    const waiting = reader.waitForData(5_000);
    writer.write(new Uint8Array(100));
    t.equal(await waiting, 'data');
    t.equal(drain(reader), 1);
  }
}

t.test('a lone record after a dense burst still wakes the consumer (at its 1 ms batch slice at the latest)', async (t) => {
  const { reader, writer } = ring();
  // The record comes while the consumer polls, sleeps asking for half the ring, or sleeps after
  // its batch slice ended: whichever it meets, the wait must end with the record.
  const delays: (() => Promise<unknown>)[] = [
    () => new Promise((r) => setImmediate(r)),
    () => new Promise((r) => setTimeout(r, 0)),
    () => new Promise((r) => setTimeout(r, 1)),
    () => new Promise((r) => setTimeout(r, 2)),
    () => new Promise((r) => setTimeout(r, 5)),
  ];
  for (let round = 0; round < 4; round++)
    for (const delay of delays) {
      await burst(reader, writer, 5);
      const waiting = reader.waitForData(5_000);
      await delay();
      writer.write(new Uint8Array(100)); // far less than half the ring
      t.equal(await waiting, 'data');
      t.equal(drain(reader), 1);
    }
});

t.test('half the ring pending wakes a batching consumer; flush() wakes it whatever is pending', async (t) => {
  const { reader, writer } = ring();
  await burst(reader, writer, 20);
  let waiting = reader.waitForData(5_000);
  await new Promise((r) => setTimeout(r, 5));
  for (let i = 0; i < 4; i++) writer.write(new Uint8Array(10 * 1024)); // > half of 64 KiB
  t.equal(await waiting, 'data');
  t.equal(drain(reader), 4);
  await burst(reader, writer, 5);
  waiting = reader.waitForData(5_000);
  await new Promise((r) => setTimeout(r, 5));
  writer.write(new Uint8Array(100));
  writer.flush();
  t.equal(await waiting, 'data');
  t.equal(drain(reader), 1);
});

t.test('a full ring (a record dropped) wakes the consumer; closing wakes it with "closed"', async (t) => {
  const { reader, writer } = ring(4096);
  await burst(reader, writer, 10);
  const waiting = reader.waitForData(5_000);
  await new Promise((r) => setTimeout(r, 5));
  let kept = 0;
  while (writer.write(new Uint8Array(1500))) kept++; // until one does not fit and is dropped
  t.ok(kept >= 1 && kept < 3, `${kept} kept before the drop`);
  t.equal(await waiting, 'data');
  t.equal(drain(reader), kept);
  const end = reader.waitForData(5_000);
  await new Promise((r) => setTimeout(r, 5));
  writer.close();
  t.equal(await end, 'closed');
});

t.test('a stream that pauses: every record is read, in order, through adapting polls and batched sleeps', async (t) => {
  const { reader, writer } = ring(16 * 1024);
  let written = 0;
  let read = 0;
  const producer = (async () => {
    for (let phase = 0; phase < 6; phase++) {
      // Dense phases (records back to back) and sparse ones (a record every few ms).
      for (let i = 0; i < 200; i++) {
        const bytes = new Uint8Array(512);
        new DataView(bytes.buffer).setUint32(0, written);
        while (!writer.write(bytes)) await new Promise((r) => setImmediate(r));
        written++;
        if (phase % 2 === 1) await new Promise((r) => setTimeout(r, 2));
        else if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    }
    writer.close();
  })();
  let outOfOrder = 0;
  const ends: string[] = [];
  for (;;) {
    const bytes = reader.tryRead();
    if (bytes) {
      if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) !== read) outOfOrder++;
      read++;
      continue;
    }
    const r = await reader.waitForData(5_000);
    if (r === 'closed') break;
    if (r !== 'data') ends.push(r);
  }
  await producer;
  t.equal(outOfOrder, 0, 'every record in order');
  t.same(ends, [], "every wait ended with 'data' (none timed out)");
  t.equal(read, 1200);
  t.equal(written, 1200);
});
