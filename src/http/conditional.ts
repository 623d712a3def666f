import type { HeaderMap } from './types';

/**
 * Steps 1 and 2 of RFC 9110 section 13.2.2, for a representation that exists: If-Match (strong
 * comparison, `*` matches) decides when present, and If-Unmodified-Since (a valid HTTP-date) is
 * consulted only without it. True means "answer 412 Precondition Failed".
 */
export function preconditionFails(headers: HeaderMap, etag: string, lastModifiedSec: number): boolean {
  const ifMatch = headers.get('if-match');
  if (ifMatch !== undefined) return !etagListMatchesStrongly(ifMatch, etag);
  const ifUnmodifiedSince = headers.get('if-unmodified-since');
  if (ifUnmodifiedSince === undefined) return false;
  const since = parseHttpDateSeconds(ifUnmodifiedSince);
  return since !== undefined && lastModifiedSec > since;
}

/**
 * Steps 3 and 4 of RFC 9110 section 13.2.2 for GET and HEAD: If-None-Match decides when present,
 * and If-Modified-Since is consulted only without it. True means "answer 304".
 */
export function isNotModified(headers: HeaderMap, etag: string, lastModifiedSec: number): boolean {
  const ifNoneMatch = headers.get('if-none-match');
  if (ifNoneMatch !== undefined) return etagListMatchesWeakly(ifNoneMatch, etag);
  const ifModifiedSince = headers.get('if-modified-since');
  if (ifModifiedSince === undefined) return false;
  const since = parseHttpDateSeconds(ifModifiedSince);
  // A date in the future is no Last-Modified this server sent (see fileMeta) and proves nothing
  // about the copy the client holds: ignored, as Apache does. Last-Modified has one-second
  // precision, so the file's time is compared in whole seconds.
  return since !== undefined && since <= Date.now() / 1000 && lastModifiedSec <= since;
}

/**
 * RFC 9110 section 13.2.2 for GET or HEAD of a representation that exists but has no entity-tag
 * and no modification date (a generated listing): If-Match holds only as `*` (else 412), and
 * If-None-Match `*` matches it (304). The date fields are ignored without a date to compare.
 */
export function unvalidatedPrecondition(headers: HeaderMap): 304 | 412 | undefined {
  const ifMatch = headers.get('if-match');
  if (ifMatch !== undefined && ifMatch.trim() !== '*') return 412;
  if (headers.get('if-none-match')?.trim() === '*') return 304;
  return undefined;
}

/**
 * True when an If-None-Match list (RFC 9110 section 13.1.2) holds `*` or a tag equal to `etag`
 * under weak comparison (a `W/` prefix is ignored). `etag` is a strong tag with its quotes.
 * Scanned by hand: entity-tags may contain commas, so splitting on "," would be wrong.
 */
export function etagListMatchesWeakly(list: string, etag: string): boolean {
  return etagListMatches(list, etag, false);
}

/** The same for If-Match (section 13.1.1): `*`, or a tag equal to `etag` that is not weak. */
export function etagListMatchesStrongly(list: string, etag: string): boolean {
  return etagListMatches(list, etag, true);
}

function etagListMatches(list: string, etag: string, strong: boolean): boolean {
  if (list === etag) return true;
  const length = list.length;
  let i = 0;
  while (i < length) {
    const c = list.charCodeAt(i);
    if (c === 32 || c === 9 || c === 44 /* SP HTAB , */) {
      i++;
      continue;
    }
    if (c === 42 /* * */) return true;
    const weak = c === 87 /* W */ && list.charCodeAt(i + 1) === 47; /* / */
    if (weak) i += 2;
    if (list.charCodeAt(i) !== 34 /* " */) return false;
    const close = list.indexOf('"', i + 1);
    if (close < 0) return false;
    if (!(weak && strong) && close + 1 - i === etag.length && list.startsWith(etag, i)) return true;
    i = close + 1;
  }
  return false;
}

/**
 * If-Range (RFC 9110 section 13.1.5): an entity-tag must match strongly (never a weak tag), a
 * date must equal Last-Modified exactly. False means "ignore Range and send everything".
 */
export function ifRangeMatches(value: string, etag: string, lastModifiedSec: number): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"')) return trimmed === etag;
  if (trimmed.startsWith('W/')) return false;
  return parseHttpDateSeconds(trimmed) === lastModifiedSec;
}

const FIFTY_YEARS_MS = 50 * 365.25 * 24 * 3600 * 1000;

/** Date.UTC without its rule that years 0 to 99 mean 1900 to 1999. */
function utcMs(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete) */
const RFC850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete) */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * Seconds since the epoch for an HTTP-date in one of the three forms of RFC 9110 section 5.6.7,
 * matched exactly (case-sensitive, as the grammar is); undefined for anything else, which a
 * recipient must then ignore (sections 13.1.3 and 13.1.4). The day name is not checked
 * against the date, and a leap second (`:60`) is not accepted.
 */
export function parseHttpDateSeconds(value: string): number | undefined {
  const text = value.trim();
  let day: string, month: string, year: number, hour: string, minute: string, second: string;
  let match = IMF_FIXDATE.exec(text);
  if (match !== null) {
    [, day = '', month = '', , hour = '', minute = '', second = ''] = match;
    year = Number(match[3]);
  } else if ((match = RFC850_DATE.exec(text)) !== null) {
    [, day = '', month = '', , hour = '', minute = '', second = ''] = match;
    // The latest year with these two digits that is not more than 50 years ahead (section 5.6.7).
    const now = new Date();
    const ahead = (y: number): boolean => utcMs(y, MONTHS.indexOf(month), Number(day), Number(hour), Number(minute), Number(second)) > now.getTime() + FIFTY_YEARS_MS;
    year = now.getUTCFullYear() - (now.getUTCFullYear() % 100) + Number(match[3]);
    if (ahead(year)) year -= 100;
    else if (!ahead(year + 100)) year += 100;
  } else if ((match = ASCTIME_DATE.exec(text)) !== null) {
    [, month = '', day = '', hour = '', minute = '', second = ''] = match;
    year = Number(match[6]);
  } else {
    return undefined;
  }
  const monthIndex = MONTHS.indexOf(month);
  const dayOfMonth = Number(day.trim());
  const ms = utcMs(year, monthIndex, dayOfMonth, Number(hour), Number(minute), Number(second));
  // Reject a day past the month's end or a time out of range, which utcMs would roll over.
  const date = new Date(ms);
  if (date.getUTCDate() !== dayOfMonth || date.getUTCHours() !== Number(hour) || date.getUTCMinutes() !== Number(minute) || date.getUTCSeconds() !== Number(second)) return undefined;
  return Math.floor(ms / 1000);
}
