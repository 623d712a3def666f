import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { nextContentLength } from '../../http/header-fields';
import { CHUNK_SUFFIX, LAST_CHUNK, chunkPrefix } from '../../http/response';
import type { ResponseHead } from '../../http/response-parser';
import type { HeaderMap, ParseError } from '../../http/types';
import { DOCUMENT_FIELDS } from '../fetch-metadata';
import { PendingResponse, type Request, type StreamBody } from '../handler';
import { requestHead, responseFields, tokenList, type UploadFraming } from './headers';
import { decodableEncodings, injectable, inject, revalidatesVary, rewritablePage, type PageRewrite } from './html';
import type { UpstreamConnection, UpstreamPool, UpstreamUser } from './pool';
import { upstreamTarget, type Route } from './routes';
import { formatTenths } from '../log';
import { proxyError } from './errors';
import type { Tunnel } from './tunnel';

/** What every request through one proxy shares. */
export interface ProxyContext {
  readonly pools: ReadonlyMap<Route, UpstreamPool>;
  readonly timeoutMs: number;
  readonly keepHost: boolean;
  /** Live reload's page rewriting, when it is on. */
  readonly pages: PageRewrite | undefined;
  /** Hands a 101 answer's sockets to a tunnel (see tunnel.ts). */
  readonly tunnel: Tunnel;
}

/** A page waiting for live reload is held whole up to this size; a larger one streams unmodified. */
const MAX_REWRITE = 8 * 1024 * 1024;
/**
 * A body with a Content-Length up to this size is held until complete and answered as a Buffer
 * (one write with its head, no Readable): an upstream that sends head and body in separate
 * segments (nginx with sendfile) would otherwise cost a stream per small answer.
 */
const MAX_HELD = 64 * 1024;
const EVENT_STREAM = /^\s*text\/event-stream\b/i;
/** Methods whose request may be sent again after a connection failed under it (RFC 9110 section 9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const EMPTY = Buffer.alloc(0);
/** A relayed answer's fields travel as `Response.fieldLines` (see responseFields). */
const NO_HEADERS = Object.freeze({});

/** Forwards `request` on `route`; what it returns settles with the upstream's response, or an error page. */
export function forward(request: Request, route: Route, context: ProxyContext): PendingResponse {
  const pending = new PendingResponse();
  new ProxyExchange(request, route, context, pending).send();
  return pending;
}

/**
 * One request through the proxy: the head and body go upstream on a pooled connection, whose
 * parser hands the response back here. A small answer (or a page that gets live reload) is
 * resolved as a buffer once complete; any other streams from the end of the data event that
 * brought its head, with backpressure both ways (the upstream socket pauses while the client is
 * slow). Whatever goes wrong makes the upstream connection be destroyed; only a clean exchange
 * returns it to the pool.
 */
class ProxyExchange implements UpstreamUser {
  private connection!: UpstreamConnection;
  private readonly started = performance.now();
  /**
   * Until the client has an answer: when the pool's sweep gives up waiting for the upstream (504).
   * Moved on by progress, which the sweep reads from `sent` and `size` (no clock read per chunk).
   */
  private deadline: number;
  /** Body bytes sent upstream so far. */
  private sent = 0;
  /** `sent + size` at the last sweep. */
  private progress = 0;
  private headMs = 0;
  private head: ResponseHead | undefined;
  private chunks: Buffer[] = [];
  /** A held body of known length, copied into one buffer as it arrives (no concat at the end). */
  private whole: Buffer | undefined;
  private size = 0;
  private stream: Readable | undefined;
  private settled = false;
  private ended = false;
  private uploaded = false;
  private received = false;
  /** The body is held until it is complete (small, or a page to rewrite) rather than streamed. */
  private hold = false;
  private rewrite = false;
  /** Request fields added to the answer's Vary: those that decide whether a page gets the client. */
  private vary: string | undefined;
  private attempt = 0;
  private resumeUpload: (() => void) | undefined;
  /** The client's streamed body while it is sent upstream. */
  private uploading: Readable | undefined;

