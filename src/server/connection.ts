import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
// Imported, not the globals: in Node the global Buffer and performance are getters, called on each use.
import { performance } from 'node:perf_hooks';
import { RequestParser, type ParserCallbacks } from '../http/parser';
import { CONTINUE_HEAD, type DateCache } from '../http/response';
import type { HeaderMap, HttpVersion, ParseError, RequestHead } from '../http/types';
import { errorResponse, internalError, type Request, type Response } from './handler';
import type { RequestLogRecord } from './log';
import type { Limits } from './options';
import { isSmallBuffered, sendBody, writeBuffered } from './send-body';
import { RequestBody } from './request-body';
import { RequestQueue } from './request-queue';
import { lingeringClose, listenTo, type SocketOwner } from './socket';
import type { WireCache } from './wire';

/** What every connection of one server shares, resolved once per server. */
export interface ConnectionContext {
  readonly limits: Limits;
  /** The handler chain; exceptions are already turned into 500 responses. */
  readonly dispatch: (request: Request) => Response | Promise<Response>;
  readonly log: (record: RequestLogRecord) => void;
  readonly dates: DateCache;
  readonly wire: WireCache;
  /** Called once when the socket is gone. */
  readonly onClose: (connection: Connection) => void;
}

/** A parsed request waiting for its turn, or a parse error waiting to be answered. */
interface Pending {
  readonly head: RequestHead | undefined;
  readonly error: { readonly status: number; readonly message: string } | undefined;
  readonly body: Buffer;
  readonly bodyStream?: RequestBody | undefined;
  readonly startedAt: number;
  readonly startedHr: number;
}

const EMPTY = Buffer.alloc(0);
const UNPARSED_HEADERS: readonly string[] = [];

/**
 * One client socket: feeds the parser, answers requests strictly in order (pipelining), applies
 * backpressure both ways and enforces the header and keep-alive timeouts through `sweep()`.
 */
