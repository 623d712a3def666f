import type { HttpVersion } from '../http/types';

/** One record per parsed request (or per request that failed to parse). */
export interface RequestLogRecord {
  /** When the request started, in milliseconds since the epoch. */
  readonly time: number;
  /** Client address and port, e.g. `127.0.0.1:53122`. */
  readonly client: string;
  readonly method: string;
  readonly target: string;
  readonly version: HttpVersion | '-';
  readonly status: number;
  /** Bytes written for this response, head and body. */
  readonly bytes: number;
  readonly durationMs: number;
  /** For errors: why, e.g. "no file at /site/missing.html". */
  readonly reason?: string | undefined;
  /** Request header fields as received, alternating name and value, for trace-level logs. */
  readonly headers: readonly string[];
}

/** Receives request records; implementations must be cheap and never throw. */
export interface RequestLogger {
  log(record: RequestLogRecord): void;
}

/** `127.0.0.1:50312 GET /index.html HTTP/1.1 200 1234B 0.4ms` plus ` - reason` for errors. */
export function formatRecord(record: RequestLogRecord): string {
  scratch.clear();
  scratch.record(record);
  return scratch.toString();
}

const HTTP_11 = 'HTTP/1.1';
const HTTP_10 = 'HTTP/1.0';
const BACKSLASH = 0x5c;
const HEX = '0123456789abcdef';
/** The most a char of a string takes in the log: `\u202e` for one UTF-16 unit. */
const MAX_BYTES_PER_CHAR = 6;

/**
 * Log text built as UTF-8 bytes in one growing buffer. Writing a request line this way builds
 * no string per request, which at tens of thousands of requests a second is most of what
 * logging costs. Text a client chose is escaped so that one record is always one line and a
 * terminal or editor shows it as it is (see putText and putReceived).
 */
export class LogBytes {
  private bytes: Buffer;
  private length = 0;

  constructor(private readonly capacity = 64 * 1024) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  get size(): number {
    return this.length;
  }

  /** The line format of `formatRecord`. */
  record(record: RequestLogRecord): void {
    const { client, method, target, reason } = record;
    // One reservation for the whole line: MAX_BYTES_PER_CHAR per char at most, 128 for the rest.
    this.reserve(MAX_BYTES_PER_CHAR * (client.length + method.length + target.length + (reason?.length ?? 0)) + 128);
    const bytes = this.bytes;
    let at = putText(bytes, this.length, client);
    bytes[at++] = 0x20;
    at = putText(bytes, at, method);
    bytes[at++] = 0x20;
    at = putReceived(bytes, at, target);
    bytes[at++] = 0x20;
    if (record.version === '-') bytes[at++] = 0x2d;
    else at = putText(bytes, at, record.version === '1.1' ? HTTP_11 : HTTP_10);
    bytes[at++] = 0x20;
    at = putInteger(bytes, at, record.status);
    bytes[at++] = 0x20;
    at = putInteger(bytes, at, record.bytes);
    bytes[at++] = 0x42; // B
    bytes[at++] = 0x20;
    at = putTenths(bytes, at, record.durationMs);
    bytes[at++] = 0x6d; // m
    bytes[at++] = 0x73; // s
    if (reason !== undefined) {
      at = putText(bytes, at, ' - ');
      at = putText(bytes, at, reason);
    }
    this.length = at;
  }

  text(value: string): void {
    this.reserve(value.length * MAX_BYTES_PER_CHAR);
    this.length = putText(this.bytes, this.length, value);
  }

  /** `value` as received on the wire, see putReceived. */
  received(value: string): void {
    this.reserve(value.length * MAX_BYTES_PER_CHAR);
    this.length = putReceived(this.bytes, this.length, value);
  }

  byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** Everything written so far, and a fresh buffer for what follows. */
  take(): Buffer {
    const written = this.bytes.subarray(0, this.length);
    this.bytes = Buffer.allocUnsafe(this.capacity);
    this.length = 0;
    return written;
  }

