import type { Readable } from 'node:stream';

/**
 * Logs what the app prints, a line at a time. Each chunk is scanned once: a line that is still
 * arriving is kept as its pieces (no concatenation per chunk, which made a long line quadratic),
 * and one longer than MAX_LOG_LINE is logged in parts of that size (of whole characters), so
 * memory stays bounded until its newline comes.
 */
export function forwardLines(stream: Readable | null, log: (line: string) => void): void {
  if (stream === null) return;
  let pieces: string[] = [];
  let pending = 0;
  /** Whether the line arriving was already logged in part: its newline then logs no empty rest. */
  let split = false;
  const flush = (): void => {
    log(pieces.join(''));
    pieces = [];
    pending = 0;
  };
  /** Keeps `text` (no newline in it) for the line arriving, logging each MAX_LOG_LINE of it. */
  const add = (text: string): void => {
    for (let at = 0; at < text.length; ) {
      let take = Math.min(text.length - at, MAX_LOG_LINE - pending);
      const full = pending + take === MAX_LOG_LINE;
      // A part never ends between the two halves of a surrogate pair: the pair starts the next one.
      if (full && (take > 1 || pending > 0) && isSurrogatePair(text, at + take - 1)) take--;
      if (take > 0) pieces.push(text.slice(at, at + take));
      pending += take;
      at += take;
      if (full) {
        flush();
        split = true;
      }
    }
  };
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    let start = 0;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n', start)) {
      add(text.slice(start, newline));
      if (pending > 0 || !split) flush();
      split = false;
      start = newline + 1;
    }
    add(text.slice(start));
  });
  stream.on('end', () => {
    if (pending > 0) flush();
  });
}

/** Characters of the app's output logged as one line at most; a longer line is logged in parts. */
const MAX_LOG_LINE = 64 * 1024;

/** True when `text` has a high surrogate at `index` and its low surrogate after it. */
function isSurrogatePair(text: string, index: number): boolean {
  const high = text.charCodeAt(index);
  const low = text.charCodeAt(index + 1);
  return high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
}
