// batchingEndpoint over a real MessageChannel with Comlink on both sides: the calls and replies
// of one turn cross in one message each way, in order; a plain Comlink peer still works; a
// message that cannot be cloned fails its own call with a clear error and nothing else.

import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { batchingEndpoint } from '@daq/core';
import { Comlink, nodeEndpoint } from '../src/rpc/comlink.js';

interface Api {
  echo(x: number): Promise<number>;
  slow(x: number): Promise<number>;
  fn(): Promise<unknown>;
}

const api: Api = {
  echo: async (x) => x,
  slow: async (x) => new Promise((r) => setTimeout(() => r(x), 5)),
  fn: async () => () => 1, // a function cannot be cloned
};

function pair(batchClient: boolean, batchServer: boolean) {
  const { port1, port2 } = new MessageChannel();
  const server = batchServer ? batchingEndpoint(nodeEndpoint(port1), 'server') : undefined;
  Comlink.expose(api, server ?? nodeEndpoint(port1));
  const client = batchClient ? batchingEndpoint(nodeEndpoint(port2), 'client') : undefined;
  const proxy = Comlink.wrap<Api>(client ?? nodeEndpoint(port2));
  return {
    proxy,
    server: server?.batching,
    client: client?.batching,
    close: () => {
      proxy[Comlink.releaseProxy]();
      port1.close();
      port2.close();
    },
  };
}

t.test('both sides batch: the calls of one turn go in one message, the replies too, in order', async (t) => {
  const p = pair(true, true);
  t.teardown(p.close);
  t.equal(await p.proxy.echo(-1), -1, 'a first call (both sides have announced themselves by its reply)');
  const c0 = { ...p.client! };
  const s0 = { ...p.server! };
  const got = await Promise.all(Array.from({ length: 50 }, (_, i) => p.proxy.echo(i)));
  t.same(
    got,
    Array.from({ length: 50 }, (_, i) => i),
    'every reply to its own call',
  );
  t.equal(p.client!.messages - c0.messages, 50);
  t.equal(p.client!.posts - c0.posts, 1, '50 calls, 1 postMessage');
  t.equal(p.server!.messages - s0.messages, 50);
  t.ok(p.server!.posts - s0.posts < 50, `50 replies in ${p.server!.posts - s0.posts} postMessage(s)`);
  t.ok(p.client!.peerBatches && p.server!.peerBatches);
  // Replies that come at different times still each reach their caller.
  t.same(await Promise.all([p.proxy.slow(1), p.proxy.echo(2), p.proxy.slow(3)]), [1, 2, 3]);
});

t.test('a plain Comlink peer is sent one message per call', async (t) => {
  const plainClient = pair(false, true);
  t.teardown(plainClient.close);
  t.same(await Promise.all([1, 2, 3].map((i) => plainClient.proxy.echo(i))), [1, 2, 3]);
  t.notOk(plainClient.server!.peerBatches, 'the plain client never announced itself');
  t.equal(plainClient.server!.posts, plainClient.server!.messages, 'so no batch was sent to it');

  const plainServer = pair(true, false);
  t.teardown(plainServer.close);
  t.same(await Promise.all([4, 5, 6].map((i) => plainServer.proxy.echo(i))), [4, 5, 6]);
  t.notOk(plainServer.client!.peerBatches);
  t.equal(plainServer.client!.posts, plainServer.client!.messages);
});

t.test('a message that cannot be cloned fails its own call with a clear error; the others go through', async (t) => {
  const p = pair(true, true);
  t.teardown(p.close);
  await p.proxy.echo(0);
  const [a, bad, b] = await Promise.allSettled([
    p.proxy.echo(1),
    (p.proxy.echo as unknown as (x: unknown) => Promise<number>)(() => 1),
    p.proxy.echo(2),
  ]);
  t.same(
    [a, b],
    [
      { status: 'fulfilled', value: 1 },
      { status: 'fulfilled', value: 2 },
    ],
  );
  t.match(bad, { status: 'rejected', reason: { message: /^client: cannot send APPLY across threads: .*could not be cloned/ } });
  t.equal(p.client!.failed, 1);
  const reply = await p.proxy.fn().catch((e: Error) => e);
  t.match(
    reply,
    { message: /^server: cannot send (HANDLER|RAW) across threads: .*could not be cloned/ },
    'a reply that cannot be cloned',
  );
  t.equal(p.server!.failed, 1);
  t.equal(await p.proxy.echo(3), 3, 'and the channel still works');
});