  constructor(
    private readonly request: Request,
    private readonly route: Route,
    private readonly context: ProxyContext,
    private readonly pending: PendingResponse,
  ) {
    this.deadline = this.started + context.timeoutMs;
    request.client?.whenGone(this.clientGone);
  }

  /**
   * The client left before its answer was ready: nobody will read it, so the upstream request is
   * aborted (its connection destroyed, not pooled), as nginx does by default. The status is
   * nginx's 499 "client closed request", for the log only: the client's socket is gone.
   */
  private readonly clientGone = (): void => {
    if (this.settled) return;
    this.abandon();
    this.settled = true;
    this.pending.settle({ status: 499, headers: {}, reason: `client closed the connection; request to ${this.route.upstream.origin} aborted` });
  };

  private get pool(): UpstreamPool {
    return this.context.pools.get(this.route) as UpstreamPool;
  }

  /** The request asks to switch protocols (HTTP/1.1, Upgrade, `Connection: upgrade`) and carries no streamed body. */
  private get upgrade(): boolean {
    return this.request.upgrade === true && this.request.bodyStream === undefined;
  }

  /** Whether the request body is streamed upstream: one is, unless it is declared empty. */
  private get streamsBody(): boolean {
    const stream = this.request.bodyStream;
    return stream !== undefined && declaredLength(this.request.headers.get('content-length')) !== 0;
  }

  /** Sends the head and the body on a pooled connection. */
  send(): void {
    const connection = this.pool.take(this, this.upgrade);
    this.connection = connection;
    const socket = connection.socket;
    const { request } = this;
    // The declared length as the parser read it: repeated or list-form fields (`5, 5`, which the
    // parser accepts when equal) are one number, never forwarded as they came.
    const declared = request.bodyStream === undefined ? undefined : declaredLength(request.headers.get('content-length'));
    // A streamed body declared empty is sent as no body (so it can be sent again, see retry).
    const body = this.streamsBody ? request.bodyStream : undefined;
    if (body === undefined) request.bodyStream?.resume();
    const upload: UploadFraming = body !== undefined ? (declared !== undefined ? 'length' : 'chunked') : request.body.length > 0 || request.headers.has('content-length') ? 'length' : 'none';
    const length = declared ?? request.body.length;
    const pages = this.context.pages;
    const page = pages !== undefined && pages.applies(request);
    // A HEAD for a page that may get live reload is asked upstream as a GET: its answer is then
    // the rewritten page's head, as its GET's would be (the same Content-Length, encoding and
    // validators, RFC 9110 section 9.3.2); the connection sends no body for a HEAD.
    const method = page && request.method === 'HEAD' ? 'GET' : request.method;
    const head = requestHead(request, {
      method,
      route: this.route,
      target: upstreamTarget(this.route, request.path, request.query),
      keepHost: this.context.keepHost,
      upload,
      length,
      acceptEncoding: page ? decodableEncodings(request.headers.get('accept-encoding')) : undefined,
      upgrade: this.upgrade,
    });
    connection.parser.expect(method);
    if (body === undefined) {
      // Head and body in one write: one syscall, one segment.
      socket.write(request.body.length > 0 ? Buffer.concat([Buffer.from(head, 'latin1'), request.body]) : head, 'latin1');
      this.uploaded = true;
    } else {
      socket.write(head, 'latin1');
      this.pipeUpload(socket, body, upload === 'chunked');
    }
  }

