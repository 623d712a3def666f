import { varyWith } from '../../http/cache-control';
import { HOP_BY_HOP_FIELDS } from '../../http/field-names';
import type { ResponseHead } from '../../http/response-parser';
import type { Request } from '../handler';
import type { Route } from './routes';

/**
 * Never forwarded: the hop-by-hop fields (and, below, those a Connection field names); `trailer`
 * is among them, and trailers are not passed on. Besides, `expect` is answered by this server
 * itself (100 Continue), and `content-length` is written from the framing actually used.
 */
const HOP_BY_HOP = new Set([...HOP_BY_HOP_FIELDS, 'expect', 'content-length']);

/** `Via` added both ways (RFC 9110 section 7.6.3), after the protocol version the message came in. */
const VIA = ' tiny-server';

/** The items of a comma-separated field (Connection, Upgrade), trimmed and lower-case. */
export function tokenList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .toLowerCase()
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** A Connection field that names no other field, as nearly every one is: nothing to split. */
const PLAIN_CONNECTION = /^[ \t]*(?:keep-alive|close)[ \t]*$/i;

/** The names a Connection field lists, lower-case; usually none. */
function connectionNamed(value: string | undefined): ReadonlySet<string> | undefined {
  if (value === undefined || PLAIN_CONNECTION.test(value)) return undefined;
  const names = tokenList(value).filter((name) => name !== 'close' && name !== 'keep-alive');
  return names.length === 0 ? undefined : new Set(names);
}

function appended(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/** What a proxy before us said in `name`, unless the client's Connection field made it hop-by-hop. */
function said(headers: Request['headers'], named: ReadonlySet<string> | undefined, name: string): string | undefined {
  return named?.has(name) === true ? undefined : headers.get(name);
}

/** How the request body goes upstream. */
export type UploadFraming = 'none' | 'length' | 'chunked';

export interface ForwardOptions {
  /** The method asked upstream: the client's, or GET for a HEAD whose page is rewritten (see ProxyExchange.send). */
  readonly method: string;
  readonly route: Route;
  readonly target: string;
  /** Send the client's Host instead of the upstream's (for apps that build URLs from it). */
  readonly keepHost: boolean;
  readonly upload: UploadFraming;
  /** The body length for `length` framing. */
  readonly length: number;
  /** Replaces the client's Accept-Encoding (a page that gets live reload must be decodable here). */
  readonly acceptEncoding: string | undefined;
  /** `Upgrade` and `Connection: upgrade` are forwarded (a WebSocket handshake). */
  readonly upgrade: boolean;
}

/**
 * The request head sent upstream: the client's fields without hop-by-hop ones, the Host of the
 * upstream (or the client's), and where the request came from: X-Forwarded-For/-Proto/-Host
 * (appended to what a proxy before us said) and Forwarded (RFC 7239).
 */
export function requestHead(request: Request, options: ForwardOptions): string {
  const headers = request.headers;
  const clientHost = headers.get('host') ?? '';
  const named = connectionNamed(headers.get('connection'));
  const host = options.keepHost && clientHost !== '' ? clientHost : options.route.upstream.authority;
  let head = `${options.method} ${options.target} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [name, value] of headers) {
    if (HOP_BY_HOP.has(name) || SET_HERE.has(name) || named?.has(name) === true) continue;
    if (name === 'accept-encoding' && options.acceptEncoding !== undefined) continue;
    head += `${name}: ${value}\r\n`;
  }
  if (options.acceptEncoding !== undefined) head += `accept-encoding: ${options.acceptEncoding}\r\n`;
  const address = request.remoteAddress;
  const node = address.includes(':') ? `"[${address}]"` : address;
  head += `x-forwarded-for: ${appended(said(headers, named, 'x-forwarded-for'), address)}\r\n`;
  head += `x-forwarded-proto: ${said(headers, named, 'x-forwarded-proto') ?? 'http'}\r\n`;
  if (clientHost !== '') head += `x-forwarded-host: ${said(headers, named, 'x-forwarded-host') ?? clientHost}\r\n`;
  const forwarded = `for=${node}${clientHost === '' ? '' : `;host="${clientHost}"`};proto=http`;
  head += `forwarded: ${appended(said(headers, named, 'forwarded'), forwarded)}\r\n`;
  head += `via: ${appended(said(headers, named, 'via'), request.version + VIA)}\r\n`;
  if (options.upgrade) head += `connection: upgrade\r\nupgrade: ${headers.get('upgrade') ?? ''}\r\n`;
  if (options.upload === 'length') head += `content-length: ${options.length}\r\n`;
  else if (options.upload === 'chunked') head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}

/** Fields the request head writes itself, after the loop. */
const SET_HERE = new Set(['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via']);

/**
 * Not passed to the client besides the hop-by-hop fields: Via, which is rewritten, and Date, which
 * the connection writes itself (as it drops a handler's, see Response.fieldLines).
 */
const NOT_RELAYED = new Set([...HOP_BY_HOP, 'via', 'date']);

/**
 * The response fields passed to the client, as field lines (Response.fieldLines): the upstream's
 * in the order received, names as sent, repeated fields kept apart (Set-Cookie), without
 * hop-by-hop ones; Via added, and a Location that points at the upstream rewritten to this server
 * (see rewriteLocation). `drop` names more fields to leave out; `vary`, fields added to `Vary`.
 * The response parser has checked every name and value, so one string is built from them
 * directly: no object of fields per response for the connection to walk, lower-case and check again.
 */
export function responseFields(head: ResponseHead, route: Route, clientHost: string, drop?: ReadonlySet<string>, vary?: string): string {
  const raw = head.rawHeaders;
  const lowerNames = head.lowerNames;
  const named = connectionNamed(head.headers.get('connection'));
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = lowerNames[i >> 1] as string;
    if (NOT_RELAYED.has(lower) || named?.has(lower) === true || drop?.has(lower) === true) continue;
    if (vary !== undefined && lower === 'vary') continue;
    const value = raw[i + 1] as string;
    out += `${name}: ${lower === 'location' ? rewriteLocation(value, route, clientHost) : value}\r\n`;
  }
  if (vary !== undefined) out += `Vary: ${varyWith(head.headers.get('vary'), vary)}\r\n`;
  return `${out}Via: ${appended(head.headers.get('via'), head.version + VIA)}\r\n`;
}

/**
 * A redirect to the upstream's own address would send the browser around the proxy (and past
 * live reload): `http://127.0.0.1:3000/v1/login` under the route `/api` → `http://127.0.0.1:3000/v1`
 * becomes `http://<this server>/api/login`, the way nginx's default `proxy_redirect` does.
 * Relative locations, other hosts and paths of the upstream outside the route's base path (which
 * this server does not send there) are left alone.
 */
export function rewriteLocation(location: string, route: Route, clientHost: string): string {
  const { origin, basePath } = route.upstream;
  if (clientHost === '' || location.length < origin.length || location.slice(0, origin.length).toLowerCase() !== origin.toLowerCase()) return location;
  const rest = location.slice(origin.length);
  if (rest !== '' && !/^[/?#]/.test(rest)) return location;
  // The origin alone (`http://127.0.0.1:3000`, or with `?`/`#` after it) is its path `/`.
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  if (!path.startsWith(basePath) || !/^([/?#]|$)/.test(path.slice(basePath.length))) return location;
  const mapped = route.prefix + path.slice(basePath.length);
  return `http://${clientHost}${mapped.startsWith('/') ? mapped : `/${mapped}`}`;
}
