import { knownName, nameHash } from './field-names';
import { PARSE_ERROR } from './parse-errors';
import { findForbiddenControl, type ByteView } from './scan';
import type { HeaderMap, ParseError } from './types';

/**
 * Character classes and field-line rules shared by the request line, header and trailer
 * parsing. Lines are latin1 strings, where one char is one byte of the wire, and are scanned
 * through the bytes they were decoded from.
 */

export const HT = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
const COLON = 0x3a;

/** 1 for every tchar (RFC 9110 section 5.6.2), indexed by byte. */
export const TOKEN: Uint8Array = (() => {
  const table = new Uint8Array(256);
  const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (let i = 0; i < tchars.length; i++) table[tchars.charCodeAt(i)] = 1;
  return table;
})();

/** One field line split into its parts; the parser reuses a single instance to avoid allocation. */
export interface FieldLine {
  /** The name as sent. */
  name: string;
  lowerName: string;
  /** The bit of a common name (see field-names.ts), or 0. */
  knownBit: number;
  /** The value without leading and trailing whitespace. */
  value: string;
}

export function emptyFieldLine(): FieldLine {
  return { name: '', lowerName: '', knownBit: 0, value: '' };
}

/**
 * Splits the field line `s[start, end)` (line ending removed, not empty) into `out`, or returns
 * why it is malformed (RFC 9112 section 5: no whitespace before the colon, no obs-fold).
 * `view.bytes[k + delta]` is the byte behind `s[k]`: scanning bytes is cheaper than scanning chars.
 */
export function scanFieldLine(s: string, view: ByteView, delta: number, start: number, end: number, out: FieldLine): ParseError | null {
  const bytes = view.bytes;
  const first = bytes[start + delta];
  // RFC 9112 section 5.2: a server must reject obs-fold (or replace it), we reject.
  if (first === SP || first === HT) return PARSE_ERROR.obsoleteLineFolding;
  let upper = false;
  let hash = 0;
  let i = start + delta;
  const stop = end + delta;
  for (; i < stop; i++) {
    const c = bytes[i] ?? 0;
    if (TOKEN[c] !== 1) break;
    if (c >= 0x41 && c <= 0x5a) upper = true;
    hash = nameHash(hash, c);
  }
  i -= delta;
  if (i === end) return PARSE_ERROR.headerColonMissing;
  if (s.charCodeAt(i) !== COLON) return nameError(s, i, end);
  if (i === start) return PARSE_ERROR.headerNameEmpty;
  let v = i + 1;
  while (v < end && isWhitespace(s.charCodeAt(v))) v++;
  const control = findForbiddenControl(view, v + delta, stop);
  if (control >= 0) return bytes[control] === CR ? PARSE_ERROR.bareCr : PARSE_ERROR.headerValueInvalid;
  let last = end;
  while (last > v && isWhitespace(s.charCodeAt(last - 1))) last--;
  const known = knownName(hash, bytes, start + delta, i - start, !upper);
  if (known !== undefined) {
    out.name = upper ? known.title : known.lower;
    out.lowerName = known.lower;
    out.knownBit = known.bit;
  } else {
    out.name = s.slice(start, i);
    out.lowerName = upper ? out.name.toLowerCase() : out.name;
    out.knownBit = 0;
  }
  out.value = s.slice(v, last);
  return null;
}

/** Why the field name stopped at `s[i]`, which is not a tchar and not the colon. */
function nameError(s: string, i: number, end: number): ParseError {
  const c = s.charCodeAt(i);
  if (c === CR) return PARSE_ERROR.bareCr;
  if (isWhitespace(c)) {
    // RFC 9112 section 5.1: whitespace between name and colon must be rejected with 400.
    let j = i;
    while (j < end && isWhitespace(s.charCodeAt(j))) j++;
    if (j < end && s.charCodeAt(j) === COLON) return PARSE_ERROR.headerNameWhitespace;
  }
  return PARSE_ERROR.headerNameInvalid;
}

function isWhitespace(c: number): boolean {
  return c === SP || c === HT;
}

/**
 * Adds a field to `map`, joining a repeated name with ", " (RFC 9110 section 5.3) or, for
 * cookie, with "; " (RFC 6265 section 5.4).
 */
export function addField(map: HeaderMap, name: string, value: string): void {
  const previous = map.get(name);
  if (previous === undefined) map.set(name, value);
  else map.set(name, previous + (name === 'cookie' ? '; ' : ', ') + value);
}

/**
 * The decimal digits of a Content-Length value without leading zeros, or an error. A list of
 * identical values is accepted as one (RFC 9112 section 6.3, item 5); differing ones are not.
 */
export function contentLengthOf(value: string): string | ParseError {
  if (isDigits(value, 0, value.length)) return stripZeros(value);
  let result: string | null = null;
  for (const part of value.split(',')) {
    const item = part.trim();
    // RFC 9110 section 5.6.1: empty list elements are ignored.
    if (item === '') continue;
    if (!isDigits(item, 0, item.length)) return PARSE_ERROR.contentLengthInvalid;
    const digits = stripZeros(item);
    if (result !== null && result !== digits) return PARSE_ERROR.contentLengthMismatch;
    result = digits;
  }
  return result ?? PARSE_ERROR.contentLengthInvalid;
}

/**
 * The Content-Length so far after one more field line with `value`: the normalized digits, or an
 * error when the value is malformed or differs from `previous` (a smuggling vector).
 */
export function nextContentLength(previous: string | null, value: string): string | ParseError {
  const digits = contentLengthOf(value);
  if (typeof digits !== 'string') return digits;
  return previous !== null && previous !== digits ? PARSE_ERROR.contentLengthMismatch : digits;
}

function isDigits(s: string, start: number, end: number): boolean {
  if (start === end) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function stripZeros(digits: string): string {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 0x30) i++;
  return i === 0 ? digits : digits.slice(i);
}

/** The number a normalized Content-Length denotes; beyond safe integers it is Infinity. */
export function contentLengthNumber(digits: string): number {
  return digits.length > 15 ? Infinity : Number(digits);
}

/** True when Transfer-Encoding names exactly one coding, chunked (RFC 9112 section 6.1). */
export function isChunkedOnly(value: string): boolean {
  return value.length === 7 && value.toLowerCase() === 'chunked';
}

export const CONNECTION_CLOSE = 1;
export const CONNECTION_KEEP_ALIVE = 2;
export const CONNECTION_UPGRADE = 4;

/** The close, keep-alive and upgrade options of a Connection field, as bit flags (RFC 9110 sections 7.6.1, 7.8). */
export function connectionOptions(value: string): number {
  if (value === 'keep-alive') return CONNECTION_KEEP_ALIVE;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive') return CONNECTION_KEEP_ALIVE;
  if (lower === 'close') return CONNECTION_CLOSE;
  if (lower === 'upgrade') return CONNECTION_UPGRADE;
  let flags = 0;
  for (const part of lower.split(',')) {
    const option = part.trim();
    if (option === 'close') flags |= CONNECTION_CLOSE;
    else if (option === 'keep-alive') flags |= CONNECTION_KEEP_ALIVE;
    else if (option === 'upgrade') flags |= CONNECTION_UPGRADE;
  }
  return flags;
}

/** True for `Expect: 100-continue`, compared case-insensitively (RFC 9110 section 10.1.1). */
export function isContinueExpectation(value: string): boolean {
  return value.length === 12 && value.toLowerCase() === '100-continue';
}
