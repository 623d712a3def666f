import { ChunkedBudget, chunkLineLimitError, chunkLineThreshold } from './chunked';
import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  CR,
  LF,
  SP,
  addField,
  connectionOptions,
  contentLengthNumber,
  emptyFieldLine,
  isChunkedOnly,
  nextContentLength,
  scanFieldLine,
  type FieldLine,
} from './header-fields';
import { PARSE_ERROR } from './parse-errors';
import { LineReader, type LineSink } from './line-reader';
import { findForbiddenControl, type ByteView } from './scan';
import type { BodyFraming, HeaderMap, HttpVersion, ParseError } from './types';

/** The limits of the request parser that apply to responses. */
export interface ResponseParserLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

/** How a response body ends: as a request's, or when the connection closes (RFC 9112 section 6.3, item 8). */
export type ResponseFraming = BodyFraming | { readonly kind: 'close' };

/** The status line and header section of one response. */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly version: HttpVersion;
  /** Lower-case names; repeated fields joined with ", ", which `rawHeaders` does not do (Set-Cookie). */
  readonly headers: HeaderMap;
  /** Names as sent and values, alternating, in the order received. */
  readonly rawHeaders: readonly string[];
  /**
   * The names of `rawHeaders` in lower case: `lowerNames[i]` is `rawHeaders[2 * i]`'s. A common
   * name is one shared string (field-names.ts), whose hash is already known to any Set it is looked up in.
   */
  readonly lowerNames: readonly string[];
  /** The connection may carry another request after this response. */
  readonly keepAlive: boolean;
  readonly framing: ResponseFraming;
}

export interface ResponseCallbacks {
  /** A head: an interim 1xx one (more follow; after 101 the connection is no longer HTTP) or the final one. */
  onHead(head: ResponseHead): void;
  /** Body bytes, decoded from chunked; the buffer may share memory with the input. */
  onBody(chunk: Buffer): void;
  /** The final response is complete. */
  onMessageEnd(trailers: HeaderMap): void;
  /** Fatal: the parser stops, and the connection must not be used again. */
  onError(error: ParseError): void;
}

// States. The four line states read text lines; the others read bytes.
const STATUS_LINE = 0;
const HEADER_LINE = 1;
const CHUNK_SIZE_LINE = 2;
const TRAILER_LINE = 3;
const BODY = 4;
const CLOSE_BODY = 5;
const CHUNK_DATA = 6;
const CHUNK_DATA_CR = 7;
const CHUNK_DATA_LF = 8;
/** No request is waiting for a response: any byte is an error. */
const IDLE = 9;
/** After 101 Switching Protocols: the bytes belong to the new protocol. */
const UPGRADED = 10;
const DEAD = 11;

const NO_TRAILERS: HeaderMap = new Map();
const NO_BODY: ResponseFraming = Object.freeze({ kind: 'none' });
const CHUNKED: ResponseFraming = Object.freeze({ kind: 'chunked' });
const UNTIL_CLOSE: ResponseFraming = Object.freeze({ kind: 'close' });
const FIELD: FieldLine = emptyFieldLine();

/**
 * An incremental, strict HTTP/1.1 response parser (RFC 9112), the request parser's sibling: the
 * same field-line, chunked and limit rules (header-fields.ts, chunked.ts), the same results for
 * any chunking of the input. Its client says which request each response answers (`expect`), so
 * a HEAD response has no body and bytes nobody asked for are an error. What a request smuggler
 * would try (Content-Length with Transfer-Encoding, differing lengths, bad chunk sizes, obs-fold,
 * a bare CR) is an error, after which the connection must be dropped: never desynchronised.
 */
export class ResponseParser implements LineSink {
  private state = IDLE;
  private headRequest = false;
  private readonly lines: LineReader;
  private headerBytes = 0;
  private remaining = 0;
  private readonly chunked = new ChunkedBudget();
  // The head being parsed.
  private status = 0;
  private reason = '';
  private version: HttpVersion = '1.1';
  private headers: HeaderMap = new Map();
  private rawHeaders: string[] = [];
  private lowerNames: string[] = [];
  private contentLength: string | null = null;
  private trailers: HeaderMap = NO_TRAILERS;

  constructor(
    private readonly callbacks: ResponseCallbacks,
    private readonly limits: ResponseParserLimits,
  ) {
    // Past the header budget a line is an error anyway: no more of it is kept.
    this.lines = new LineReader(limits.maxHeaderBytes + 128);
  }

  /** True after onError. */
  get failed(): boolean {
    return this.state === DEAD;
  }

  /** True when no response is expected or in progress. */
  get idle(): boolean {
    return this.state === IDLE;
  }