export class Connection implements ParserCallbacks, SocketOwner {
  private readonly parser: RequestParser;
  /** Requests waiting for their turn, pipelined ones behind the one being answered. */
  private readonly queue = new RequestQueue<Pending>();
  private readonly client: string;
  private readonly remoteAddress: string;
  private readonly remotePort: number;
  private head: RequestHead | undefined;
  private headStartedAt: number | undefined;
  private bodyChunks: Buffer[] | undefined;
  private bodySize = 0;
  private busy = false;
  private ended = false;
  private closed = false;
  private lastActivity = Date.now();
  /** The time of the data event being handled, 0 outside one: answers sent inside it reuse it. */
  private dataNow = 0;
  private writePaused = false;
  /** A request asked to close, or could not be parsed: later bytes are ignored. */
  private closeAfterQueue = false;
  private abortBody: (() => void) | undefined;
  /** The body of the request being read, when bodies are streamed (Limits.streamBodies). */
  private bodyStream: RequestBody | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.client = `${this.remoteAddress || '-'}:${this.remotePort}`;
    // The connection is its own parser callback object and socket owner (see listenTo): no
    // closures per connection. Nagle is off through the server's noDelay option.
    this.parser = new RequestParser(this, ctx.limits);
    listenTo(socket, this);
  }

  /** Closes the socket now, abandoning any response in progress. */
  destroy(): void {
    this.abortBody?.();
    this.socket.destroy();
  }

  /** Closes the connection after the response in progress, or now when it is idle. */
  closeWhenIdle(): void {
    this.ended = true;
    if (!this.busy && this.queue.size === 0) this.socket.destroy();
  }

  /** Applies timeouts; called about once a second by the server. */
  sweep(now: number): void {
    if (this.busy || this.queue.size > 0 || this.writePaused || this.socket.writableLength > 0) {
      // Output still pending is not idleness; but a client that stops reading a response must
      // not hold its file and socket forever.
      if (this.writePaused && now - this.lastActivity > SEND_TIMEOUT_MS) this.destroy();
      return;
    }
    const limits = this.ctx.limits;
    if (this.headStartedAt !== undefined) {
      if (now - this.headStartedAt > limits.headersTimeoutMs) this.timeOut(now);
    } else if (this.head !== undefined) {
      if (now - this.lastActivity > limits.headersTimeoutMs) this.timeOut(now);
    } else if (now - this.lastActivity > limits.keepAliveTimeoutMs) {
      this.socket.destroy();
    }
  }

  private timeOut(now: number): void {
    const error = { status: 408, message: 'Client took too long to send the request' };
    this.queue.push({ head: this.head, error, body: EMPTY, startedAt: now, startedHr: performance.now() });
    this.head = undefined;
    this.headStartedAt = undefined;
    this.pump();
  }

  /** @internal socket listener */
  onData(chunk: Buffer): void {
    const now = Date.now();
    this.lastActivity = now;
    if (this.head === undefined && this.headStartedAt === undefined) this.headStartedAt = now;
    this.dataNow = now;
    try {
      this.parser.execute(chunk);
    } finally {
      this.dataNow = 0;
    }
    if (this.head === undefined && this.parser.idle) this.headStartedAt = undefined;
    if (this.queue.size >= this.ctx.limits.maxPipelined) this.socket.pause();
  }

  /** @internal parser callback */
  onHead(head: RequestHead): void {
    // RFC 9112 section 9.6: nothing after a request that closes the connection is processed.
    if (this.closeAfterQueue) return;
    this.head = head;
    this.headStartedAt = undefined;
    // RFC 9110 section 10.1.1: invite the body only when this request is next in line; a
    // pipelined one behind others gets no interim response and the client sends the body anyway.
    if (head.expectContinue && head.framing.kind !== 'none' && !this.busy && this.queue.size === 0) {
      this.socket.write(CONTINUE_HEAD, 'latin1');
    }
    if (this.ctx.limits.streamBodies && head.framing.kind !== 'none') this.streamBody(head);
  }

  /** Queues the request now, its body following as it arrives (see RequestBody). */
  private streamBody(head: RequestHead): void {
    this.bodyStream = new RequestBody(
      () => this.socket.pause(),
      () => {
        if (!this.writePaused && !this.ended) this.socket.resume();
      },
    );
    this.queue.push({ head, error: undefined, body: EMPTY, bodyStream: this.bodyStream, startedAt: this.lastActivity, startedHr: performance.now() });
    this.pump();
  }

  /** @internal parser callback */
  onBody(chunk: Buffer): void {
    if (this.head === undefined) return;
    if (this.bodyStream !== undefined) return this.bodyStream.add(chunk);
    (this.bodyChunks ??= []).push(chunk);
    this.bodySize += chunk.length;
  }

  /** @internal parser callback */
  onMessageEnd(_trailers: HeaderMap): void {
    const head = this.head;
    this.head = undefined;
    if (head === undefined) return;
    if (this.bodyStream !== undefined) {
      this.bodyStream.finish();
      this.bodyStream = undefined;
      if (!head.keepAlive) {
        this.closeAfterQueue = true;
        this.stopReading();
      }
      return;
    }
    const body = this.bodyChunks === undefined ? EMPTY : Buffer.concat(this.bodyChunks, this.bodySize);
    this.bodyChunks = undefined;
    this.bodySize = 0;
    this.queue.push({ head, error: undefined, body, startedAt: this.lastActivity, startedHr: performance.now() });
    if (!head.keepAlive) {
      this.closeAfterQueue = true;
      this.stopReading();
    }
    this.pump();
  }

  /** @internal parser callback */
  onError(error: ParseError): void {
    if (this.closeAfterQueue) return;
    this.closeAfterQueue = true;
    this.bodyStream?.destroy(new Error(error.message));
    this.bodyStream = undefined;
    this.queue.push({ head: this.head, error, body: EMPTY, startedAt: Date.now(), startedHr: performance.now() });
    this.head = undefined;
    this.stopReading();
    this.pump();
  }

  /** No more requests will be read; what is queued is still answered. */
  private stopReading(): void {
    this.ended = true;
    this.socket.pause();
  }

  /** @internal socket listener */
  onEnd(): void {
    this.ended = true;
    if (!this.busy && this.queue.size === 0) lingeringClose(this.socket);
  }

  /** @internal socket listener */
  onDrain(): void {
    this.lastActivity = Date.now();
    if (this.writePaused) {
      this.writePaused = false;
      if (!this.ended) this.socket.resume();
      if (!this.busy && this.queue.size > 0) this.pump();
    }
  }

  /** @internal socket listener */
  onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.abortBody?.();
    this.bodyStream?.destroy(new Error('client closed the connection'));
    this.ctx.onClose(this);
  }

  /** Answers queued requests one at a time, in order. */
  private pump(): void {
    // While the socket cannot take more, queued answers wait for 'drain' (no unbounded buffering).
    while (!this.busy && !this.closed && !this.writePaused) {
      const pending = this.queue.shift();
      if (pending === undefined) break;
      if (this.socket.isPaused() && this.queue.size < this.ctx.limits.maxPipelined && !this.ended) {
        this.socket.resume();
      }
      if (pending.error !== undefined) {
        this.busy = true;
        this.respond(pending, errorResponse(pending.error.status, pending.error.message));
        return;
      }
      this.answer(pending);
    }
    if (!this.busy && this.queue.size === 0 && this.ended && !this.closed) lingeringClose(this.socket);
  }

  private answer(pending: Pending): void {
    const head = pending.head as RequestHead;
    const request: Request = {
      method: head.method,
      target: head.target,
      path: head.path,
      query: head.query,
      version: head.version,
      headers: head.headers,
      body: pending.body,
      bodyStream: pending.bodyStream,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
    };
    this.busy = true;
    const result = this.ctx.dispatch(request);
    if (result instanceof Promise) {
      result.then(
        (response) => this.respond(pending, response),
        (error: unknown) => this.respond(pending, internalError(error)),
      );
    } else {
      this.respond(pending, result);
    }
  }

  private respond(pending: Pending, response: Response): void {
    const head = pending.head;
    if (this.closed) {
      destroyStreamBody(response);
      this.finish(pending, response.status, 0, 'client closed the connection');
      return;
    }
    // The rest of a streamed body nobody read would have to be read to find the next request: close instead.
    const persistent =
      head !== undefined &&
      head.keepAlive &&
      response.close !== true &&
      pending.error === undefined &&
      (pending.bodyStream === undefined || pending.bodyStream.complete);
    const isHead = head?.method === 'HEAD';
    const version = head?.version ?? '1.1';
    const date = this.ctx.dates.get(this.now());
    if (!isSmallBuffered(response, isHead)) {
      this.sendStreamed(pending, response, version, isHead, persistent, date);
      return;
    }
    // The common case, written at once: no options object and no callbacks per request.
    let bytes: number;
    try {
      bytes = writeBuffered(this.socket, response, version, isHead, persistent, date, this.ctx.wire);
    } catch (error) {
      this.failSerializing(pending, response, error);
      return;
    }
    // A destroyed socket takes no more either (its write returned false): wait for 'close'.
    if (this.socket.writableNeedDrain || this.socket.destroyed) this.blockReading();
    this.onBodyDone(pending, response, bytes, persistent, undefined, undefined);
  }

  /** A body from a file or a stream, sent with backpressure; onBodyDone runs when it ends. */
  private sendStreamed(
    pending: Pending,
    response: Response,
    version: HttpVersion,
    isHead: boolean,
    persistent: boolean,
    date: string,
  ): void {
    let settled = false;
    let abort: (() => void) | undefined;
    try {
      abort = sendBody({
        socket: this.socket,
        version,
        response,
        isHead,
        keepAlive: persistent,
        date,
        onBlocked: () => this.blockReading(),
        done: (result) => {
          settled = true;
          this.onBodyDone(pending, response, result.bytes, persistent && result.close !== true, result.status, result.error);
        },
      });
    } catch (error) {
      // Thrown after the body ended belongs to what ran next, not to this response.
      if (settled) throw error;
      this.failSerializing(pending, response, error);
      return;
    }
    // A body that ended at once may already have started the next response, which owns abortBody now.
    if (!settled) this.abortBody = abort;
  }

  /** A handler's header that cannot be serialized: a bug, answered by dropping the connection. */
  private failSerializing(pending: Pending, response: Response, error: unknown): void {
    destroyStreamBody(response);
    const message = error instanceof Error ? error.message : String(error);
    this.onBodyDone(pending, internalError(error), 0, false, undefined, `internal error: ${message}`);
  }

  private now(): number {
    return this.dataNow === 0 ? Date.now() : this.dataNow;
  }

  private blockReading(): void {
    if (!this.writePaused) this.lastActivity = Date.now();
    this.writePaused = true;
    this.socket.pause();
  }

  private onBodyDone(
    pending: Pending,
    response: Response,
    bytes: number,
    persistent: boolean,
    status: number | undefined,
    error: string | undefined,
  ): void {
    this.abortBody = undefined;
    this.finish(pending, status ?? response.status, bytes, error ?? response.reason);
    this.busy = false;
    this.lastActivity = this.now();
    if (!persistent || error !== undefined) {
      this.ended = true;
      this.queue.clear();
      if (error !== undefined) this.socket.destroy();
      else lingeringClose(this.socket);
      return;
    }
    this.pump();
  }

  private finish(pending: Pending, status: number, bytes: number, reason: string | undefined): void {
    const head = pending.head;
    const durationMs = performance.now() - pending.startedHr;
    const record: RequestLogRecord = {
      time: pending.startedAt,
      client: this.client,
      method: head?.method ?? '-',
      target: head?.target ?? '-',
      version: head?.version ?? '-',
      status,
      bytes,
      durationMs,
      headers: head?.rawHeaders ?? UNPARSED_HEADERS,
      reason,
    };
    this.ctx.log(record);
  }
}

/** A stream body that will not be sent is destroyed, so its file or producer is released. */
function destroyStreamBody(response: Response): void {
  const body = response.body;
  if (body !== undefined && !Buffer.isBuffer(body) && body.kind === 'stream') body.stream.destroy();
}

/** How long a response may wait for the client to read before the connection is dropped. */
const SEND_TIMEOUT_MS = 60_000;
