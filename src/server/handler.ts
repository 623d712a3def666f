import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { HeaderMap, HttpVersion } from '../http/types';

/**
 * One parsed request as a handler sees it. The body is already read (up to the server's
 * body limit); handlers never touch the socket.
 */
export interface Request {
  readonly method: string;
  /** The request target exactly as sent. */
  readonly target: string;
  /** The path of the target, still percent-encoded. */
  readonly path: string;
  /** The query without `?`; empty when there is none. */
  readonly query: string;
  readonly version: HttpVersion;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /**
   * The body while it arrives, when the server streams bodies (`Limits.streamBodies`, on while
   * a WSGI app runs); `body` is then empty. Not reading it is fine: the connection then closes
   * after the response instead of reading the rest.
   */
  readonly bodyStream?: Readable | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The client's connection, for a handler that waits long (the proxy): set by the connection. */
  readonly client?: ClientLink | undefined;
  /** The request asks to switch protocols (RequestHead.upgrade): only such a request may get a 101. */
  readonly upgrade?: boolean;
}

/** What a handler may learn of the client's connection while it works on an answer. */
export interface ClientLink {
  /**
   * Calls `listener` once if the client leaves (ends or closes its connection) before the
   * handler's answer arrives; the connection then drops the socket, and that answer is only
   * logged. A later call replaces the listener; the answer clears it. Like nginx, this takes a
   * client that only ended its side (a half-close) for gone too.
   */
  whenGone(listener: () => void): void;
}

/**
 * A body the connection streams from an open file, `start` to `end` inclusive, with
 * backpressure. The body owns `fd`: the connection closes it once the body is sent or dropped.
 */
export interface FileBody {
  readonly kind: 'file';
  /** A descriptor of the regular file the handler checked: the path is never opened again. */
  readonly fd: number;
  readonly start: number;
  readonly end: number;
}

/**
 * A body produced by a stream. With `length` the response uses Content-Length, otherwise
 * chunked encoding (or close-delimited for HTTP/1.0). The connection destroys the stream when
 * the client goes away or the request was HEAD.
 */
export interface StreamBody {
  readonly kind: 'stream';
  readonly stream: Readable;
  readonly length?: number;
  /**
   * The stream never ends by itself (an event stream): it is the connection's last response, no
   * request behind it is read, a client that ends its side is dropped at once, and it counts
   * against the server's `maxEventStreams`.
   */
  readonly endless?: boolean;
}

export type Body = Buffer | FileBody | StreamBody;

/** Header values a handler may set; numbers are written in decimal. */
export type ResponseHeaders = Record<string, string | number | readonly string[]>;

/**
 * What a handler answers. Expected outcomes (404, 304, 416...) are plain values; a thrown
 * exception becomes a 500 that is logged with its message.
 *
 * The connection adds `Date`, `Connection`, and `Content-Length` or `Transfer-Encoding` itself,
 * and drops the body of a HEAD request while keeping its headers.
 *
 * A frozen Response (`Object.freeze`) says "shared by many requests and never changed": the
 * connection then keeps its serialized bytes for the current second and reuses them, so its
 * header object and Buffer body must stay as they are.
 */
export interface Response {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /**
   * The fields already serialized (`name: value\r\n` each), written instead of `headers`: for
   * fields a parser has checked already, which a handler copies many of per request (the
   * proxy's relay of an upstream's fields, built as one string without an object of fields per
   * response to be walked, lower-cased and checked again). Never the fields the connection
   * writes itself (Date, Connection, Content-Length, Transfer-Encoding, Keep-Alive).
   */
  readonly fieldLines?: string;
  readonly body?: Body;
  /** Why the request failed, for the log (e.g. "no file at /srv/site/missing.html"). */
  readonly reason?: string;
  /** Close the connection after this response. */
  readonly close?: boolean;
  /**
   * With status 101 only: takes over the client's socket once the 101 head is written (the
   * reverse proxy's WebSocket tunnel). From then on the socket is the callee's; the connection
   * only destroys it when the server closes. Called with undefined when the client is gone
   * before that, so the callee can release what it holds. `early` is what the client sent after
   * its request, before it had the 101 (the new protocol's first bytes): the callee passes it on
   * first. Only a request that asks to upgrade (Request.upgrade) may be answered so.
   */
  readonly upgrade?: (socket: Socket | undefined, early?: Buffer) => void;
}

/**
 * A response that comes later, told to one listener without a promise: the proxy settles it from
 * its upstream's data event, and the connection writes the answer within that event (a promise
 * costs two more allocations and a microtask at each step of the chain, per request). A handler
 * that returns one always answers: the request is not passed on to the next handler.
 */
export class PendingResponse {
  private listener: ((response: Response) => void) | undefined;
  private response: Response | undefined;

  /** Calls `listener` once with the response: now if it has come, else when it does. */
  whenSettled(listener: (response: Response) => void): void {
    const response = this.response;
    if (response === undefined) this.listener = listener;
    else listener(response);
  }

  /** The response; a second call is ignored. */
  settle(response: Response): void {
    if (this.response !== undefined) return;
    this.response = response;
    const listener = this.listener;
    this.listener = undefined;
    listener?.(response);
  }
}

/**
 * The interface between the server and content, in the spirit of WSGI: the server owns
 * sockets and framing, a handler maps a request to a response. Answering `undefined` passes the
 * request to the next handler.
 */
export type Handler = (request: Request) => Response | undefined | Promise<Response | undefined>;

/** A handler that may also answer later through a PendingResponse (the proxy's); the chain takes either. */
export type DeferringHandler = (request: Request) => ReturnType<Handler> | PendingResponse;

/** Something that can be released, without depending on vscode. */
export interface Disposable {
  dispose(): void;
}

/**
 * Fields of the short plain-text answers the server writes itself. `nosniff` is sent only on
 * what the server generates (these, its HTML pages, the live-reload endpoint): files go out
 * without it, as from nginx or Apache, because under nosniff Chromium refuses to run a page's
 * `<script src="data.json">` (served as application/json) and real pages do that.
 */
export const PLAIN_TEXT_HEADERS = Object.freeze({
  'Content-Type': 'text/plain; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
});

/** The 500 for an unexpected exception; the message goes to the log, not to the client. */
export function internalError(error: unknown): Response {
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: 500,
    headers: PLAIN_TEXT_HEADERS,
    body: Buffer.from('500 Internal Server Error\n'),
    reason: `internal error: ${message}`,
    close: true,
  };
}

/** The answer to a request that could not be parsed or came too slowly; the connection closes after it. */
export function errorResponse(status: number, message: string): Response {
  return {
    status,
    headers: PLAIN_TEXT_HEADERS,
    body: Buffer.from(`${status} ${message}\n`, 'utf8'),
    reason: message,
    close: true,
  };
}
