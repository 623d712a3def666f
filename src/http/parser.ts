import { ChunkedBudget, chunkLineLimitError, chunkLineThreshold } from './chunked';
import { HeadFields } from './head-fields';
import { CR, LF, addField, emptyFieldLine, scanFieldLine, type FieldLine } from './header-fields';
import { PARSE_ERROR } from './parse-errors';
import { ByteView } from './scan';
import { requestLineLimitError, scanRequestLine } from './request-line';
import type { BodyFraming, HeaderMap, ParseError, RequestHead } from './types';

export interface ParserLimits {
  maxTargetLength: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export interface ParserCallbacks {
  /** The request line and header section are complete. */
  onHead(head: RequestHead): void;
  /** Body bytes (already decoded from chunked); any number of calls. The buffer may share memory with the input. */
  onBody(chunk: Buffer): void;
  /** The message is complete; trailers are empty unless a chunked body carried some. */
  onMessageEnd(trailers: HeaderMap): void;
  /** Fatal: the parser stops; the connection answers `error.status` and closes. */
  onError(error: ParseError): void;
}

// States. The four line states read text lines; the others read bytes.
const REQUEST_LINE = 0;
const HEADER_LINE = 1;
const CHUNK_SIZE_LINE = 2;
const TRAILER_LINE = 3;
const BODY = 4;
const CHUNK_DATA = 5;
const CHUNK_DATA_CR = 6;
const CHUNK_DATA_LF = 7;
const DEAD = 8;
/** After a request that asks to upgrade: what follows is not parsed until it is answered (see held). */
const HELD = 9;

/** What a parser that has read no chunked message holds; it is never counted into. */
const IDLE_BUDGET = new ChunkedBudget();

/** Bytes decoded to text at once; a typical request head fits, a large body chunk is not decoded whole. */
const WINDOW = 4096;


type Latin1Slice = (buffer: Buffer, start: number, end: number) => string;
/** `latin1Slice` skips the encoding dispatch of `toString`; it is undocumented, so fall back when absent. */
const latin1: Latin1Slice =
  typeof (Buffer.prototype as { latin1Slice?: unknown }).latin1Slice === 'function'
    ? (buffer, start, end) => (buffer as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(start, end)
    : (buffer, start, end) => buffer.toString('latin1', start, end);

// Shared by every parser until it needs its own: an idle keep-alive connection holds no line
// buffer of its own (ten thousand idle connections is a case the server is measured on).
const NO_LINE = Buffer.alloc(0);
const NO_LINE_VIEW = new ByteView(NO_LINE);
const NO_TRAILERS: HeaderMap = new Map();
const IDLE_FIELDS = new HeadFields();
// Scratch results, filled by a scan and read right after it, before any callback runs.
const FIELD: FieldLine = emptyFieldLine();

/**
 * An incremental HTTP/1.1 request parser (RFC 9112): an explicit state machine with one method
 * per state, fed any chunking of the byte stream, with identical results for every chunking.
 * Lines are found in a latin1 window of the input so a whole head costs one decode; a line
 * split across inputs is carried over in a small buffer, never by concatenating the stream.
 */
export class RequestParser {
  private state = REQUEST_LINE;
  private readonly lineCap: number;
  // A line that is still arriving.
  private lineBuffer: Buffer = NO_LINE;
  private lineLength = 0;
  // The decoded window of the current input.
  private window = '';
  private windowInput: Buffer | null = null;
  private windowStart = 0;
  // The bytes behind the line being handled: view.bytes[k + delta] is the byte of char k.
  private view: ByteView = NO_LINE_VIEW;
  private lineView: ByteView = this.view;
  private delta = 0;
  // The message being parsed.
  private headerBytes = 0;
  // Made per message; an idle parser holds the shared empty one.
  private fields: HeadFields = IDLE_FIELDS;
  // Replaced by a fresh map at the last chunk, before any trailer is added.
  private trailers: HeaderMap = NO_TRAILERS;
  private remaining = 0;
  // Made at the first chunked message: most connections never send one.
  private chunked: ChunkedBudget = IDLE_BUDGET;
  /** The message being parsed asks to upgrade (RequestHead.upgrade): the parser holds after it. */
  private upgrading = false;

  constructor(
    private readonly callbacks: ParserCallbacks,
    private readonly limits: ParserLimits,
  ) {
    // Every limit error is proven within this many bytes of a line, so more need not be kept.
    this.lineCap = limits.maxHeaderBytes + 128;
  }

  /** True after onError; further execute() calls do nothing. */
  get failed(): boolean {
    return this.state === DEAD;
  }

  /** True when no partial message is buffered (between messages, or held after one). */
  get idle(): boolean {
    return (this.state === REQUEST_LINE || this.state === HELD) && this.lineLength === 0;
  }

  /**
   * True after a request that asks to upgrade has ended: the bytes after it may belong to another
   * protocol, so none is parsed until `resume()` says its answer was not a 101.
   */
  get held(): boolean {
    return this.state === HELD;
  }

  /** The request that asked to upgrade was answered without switching: parsing goes on. */
  resume(): void {
    if (this.state === HELD) this.state = REQUEST_LINE;
  }

  /**
   * Feeds bytes. Parses as many complete pipelined messages as the chunk holds; keeps partial
   * state across calls. Returns how many bytes were taken: all of them, except when the parser
   * holds after a request that asks to upgrade (see held), when the rest is the caller's to keep.
   * After an error every byte counts as taken. Never throws.
   */
  execute(input: Buffer): number {
    // A window left by a callback that threw must not be taken for this input's (the same
    // buffer may come back with other bytes).
    this.windowInput = null;
    let offset = 0;
    while (offset < input.length && this.state !== DEAD && this.state !== HELD) {
      switch (this.state) {
        case BODY:
          offset = this.readBody(input, offset);
          break;
        case CHUNK_DATA:
          offset = this.readChunkData(input, offset);
          break;
        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF:
          offset = this.readChunkDataEnd(input, offset);
          break;
        default:
          offset = this.readLines(input, offset);
      }
    }
    this.windowInput = null;
    this.window = '';
    this.view = this.lineView;
    return this.state === DEAD ? input.length : offset;
  }

  /** Reads lines while the state is a line state; returns where it stopped. */
  private readLines(input: Buffer, offset: number): number {
    if (this.lineLength > 0) return this.finishPartialLine(input, offset);
    const base = this.windowStart;
    if (input !== this.windowInput || offset < base || offset >= base + this.window.length) {
      this.decodeWindow(input, offset);
      return this.readLines(input, offset);
    }
    const window = this.window;
    if (this.view.bytes !== input) this.view = new ByteView(input);
    this.delta = base;
    let i = offset - base;
    for (;;) {
      const lf = window.indexOf('\n', i);
      if (lf < 0) break;
      this.completeLine(window, i, lf);
      i = lf + 1;
      if (this.state > TRAILER_LINE) return base + i;
    }
    const rest = base + i;
    if (base + window.length === input.length) {
      // Usually the input ended with a line: nothing to carry over.
      if (rest < input.length) this.appendPartialLine(input, rest, input.length);
      return input.length;
    }
    // The window ends inside a line: decode a fresh window there, or read an overlong line as bytes.
    if (i > 0) {
      this.windowInput = null;
      return rest;
    }
    const lf = input.indexOf(LF, rest);
    if (lf < 0) {
      this.appendPartialLine(input, rest, input.length);
      return input.length;
    }
    this.delta = rest;
    this.completeLine(latin1(input, rest, lf + 1), 0, lf - rest);
    return lf + 1;
  }

  private decodeWindow(input: Buffer, offset: number): void {
    this.windowInput = input;
    this.windowStart = offset;
    this.window = latin1(input, offset, Math.min(input.length, offset + WINDOW));
  }

  /** Completes the carried-over line with `input` up to its line feed, if there is one. */
  private finishPartialLine(input: Buffer, offset: number): number {
    const lf = input.indexOf(LF, offset);
    if (lf < 0 || this.lineLength + (lf + 1 - offset) > this.lineCap) {
      // Past the cap a limit error is certain, and it shows in the bytes kept.
      this.appendPartialLine(input, offset, lf < 0 ? input.length : lf + 1);
      return lf < 0 ? input.length : lf + 1;
    }
    this.copyToLine(input, offset, lf + 1);
    const line = latin1(this.lineBuffer, 0, this.lineLength);
    this.lineLength = 0;
    this.view = this.lineView;
    this.delta = 0;
    this.completeLine(line, 0, line.length - 1);
    return lf + 1;
  }

  private appendPartialLine(input: Buffer, start: number, end: number): void {
    this.copyToLine(input, start, Math.min(end, start + this.lineCap - this.lineLength));
    if (this.lineLength <= this.lineThreshold()) return;
    const line = latin1(this.lineBuffer, 0, this.lineLength);
    const error = this.lineLimitError(line, 0, line.length);
    if (error !== null) this.fail(error);
  }

  private copyToLine(input: Buffer, start: number, end: number): void {
    const needed = this.lineLength + end - start;
    if (needed > this.lineBuffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.lineCap, Math.max(256, needed * 2)));
      this.lineBuffer.copy(grown, 0, 0, this.lineLength);
      this.lineBuffer = grown;
      this.lineView = new ByteView(grown);
    }
    input.copy(this.lineBuffer, this.lineLength, start, end);
    this.lineLength = needed;
  }

