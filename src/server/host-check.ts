import { isIP } from 'node:net';
import { PLAIN_TEXT_HEADERS, type Handler, type Response } from './handler';

/** True for `localhost`, `*.localhost` (RFC 6761 section 6.3), 127.0.0.0/8 and ::1. */
export function isLoopbackHost(name: string): boolean {
  // A fully qualified name may end in a dot (`localhost.`), which names the same host.
  const host = name.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** The host part of a `Host` field value: brackets and port removed. */
export function hostName(field: string): string {
  if (field.startsWith('[')) {
    const end = field.indexOf(']');
    return end === -1 ? field : field.slice(1, end);
  }
  const colon = field.indexOf(':');
  return colon === -1 ? field : field.slice(0, colon);
}

function forbidden(host: string): Response {
  return {
    status: 403,
    headers: PLAIN_TEXT_HEADERS,
    body: Buffer.from(
      `403 Forbidden: the host name ${JSON.stringify(host)} is not allowed.\n` +
        'Tiny Server listens on a loopback address and only answers loopback host names; ' +
        'add the name to the allowed hosts to reach it under another name.\n',
    ),
    reason: `host ${JSON.stringify(host)} is not allowed (DNS rebinding protection)`,
  };
}

/**
 * DNS-rebinding protection: a server bound to loopback refuses requests whose `Host` names
 * something else, since a hostile page can point its own name at 127.0.0.1. Answers
 * `undefined` (pass on) for allowed hosts; does nothing when bound to another address.
 */
export function createHostCheck(boundHost: string, allowedHosts: readonly string[]): Handler | undefined {
  if (!isLoopbackHost(boundHost)) return undefined;
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  // Nearly every request names the host the one before it did: an allowed value is remembered,
  // and only a different one is parsed and checked.
  let lastAllowed: string | undefined;
  return (request) => {
    const field = request.headers.get('host');
    // Only HTTP/1.0 may omit Host (the parser requires it for 1.1); browsers always send it.
    if (field === undefined || field === lastAllowed) return undefined;
    const name = hostName(field).toLowerCase();
    const ok = isLoopbackHost(name) || allowed.has(name);
    if (!ok) return forbidden(field);
    lastAllowed = field;
    return undefined;
  };
}
