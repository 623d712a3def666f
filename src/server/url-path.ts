import { isAbsolute, relative, sep } from 'node:path';

/**
 * Characters a browser percent-encodes in a URL path besides controls, space and non-ASCII
 * (WHATWG URL "path percent-encode set"), plus `%` and `\` so such file names round-trip.
 */
const PATH_ESCAPES = new Set('"#<>?`{}%\\');

/** Encodes a file name as a browser would request it; throws on a lone surrogate. */
function encodeSegment(segment: string): string {
  let out = '';
  for (const char of segment) {
    const code = char.codePointAt(0) ?? 0;
    const plain = code > 0x20 && code < 0x7f && !PATH_ESCAPES.has(char);
    out += plain ? char : encodeURIComponent(char);
  }
  return out;
}

/**
 * The URL path (from `/`, percent-encoded like a browser's requests) of an absolute file path,
 * relative to the first of `roots` that contains it; undefined when none does, or when a name
 * has no URL (a lone UTF-16 surrogate). The root itself is `/`.
 */
export function urlPathOf(roots: readonly string[], path: string): string | undefined {
  for (const root of roots) {
    const rel = relative(root, path);
    if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) continue;
    try {
      return '/' + (rel === '' ? '' : rel.split(sep).map(encodeSegment).join('/'));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * A request target's text with each character above 0x7f percent-encoded as the byte it is. The
 * head is read as Latin-1, a character per byte, so UTF-8 that a client sent raw (RFC 9112 asks
 * it to percent-encode) decodes as UTF-8 afterwards, as nginx reads it, not as Latin-1 text.
 */
export function encodeRawBytes(target: string): string {
  return target.replace(RAW_BYTE, (byte) => `%${byte.charCodeAt(0).toString(16).toUpperCase()}`);
}

const RAW_BYTE = /[\x80-\xff]/g;

/**
 * A percent-encoded piece of a request target, decoded: raw bytes above 0x7f as the UTF-8 they
 * are (see encodeRawBytes), or, when they are no UTF-8 (a client sending its ANSI code page), as
 * one Latin-1 character each, as they were read before; undefined for invalid percent-encoding.
 */
export function decodeTargetText(text: string): string | undefined {
  try {
    return decodeURIComponent(encodeRawBytes(text));
  } catch {
    try {
      return decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
}

/**
 * Whether a URL path (no query) has a `.` or `..` segment, literally or percent-encoded: the URL
 * parser removes them, and browsers never send them.
 */
export function hasDotSegments(urlPath: string): boolean {
  return DOT_SEGMENTS.test(urlPath);
}

const DOT_SEGMENTS = /\/(?:\.|%2e){1,2}(?=\/|$)/i;