  /** Streams the client's body upstream, pausing it while the upstream socket is full. */
  private pipeUpload(socket: Socket, body: Readable, chunked: boolean): void {
    const resume = (): void => {
      body.resume();
    };
    this.resumeUpload = resume;
    this.uploading = body;
    socket.on('drain', resume);
    body.on('data', (chunk: Buffer) => {
      if (this.ended || socket.destroyed) return;
      // A slow upload is the client's pace, not the upstream's silence (see sweep).
      this.sent += chunk.length;
      let flushed: boolean;
      if (chunked) {
        socket.cork();
        socket.write(chunkPrefix(chunk.length), 'latin1');
        socket.write(chunk);
        flushed = socket.write(CHUNK_SUFFIX, 'latin1');
        socket.uncork();
      } else {
        flushed = socket.write(chunk);
      }
      if (!flushed) body.pause();
    });
    body.once('end', () => {
      this.uploading = undefined;
      socket.removeListener('drain', resume);
      if (chunked && !socket.destroyed) socket.write(LAST_CHUNK, 'latin1');
      this.uploaded = true;
    });
    body.once('error', (error) => {
      // The client's body broke off (a bad chunk, the client left): the upstream must not wait for the rest.
      this.fail(400, `request body failed: ${error.message}`);
    });
  }

  /** @internal UpstreamUser */
  onParsed(): void {
    this.received = true;
    if (this.head !== undefined && !this.settled && !this.hold) this.settleStream();
  }

  /**
   * @internal UpstreamUser: times out an upstream that stays silent while the client has nothing
   * yet (the head, or the rest of a body held whole). A streamed body is the client's to wait for,
   * and so is an upload that waits on the client (not paused because the upstream is full): a
   * client that stops sending is the connection's body timeout's to end, with a 400.
   */
  sweep(now: number): void {
    if (this.settled || this.ended) return;
    // A piece of the upload sent, or a read of a held body, since the last sweep.
    const progress = this.sent + this.size;
    const waitingOnClient = this.uploading !== undefined && !this.uploading.isPaused();
    if (progress !== this.progress || waitingOnClient) {
      this.progress = progress;
      this.deadline = now + this.context.timeoutMs;
      return;
    }
    if (now < this.deadline) return;
    const seconds = this.context.timeoutMs / 1000;
    this.fail(504, this.head === undefined ? `no answer within ${seconds} s` : `the body stopped arriving for ${seconds} s`);
  }

  /** @internal parser callback */
  onHead(head: ResponseHead): void {
    if (head.status < 200 && head.status !== 101) return;
    this.headMs = performance.now() - this.started;
    if (head.status === 101) return this.switchProtocols(head);
    this.head = head;
    const pages = this.context.pages;
    const page = pages !== undefined && rewritablePage(head);
    // A 304 repeats the Vary of the page it revalidates (RFC 9110 section 15.4.5), and a cache
    // takes the 304's over the stored one: ours must be in it, though a 304 names no type.
    if (page || (pages !== undefined && revalidatesVary(head))) this.vary = DOCUMENT_FIELDS;
    const framing = head.framing;
    if (framing.kind === 'none') return this.settleEmpty(head);
    this.rewrite = page && injectable(this.request, head, pages as PageRewrite);
    this.hold = this.rewrite || (framing.kind === 'length' && framing.length <= MAX_HELD);
    if (this.hold && framing.kind === 'length' && framing.length <= MAX_HELD) this.whole = Buffer.allocUnsafe(framing.length);
  }

