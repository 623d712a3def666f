import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { PLAIN_TEXT_HEADERS, type Handler, type Response } from './handler';

/** True for `localhost`, `*.localhost` (RFC 6761 section 6.3), 127.0.0.0/8 and ::1. */
export function isLoopbackHost(name: string): boolean {
  // A fully qualified name may end in a dot (`localhost.`), which names the same host.
  const host = name.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** True for the addresses that bind every interface (`0.0.0.0`, `::`). */
export function isWildcardAddress(host: string): boolean {
  return host === '0.0.0.0' || (isIP(host) === 6 && canonicalIp(host) === '::');
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

/**
 * One spelling per address, so `::1`, `0::1` and `0:0:0:0:0:0:0:1` compare equal: IPv6 in the
 * compressed lower-case form of RFC 5952 (what the WHATWG URL parser and browsers write), IPv4 as
 * is. Undefined for anything that is not an IP literal.
 */
function canonicalIp(name: string): string | undefined {
  const family = isIP(name);
  if (family === 4) return name;
  if (family !== 6) return undefined;
  try {
    return new URL(`http://[${name}]/`).hostname.slice(1, -1);
  } catch {
    // isIP accepts zone ids (`fe80::1%eth0`), which URL refuses; browsers never send them.
    return undefined;
  }
}

/** Reads the machine's interface addresses (os.networkInterfaces by default). */
export type InterfaceReader = () => ReturnType<typeof networkInterfaces>;

/**
 * The machine's own IP addresses. Interfaces come and go (Wi-Fi joins a network, a VPN starts),
 * so an address not in the set makes it re-read the interfaces, at most once per `minAgeMs`:
 * a client sending made-up addresses costs one read a second, not one per request.
 */
export class LocalAddresses {
  private addresses = new Set<string>();
  private readAt = -Infinity;

  constructor(
    private readonly read: InterfaceReader = networkInterfaces,
    private readonly minAgeMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.refresh();
  }

  /** True when `ip` (canonical, see canonicalIp) is an address of this machine now. */
  has(ip: string): boolean {
    if (this.addresses.has(ip)) return true;
    if (this.now() - this.readAt < this.minAgeMs) return false;
    this.refresh();
    return this.addresses.has(ip);
  }

  private refresh(): void {
    this.readAt = this.now();
    const addresses = new Set<string>();
    for (const list of Object.values(this.read())) {
      for (const info of list ?? []) {
        const ip = canonicalIp(info.address);
        if (ip !== undefined) addresses.add(ip);
      }
    }
    this.addresses = addresses;
  }
}

function forbidden(host: string): Response {
  return {
    status: 403,
    headers: PLAIN_TEXT_HEADERS,
    body: Buffer.from(
      `403 Forbidden: the host name ${JSON.stringify(host)} is not allowed.\n` +
        'Tiny Server only answers requests addressed to localhost, one of this machine\'s IP addresses ' +
        'or an allowed host name; add the name to the allowed hosts to reach it under another name.\n',
    ),
    reason: `host ${JSON.stringify(host)} is not allowed (DNS rebinding protection)`,
  };
}

/** The host check of one server; `allow` adds a name for as long as the server runs. */
export interface HostCheck {
  readonly handle: Handler;
  /**
   * Also answers requests addressed to `name` (a name or IP literal, without port) from now on:
   * the address a port forwarder gives the server, which the user asked for by opening it there.
   */
  allow(name: string): void;
}

/**
 * DNS-rebinding protection: a hostile page can point its own name at any address of this
 * machine, loopback included, whatever address the server binds; its requests then carry that
 * name in `Host`. So every server answers only loopback names, IP literals of this machine, the
 * name or address it binds (unless that is a wildcard), `allowedHosts` and the names allowed
 * since; anything else is 403. An IP literal cannot be rebound, but one of another machine means
 * the request was not meant for this server. Answers `undefined` (pass on) for allowed hosts.
 */
export function createHostCheck(boundHost: string, allowedHosts: readonly string[], local = new LocalAddresses()): HostCheck {
  const names = isWildcardAddress(boundHost) ? allowedHosts : [...allowedHosts, boundHost];
  const spelling = (name: string): string => canonicalIp(name) ?? name.toLowerCase();
  const allowed = new Set(names.map(spelling));
  const isAllowed = (name: string): boolean => {
    if (isLoopbackHost(name) || allowed.has(name)) return true;
    const ip = canonicalIp(name);
    return ip !== undefined && (allowed.has(ip) || local.has(ip));
  };
  // Nearly every request names the host the one before it did: an allowed value is remembered,
  // and only a different one is parsed and checked.
  let lastAllowed: string | undefined;
  const handle: Handler = (request) => {
    const field = request.headers.get('host');
    // Only HTTP/1.0 may omit Host (the parser requires it for 1.1); browsers always send it.
    if (field === undefined || field === lastAllowed) return undefined;
    if (!isAllowed(hostName(field).toLowerCase())) return forbidden(field);
    lastAllowed = field;
    return undefined;
  };
  return { handle, allow: (name) => void allowed.add(spelling(name)) };
}

/**
 * What a server bound to a non-loopback address exposes, for the warning both front ends print;
 * `allowHint` names their way to allow a host name (a setting or a flag).
 */
export function exposureWarning(host: string, allowHint: string): string {
  return (
    `Listening on ${host}: any machine that can reach this one can read every file Tiny Server serves from the folder. ` +
    `Only requests addressed to localhost, one of this machine's IP addresses or an allowed host name are answered; ` +
    `to use a network name such as mybox.local, add it with ${allowHint}`
  );
}
