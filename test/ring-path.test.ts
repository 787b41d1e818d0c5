// V4's data path through its SharedArrayBuffer ring, under the runtime: exact accounting from
// driver to broker, backpressure when the consumer stops reading, and each ring policy's drops
// counted on both sides (worker output and ring) so that nothing disappears unexplained.

import t from 'tap';
import { testRuntime, until } from './helpers/runtime.js';
import { assertNoNewHandles, handleSnapshot } from './helpers/leaks.js';

const before = handleSnapshot();

const config = (policy: string, ringBytes = 65536) => `
[application]
simulate = true
[broker]
shutdown_timeout_ms = 5000
[v4]
batch_rows = 10
batch_interval_ms = 10
ring_bytes = ${ringBytes}
ring_policy = "${policy}"
ring_block_timeout_ms = 200
[[v4.instruments]]
id = "meter"
type = "ScpiInstrument"
resource = "TCPIP0::10.0.0.9::5025::SOCKET"
poll_query = "MEAS:VOLT:DC?"
unit = "V"
poll_hz = 200
`;

t.test('every V4 reading crosses the ring: accepted = delivered = received, records written = read', async (t) => {
  await using rt = await testRuntime(config('block', 1 << 20));
  await rt.runtime.start();
  await until(() => rt.v4.length >= 200, 20_000, '200 rows');
  const [stop] = await rt.runtime.stop();
  const out = stop!.report!.output;
  t.same([out.dropped, out.droppedBatches], [0, 0]);
  t.equal(out.accepted, out.delivered);
  t.equal(rt.v4.length, out.delivered, 'every delivered row reached the broker');
  const ring = rt.runtime.supervisor('v4')!.ring!;
  t.equal(ring.recordsWritten, out.batches, 'one ring record per batch');
  t.equal(ring.recordsRead, ring.recordsWritten);
  t.same([ring.recordsDropped, ring.bytesInUse], [0, 0]);
  t.ok(ring.highWaterBytes > 0);
  t.equal(rt.runtime.supervisor('v4')!.received.gaps, 0);
});

for (const policy of ['block', 'drop-newest', 'drop-oldest'] as const) {
  t.test(`a stalled consumer under "${policy}": drops are counted exactly, on both sides`, async (t) => {
    let stalled = false;
    await using rt = await testRuntime(config(policy), { backpressure: () => stalled });
    await rt.runtime.start();
    await until(() => rt.v4.length >= 20, 20_000, 'first rows');
    stalled = true;
    const sup = rt.runtime.supervisor('v4')!;
    // 64 KiB of ring fills within a few hundred batches; wait until the policy had to act.
    await until(
      async () => ((await rt.runtime.status()).subsystems[0]!.output?.dropped ?? 0) > 0 || sup.ring!.recordsDropped > 0,
      30_000,
      'drops',
    );
    t.ok(sup.ring!.pauses >= 1, 'the consumer paused for backpressure');
    stalled = false;
    const [stop] = await rt.runtime.stop();
    const out = stop!.report!.output;
    const ring = sup.ring!;
    t.equal(out.accepted, out.delivered + out.dropped, 'worker side: every accepted row was delivered or dropped');
    if (policy === 'drop-oldest') {
      // Dropped out of the ring after being written: the worker delivered them, the ring dropped them.
      t.equal(out.droppedBatches, 0, 'the writer never refuses under drop-oldest');
      t.ok(ring.recordsDropped > 0);
      t.equal(ring.recordsRead, ring.recordsWritten - ring.recordsDropped, 'read = written - dropped from the ring');
      t.ok(sup.received.gaps > 0, 'the sequence numbers show where batches went missing');
    } else {
      t.ok(out.dropped > 0, `${out.dropped} rows dropped by the policy`);
      t.equal(ring.recordsDropped, out.droppedBatches, 'the ring and the worker count the same refused batches');
      t.equal(ring.recordsRead, ring.recordsWritten, 'everything written was read');
      t.equal(rt.v4.length, out.delivered, 'rows received = rows delivered');
      if (policy === 'block') t.ok(ring.blockTimeouts > 0, `${ring.blockTimeouts} block timeouts after ring_block_timeout_ms`);
    }
    t.equal(ring.bytesInUse, 0, 'the ring is empty at the end');
  });
}

t.test('no workers, handles or leases left', async (t) => {
  await assertNoNewHandles(t, before);
});
