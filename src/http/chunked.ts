import { HT, SP } from './header-fields';
import { PARSE_ERROR } from './parse-errors';
import { indexBefore } from './request-line';
import { isForbiddenControl } from './scan';
import type { ParseError } from './types';

/**
 * Chunk size lines of the chunked transfer coding (RFC 9112 section 7.1):
 * `chunk-size [ BWS ";" chunk-ext ] CRLF`, sizes in hexadecimal.
 */

/** More hex digits than this cannot be a size anyone means (16 digits already reach 2^64). */
const MAX_SIZE_DIGITS = 16;
/** Longest run before the first `;` accepted: digits plus some whitespace, as a line limit. */
const MAX_SIZE_PART = 64;

/** Hex digit values by byte, -1 for anything else. */
const HEX: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[0x41 + i] = 10 + i;
    table[0x61 + i] = 10 + i;
  }
  return table;
})();

/** The parts of a chunk size line; the parser reuses a single instance. */
export interface ChunkSizeLine {
  size: number;
  /** Index of the `;` that starts the extensions, or -1 when there are none. */
  extensionStart: number;
}

function emptyChunkSizeLine(): ChunkSizeLine {
  return { size: 0, extensionStart: -1 };
}

/** Scratch for the line being read: lines are read one at a time, whichever parser reads them. */
const SIZE_LINE = emptyChunkSizeLine();

/**
 * What a chunked body has used of its limits: the request and the response parser keep one each,
 * reset per message, and take every chunk size line through it.
 */
export class ChunkedBudget {
  bodyBytes = 0;
  /** Extension bytes count against the header limit, as trailers do. */
  extensionBytes = 0;

  reset(): void {
    this.bodyBytes = 0;
    this.extensionBytes = 0;
  }

  /**
   * Checks and counts the chunk size line `s[start, end)`, `n` bytes with its line ending: the
   * chunk's size (0 for the last chunk), or why the message is refused.
   */
  takeSizeLine(s: string, start: number, end: number, n: number, maxBodyBytes: number): number | ParseError {
    const chunk = SIZE_LINE;
    const error = scanChunkSizeLine(s, start, end, chunk);
    if (error !== null) return error;
    // Chunk lines must end in CRLF: leniency here is what request smuggling feeds on.
    if (n - (end - start) !== 2) return PARSE_ERROR.chunkLineEnding;
    if (chunk.extensionStart >= 0) this.extensionBytes += n - (chunk.extensionStart - start);
    if (chunk.size > maxBodyBytes - this.bodyBytes) return PARSE_ERROR.bodyTooLarge;
    this.bodyBytes += chunk.size;
    return chunk.size;
  }
}

/**
 * Reads the chunk size line `s[start, end)` (line ending removed) into `out`, or returns why it is
 * malformed. Extensions are ignored (RFC 9112 section 7.1.1) but must not hold control characters.
 */
function scanChunkSizeLine(s: string, start: number, end: number, out: ChunkSizeLine): ParseError | null {
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = HEX[s.charCodeAt(i)] ?? -1;
    if (digit < 0) break;
    size = size * 16 + digit;
  }
  if (i === start) return PARSE_ERROR.chunkSizeInvalid;
  if (i - start > MAX_SIZE_DIGITS) return PARSE_ERROR.chunkSizeTooLong;
  let j = i;
  while (j < end && (s.charCodeAt(j) === SP || s.charCodeAt(j) === HT)) j++;
  // Whitespace (BWS) is only allowed before a `;`.
  if (j === end && j === i) {
    out.size = size;
    out.extensionStart = -1;
    return null;
  }
  if (j === end || s.charCodeAt(j) !== 0x3b) return PARSE_ERROR.chunkSizeInvalid;
  for (let k = j + 1; k < end; k++) {
    if (isForbiddenControl(s.charCodeAt(k))) return PARSE_ERROR.chunkExtensionInvalid;
  }
  out.size = size;
  out.extensionStart = j;
  return null;
}

/**
 * The error that the raw line bytes `s[start, start + n)` already prove, or null. Extension bytes
 * (from `;` through the line ending) count against `extensionBudget`, so endless extensions on
 * tiny chunks cannot keep a request going. Like `requestLineLimitError`, each rule is a property
 * of a prefix, so a complete line and a partial one give the same answer.
 */
export function chunkLineLimitError(s: string, start: number, n: number, extensionBudget: number): ParseError | null {
  const end = start + n;
  const semicolon = indexBefore(s, ';', start, end);
  const lf = indexBefore(s, '\n', start, end);
  const sizeEnd = semicolon >= 0 ? semicolon : lf >= 0 ? lf : end;
  const sizeOverAt = sizeEnd - start > MAX_SIZE_PART ? MAX_SIZE_PART : Infinity;
  let extensionOverAt = Infinity;
  if (semicolon >= 0 && n - (semicolon - start) > extensionBudget) {
    extensionOverAt = semicolon - start + extensionBudget;
  }
  if (sizeOverAt === Infinity && extensionOverAt === Infinity) return null;
  return sizeOverAt <= extensionOverAt ? PARSE_ERROR.chunkSizeTooLong : PARSE_ERROR.chunkExtensionsTooLarge;
}

/** A line shorter than this can never fail `chunkLineLimitError`. */
export function chunkLineThreshold(extensionBudget: number): number {
  return Math.min(MAX_SIZE_PART, extensionBudget);
}
