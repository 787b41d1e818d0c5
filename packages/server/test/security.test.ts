// The daemon's gate: Host, Origin and token checks, on loopback, on an address, on every interface.

import t from 'tap';
import { cookieValue, gate, isLoopback, isWildcard } from '../src/security.js';

t.test('loopback names', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) t.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '10.0.0.5', 'example.org', '::']) t.notOk(isLoopback(h), h);
  t.ok(isWildcard('0.0.0.0') && isWildcard('::') && isWildcard('[::]'));
  t.notOk(isWildcard('127.0.0.1'));
});

t.test('on loopback without a token: Host and Origin only', async (t) => {
  const g = gate('127.0.0.1', () => 8686, undefined);
  t.equal(g.check({ host: '127.0.0.1:8686' }), undefined);
  t.equal(g.check({ host: 'localhost:8686' }), undefined);
  t.equal(g.check({ host: '[::1]:8686' }), undefined);
  t.match(g.check({}), { status: 403, reason: /no Host/ });
  t.match(g.check({ host: 'rebound.example:8686' }), { status: 403, reason: /is not this daemon/ });
  t.match(g.check({ host: '127.0.0.1:9999' }), { status: 403 }, 'another port is another origin');
  t.equal(g.check({ host: 'localhost:8686', origin: 'http://localhost:8686' }), undefined);
  t.match(g.check({ host: 'localhost:8686', origin: 'http://127.0.0.1:8686' }), { status: 403 }, 'origin must be the host asked');
  t.match(g.check({ host: 'localhost:8686', origin: 'null' }), { status: 403 }, 'an opaque origin (sandboxed page, file://)');
  t.match(g.check({ host: 'localhost:8686', origin: 'file:///tmp/x.html' }), { status: 403 });
});

t.test('a token: bearer, cookie or query; compared in constant time', async (t) => {
  const token = 'a-token-long-enough-1234';
  const g = gate('10.0.0.5', () => 8686, token);
  const host = '10.0.0.5:8686';
  t.match(g.check({ host }), { status: 401, reason: /no token/ });
  t.match(g.check({ host, authorization: 'Bearer wrong' }), { status: 401, reason: /wrong token/ });
  t.match(g.check({ host, authorization: `Basic ${token}` }), { status: 401, reason: /no token/ });
  t.equal(g.check({ host, authorization: `Bearer ${token}` }), undefined);
  t.equal(g.check({ host, cookie: `theme=dark; daq_token=${token}` }), undefined);
  t.equal(g.check({ host, queryToken: token }), undefined);
  t.match(g.check({ host: 'localhost:8686', authorization: `Bearer ${token}` }), { status: 403 }, 'Host is checked first');
  const any = gate('0.0.0.0', () => 8686, token);
  t.equal(
    any.check({ host: 'lab-pc.local:8686', authorization: `Bearer ${token}` }),
    undefined,
    'every interface: any name, with the token',
  );
  t.match(any.check({ host: 'lab-pc.local:8686' }), { status: 401 });
});

t.test('cookies', async (t) => {
  t.equal(cookieValue('a=1; daq_token=x%20y; b=2', 'daq_token'), 'x y');
  t.equal(cookieValue('a=1', 'daq_token'), undefined);
  t.equal(cookieValue(undefined, 'daq_token'), undefined);
});