  clear(): void {
    this.length = 0;
  }

  toString(): string {
    return this.bytes.toString('utf8', 0, this.length);
  }

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + count));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

}

/**
 * Characters that change how a line around them reads, beyond the C0 and C1 controls: bidi
 * marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069; Unicode UAX #9, the "Trojan Source" trick, CVE-2021-42574) reorder the rest of
 * the line, and U+2028/U+2029 break it in editors, VS Code's output among them.
 */
function isLineChanging(c: number): boolean {
  return c === 0x061c || c === 0x200e || c === 0x200f || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/**
 * Writes text (a decoded file name, a reason) at `at` and returns the end; the caller reserved
 * MAX_BYTES_PER_CHAR per char. Printable characters are written as UTF-8. C0 controls, DEL and
 * the C1 controls U+0080-U+009F become `\xHH`: a terminal acts on C1 controls as on their ESC
 * forms (U+009B is CSI, U+009D OSC), also UTF-8 encoded. Line-changing characters (see
 * isLineChanging) become `\uHHHH`. Lone surrogates become U+FFFD, as Buffer.from(string) does.
 */
function putText(bytes: Buffer, at: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      bytes[at++] = c;
    } else if (c < 0xa0 || isLineChanging(c)) {
      at = putEscape(bytes, at, c);
    } else {
      at = putUtf8(bytes, at, value, i, c);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < value.length) {
        const next = value.charCodeAt(i + 1);
        if (next >= 0xdc00 && next < 0xe000) i++;
      }
    }
  }
  return at;
}

/**
 * Writes text received on the wire (the request target, a header field) at `at`: the parser
 * decodes it as latin1, so each char is one byte as sent. Every byte outside printable ASCII
 * becomes `\xHH`, so the log shows the bytes that came, never a byte 0x80-0x9F that a terminal
 * not decoding UTF-8 would take for a C1 control, and never mojibake. A char above U+00FF (not
 * from the parser) becomes `\uHHHH`. The caller reserved MAX_BYTES_PER_CHAR per char.
 */
function putReceived(bytes: Buffer, at: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) bytes[at++] = c;
    else at = putEscape(bytes, at, c);
  }
  return at;
}

/** `\xHH` for a char up to U+00FF, else `\uHHHH` (one UTF-16 unit). */
function putEscape(bytes: Buffer, at: number, c: number): number {
  bytes[at++] = BACKSLASH;
  if (c > 0xff) {
    bytes[at++] = 0x75; // u
    bytes[at++] = HEX.charCodeAt(c >> 12);
    bytes[at++] = HEX.charCodeAt((c >> 8) & 15);
  } else {
    bytes[at++] = 0x78; // x
  }
  bytes[at++] = HEX.charCodeAt((c >> 4) & 15);
  bytes[at++] = HEX.charCodeAt(c & 15);
  return at;
}

/** A non-negative integer in decimal; the caller reserved 24 bytes. */
function putInteger(bytes: Buffer, at: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) return putText(bytes, at, String(value));
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const end = at + digits;
  let rest = value;
  let k = end;
  do {
    bytes[--k] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  return end;
}

/** `value` in tenths, rounded as `toFixed(1)` rounds; -1 where only `toFixed` writes it right (negative, huge, NaN). */
function tenthsOf(value: number): number {
  const tenths = Math.round(value * 10);
  return Number.isSafeInteger(tenths) && tenths >= 0 ? tenths : -1;
}

/** A duration with one decimal, as `toFixed(1)` writes it, in a tenth of its time (for reasons built per request). */
export function formatTenths(value: number): string {
  const tenths = tenthsOf(value);
  if (tenths < 0) return value.toFixed(1);
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}

