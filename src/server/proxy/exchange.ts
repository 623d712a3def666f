import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { CHUNK_SUFFIX, LAST_CHUNK, chunkPrefix } from '../../http/response';
import { ResponseParser, type ResponseHead } from '../../http/response-parser';
import type { HeaderMap, ParseError } from '../../http/types';
import type { Request, Response, StreamBody } from '../handler';
import { requestHead, responseHeaders, type UploadFraming } from './headers';
import { decodableEncodings, injectable, inject, type PageRewrite } from './html';
import type { Lease, UpstreamPool } from './pool';
import { upstreamTarget, type Route } from './routes';
import { proxyError } from './errors';
import type { Tunnel } from './tunnel';

/** What every request through one proxy shares. */
export interface ProxyContext {
  readonly pools: ReadonlyMap<Route, UpstreamPool>;
  readonly timeoutMs: number;
  readonly keepHost: boolean;
  readonly maxHeaderBytes: number;
  /** Live reload's page rewriting, when it is on. */
  readonly pages: PageRewrite | undefined;
  /** Hands a 101 answer's sockets to a tunnel (see tunnel.ts). */
  readonly tunnel: Tunnel;
}

/** A page waiting for live reload is held whole up to this size; a larger one streams unmodified. */
const MAX_REWRITE = 8 * 1024 * 1024;
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const EVENT_STREAM = /^\s*text\/event-stream\b/i;

/** Forwards `request` on `route` and resolves with the upstream's response, or an error page. */
export function forward(request: Request, route: Route, context: ProxyContext): Promise<Response> {
  return new Promise((resolve) => new ProxyExchange(request, route, context, resolve));
}

/**
 * One request through the proxy: the head and body go upstream on a pooled connection, the
 * response comes back through a ResponseParser. A response complete within the data event of
 * its head (most small answers) is resolved as a buffer; any other streams, with backpressure
 * both ways (the upstream socket pauses while the client is slow). Whatever goes wrong makes
 * the upstream connection be destroyed; only a clean exchange returns it to the pool.
 */
class ProxyExchange {
  private lease!: Lease;
  private parser: ResponseParser;
  private readonly started = performance.now();
  private headMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private head: ResponseHead | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private stream: Readable | undefined;
  private settled = false;
  private ended = false;
  private uploaded = false;
  private received = false;
  private rewrite = false;
  private attempt = 0;
  private resumeUpload: (() => void) | undefined;

  constructor(
    private readonly request: Request,
    private readonly route: Route,
    private readonly context: ProxyContext,
    private readonly resolve: (response: Response) => void,
  ) {
    this.parser = this.newParser();
    this.timer = setTimeout(() => this.timeOut(), context.timeoutMs);
    this.send();
  }

  private newParser(): ResponseParser {
    return new ResponseParser(this, { maxHeaderBytes: this.context.maxHeaderBytes, maxBodyBytes: NO_LIMIT });
  }

  private get pool(): UpstreamPool {
    return this.context.pools.get(this.route) as UpstreamPool;
  }

  private get upgrade(): boolean {
    return this.request.headers.has('upgrade') && this.request.bodyStream === undefined;
  }

