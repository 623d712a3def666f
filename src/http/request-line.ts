import { CR, SP, TOKEN } from './header-fields';
import { PARSE_ERROR } from './parse-errors';
import { findSpaceOrControl, type ByteView } from './scan';
import type { HttpVersion, ParseError } from './types';

/** The parts of a request line, filled in place by scanRequestLine (the head being parsed). */
export interface RequestLine {
  method: string;
  target: string;
  path: string;
  query: string;
  version: HttpVersion;
  /** The host of an absolute-form target (userinfo removed), empty for the other forms. */
  authority: string;
}

const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');

/**
 * Splits the request line `s[start, end)` (line ending removed, not empty) into `out`, or
 * returns why it is malformed: `method SP request-target SP HTTP-version` (RFC 9112 section 3).
 * `view.bytes[k + delta]` is the byte behind `s[k]`: scanning bytes is cheaper than scanning chars.
 */
export function scanRequestLine(
  s: string,
  view: ByteView,
  delta: number,
  start: number,
  end: number,
  out: RequestLine,
): ParseError | null {
  const bytes = view.bytes;
  let i = start + delta;
  const stop = end + delta;
  while (i < stop && TOKEN[bytes[i] ?? 0] === 1) i++;
  i -= delta;
  if (i === start || i === end) return PARSE_ERROR.requestLineInvalid;
  const afterMethod = s.charCodeAt(i);
  if (afterMethod !== SP) return afterMethod === CR ? PARSE_ERROR.bareCr : PARSE_ERROR.methodInvalid;
  const targetStart = i + 1;
  const targetEnd = findSpaceOrControl(view, targetStart + delta, stop);
  const j = targetEnd < 0 ? end : targetEnd - delta;
  // An empty target means two spaces in a row; a missing version is HTTP/0.9, which is not spoken.
  if (j === targetStart || j === end) return PARSE_ERROR.requestLineInvalid;
  const afterTarget = s.charCodeAt(j);
  if (afterTarget !== SP) return afterTarget === CR ? PARSE_ERROR.bareCr : PARSE_ERROR.targetCharacterInvalid;
  const version = versionOf(bytes, j + 1 + delta, stop);
  if (typeof version !== 'string') return version;
  out.method = s.slice(start, i);
  out.target = s.slice(targetStart, j);
  out.version = version;
  const error = splitTarget(out);
  // CONNECT asks for a tunnel (RFC 9110 section 9.3.6), which no handler here opens; a 2xx to it
  // would turn a proxy's upstream connection into one.
  return error === null && out.method === 'CONNECT' ? PARSE_ERROR.connectUnsupported : error;
}

/** `HTTP/1.0` or `HTTP/1.1` (also for `HTTP/1.2` and later 1.x) from `bytes[start, end)`; other majors are 505 (RFC 9112 section 2.3). */
function versionOf(bytes: Uint8Array, start: number, end: number): HttpVersion | ParseError {
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === CR) return PARSE_ERROR.bareCr;
    if (c === SP) return PARSE_ERROR.requestLineInvalid;
  }
  if (end - start !== 8) return PARSE_ERROR.versionInvalid;
  for (let i = 0; i < 5; i++) if (bytes[start + i] !== HTTP_SLASH[i]) return PARSE_ERROR.versionInvalid;
  if (bytes[start + 6] !== 0x2e) return PARSE_ERROR.versionInvalid;
  const major = (bytes[start + 5] ?? 0) - 0x30;
  const minor = (bytes[start + 7] ?? 0) - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return PARSE_ERROR.versionInvalid;
  if (major !== 1) return PARSE_ERROR.versionUnsupported;
  // A later 1.x is read as the highest minor version this server implements (RFC 9110 section 2.5).
  return minor === 0 ? '1.0' : '1.1';
}

/** Fills `path` and `query` from `target` for the forms a server accepts (RFC 9112 section 3.2). */
function splitTarget(out: RequestLine): ParseError | null {
  const target = out.target;
  // A fragment is the client's own (RFC 9112 section 3.2: no request-target form has one).
  if (target.includes('#')) return PARSE_ERROR.targetInvalid;
  if (target.charCodeAt(0) === 0x2f) return setPathAndQuery(out, target, 0);
  if (target === '*') {
    // asterisk-form is only for a server-wide OPTIONS (RFC 9112 section 3.2.4).
    if (out.method !== 'OPTIONS') return PARSE_ERROR.targetInvalid;
    out.path = '*';
    out.query = '';
    return null;
  }
  // absolute-form (RFC 9112 section 3.2.2); a server must accept it, even though only proxies get it.
  const scheme = target.slice(0, 8).toLowerCase();
  const authorityStart = scheme.startsWith('http://') ? 7 : scheme.startsWith('https://') ? 8 : -1;
  if (authorityStart < 0) return PARSE_ERROR.targetInvalid;
  let pathStart = authorityStart;
  while (pathStart < target.length && target[pathStart] !== '/' && target[pathStart] !== '?') pathStart++;
  if (pathStart === authorityStart) return PARSE_ERROR.targetInvalid;
  const authority = target.slice(authorityStart, pathStart);
  // userinfo (`user@host`) is an error (RFC 9110 section 4.2.4), and an http URI with an empty
  // host is invalid (section 4.2.1).
  if (authority.includes('@') || authority.charCodeAt(0) === 0x3a /* : */) return PARSE_ERROR.targetInvalid;
  out.authority = authority;
  return setPathAndQuery(out, target, pathStart);
}

function setPathAndQuery(out: RequestLine, target: string, pathStart: number): null {
  const q = target.indexOf('?', pathStart);
  const pathEnd = q < 0 ? target.length : q;
  // An absolute-form target without a path ("http://host" or "http://host?q") asks for "/".
  out.path = pathEnd === pathStart ? '/' : target.slice(pathStart, pathEnd);
  out.query = q < 0 ? '' : target.slice(q + 1);
  return null;
}

/**
 * The 414 or 431 that the raw line bytes `s[start, start + n)` already prove, or null; `budget`
 * is what is left of the header section limit. Each limit is a property of a prefix that stays
 * true as bytes arrive, and the one crossed first wins, so a complete line and any partial
 * line give the same answer: the outcome never depends on how the bytes were chunked.
 */
export function requestLineLimitError(
  s: string,
  start: number,
  n: number,
  budget: number,
  maxTarget: number,
): ParseError | null {
  const end = start + n;
  const headerOverAt = n > budget ? budget : Infinity;
  let targetOverAt = Infinity;
  const space = indexBefore(s, ' ', start, end);
  if (space >= 0) {
    // The target runs to the next space, CR or LF.
    const targetStart = space + 1;
    let targetEnd = end;
    for (const stop of [' ', '\r', '\n']) {
      const i = indexBefore(s, stop, targetStart, targetEnd);
      if (i >= 0) targetEnd = i;
    }
    if (targetEnd - targetStart > maxTarget) targetOverAt = targetStart - start + maxTarget;
  }
  if (targetOverAt < headerOverAt) return PARSE_ERROR.targetTooLong;
  return headerOverAt === Infinity ? null : PARSE_ERROR.headerSectionTooLarge;
}

/** The index of `ch` in `s[from, end)`, or -1. */
export function indexBefore(s: string, ch: string, from: number, end: number): number {
  const i = s.indexOf(ch, from);
  return i >= 0 && i < end ? i : -1;
}
