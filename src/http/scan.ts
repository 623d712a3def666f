/**
 * Byte scanning four bytes at a time. In V8 every typed-array element read costs a bounds
 * and detach check, so a byte loop over a field value costs about 20 instructions a byte;
 * reading 32-bit words through an aligned Int32Array view and testing all four bytes with
 * SWAR arithmetic costs about a third of that. Field values are most of a request head.
 */

/**
 * The bytes of one input, and an Int32Array over the same memory from its first 4-byte
 * boundary, made on first use: creating a typed array on a fresh ArrayBuffer costs about as
 * much as scanning a few hundred bytes one at a time, so short fields (all of a `curl` or
 * `wrk` request) are scanned byte by byte and never pay for it.
 */
export class ByteView {
  private wordArray: Int32Array | undefined;
  /** The index in `bytes` where `words()[0]` starts (0 to 3). */
  readonly wordsStart: number;

  constructor(readonly bytes: Uint8Array) {
    this.wordsStart = (4 - (bytes.byteOffset & 3)) & 3;
  }

  words(): Int32Array {
    if (this.wordArray === undefined) {
      const bytes = this.bytes;
      const count = (bytes.length - this.wordsStart) >> 2;
      this.wordArray = count > 0 ? new Int32Array(bytes.buffer, bytes.byteOffset + this.wordsStart, count) : NO_WORDS;
    }
    return this.wordArray;
  }
}

const NO_WORDS = new Int32Array(0);

/** Spans shorter than this are scanned one byte at a time. */
const WORD_SCAN_MIN = 48;

/** True for the control characters that field values must not contain: all but HT (RFC 9110 section 5.5). */
export function isForbiddenControl(c: number): boolean {
  return c < 0x20 ? c !== 0x09 : c === 0x7f;
}

/** The index of the first control character other than HT in `view.bytes[from, to)`, or -1. */
export function findForbiddenControl(view: ByteView, from: number, to: number): number {
  return findStop(view, from, to, false);
}

/** The index of the first space or control character (HT included) in `view.bytes[from, to)`, or -1. */
export function findSpaceOrControl(view: ByteView, from: number, to: number): number {
  return findStop(view, from, to, true);
}

function isStop(c: number, space: boolean): boolean {
  return c < 0x20 ? space || c !== 0x09 : c === 0x7f || (space && c === 0x20);
}

function findStop(view: ByteView, from: number, to: number, space: boolean): number {
  const bytes = view.bytes;
  let k = from;
  if (to - k < WORD_SCAN_MIN) {
    for (; k < to; k++) if (isStop(bytes[k] ?? 0, space)) return k;
    return -1;
  }
  const words = view.words();
  const wordsStart = view.wordsStart;
  const below = space ? 0x21212121 : 0x20202020;
  // Single bytes up to the first word boundary.
  while (k < to && ((k - wordsStart) & 3) !== 0) {
    if (isStop(bytes[k] ?? 0, space)) return k;
    k++;
  }
  const lastWord = (to - wordsStart) >> 2;
  for (let j = (k - wordsStart) >> 2; j < lastWord; j++) {
    const w = words[j] ?? 0;
    const del = w ^ 0x7f7f7f7f;
    // The high bit of a byte lane is set when that byte is below the limit, or (second term) is DEL.
    if ((((w - below) & ~w) | ((del - 0x01010101) & ~del)) & 0x80808080) {
      // Something in these four bytes; a tab may be allowed: look closer.
      const at = wordsStart + (j << 2);
      for (let b = at; b < at + 4; b++) if (isStop(bytes[b] ?? 0, space)) return b;
    }
    k = wordsStart + ((j + 1) << 2);
  }
  for (; k < to; k++) if (isStop(bytes[k] ?? 0, space)) return k;
  return -1;
}