  /** Sends the head and the body on a pooled connection. */
  private send(): void {
    const lease = this.pool.take();
    this.lease = lease;
    const socket = lease.socket;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    const { request } = this;
    const body = request.bodyStream;
    const upload: UploadFraming = body !== undefined ? (request.headers.has('content-length') ? 'length' : 'chunked') : request.body.length > 0 || request.headers.has('content-length') ? 'length' : 'none';
    const length = body !== undefined ? Number(request.headers.get('content-length')) : request.body.length;
    const pages = this.context.pages;
    const page = pages !== undefined && pages.applies(request);
    const head = requestHead(request, {
      route: this.route,
      target: upstreamTarget(this.route, request.path, request.query),
      keepHost: this.context.keepHost,
      upload,
      length,
      acceptEncoding: page ? decodableEncodings(request.headers.get('accept-encoding')) : undefined,
      upgrade: this.upgrade,
    });
    this.parser.expect(request.method);
    if (body === undefined) {
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
    socket.on('drain', resume);
    body.on('data', (chunk: Buffer) => {
      if (this.ended || socket.destroyed) return;
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
      socket.removeListener('drain', resume);
      if (chunked && !socket.destroyed) socket.write(LAST_CHUNK, 'latin1');
      this.uploaded = true;
    });
    body.once('error', (error) => {
      // The client's body broke off (a bad chunk, the client left): the upstream must not wait for the rest.
      this.fail(400, `request body failed: ${error.message}`);
    });
  }

  /** Takes this exchange's listeners off the upstream connection. */
  private detach(socket: Socket): void {
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('error', this.onSocketError);
    socket.removeListener('close', this.onSocketClose);
    if (this.resumeUpload !== undefined) socket.removeListener('drain', this.resumeUpload);
  }

  private readonly onEnd = (): void => {
    this.parser.end();
  };

  private readonly onData = (chunk: Buffer): void => {
    this.received = true;
    const used = this.parser.execute(chunk);
    if (this.head !== undefined && !this.settled && !this.rewrite) this.settleBody();
    // After a 101 the rest is the new protocol's, for the tunnel: back into the paused socket.
    if (used < chunk.length && !this.parser.failed) this.lease.socket.unshift(chunk.subarray(used));
  };

  /** @internal parser callback */
  onHead(head: ResponseHead): void {
    if (head.status < 200 && head.status !== 101) return;
    this.clearTimer();
    this.headMs = performance.now() - this.started;
    if (head.status === 101) return this.switchProtocols(head);
    this.head = head;
    const pages = this.context.pages;
    this.rewrite = pages !== undefined && head.framing.kind !== 'none' && injectable(this.request, head, pages);
    if (head.framing.kind === 'none') this.settleEmpty(head);
  }

  /** @internal parser callback */
  onBody(chunk: Buffer): void {
    if (this.stream !== undefined) {
      if (!this.stream.push(chunk)) this.lease.socket.pause();
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.rewrite && this.size > MAX_REWRITE) {
      this.rewrite = false;
      this.settleBody();
    }
  }

  /** @internal parser callback */
  onMessageEnd(_trailers: HeaderMap): void {
    this.ended = true;
    this.release();
    if (this.stream !== undefined) this.stream.push(null);
    else if (this.rewrite) this.settleRewritten();
  }

  /** @internal parser callback */
  onError(error: ParseError): void {
    this.fail(502, `malformed response: ${error.message} (${error.code})`);
  }

  /** A 101 to a request that asked to upgrade: the connection becomes a tunnel. */
  private switchProtocols(head: ResponseHead): void {
    if (!this.upgrade) return this.fail(502, 'switched protocols without being asked to');
    this.settled = true;
    this.ended = true;
    const socket = this.lease.socket;
    this.detach(socket);
    socket.pause();
    this.resolve(this.context.tunnel(socket, head, this.responseHeaders(head), this.reason()));
  }

  /** A response without a body; HEAD keeps the upstream's Content-Length. */
  private settleEmpty(head: ResponseHead): void {
    this.settled = true;
    const headers = this.responseHeaders(head);
    const length = head.headers.get('content-length');
    const status = head.status;
    if (this.request.method === 'HEAD' && length !== undefined && status !== 204 && status !== 304 && /^\d{1,15}$/.test(length)) {
      this.resolve({ status, headers, body: { kind: 'stream', stream: Readable.from([]), length: Number(length) }, reason: this.reason() });
    } else {
      this.resolve({ status, headers, reason: this.reason() });
    }
  }

  /** After a data event: the body whole when it is complete by now, else a stream from here on. */
  private settleBody(): void {
    const head = this.head as ResponseHead;
    this.settled = true;
    const headers = this.responseHeaders(head);
    if (this.ended) {
      this.resolve({ status: head.status, headers, body: Buffer.concat(this.chunks, this.size), reason: this.reason() });
      return;
    }
    const socket = this.lease.socket;
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
    this.resolve({ status: head.status, headers, body, reason: this.reason() });
  }

  /** The page, decoded when it was compressed, with live reload's client in it, sent as identity. */
  private settleRewritten(): void {
    const head = this.head as ResponseHead;
    this.settled = true;
    const page = inject(this.request, head, Buffer.concat(this.chunks, this.size), this.context.pages as PageRewrite);
    this.resolve({ status: head.status, headers: this.responseHeaders(head, page.drop), body: page.body, reason: this.reason() });
  }

  private responseHeaders(head: ResponseHead, drop?: ReadonlySet<string>): Response['headers'] {
    return responseHeaders(head, this.route, this.request.headers.get('host') ?? '', drop);
  }

  private reason(): string {
    return `proxy → ${this.route.upstream.origin} ${this.headMs.toFixed(1)}ms`;
  }

  /** A clean end: the connection goes back to the pool when both sides of the exchange are complete. */
  private release(): void {
    const socket = this.lease.socket;
    this.detach(socket);
    socket.resume();
    if (this.head?.keepAlive === true && this.uploaded) this.pool.give(socket);
    else socket.destroy();
  }

  private readonly onSocketError = (error: NodeJS.ErrnoException): void => {
    if (this.retry()) return;
    const code = error.code ?? '';
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : error.message;
    this.fail(502, `${why}${code === '' ? '' : ` (${code})`}`, !this.received);
  };

  private readonly onSocketClose = (): void => {
    if (this.ended || this.retry()) return;
    this.fail(502, 'upstream closed the connection before the response was complete');
  };

  /**
   * A reused connection that the upstream closed as we sent on it (its keep-alive timeout) failed
   * before any answer: the request is sent again on a new one, once, if its body was not streamed.
   */
  private retry(): boolean {
    if (!this.lease.reused || this.received || this.attempt > 0 || this.request.bodyStream !== undefined || this.settled) return false;
    this.attempt++;
    const socket = this.lease.socket;
    this.detach(socket);
    socket.on('error', () => undefined);
    socket.destroy();
    this.parser = this.newParser();
    this.send();
    return true;
  }

  private timeOut(): void {
    this.timer = undefined;
    this.fail(504, `no answer within ${this.context.timeoutMs / 1000} s`);
  }

  /** Stops the exchange: the upstream connection is destroyed, never reused. */
  private abandon(): void {
    this.ended = true;
    this.clearTimer();
    const socket = this.lease.socket;
    socket.removeListener('data', this.onData);
    socket.on('error', () => undefined);
    socket.destroy();
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
    this.resolve(proxyError(status, this.route, this.request, why, unreachable));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