  /**
   * Handles the line `s[start, lf)` whose line feed is at `lf`. RFC 9112 section 2.2 lets a
   * recipient accept a bare LF as the line ending; a CR anywhere else is an error.
   */
  private completeLine(s: string, start: number, lf: number): void {
    const end = lf > start && s.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
    const n = lf + 1 - start;
    if (n > this.lineThreshold()) {
      const error = this.lineLimitError(s, start, n);
      if (error !== null) return this.fail(error);
    }
    switch (this.state) {
      case REQUEST_LINE:
        return this.onRequestLine(s, start, end, n);
      case HEADER_LINE:
        return this.onHeaderLine(s, start, end, n);
      case CHUNK_SIZE_LINE:
        return this.onChunkSizeLine(s, start, end, n);
      default:
        return this.onTrailerLine(s, start, end, n);
    }
  }

  /** A line of at most this many bytes cannot break a limit in the current state. */
  private lineThreshold(): number {
    const budget = this.limits.maxHeaderBytes - this.headerBytes;
    if (this.state === REQUEST_LINE) return Math.min(budget, this.limits.maxTargetLength);
    if (this.state === CHUNK_SIZE_LINE) return chunkLineThreshold(this.limits.maxHeaderBytes - this.chunked.extensionBytes);
    return budget;
  }

