import t from 'tap';
import { DeviceCache, parseIdn } from '../src/device-cache.js';

t.test('an identity is read once, shared by concurrent callers, and failures are not cached', async (t) => {
  const cache = new DeviceCache();
  let asked = 0;
  const read = async () => {
    asked++;
    await new Promise((r) => setTimeout(r, 5));
    return parseIdn('dmm', 'Keysight Technologies,34465A,MY12345,A.03.01');
  };
  const [a, b] = await Promise.all([cache.identify('dmm', read), cache.identify('dmm', read)]);
  t.equal(asked, 1, 'two callers, one read');
  t.equal(a, b);
  t.match(a, { key: 'dmm', manufacturer: 'Keysight Technologies', model: '34465A', serial: 'MY12345', firmware: 'A.03.01' });
  t.equal(cache.get('dmm'), a);
  t.same(
    cache.entries().map((e) => e.key),
    ['dmm'],
  );

  await t.rejects(
    cache.identify('bad', async () => Promise.reject(new Error('no reply'))),
    /no reply/,
  );
  t.equal(cache.get('bad'), undefined);
  const retried = await cache.identify('bad', async () => parseIdn('bad', 'A,B'));
  t.match(retried, { manufacturer: 'A', model: 'B', serial: undefined });
  t.equal(cache.reads, 3);

  cache.invalidate('dmm');
  t.equal(cache.get('dmm'), undefined);
  await cache.identify('dmm', read);
  t.equal(asked, 2, 'read again after invalidation');
});