  /** A request was sent: its response is next. `method` decides whether it has a body (HEAD). */
  expect(method: string): void {
    if (this.state !== IDLE) throw new Error('A response is already expected');
    this.state = STATUS_LINE;
    this.headRequest = method === 'HEAD';
    this.headerBytes = 0;
  }

  /**
   * Feeds bytes and returns how many were HTTP: all of them, except after a 101 response, when
   * the rest belongs to the protocol the connection switched to. Never throws.
   */
  execute(input: Buffer): number {
    // Also first: what a callback that threw left must not be taken for this input (see release).
    this.lines.release();
    const used = this.run(input);
    this.lines.release();
    return used;
  }

  private run(input: Buffer): number {
    let offset = 0;
    while (offset < input.length) {
      switch (this.state) {
        case UPGRADED:
          return offset;
        case DEAD:
          return input.length;
        case IDLE:
          this.fail(PARSE_ERROR.responseUnexpected);
          return input.length;
        case BODY:
          offset = this.readBody(input, offset);
          break;
        case CLOSE_BODY:
          this.callbacks.onBody(offset === 0 ? input : input.subarray(offset));
          return input.length;
        case CHUNK_DATA:
          offset = this.readChunkData(input, offset);
          break;
        case CHUNK_DATA_CR:
        case CHUNK_DATA_LF:
          offset = this.readChunkDataEnd(input, offset);
          break;
        default:
          offset = this.readLine(input, offset);
      }
    }
    return input.length;
  }

  /** The connection closed: that ends a close-delimited body, and cuts short any other response. */
  end(): void {
    if (this.state === CLOSE_BODY) {
      this.state = IDLE;
      this.callbacks.onMessageEnd(NO_TRAILERS);
    } else if (this.state !== IDLE && this.state !== UPGRADED && this.state !== DEAD) {
      this.fail(PARSE_ERROR.responseIncomplete);
    }
  }

  /** Reads one line, or keeps the partial line it ends with; returns where it stopped. */
  private readLine(input: Buffer, offset: number): number {
    return this.lines.read(input, offset, this);
  }

  /** @internal LineSink: a line still without its line feed, checked against the limits. */
  partialLine(s: string, n: number): void {
    const error = this.lineLimitError(s, 0, n);
    if (error !== null) this.fail(error);
  }

  /** @internal LineSink: handles the line `s[start, stop)` (see LineSink.completeLine). */
  completeLine(s: string, start: number, stop: number, view: ByteView, delta: number): void {
    const n = stop - start;
    const limitError = this.lineLimitError(s, start, n);
    if (limitError !== null) return this.fail(limitError);
    // RFC 9112 section 2.2: a bare LF may end a line of the head; a CR anywhere else is an error.
    const end = n > 1 && s.charCodeAt(stop - 2) === CR ? stop - 2 : stop - 1;
    switch (this.state) {
      case STATUS_LINE:
        this.headerBytes += n;
        return this.onStatusLine(s, view, delta, start, end);
      case HEADER_LINE:
        this.headerBytes += n;
        if (end === start) return this.endHead();
        return this.onFieldLine(s, view, delta, start, end);
      case CHUNK_SIZE_LINE:
        return this.onChunkSizeLine(s, start, end, n);
      default:
        this.headerBytes += n;
        if (end === start) return this.endTrailers();
        return this.onFieldLine(s, view, delta, start, end);
    }
  }

  /** The limit the `n` bytes of the current line from `s[start]` already break, whole line or partial. */
  private lineLimitError(s: string, start: number, n: number): ParseError | null {
    if (this.state === CHUNK_SIZE_LINE) {
      const budget = this.limits.maxHeaderBytes - this.chunked.extensionBytes;
      return n > chunkLineThreshold(budget) ? chunkLineLimitError(s, start, n, budget) : null;
    }
    if (n <= this.limits.maxHeaderBytes - this.headerBytes) return null;
    return this.state === TRAILER_LINE ? PARSE_ERROR.trailerSectionTooLarge : PARSE_ERROR.headerSectionTooLarge;
  }