  /** The limit error the raw bytes `s[start, start + n)` of the current line prove, whole or partial. */
  private lineLimitError(s: string, start: number, n: number): ParseError | null {
    const budget = this.limits.maxHeaderBytes - this.headerBytes;
    switch (this.state) {
      case REQUEST_LINE:
        return requestLineLimitError(s, start, n, budget, this.limits.maxTargetLength);
      case CHUNK_SIZE_LINE:
        return chunkLineLimitError(s, start, n, this.limits.maxHeaderBytes - this.chunked.extensionBytes);
      case HEADER_LINE:
        return n > budget ? PARSE_ERROR.headerSectionTooLarge : null;
      default:
        return n > budget ? PARSE_ERROR.trailerSectionTooLarge : null;
    }
  }

  private onRequestLine(s: string, start: number, end: number, n: number): void {
    this.headerBytes += n;
    // RFC 9112 section 2.2: a server should ignore at least one empty line before the request line.
    if (start === end) return;
    const head = new HeadFields();
    const error = scanRequestLine(s, this.view, this.delta, start, end, head);
    if (error !== null) return this.fail(error);
    this.fields = head;
    this.state = HEADER_LINE;
  }

  private onHeaderLine(s: string, start: number, end: number, n: number): void {
    this.headerBytes += n;
    if (start === end) return this.endHead();
    const error = scanFieldLine(s, this.view, this.delta, start, end, FIELD) ?? this.fields.add(FIELD);
    if (error !== null) return this.fail(error);
  }

