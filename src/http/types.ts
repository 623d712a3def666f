/** The HTTP versions Tiny Server speaks. */
export type HttpVersion = '1.0' | '1.1';

/**
 * Request header fields: lower-case name to value. Repeated fields are joined with ", "
 * (RFC 9110 section 5.3), except `cookie` which is joined with "; ". For an absolute-form
 * target, `host` is the target's host (RFC 9112 section 3.2.2); `rawHeaders` keeps what was sent.
 */
export type HeaderMap = Map<string, string>;

/** The request line and header section of one request, as the parser produces it. */
export interface RequestHead {
  readonly method: string;
  /** The request target exactly as sent (origin-form, absolute-form, or `*`). */
  readonly target: string;
  /** The path of the target, still percent-encoded; for absolute-form the path part of the URL. */
  readonly path: string;
  /** The query without the leading `?`; empty when there is none. */
  readonly query: string;
  readonly version: HttpVersion;
  readonly headers: HeaderMap;
  /**
   * Field names and values in the order received, alternating name and value, names as sent
   * (the shape of Node's `IncomingMessage.rawHeaders`: no array per field).
   */
  readonly rawHeaders: readonly string[];
  /** True when the connection may carry another request after this one. */
  readonly keepAlive: boolean;
  /** True when the client sent `Expect: 100-continue`. */
  readonly expectContinue: boolean;
  /**
   * True when the request asks to switch protocols (a WebSocket handshake): HTTP/1.1, an Upgrade
   * field, and `upgrade` among the Connection options (RFC 9110 section 7.8; an HTTP/1.0
   * Upgrade is ignored). What the client sends after such a request is not parsed until it is
   * answered: after a 101 it belongs to the new protocol (see RequestParser.held).
   */
  readonly upgrade: boolean;
  /** Body framing: none, a fixed length, or chunked. */
  readonly framing: BodyFraming;
}

export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' };

/** Why a request could not be parsed; `status` is the response to send before closing. */
export interface ParseError {
  /** For a request, the answer; for a response read by the proxy (502 codes), the proxy always answers 502. */
  readonly status: 400 | 413 | 414 | 431 | 501 | 502 | 505;
  /** A stable code for tests and logs, such as `header-name-whitespace`. */
  readonly code: string;
  /** A sentence-case description without a trailing period, e.g. "Content-Length values differ". */
  readonly message: string;
}