  /** @internal parser callback */
  onBody(chunk: Buffer): void {
    // The chunk lies in the shared read buffer of the upstream sockets (READ_BUFFER in pool.ts),
    // which the next read overwrites: what is kept is a copy.
    if (this.stream !== undefined) {
      if (!this.stream.push(Buffer.from(chunk))) this.connection.socket.pause();
      return;
    }
    const whole = this.whole;
    if (whole !== undefined) {
      chunk.copy(whole, this.size);
      this.size += chunk.length;
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
    if (this.rewrite && this.size > MAX_REWRITE) {
      this.rewrite = false;
      this.hold = false;
      this.settleStream();
    }
  }

  /** @internal parser callback */
  onMessageEnd(_trailers: HeaderMap): void {
    this.ended = true;
    this.release();
    if (this.stream !== undefined) this.stream.push(null);
    else if (this.rewrite) this.settleRewritten();
    else if (!this.settled) this.settleWhole();
  }

  /** @internal parser callback */
  onError(error: ParseError): void {
    this.fail(502, `malformed response: ${error.message} (${error.code})`);
  }

  /** A 101 to a request that asked to upgrade: the connection becomes a tunnel. */
  private switchProtocols(head: ResponseHead): void {
    if (!this.upgrade) return this.fail(502, 'switched protocols without being asked to');
    // RFC 9110 section 7.8: a 101 names the protocols switched to, only ones the client offered.
    const offered = tokenList(this.request.headers.get('upgrade'));
    const chosen = tokenList(head.headers.get('upgrade'));
    if (chosen.length === 0 || !chosen.every((protocol) => offered.includes(protocol))) {
      return this.fail(502, `switched protocols to ${JSON.stringify(head.headers.get('upgrade') ?? '')}, which the client did not ask for`);
    }
    this.settled = true;
    this.ended = true;
    const socket = this.connection.handOver();
    if (this.resumeUpload !== undefined) socket.removeListener('drain', this.resumeUpload);
    socket.pause();
    this.pending.settle(this.context.tunnel(socket, head, this.responseFields(head), this.reason()));
  }

  /** A response without a body; HEAD keeps the upstream's Content-Length. */
  private settleEmpty(head: ResponseHead): void {
    this.settled = true;
    const fieldLines = this.responseFields(head);
    const status = head.status;
    if (this.request.method === 'HEAD' && status !== 204 && status !== 304) {
      // HEAD is framed as its GET would be: the upstream's length, else chunked; never a made-up 0.
      const length = declaredLength(head.headers.get('content-length'));
      const stream = Readable.from([]);
      this.pending.settle({ status, headers: NO_HEADERS, fieldLines, body: length === undefined ? { kind: 'stream', stream } : { kind: 'stream', stream, length }, reason: this.reason() });
    } else {
      this.pending.settle({ status, headers: NO_HEADERS, fieldLines, reason: this.reason() });
    }
  }

  /** The complete body as one buffer. */
  private settleWhole(): void {
    const head = this.head as ResponseHead;
    this.settled = true;
    const body = this.heldBody();
    this.pending.settle({ status: head.status, headers: NO_HEADERS, fieldLines: this.responseFields(head), body, reason: this.reason() });
  }

  /** The body as a stream from here on: what arrived so far, then the rest as it comes. */
  private settleStream(): void {
    const head = this.head as ResponseHead;
    this.settled = true;
    const socket = this.connection.socket;
    const stream = new Readable({
      highWaterMark: 64 * 1024,
      read: () => {
        if (!socket.destroyed) socket.resume();
      },
      destroy: (error, callback) => {
        // The client went away, or its connection will not send a body: stop the upstream.
        if (!this.ended) this.abandon();
        callback(error);
      },
    });
    this.stream = stream;
    for (const chunk of this.chunks) stream.push(chunk);
    this.chunks = [];
    const length = head.framing.kind === 'length' ? head.framing.length : undefined;
    // An event stream is treated as one that never ends (StreamBody.endless): a client that
    // leaves is noticed at once even while no event is written, and the upstream is released.
    const endless = EVENT_STREAM.test(head.headers.get('content-type') ?? '');
    const body: StreamBody = length === undefined ? { kind: 'stream', stream, endless } : { kind: 'stream', stream, length, endless };
    this.pending.settle({ status: head.status, headers: NO_HEADERS, fieldLines: this.responseFields(head), body, reason: this.reason() });
  }

  /** The page, decoded when it was compressed, with live reload's client in it, sent as identity. */
  private settleRewritten(): void {
    const head = this.head as ResponseHead;
    this.settled = true;
    const page = inject(this.request, head, this.heldBody(), this.context.pages as PageRewrite);
    this.pending.settle({ status: head.status, headers: NO_HEADERS, fieldLines: this.responseFields(head, page.drop), body: page.body, reason: this.reason() });
  }

  private heldBody(): Buffer {
    const chunks = this.chunks;
    this.chunks = [];
    if (this.whole !== undefined) return this.whole;
    return this.size === 0 ? EMPTY : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.size);
  }

