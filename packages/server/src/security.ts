// Who may talk to the daemon. Loopback needs nothing unless a token was given; any other
// address needs the token on every request. The Host header must name the daemon (so a DNS
// name rebound to 127.0.0.1 cannot reach it from a page elsewhere), and an Origin header, when
// present, must be the daemon's own (so a page elsewhere cannot drive the instruments through
// the user's browser).

import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const TOKEN_COOKIE = 'daq_token';

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** True for an address that means "every interface". */
export function isWildcard(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::';
}

export interface Gate {
  /** The reason a request is refused (with its HTTP status), or undefined when it may pass. */
  check(req: {
    host?: string;
    origin?: string;
    authorization?: string;
    cookie?: string;
    queryToken?: string;
  }): { status: number; reason: string } | undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/** The checks for a daemon listening on host:port, with an optional token. */
export function gate(listenHost: string, port: () => number, token: string | undefined): Gate {
  const bracket = (h: string) => (isIP(h) === 6 ? `[${h}]` : h);
  const names = isLoopback(listenHost) ? ['localhost', '127.0.0.1', '[::1]', bracket(listenHost)] : [bracket(listenHost)];
  // Bound to every interface, the daemon cannot know the names it is reached by: the token
  // (demanded off loopback) is what keeps a rebound name out.
  const anyHost = isWildcard(listenHost);
  return {
    check(req) {
      const hosts = new Set(names.map((h) => `${h}:${port()}`));
      const host = req.host?.toLowerCase();
      if (!host) return { status: 403, reason: 'no Host header' };
      if (!anyHost && !hosts.has(host))
        return { status: 403, reason: `Host ${JSON.stringify(req.host)} is not this daemon (${[...hosts].join(', ')})` };
      if (req.origin !== undefined) {
        let originHost: string | undefined;
        try {
          const u = new URL(req.origin);
          originHost = u.protocol === 'http:' || u.protocol === 'https:' ? u.host.toLowerCase() : undefined;
        } catch {
          originHost = undefined;
        }
        if (originHost !== host) return { status: 403, reason: `Origin ${JSON.stringify(req.origin)} is not this daemon's` };
      }
      if (token === undefined) return undefined;
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.authorization ?? '')?.[1];
      const presented = bearer ?? cookieValue(req.cookie, TOKEN_COOKIE) ?? req.queryToken;
      if (presented === undefined)
        return { status: 401, reason: 'no token (Authorization: Bearer <token>, or open /?token=<token> once in a browser)' };
      if (!sameSecret(presented, token)) return { status: 401, reason: 'wrong token' };
      return undefined;
    },
  };
}
