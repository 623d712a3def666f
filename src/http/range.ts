/** What a Range header asks of a representation of `size` bytes. */
export type RangeRequest =
  /** Absent, malformed, another unit or several ranges: send the whole representation. */
  | { readonly kind: 'ignore' }
  /** A valid range that selects no byte (416). */
  | { readonly kind: 'unsatisfiable' }
  /** Bytes `start` to `end` inclusive. */
  | { readonly kind: 'range'; readonly start: number; readonly end: number };

const IGNORE: RangeRequest = { kind: 'ignore' };
const UNSATISFIABLE: RangeRequest = { kind: 'unsatisfiable' };
const DIGITS = /^[0-9]+$/;

/**
 * Parses a Range field (RFC 9110 section 14.1.2) for one byte range: `bytes=a-b`, `bytes=a-`
 * or `bytes=-n`. Several ranges are answered with the whole representation, which section 14.2
 * allows ("a server MAY ignore the Range header field"), and so are malformed values.
 */
export function parseRange(value: string, size: number): RangeRequest {
  const equals = value.indexOf('=');
  // Range units are case-insensitive (section 14.1).
  if (equals < 0 || value.slice(0, equals).trim().toLowerCase() !== 'bytes') return IGNORE;
  // Empty list elements are allowed and skipped (section 5.6.1).
  const specs = value
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
  const spec = specs[0];
  if (specs.length !== 1 || spec === undefined) return IGNORE;
  const dash = spec.indexOf('-');
  if (dash < 0) return IGNORE;
  const first = spec.slice(0, dash);
  const last = spec.slice(dash + 1);
  if (first === '') return suffixRange(last, size);
  if (!DIGITS.test(first) || (last !== '' && !DIGITS.test(last))) return IGNORE;
  const start = Number(first);
  const end = last === '' ? Infinity : Number(last);
  // last-pos before first-pos makes the range invalid, not unsatisfiable (section 14.1.1).
  if (end < start) return IGNORE;
  if (start >= size) return UNSATISFIABLE;
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}

/**
 * `bytes=-n`: the last n bytes, or all of them when the file is shorter (section 14.1.3). On an
 * empty file a suffix of n > 0 is satisfiable (section 14.1.1) but no 206 can describe zero
 * bytes, so the Range is ignored: 200 with the (empty) whole.
 */
function suffixRange(last: string, size: number): RangeRequest {
  if (!DIGITS.test(last)) return IGNORE;
  const length = Number(last);
  if (length === 0) return UNSATISFIABLE;
  if (size === 0) return IGNORE;
  return { kind: 'range', start: Math.max(0, size - length), end: size - 1 };
}