/** A duration with one decimal, like `toFixed(1)`; the caller reserved 24 bytes. */
function putTenths(bytes: Buffer, at: number, value: number): number {
  const tenths = tenthsOf(value);
  if (tenths < 0) return putText(bytes, at, value.toFixed(1));
  let end = putInteger(bytes, at, Math.floor(tenths / 10));
  bytes[end++] = 0x2e;
  bytes[end++] = 0x30 + (tenths % 10);
  return end;
}

/** Writes the non-ASCII character `c` at `value[i]` (a surrogate pair counts as one) as UTF-8. */
function putUtf8(bytes: Buffer, at: number, value: string, i: number, c: number): number {
  if (c < 0x800) {
    bytes[at++] = 0xc0 | (c >> 6);
    bytes[at++] = 0x80 | (c & 63);
    return at;
  }
  let code = c;
  if (c >= 0xd800 && c < 0xe000) {
    const next = i + 1 < value.length ? value.charCodeAt(i + 1) : 0;
    // A lone surrogate cannot be encoded: U+FFFD, as Buffer.from(string) does.
    if (c >= 0xdc00 || next < 0xdc00 || next >= 0xe000) code = 0xfffd;
    else code = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
  }
  if (code < 0x10000) {
    bytes[at++] = 0xe0 | (code >> 12);
    bytes[at++] = 0x80 | ((code >> 6) & 63);
    bytes[at++] = 0x80 | (code & 63);
    return at;
  }
  bytes[at++] = 0xf0 | (code >> 18);
  bytes[at++] = 0x80 | ((code >> 12) & 63);
  bytes[at++] = 0x80 | ((code >> 6) & 63);
  bytes[at++] = 0x80 | (code & 63);
  return at;
}

const scratch = new LogBytes(1024);

/** Decoded text (a page's console line), escaped as the reason of a request line: one line, no controls. */
export function formatText(value: string): string {
  scratch.clear();
  scratch.text(value);
  return scratch.toString();
}

/** `value` as received on the wire (a header field), escaped as in the request line. */
export function formatReceived(value: string): string {
  scratch.clear();
  scratch.received(value);
  return scratch.toString();
}

/**
 * Calls `flush` at most once per `intervalMs` after something was queued, or at once when the
 * queue is full: tens of thousands of requests a second then cost one write per interval.
 */
class FlushTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly flush: () => void,
    private readonly intervalMs: number,
  ) {}

  queued(full: boolean): void {
    if (full) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, this.intervalMs);
      this.timer.unref();
    }
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Collects lines and hands them to `sink` in batches (see FlushTimer). */
export class BatchedLines {
  private lines: string[] = [];
  private readonly timer: FlushTimer;

  constructor(
    private readonly sink: (lines: readonly string[]) => void,
    intervalMs = 50,
    private readonly maxPending = 10_000,
  ) {
    this.timer = new FlushTimer(() => this.flush(), intervalMs);
  }

  push(line: string): void {
    this.lines.push(line);
    this.timer.queued(this.lines.length >= this.maxPending);
  }

  flush(): void {
    this.timer.cancel();
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    this.sink(lines);
  }

  dispose(): void {
    this.flush();
  }
}

/**
 * Request lines written as bytes (see LogBytes) and handed to `sink` in batches (see
 * FlushTimer), each line after `prefix(record)`, e.g. the time of day.
 */
export class BatchedRecords {
  private readonly out = new LogBytes();
  private readonly timer: FlushTimer;

  constructor(
    private readonly sink: (bytes: Buffer) => void,
    private readonly prefix: (record: RequestLogRecord) => string,
    intervalMs = 50,
    private readonly maxPendingBytes = 60 * 1024,
  ) {
    this.timer = new FlushTimer(() => this.flush(), intervalMs);
  }

  push(record: RequestLogRecord): void {
    const out = this.out;
    out.text(this.prefix(record));
    out.record(record);
    out.byte(0x0a);
    this.timer.queued(out.size >= this.maxPendingBytes);
  }

  flush(): void {
    this.timer.cancel();
    if (this.out.size > 0) this.sink(this.out.take());
  }

  dispose(): void {
    this.flush();
  }
}
