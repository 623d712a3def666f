import type { HeaderMap } from './types';

/**
 * RFC 9110 section 13.2.2 order for GET and HEAD: If-None-Match decides when present, and
 * If-Modified-Since is consulted only without it. True means "answer 304".
 */
export function isNotModified(headers: HeaderMap, etag: string, lastModifiedSec: number): boolean {
  const ifNoneMatch = headers.get('if-none-match');
  if (ifNoneMatch !== undefined) return etagListMatchesWeakly(ifNoneMatch, etag);
  const ifModifiedSince = headers.get('if-modified-since');
  if (ifModifiedSince === undefined) return false;
  const since = parseHttpDateSeconds(ifModifiedSince);
  // Last-Modified has one-second precision, so the file's time is compared in whole seconds.
  return since !== undefined && lastModifiedSec <= since;
}

/**
 * True when an If-None-Match list (RFC 9110 section 13.1.2) holds `*` or a tag equal to `etag`
 * under weak comparison (a `W/` prefix is ignored). `etag` is a strong tag with its quotes.
 * Scanned by hand: entity-tags may contain commas, so splitting on "," would be wrong.
 */
export function etagListMatchesWeakly(list: string, etag: string): boolean {
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
    if (c === 87 /* W */ && list.charCodeAt(i + 1) === 47 /* / */) i += 2;
    if (list.charCodeAt(i) !== 34 /* " */) return false;
    const close = list.indexOf('"', i + 1);
    if (close < 0) return false;
    if (close + 1 - i === etag.length && list.startsWith(etag, i)) return true;
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

/** Seconds since the epoch for an HTTP-date (IMF-fixdate or the obsolete forms); undefined if invalid. */
export function parseHttpDateSeconds(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}