  /** `HTTP-version SP 3DIGIT SP [reason-phrase]` (RFC 9112 section 4); a missing last SP is tolerated. */
  private onStatusLine(s: string, view: ByteView, delta: number, start: number, end: number): void {
    if (end - start < 12 || !s.startsWith('HTTP/', start) || s.charCodeAt(start + 8) !== SP) return this.fail(PARSE_ERROR.statusLineInvalid);
    const version = s.slice(start + 5, start + 8);
    if (version !== '1.1' && version !== '1.0') return this.fail(PARSE_ERROR.responseVersionInvalid);
    const code = s.slice(start + 9, start + 12);
    if (!/^[1-5]\d\d$/.test(code) || (end - start > 12 && s.charCodeAt(start + 12) !== SP)) return this.fail(PARSE_ERROR.statusLineInvalid);
    const control = findForbiddenControl(view, delta + start + 12, delta + end);
    if (control >= 0) return this.fail(view.bytes[control] === CR ? PARSE_ERROR.bareCr : PARSE_ERROR.statusLineInvalid);
    this.version = version;
    this.status = Number(code);
    this.reason = s.slice(start + 13, end);
    this.headers = new Map();
    this.rawHeaders = [];
    this.lowerNames = [];
    this.contentLength = null;
    this.state = HEADER_LINE;
  }

  private onFieldLine(s: string, view: ByteView, delta: number, start: number, end: number): void {
    const error = scanFieldLine(s, view, delta, start, end, FIELD);
    if (error !== null) return this.fail(error);
    if (this.state === TRAILER_LINE) return addField(this.trailers, FIELD.lowerName, FIELD.value);
    if (FIELD.lowerName === 'content-length') {
      const digits = nextContentLength(this.contentLength, FIELD.value);
      if (typeof digits !== 'string') return this.fail(digits);
      this.contentLength = digits;
    }
    this.rawHeaders.push(FIELD.name, FIELD.value);
    this.lowerNames.push(FIELD.lowerName);
    addField(this.headers, FIELD.lowerName, FIELD.value);
  }

  private endHead(): void {
    const framing = this.framing();
    if (!('kind' in framing)) return this.fail(framing);
    const status = this.status;
    const options = connectionOptions(this.headers.get('connection') ?? '');
    const keepAlive =
      framing.kind !== 'close' && (options & CONNECTION_CLOSE) === 0 && (this.version === '1.1' || (options & CONNECTION_KEEP_ALIVE) !== 0);
    const head: ResponseHead = { status, reason: this.reason, version: this.version, headers: this.headers, rawHeaders: this.rawHeaders, lowerNames: this.lowerNames, keepAlive, framing };
    if (status === 101) this.state = UPGRADED;
    else if (status < 200) this.state = STATUS_LINE;
    else this.startBody(framing);
    this.headerBytes = 0;
    this.callbacks.onHead(head);
    if (status >= 200 && this.state === IDLE) this.callbacks.onMessageEnd(NO_TRAILERS);
  }

  /** Where the body ends (RFC 9112 section 6.3), or why the response cannot be trusted. */
  private framing(): ResponseFraming | ParseError {
    const transferEncoding = this.headers.get('transfer-encoding');
    if (transferEncoding !== undefined) {
      // Both present is how responses are smuggled; section 6.3 item 3 says to close after it, we refuse it.
      if (this.contentLength !== null) return PARSE_ERROR.transferEncodingWithContentLength;
      if (this.version === '1.0') return PARSE_ERROR.transferEncodingInHttp10;
      if (!isChunkedOnly(transferEncoding)) return PARSE_ERROR.transferEncodingUnsupported;
    }
    // Section 6.3 items 1 and 2: whatever the fields say, these have no body.
    const status = this.status;
    if (this.headRequest || status < 200 || status === 204 || status === 304) return NO_BODY;
    if (transferEncoding !== undefined) return CHUNKED;
    if (this.contentLength === null) return UNTIL_CLOSE;
    const length = contentLengthNumber(this.contentLength);
    if (length > this.limits.maxBodyBytes) return PARSE_ERROR.contentLengthTooLarge;
    return length === 0 ? NO_BODY : { kind: 'length', length };
  }

  private startBody(framing: ResponseFraming): void {
    switch (framing.kind) {
      case 'chunked':
        this.state = CHUNK_SIZE_LINE;
        this.chunked.reset();
        return;
      case 'length':
        this.state = BODY;
        this.remaining = framing.length;
        return;
      case 'close':
        this.state = CLOSE_BODY;
        return;
      default:
        this.state = IDLE;
    }
  }

  private readBody(input: Buffer, offset: number): number {
    const end = Math.min(input.length, offset + this.remaining);
    this.remaining -= end - offset;
    if (this.remaining === 0) this.state = IDLE;
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
      return input.length;
    }
    this.state = this.state === CHUNK_DATA_CR ? CHUNK_DATA_LF : CHUNK_SIZE_LINE;
    return offset + 1;
  }

  private endTrailers(): void {
    const trailers = this.trailers;
    this.trailers = NO_TRAILERS;
    this.state = IDLE;
    this.callbacks.onMessageEnd(trailers);
  }

  private fail(error: ParseError): void {
    this.state = DEAD;
    this.lines.dropPartial();
    this.callbacks.onError(error);
  }
}