  private responseFields(head: ResponseHead, drop?: ReadonlySet<string>): string {
    return responseFields(head, this.route, this.request.headers.get('host') ?? '', drop, this.vary);
  }

  private reason(): string {
    return `proxy → ${this.route.upstream.origin} ${formatTenths(this.headMs)}ms`;
  }

  /** A clean end: the connection goes back to the pool when both sides of the exchange are complete. */
  private release(): void {
    const connection = this.connection;
    const socket = connection.socket;
    if (this.resumeUpload !== undefined) socket.removeListener('drain', this.resumeUpload);
    socket.resume();
    if (this.head?.keepAlive === true && this.uploaded && !misframed(this.head)) this.pool.give(connection);
    else connection.destroy();
  }

  /** @internal UpstreamUser */
  onSocketError(error: NodeJS.ErrnoException): void {
    if (this.retry()) return;
    const code = error.code ?? '';
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : error.message;
    this.fail(502, `${why}${code === '' ? '' : ` (${code})`}`, !this.received);
  }

  /**
   * @internal UpstreamUser. A FIN before any byte of the answer, on a reused connection, is how
   * an upstream's keep-alive usually ends as we send: retried like a reset. Otherwise the parser
   * decides (a close-delimited body ends here; anything else is incomplete).
   */
  onSocketEnd(): void {
    if (!this.received && this.retry()) return;
    this.connection.parser.end();
  }

  /** @internal UpstreamUser */
  onSocketClose(): void {
    if (this.ended || this.retry()) return;
    this.fail(502, 'upstream closed the connection before the response was complete');
  }

  /**
   * A reused connection that the upstream closed as we sent on it (its keep-alive timeout) failed
   * before any answer: the request is sent again on a new one, once, if its body was not streamed
   * and its method is idempotent (RFC 9110 section 9.2.2). The upstream may have acted on a POST
   * before it closed, and must not be asked to act twice (RFC 9112 section 9.3.1): that one gets
   * the 502.
   */
  private retry(): boolean {
    if (!this.connection.reused || this.received || this.attempt > 0 || this.streamsBody || this.settled) return false;
    if (!IDEMPOTENT.has(this.request.method)) return false;
    this.attempt++;
    this.connection.destroy();
    this.send();
    return true;
  }

  /** Stops the exchange: the upstream connection is destroyed, never reused. */
  private abandon(): void {
    this.ended = true;
    this.connection.destroy();
  }

  /** Fails the exchange: an error page before the response started, a cut connection after. */
  private fail(status: 400 | 502 | 504, why: string, unreachable = false): void {
    if (this.ended) return;
    this.abandon();
    if (this.stream !== undefined) {
      this.stream.destroy(new Error(`proxy → ${this.route.upstream.origin}: ${why}`));
      return;
    }
    if (this.settled) return;
    this.settled = true;
    this.pending.settle(proxyError(status, this.route, this.request, why, unreachable));
  }
}

/**
 * A 204 with Transfer-Encoding or a Content-Length other than 0, which no server may send (RFC
 * 9110 section 8.6, RFC 9112 section 6.1): the parser takes it as bodiless, as it must, but bytes
 * its sender meant as a body may still come, and would be read as the answer to the connection's
 * next request. Such a connection is not reused. (`Content-Length: 0`, which many frameworks send
 * with a 204, promises nothing more.)
 */
function misframed(head: ResponseHead): boolean {
  if (head.status !== 204) return false;
  const length = head.headers.get('content-length');
  return head.headers.has('transfer-encoding') || (length !== undefined && declaredLength(length) !== 0);
}

/** A Content-Length field's value as the parsers accept it (digits, or equal ones in a list). */
function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const digits = nextContentLength(null, value);
  return typeof digits === 'string' ? Number(digits) : undefined;
}
