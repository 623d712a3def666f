import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  CONNECTION_UPGRADE,
  addField,
  connectionOptions,
  contentLengthNumber,
  isChunkedOnly,
  isContinueExpectation,
  nextContentLength,
  type FieldLine,
} from './header-fields';
import { PARSE_ERROR } from './parse-errors';
import type { RequestLine } from './request-line';
import type { BodyFraming, HeaderMap, HttpVersion, ParseError, RequestHead } from './types';

const SEEN_CONNECTION = 1;
const SEEN_EXPECT = 2;
const SEEN_TRANSFER_ENCODING = 4;

const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });

/**
 * The head of one message as it is parsed: the request line (filled by scanRequestLine), the
 * field lines (checking the fields that decide framing as they arrive), and, once finished, the
 * `RequestHead` itself, so a request costs one object here. The parser makes one per message, so
 * an idle connection holds none.
 */
export class HeadFields implements RequestLine, RequestHead {
  method = '';
  target = '';
  path = '';
  query = '';
  version: HttpVersion = '1.1';
  authority = '';
  readonly headers: HeaderMap = new Map();
  readonly rawHeaders: string[] = [];
  keepAlive = false;
  expectContinue = false;
  upgrade = false;
  framing: BodyFraming = NO_BODY;
  private hostCount = 0;
  private contentLength: string | null = null;
  /** SEEN_ bits for the fields finish() reads, so it looks up only those that were sent. */
  private seen = 0;
  /** The bits of the common field names seen in this head (see field-names.ts). */
  private knownSeen = 0;

  /** Adds one field line, or says why the request is refused. */
  add(field: FieldLine): ParseError | null {
    const error = this.noteFramingField(field);
    if (error !== null) return error;
    this.rawHeaders.push(field.name, field.value);
    // A common name seen for the first time needs no lookup for an earlier value.
    const bit = field.knownBit;
    if (bit !== 0 && (this.knownSeen & bit) === 0) {
      this.knownSeen |= bit;
      this.headers.set(field.lowerName, field.value);
    } else {
      addField(this.headers, field.lowerName, field.value);
    }
    return null;
  }

  /** Completes the head after its last field line, or says why the request is refused. Called once. */
  finish(maxBodyBytes: number): RequestHead | ParseError {
    const framing = this.framingOf(maxBodyBytes);
    if (!('kind' in framing)) return framing;
    const { headers, seen, version } = this;
    // RFC 9112 section 3.2.2: for an absolute-form target the received Host field is ignored
    // and the target names the host; `host` says so for every reader of the head.
    if (this.authority !== '') headers.set('host', this.authority);
    // Equal Content-Length values, repeated or as a list (`3, 3`), are one length (RFC 9110
    // section 8.6): readers of the head (a WSGI app's CONTENT_LENGTH) see that number alone.
    if (framing.kind === 'length') headers.set('content-length', String(framing.length));
    const options = (seen & SEEN_CONNECTION) === 0 ? 0 : connectionOptions(headers.get('connection') ?? '');
    const expect = (seen & SEEN_EXPECT) === 0 ? undefined : headers.get('expect');
    // RFC 9112 section 9.3: persistent unless close; HTTP/1.0 only with keep-alive.
    this.keepAlive = (options & CONNECTION_CLOSE) === 0 && (version === '1.1' || (options & CONNECTION_KEEP_ALIVE) !== 0);
    // RFC 9110 section 10.1.1: a server must ignore 100-continue from an HTTP/1.0 client.
    this.expectContinue = version === '1.1' && expect !== undefined && isContinueExpectation(expect);
    this.upgrade = version === '1.1' && (options & CONNECTION_UPGRADE) !== 0 && headers.has('upgrade');
    this.framing = framing;
    return this;
  }

  /** Checks the fields that decide where the message ends as soon as they arrive. */
  private noteFramingField(field: FieldLine): ParseError | null {
    switch (field.lowerName) {
      case 'host':
        // RFC 9112 section 3.2: more than one Host field, or one whose value is no host, is a 400.
        if (++this.hostCount > 1) return PARSE_ERROR.hostDuplicate;
        return HOST_VALUE.test(field.value) ? null : PARSE_ERROR.hostInvalid;
      case 'connection':
        this.seen |= SEEN_CONNECTION;
        return null;
      case 'expect':
        this.seen |= SEEN_EXPECT;
        return null;
      case 'transfer-encoding':
        this.seen |= SEEN_TRANSFER_ENCODING;
        return null;
      case 'content-length': {
        const digits = nextContentLength(this.contentLength, field.value);
        if (typeof digits !== 'string') return digits;
        this.contentLength = digits;
        return null;
      }
      default:
        return null;
    }
  }

  /** The body framing of the finished head (RFC 9112 section 6.3), or why the request is refused. */
  private framingOf(maxBodyBytes: number): BodyFraming | ParseError {
    const version = this.version;
    if (version === '1.1' && this.hostCount === 0) return PARSE_ERROR.hostMissing;
    const transferEncoding = (this.seen & SEEN_TRANSFER_ENCODING) === 0 ? undefined : this.headers.get('transfer-encoding');
    if (transferEncoding !== undefined) {
      if (version === '1.0') return PARSE_ERROR.transferEncodingInHttp10;
      // Both present is a request smuggling vector; RFC 9112 section 6.3 allows rejecting it.
      if (this.contentLength !== null) return PARSE_ERROR.transferEncodingWithContentLength;
      if (isChunkedOnly(transferEncoding)) return CHUNKED;
      // Without chunked last the length cannot be known: 400 (RFC 9112 section 6.3); chunked after
      // a coding this server does not decode is 501 (section 6.1).
      return endsWithChunked(transferEncoding) ? PARSE_ERROR.transferEncodingUnsupported : PARSE_ERROR.transferEncodingNotChunked;
    }
    if (this.contentLength === null) return NO_BODY;
    const length = contentLengthNumber(this.contentLength);
    if (length > maxBodyBytes) return PARSE_ERROR.contentLengthTooLarge;
    return { kind: 'length', length };
  }
}

/**
 * A Host field value (RFC 9112 section 3.2, RFC 3986 section 3.2.2): a reg-name (possibly empty),
 * an IPv4 address or a bracketed IP literal, then an optional `:` and port digits.
 */
const HOST_VALUE = /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=%-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?$/;

/** True when the last coding of a Transfer-Encoding list is chunked. */
function endsWithChunked(value: string): boolean {
  const comma = value.lastIndexOf(',');
  return value.slice(comma + 1).trim().toLowerCase() === 'chunked';
}