  private endHead(): void {
    const head = this.fields.finish(this.limits.maxBodyBytes);
    this.fields = IDLE_FIELDS;
    if (!('framing' in head)) return this.fail(head);
    this.upgrading = head.upgrade;
    this.startBody(head.framing);
    this.callbacks.onHead(head);
    if (this.state === REQUEST_LINE || this.state === HELD) this.callbacks.onMessageEnd(NO_TRAILERS);
  }

  /** Sets the state that reads the body; a message without body bytes ends right away. */
  private startBody(framing: BodyFraming): void {
    if (framing.kind === 'chunked') {
      this.state = CHUNK_SIZE_LINE;
      if (this.chunked === IDLE_BUDGET) this.chunked = new ChunkedBudget();
      else this.chunked.reset();
    } else if (framing.kind === 'length' && framing.length > 0) {
      this.state = BODY;
      this.remaining = framing.length;
    } else {
      this.endMessage();
    }
  }

  /** The message ends: the next one is read, unless this one asked to upgrade. */
  private endMessage(): void {
    this.state = this.upgrading ? HELD : REQUEST_LINE;
    this.headerBytes = 0;
  }

  private readBody(input: Buffer, offset: number): number {
    const end = Math.min(input.length, offset + this.remaining);
    this.remaining -= end - offset;
    if (this.remaining === 0) this.endMessage();
    this.callbacks.onBody(input.subarray(offset, end));
    if (this.remaining === 0) this.callbacks.onMessageEnd(NO_TRAILERS);
    return end;
  }

  private onChunkSizeLine(s: string, start: number, end: number, n: number): void {
    const size = this.chunked.takeSizeLine(s, start, end, n, this.limits.maxBodyBytes);
    if (typeof size !== 'number') return this.fail(size);
    if (size === 0) {
      this.state = TRAILER_LINE;
      this.trailers = new Map();
    } else {
      this.state = CHUNK_DATA;
      this.remaining = size;
    }
  }

  private readChunkData(input: Buffer, offset: number): number {
    const end = Math.min(input.length, offset + this.remaining);
    this.remaining -= end - offset;
    if (this.remaining === 0) this.state = CHUNK_DATA_CR;
    this.callbacks.onBody(input.subarray(offset, end));
    return end;
  }

  /** The CRLF after chunk data, exactly (RFC 9112 section 7.1). */
  private readChunkDataEnd(input: Buffer, offset: number): number {
    const expected = this.state === CHUNK_DATA_CR ? CR : LF;
    if (input[offset] !== expected) {
      this.fail(PARSE_ERROR.chunkDataCrlfMissing);
      return offset;
    }
    this.state = this.state === CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE_LINE;
    return offset + 1;
  }

  /** Trailer fields follow the header rules (RFC 9112 section 7.1.2) and share the header size limit. */
  private onTrailerLine(s: string, start: number, end: number, n: number): void {
    this.headerBytes += n;
    if (start === end) {
      this.endMessage();
      this.callbacks.onMessageEnd(this.trailers);
      return;
    }
    const error = scanFieldLine(s, this.view, this.delta, start, end, FIELD);
    if (error !== null) return this.fail(error);
    addField(this.trailers, FIELD.lowerName, FIELD.value);
  }

  private fail(error: ParseError): void {
    this.state = DEAD;
    this.lineLength = 0;
    this.callbacks.onError(error);
  }
}
