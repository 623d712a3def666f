import { statusText } from './status';
import type { HttpVersion } from './types';

/** Header values as handlers give them; arrays become repeated field lines. */
export type HeaderValues = Readonly<Record<string, string | number | readonly string[]>>;

/**
 * Field names the connection writes itself (RFC 9112 section 6 framing, RFC 9110 section 6.6.1
 * Date); a handler's values for these are ignored so framing can never be contradicted.
 */
const CONNECTION_OWNED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'date',
  'keep-alive',
]);

/** Thrown when a handler's header is no valid field (see isFieldName, isFieldValue): a bug, never input. */
export class HeaderValueError extends TypeError {
  constructor(name: string) {
    super(`Header ${JSON.stringify(name)} contains a forbidden character`);
    this.name = 'HeaderValueError';
  }
}

/** A field name: an RFC 9110 section 5.1 token. */
export function isFieldName(name: string): boolean {
  return FIELD_NAME.test(name);
}

/**
 * A field value as one latin-1 line: visible characters, SP, HTAB and obs-text (RFC 9110
 * section 5.5); no control character, so nothing a handler or an app passes on can break the head.
 */
export function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function checkField(name: string, value: string): void {
  if (!isFieldName(name) || !isFieldValue(value)) throw new HeaderValueError(name);
}

/**
 * Frozen header objects are shared between responses (the static handler builds them once per
 * file version), so their serialized text is computed once too.
 */
const frozenFields = new WeakMap<HeaderValues, string>();

/** Writes the handler's fields, skipping those the connection owns. */
export function serializeFields(headers: HeaderValues): string {
  const cached = frozenFields.get(headers);
  if (cached !== undefined) return cached;
  const text = fieldsText(headers);
  if (Object.isFrozen(headers)) frozenFields.set(headers, text);
  return text;
}

function fieldsText(headers: HeaderValues): string {
  let out = '';
  for (const name in headers) {
    if (CONNECTION_OWNED.has(name.toLowerCase())) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'number') {
      checkField(name, '');
      out += `${name}: ${value}\r\n`;
    } else if (typeof value === 'string') {
      checkField(name, value);
      out += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        checkField(name, v);
        out += `${name}: ${v}\r\n`;
      }
    }
  }
  return out;
}

/** How the connection frames a response body (RFC 9112 section 6). */
export type Framing =
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  | { readonly kind: 'close' }
  | { readonly kind: 'none' };

export interface HeadOptions {
  readonly version: HttpVersion;
  readonly status: number;
  readonly headers: HeaderValues;
  /** Written instead of `headers` when set: see `Response.fieldLines`. */
  readonly fieldLines?: string | undefined;
  readonly framing: Framing;
  readonly keepAlive: boolean;
  /** The current IMF-fixdate, from `DateCache`. */
  readonly date: string;
}

/**
 * Serializes a status line and header section. Responses always use HTTP/1.1 in the status
 * line (RFC 9110 section 6.2: the server's highest minor version); for an HTTP/1.0 client a
 * persistent connection needs an explicit `Connection: keep-alive`.
 */
export function serializeHead(options: HeadOptions): string {
  const { status, framing } = options;
  let head = `HTTP/1.1 ${status} ${statusText(status)}\r\nDate: ${options.date}\r\n`;
  head += options.fieldLines ?? serializeFields(options.headers);
  if (framing.kind === 'length') head += `Content-Length: ${framing.length}\r\n`;
  else if (framing.kind === 'chunked') head += 'Transfer-Encoding: chunked\r\n';
  // RFC 9110 section 7.8: a 101 names the upgrade in Connection.
  if (status === 101) head += 'Connection: Upgrade\r\n';
  else if (!options.keepAlive) head += 'Connection: close\r\n';
  else if (options.version === '1.0') head += 'Connection: keep-alive\r\n';
  return head + '\r\n';
}

/** The interim response sent before reading a body the client is waiting to send. */
export const CONTINUE_HEAD = 'HTTP/1.1 100 Continue\r\n\r\n';

/** One chunk in chunked transfer coding (RFC 9112 section 7.1). */
export function chunkPrefix(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const CHUNK_SUFFIX = '\r\n';
export const LAST_CHUNK = '0\r\n\r\n';

/**
 * The IMF-fixdate for `Date` (RFC 9110 section 5.6.7), formatted at most once a second.
 */
export class DateCache {
  private second = -1;
  private value = '';

  get(nowMs: number = Date.now()): string {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) {
      this.second = second;
      this.value = new Date(second * 1000).toUTCString();
    }
    return this.value;
  }
}
