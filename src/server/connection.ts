// Imported, not the global: in Node the global Buffer is a getter, called on each use.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { RequestParser, type ParserCallbacks } from '../http/parser';
import { CONTINUE_HEAD, serializeHead, type DateCache } from '../http/response';
import type { HeaderMap, ParseError, RequestHead } from '../http/types';
import { isEndless, logRecord, newExchange, toRequest, type Exchange } from './exchange';
import { errorResponse, internalError, PendingResponse, type ClientLink, type Request, type Response } from './handler';
import type { RequestLogRecord } from './log';
import type { Limits } from './options';
import { RequestBody } from './request-body';
import { RequestQueue } from './request-queue';
import { isSmallBuffered, releaseBody, sendBody, writeBuffered, type BodyOutcome } from './send-body';
import { handOver, lingeringClose, listenTo, type SocketOwner } from './socket';
import type { WireCache } from './wire';

/** The event streams open on all connections of one server, counted against a cap. */
export interface StreamSlots {
  /** Takes a slot; false when all are taken. */
  take(): boolean;
  release(): void;
}

/** What every connection of one server shares, resolved once per server. */
export interface ConnectionContext {
  readonly limits: Limits;
  /** The handler chain; exceptions are already turned into 500 responses. */
  readonly dispatch: (request: Request) => Response | Promise<Response> | PendingResponse;
  readonly log: (record: RequestLogRecord) => void;
  readonly dates: DateCache;
  readonly wire: WireCache;
  readonly streams: StreamSlots;
  /** See ListenOptions.streamReads. */
  readonly streamReads: boolean;
  /** Called once when the socket is gone. */
  readonly onClose: (connection: Connection) => void;
}

/**
 * Where a connection is in its life, which says what becomes of the bytes the client sends:
 * - reading: requests are parsed, queued and answered in order.
 * - finishing: no more requests are parsed (one asked to close or could not be parsed, the client
 *   ended its side, or the response in progress closes the connection); the socket is paused,
 *   what is queued is answered, then the connection closes. The body of the request being
 *   answered is still read to its end: a handler that answers while it arrives (the proxy
 *   relaying an upstream that echoes it) may need all of it to finish the answer. While a
 *   handler's stream body goes out, reading goes on too, so that a client that leaves is seen.
 * - streaming: the response in progress never ends (an event stream) and is the last one: what
 *   the client sends is read and discarded, and a client that ends its side is dropped at once.
 * - closing: our side has ended (lingering close) or the socket is being destroyed.
 * - tunnelled: a 101 answer took the socket over (Response.upgrade); the connection only destroys
 *   it when the server closes, and learns when it is gone.
 * - closed: the socket is gone.
 * Whether a response is in progress is `current`; whether the client takes our bytes is the
 * socket's `writableNeedDrain`.
 */
type State = 'reading' | 'finishing' | 'streaming' | 'tunnelled' | 'closing' | 'closed';

const EMPTY = Buffer.alloc(0);

/**
 * One client socket: feeds the parser, answers requests strictly in order (pipelining), applies
 * backpressure both ways and enforces the header, keep-alive and send timeouts through `sweep()`.
 */
export class Connection implements ParserCallbacks, SocketOwner, ClientLink {
  private state: State = 'reading';
  private readonly parser: RequestParser;
  /** Requests waiting for their turn behind `current`. */
  private readonly queue = new RequestQueue<Exchange>();
  /** Body bytes of the queued requests. */
  private queuedBytes = 0;
  /** The request being answered. */
  private current: Exchange | undefined;
  private abortBody: (() => void) | undefined;
  /** Told when the client leaves before the handler's answer arrives (see ClientLink). */
  private gone: (() => void) | undefined;
  /** The body of the request being read, when bodies are streamed (Limits.streamBodies). */
  private bodyStream: RequestBody | undefined;
  /** Its reader has not asked for more: reading waits (backpressure to the client). */
  private bodyBlocked = false;
  // The request being received.
  private head: RequestHead | undefined;
  private headStartedAt: number | undefined;
  private bodyChunks: Buffer[] | undefined;
  private bodySize = 0;
  private readonly client: string;
  private readonly remoteAddress: string;
  private readonly remotePort: number;
  private lastActivity = Date.now();
  /** When a streamed body last brought bytes, or reading it last resumed. */
  private bodyActivity = 0;
  /** The time of the data event being handled, 0 outside one: answers sent inside it reuse it. */
  private dataNow = 0;
  /**
   * What the client sent after a request that asks to upgrade, unparsed until that request is
   * answered (RequestParser.held): the new protocol's first bytes after a 101, else the next
   * pipelined requests.
   */
  private held: Buffer | undefined;
  /** A 101 given within the read that held its request: it is handed over once that read's rest is kept. */
  private upgradeAfterRead: (() => void) | undefined;
  /** The response in progress streams a handler's body (an app's or an upstream's), not a file. */
  private producing = false;

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
    listenTo(socket, this, ctx.streamReads);
  }

  /** Body bytes held for requests not answered yet: the queued ones and the one arriving. */
  get heldBytes(): number {
    return this.queuedBytes + this.bodySize;
  }

  /** Closes the socket now, abandoning any response in progress. */
  destroy(): void {
    if (this.state !== 'closed') this.state = 'closing';
    this.abortBody?.();
    this.socket.destroy();
  }

  /** @internal ClientLink, for the request being answered */
  whenGone(listener: () => void): void {
    this.gone = listener;
    if (this.state === 'finishing') this.updateReading();
  }

  /**
   * The client left while a handler works on its answer: drop the socket, then tell the handler
   * (whose answer, given at once or later, is then only logged).
   */
  private clientGone(): void {
    const gone = this.gone;
    if (gone === undefined) return;
    this.gone = undefined;
    this.destroy();
    gone();
  }

  /** Applies timeouts; called about once a second by the server. */
  sweep(now: number): void {
    // A tunnel may be idle or blocked as long as its two ends like.
    if (this.state === 'tunnelled') return;
    const limits = this.ctx.limits;
    // A streamed body its client stopped sending while it is being read (not held back by its
    // reader or by a paused socket): like a slow head, it is cut off, and its reader told.
    if (
      this.bodyStream !== undefined &&
      (this.state === 'reading' || this.state === 'finishing') &&
      !this.bodyBlocked &&
      !this.socket.isPaused() &&
      now - this.bodyActivity > limits.headersTimeoutMs
    ) {
      this.cutArriving(`the client sent no more of its body for ${limits.headersTimeoutMs / 1000} s`);
      return;
    }
    if (this.socket.writableNeedDrain || (this.state === 'closing' && this.socket.writableLength > 0)) {
      // A client that stops reading must not hold its file and socket forever.
      if (now - this.lastActivity > limits.sendTimeoutMs) this.destroy();
      return;
    }
    // Output still pending is not idleness.
    if (this.state !== 'reading' || this.current !== undefined || this.queue.size > 0 || this.socket.writableLength > 0) return;
    if (this.headStartedAt !== undefined) {
      if (now - this.headStartedAt > limits.headersTimeoutMs) this.timeOut(now);
    } else if (this.head !== undefined) {
      if (now - this.lastActivity > limits.headersTimeoutMs) this.timeOut(now);
    } else if (now - this.lastActivity > limits.keepAliveTimeoutMs) {
      this.destroy();
    }
  }

  private timeOut(now: number): void {
    this.queue.push(newExchange(this.head, errorResponse(408, 'Client took too long to send the request'), EMPTY, now));
    this.dropArriving();
    this.pump();
  }

  /** @internal socket listener */
  onData(chunk: Buffer): void {
    // Streaming discards what arrives; in other states the socket is paused or no longer ours,
    // but for the rest of a body being answered already (see State).
    if (this.state !== 'reading' && !(this.state === 'finishing' && this.answeringArriving())) return;
    const now = Date.now();
    this.lastActivity = now;
    if (this.head === undefined && this.headStartedAt === undefined) this.headStartedAt = now;
    this.dataNow = now;
    let used: number;
    try {
      used = this.parser.execute(chunk);
    } finally {
      this.dataNow = 0;
    }
    if (used < chunk.length) this.hold(chunk.subarray(used));
    const upgrade = this.upgradeAfterRead;
    if (upgrade !== undefined) {
      this.upgradeAfterRead = undefined;
      return upgrade();
    }
    if (this.head === undefined && this.parser.idle) this.headStartedAt = undefined;
    // What was parsed can only have filled the queue: a blocked write or a state change has
    // paused reading already, so the socket is only asked when the queue is full or parsing holds.
    if (!this.hasRoom() || this.parser.held) this.updateReading();
  }

  /** Keeps bytes that follow a request asking to upgrade (see held); they are a view of the read buffer, so copied. */
  private hold(bytes: Buffer): void {
    this.held = this.held === undefined ? Buffer.from(bytes) : Buffer.concat([this.held, bytes]);
  }

  /** The request that asked to upgrade was answered without a 101: what followed it is parsed now. */
  private resumeHeld(): void {
    const held = this.held;
    this.held = undefined;
    this.parser.resume();
    if (held !== undefined) this.onData(held);
    // Paused while it held (unless a handler waited to learn of the client's leaving): read on.
    this.updateReading();
  }

  /** @internal parser callback */
  onHead(head: RequestHead): void {
    // RFC 9112 section 9.6: nothing after a request that closes the connection is processed.
    if (this.state !== 'reading') return;
    this.head = head;
    this.headStartedAt = undefined;
    // RFC 9110 section 10.1.1: invite the body only when this request is next in line; a
    // pipelined one behind others gets no interim response and the client sends the body anyway.
    if (head.expectContinue && head.framing.kind !== 'none' && this.current === undefined && this.queue.size === 0) {
      this.socket.write(CONTINUE_HEAD, 'latin1');
    }
    if (this.ctx.limits.streamBodies && head.framing.kind !== 'none') this.streamBody(head);
  }

  /**
   * Queues the request now, its body following as it arrives (see RequestBody): a handler that
   * reads slower than the client sends blocks reading until it asks for more.
   */
  private streamBody(head: RequestHead): void {
    const body = new RequestBody(
      () => this.blockBody(true),
      () => this.blockBody(false),
    );
    this.bodyStream = body;
    this.bodyActivity = this.lastActivity;
    this.queue.push(newExchange(head, undefined, EMPTY, this.lastActivity, body));
    this.pump();
  }

  private blockBody(blocked: boolean): void {
    this.bodyBlocked = blocked;
    this.updateReading();
  }

  /** @internal parser callback */
  onBody(chunk: Buffer): void {
    if (this.head === undefined) return;
    // The chunk is a view of the socket's read buffer, valid only during this call: keep a copy.
    if (this.bodyStream !== undefined) {
      this.bodyActivity = this.lastActivity;
      return this.bodyStream.add(Buffer.from(chunk));
    }
    (this.bodyChunks ??= []).push(Buffer.from(chunk));
    this.bodySize += chunk.length;
  }

  /** @internal parser callback */
  onMessageEnd(_trailers: HeaderMap): void {
    const head = this.head;
    if (head === undefined) return;
    const streamed = this.bodyStream;
    if (streamed !== undefined) {
      this.bodyStream = undefined;
      this.bodyBlocked = false;
      this.dropArriving();
      streamed.finish();
      if (!head.keepAlive || this.state === 'finishing') this.stopReading();
      return;
    }
    const body = this.bodyChunks === undefined ? EMPTY : Buffer.concat(this.bodyChunks, this.bodySize);
    this.dropArriving();
    this.queuedBytes += body.length;
    this.queue.push(newExchange(head, undefined, body, this.lastActivity));
    if (!head.keepAlive) this.stopReading();
    this.pump();
  }

  /** @internal parser callback */
  onError(error: ParseError): void {
    if (this.state !== 'reading') {
      // A bad chunk in the body of a request being answered: its reader must not wait for more.
      if (this.answeringArriving()) this.cutArriving(error.message);
      return;
    }
    this.bodyStream?.destroy(new Error(error.message));
    this.bodyStream = undefined;
    this.queue.push(newExchange(this.head, errorResponse(error.status, error.message), EMPTY, Date.now()));
    this.dropArriving();
    this.stopReading();
    this.pump();
  }

  /** No more requests will be read; what is queued is still answered. */
  private stopReading(): void {
    this.state = 'finishing';
    this.updateReading();
  }

  /** Forgets the request being received. */
  private dropArriving(): void {
    this.head = undefined;
    this.headStartedAt = undefined;
    this.bodyChunks = undefined;
    this.bodySize = 0;
  }

  /** @internal socket listener */
  onEnd(): void {
    if (this.gone !== undefined) return this.clientGone();
    // The body of the request being answered will not arrive whole: its reader must not wait for more.
    if (this.answeringArriving()) this.cutArriving('the client ended its side before its body was complete');
    // A body a handler produces may go quiet for any time, and a client that has left would not be
    // noticed until the next write: like nginx (proxy_ignore_client_abort off), its end counts as
    // leaving, and the producer is stopped. A file still goes out to a client that only half-closed,
    // and so does what a client that pipelined more requests before its end is still owed.
    if (this.producing && this.queue.size === 0) return this.destroy();
    if (this.state === 'reading') {
      if (this.current === undefined && this.queue.size === 0) this.close();
      else this.state = 'finishing';
    } else if (this.state === 'streaming') {
      // The client will send nothing more, and a stream has nothing to wait for: without this it
      // would stay open until a write failed, which for a half-closed client is never.
      this.destroy();
    }
  }

  /** @internal socket listener */
  onDrain(): void {
    this.lastActivity = Date.now();
    if (this.current === undefined && this.queue.size > 0) this.pump();
    else this.updateReading();
  }

  /** @internal socket listener */
  onSocketClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clientGone();
    this.abortBody?.();
    this.bodyStream?.destroy(new Error('client closed the connection'));
    this.ctx.onClose(this);
  }

  /**
   * Reads while the client takes our answers and the queue has room, and pauses the socket
   * otherwise, so that what a client sends ahead waits in its own socket, not in our memory.
   */
  private updateReading(): void {
    let read: boolean;
    // While parsing holds after a request that asks to upgrade, reading on is only for noticing a
    // client that leaves (whenGone); what arrives is kept, up to the size of a head.
    if (this.state === 'reading' && this.parser.held) read = this.gone !== undefined && (this.held?.length ?? 0) < this.ctx.limits.maxHeaderBytes;
    else if (this.state === 'reading') read = this.hasRoom() && !this.socket.writableNeedDrain && !this.bodyBlocked;
    else if (this.state === 'streaming') read = true;
    // Nothing more is parsed but the body being answered; while a handler waits on its answer,
    // reading on (what arrives is discarded) is how the client's leaving is noticed (whenGone):
    // a paused socket reads nothing, its FIN and reset included.
    else if (this.state === 'finishing') read = this.gone !== undefined || (this.answeringArriving() ? !this.bodyBlocked : this.producing);
    else return;
    const paused = this.socket.isPaused();
    if (read && paused) {
      this.socket.resume();
      // Time spent paused was ours, not a slow body's.
      this.bodyActivity = Date.now();
    } else if (!read && !paused) this.socket.pause();
  }

  /**
   * Room for another pipelined request: fewer than maxPipelined queued, and their bodies (with
   * the one arriving) under maxQueuedBytes. A request with nothing ahead of it is read whole: it
   * is answered as soon as it is complete, and maxBodyBytes bounds it.
   */
  private hasRoom(): boolean {
    const limits = this.ctx.limits;
    const queued = this.queue.size;
    if (queued >= limits.maxPipelined) return false;
    return (queued === 0 && this.current === undefined) || this.queuedBytes + this.bodySize < limits.maxQueuedBytes;
  }

  /** Answers queued requests one at a time, in order, while the client takes our bytes. */
  private pump(): void {
    // The socket is only asked when something waits: after each answer the queue is usually empty.
    while (this.current === undefined && this.queue.size > 0 && this.canWrite()) {
      const next = this.queue.shift() as Exchange;
      this.queuedBytes -= next.body.length;
      this.answer(next);
    }
    if (this.current === undefined && this.queue.size === 0) {
      if (this.state === 'finishing') return this.close();
      // The request that asked to upgrade has its answer, and it was not a 101.
      if (this.state === 'reading' && this.parser.held) return this.resumeHeld();
    }
    // Answering only makes room, so a socket that flows stays so.
    if (this.socket.isPaused()) this.updateReading();
  }

  /** Queued answers wait for 'drain' while the socket cannot take more (no unbounded buffering). */
  private canWrite(): boolean {
    const state = this.state;
    return (state === 'reading' || state === 'finishing') && !this.socket.writableNeedDrain && !this.socket.destroyed;
  }

  private answer(exchange: Exchange): void {
    this.current = exchange;
    if (exchange.preset !== undefined) {
      this.respond(exchange, exchange.preset);
      return;
    }
    const body = exchange.bodyStream;
    if (body !== undefined && body.destroyed) {
      // Its body was cut off while it waited for its turn (the client stalled, left or sent a bad
      // chunk): a handler would attach to a stream that has already said all it will say.
      this.respond(exchange, errorResponse(400, `The request body was cut off: ${body.errored?.message ?? 'the connection ended'}`));
      return;
    }
    const result = this.ctx.dispatch(toRequest(exchange, this.remoteAddress, this.remotePort, this));
    if (result instanceof PendingResponse) {
      result.whenSettled((response) => this.respond(exchange, response));
    } else if (result instanceof Promise) {
      result.then(
        (response) => this.respond(exchange, response),
        (error: unknown) => this.respond(exchange, internalError(error)),
      );
    } else {
      this.respond(exchange, result);
    }
  }

  private respond(exchange: Exchange, response: Response): void {
    this.gone = undefined;
    if (this.state === 'closing' || this.state === 'closed') {
      releaseBody(response.body);
      response.upgrade?.(undefined);
      this.current = undefined;
      this.finish(exchange, response.status, 0, 'client closed the connection');
      return;
    }
    if (response.status === 101) {
      if (response.upgrade !== undefined && exchange.head?.upgrade === true) return this.switchProtocols(exchange, response.upgrade, response);
      // A 101 is no final answer: without a tunnel, or to a request that did not ask, it is a bug.
      releaseBody(response.body);
      response.upgrade?.(undefined);
      return this.respond(exchange, internalError(new Error('a handler switched protocols for a request that did not ask to upgrade')));
    }
    const small = isSmallBuffered(response, exchange.isHead);
    // Only a stream can be endless, so the common case never asks.
    if (!small && !exchange.isHead && isEndless(response) && !this.openStream(exchange, response)) return;
    const head = exchange.head;
    // The rest of a streamed body nobody read would have to be read to find the next request: a
    // small one is read and dropped (a form posted to a file gets its 405 on a connection that
    // stays open), a larger one, or one of unknown length, closes the connection instead.
    exchange.keepAlive =
      head !== undefined &&
      head.keepAlive &&
      response.close !== true &&
      !exchange.endless &&
      (exchange.bodyStream === undefined || exchange.bodyStream.complete || drainsUnread(exchange.bodyStream, head));
    exchange.date = this.ctx.dates.get(this.now());
    if (!exchange.keepAlive) this.lastResponse(exchange.endless);
    if (!small) {
      this.sendStreamed(exchange, response);
      return;
    }
    // The common case, written at once: no options object and no callbacks per request.
    let bytes: number;
    try {
      bytes = writeBuffered(this.socket, response, exchange, this.ctx.wire);
    } catch (error) {
      this.failSerializing(exchange, response, error);
      return;
    }
    // A destroyed socket takes no more either (its write returned false): wait for 'close'.
    if (this.socket.writableNeedDrain || this.socket.destroyed) this.blockReading();
    this.finish(exchange, response.status, bytes, response.reason);
    this.next(exchange.keepAlive);
  }

  /**
   * Writes the 101 head, then hands the socket to `upgrade` with what the client sent after its
   * request (the new protocol's first bytes); nothing more is parsed or answered here.
   */
  private switchProtocols(exchange: Exchange, upgrade: (socket: Socket, early: Buffer) => void, response: Response): void {
    const date = this.ctx.dates.get(this.now());
    const text = serializeHead({ version: exchange.version, status: 101, headers: response.headers, fieldLines: response.fieldLines, framing: { kind: 'none' }, keepAlive: true, date });
    this.socket.write(text, 'latin1');
    this.finish(exchange, 101, text.length, response.reason);
    this.current = undefined;
    this.queue.clear();
    this.queuedBytes = 0;
    this.dropArriving();
    this.state = 'tunnelled';
    const handOverNow = (): void => {
      const early = this.held ?? EMPTY;
      this.held = undefined;
      handOver(this.socket);
      upgrade(this.socket, early);
    };
    // Answered within the read that brought the request: the rest of that read is kept first.
    if (this.dataNow !== 0) this.upgradeAfterRead = handOverNow;
    else handOverNow();
  }

  /**
   * A response that never ends takes one of the server's stream slots and returns true; past the
   * cap it is answered with 503 instead (the live-reload client retries later) and returns false.
   */
  private openStream(exchange: Exchange, response: Response): boolean {
    if (this.ctx.streams.take()) {
      exchange.endless = true;
      return true;
    }
    releaseBody(response.body);
    const refused = errorResponse(503, 'Too many event streams are open; try again later');
    this.respond(exchange, { ...refused, reason: `event streams at their limit of ${this.ctx.limits.maxEventStreams}` });
    return false;
  }

  /**
   * The response starting now closes the connection: requests queued behind it are dropped and
   * no more are parsed; the rest of its own request's body is still read (see State). After an
   * endless one the client's bytes are read and discarded, so that its 'end' is seen.
   */
  private lastResponse(endless: boolean): void {
    this.queue.clear();
    this.queuedBytes = 0;
    // An event stream reads no more of its request's body: its reader is told so.
    if (endless && this.answeringArriving()) this.cutArriving('the answer is an event stream: the rest of the body is not read');
    else if (!this.answeringArriving()) this.dropArriving();
    this.state = endless ? 'streaming' : 'finishing';
    this.updateReading();
  }

  /** The body still arriving belongs to the request being answered. */
  private answeringArriving(): boolean {
    const body = this.bodyStream;
    return body !== undefined && this.current?.bodyStream === body;
  }

  /** The body being answered will not arrive whole: its reader gets an error, and no more is read. */
  private cutArriving(message: string): void {
    this.bodyStream?.destroy(new Error(message));
    this.bodyStream = undefined;
    this.bodyBlocked = false;
    this.dropArriving();
    // An event stream or a closing connection stays what it is.
    if (this.state === 'reading' || this.state === 'finishing') this.stopReading();
  }

  /** A body from a file or a stream, sent with backpressure; `onStreamed` runs when it ends. */
  private sendStreamed(exchange: Exchange, response: Response): void {
    let settled = false;
    let abort: (() => void) | undefined;
    try {
      abort = sendBody({
        socket: this.socket,
        version: exchange.version,
        response,
        isHead: exchange.isHead,
        keepAlive: exchange.keepAlive,
        date: exchange.date,
        onBlocked: () => this.blockReading(),
        done: (outcome) => {
          settled = true;
          this.onStreamed(exchange, response, outcome);
        },
      });
    } catch (error) {
      // Thrown after the body ended belongs to what ran next, not to this response.
      if (settled) throw error;
      this.failSerializing(exchange, response, error);
      return;
    }
    // A body that ended at once may already have started the next response, which owns abortBody now.
    if (!settled) {
      this.abortBody = abort;
      this.producing = response.body !== undefined && !Buffer.isBuffer(response.body) && response.body.kind === 'stream' && !exchange.isHead;
      // Read on while it streams, so that the client's leaving is seen (see onEnd).
      if (this.producing && this.state === 'finishing') this.updateReading();
    }
    // A client that ended its side before its stream began is gone as well (see onEnd).
    if (this.state === 'streaming' && this.socket.readableEnded) this.destroy();
  }

  private onStreamed(exchange: Exchange, response: Response, outcome: BodyOutcome): void {
    this.abortBody = undefined;
    this.producing = false;
    this.finish(exchange, response.status, outcome.bytes, outcome.error ?? response.reason);
    if (outcome.error !== undefined) {
      this.current = undefined;
      this.destroy();
      return;
    }
    // A close-delimited body (HTTP/1.0 without a length) ends the connection too.
    this.next(exchange.keepAlive && outcome.close !== true);
  }

  /** A handler's header that cannot be serialized: a bug, answered by dropping the connection. */
  private failSerializing(exchange: Exchange, response: Response, error: unknown): void {
    releaseBody(response.body);
    const message = error instanceof Error ? error.message : String(error);
    this.finish(exchange, 500, 0, `internal error: ${message}`);
    this.current = undefined;
    this.destroy();
  }

  /** The response in progress is complete: the next one starts, or the connection closes. */
  private next(keepAlive: boolean): void {
    this.current = undefined;
    this.lastActivity = this.now();
    if (keepAlive) this.pump();
    else this.close();
  }

  /** Ends our side once what is written has left (lingering close). */
  private close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.queue.clear();
    this.queuedBytes = 0;
    this.held = undefined;
    lingeringClose(this.socket, this.ctx.limits.lingerMs);
  }

  private now(): number {
    return this.dataNow === 0 ? Date.now() : this.dataNow;
  }

  /** A write did not fit: the send timeout counts from now, and reading waits for 'drain'. */
  private blockReading(): void {
    this.lastActivity = Date.now();
    this.updateReading();
  }

  /** Logs the request; its stream slot, if it held one, is free again. */
  private finish(exchange: Exchange, status: number, bytes: number, reason: string | undefined): void {
    if (exchange.endless) this.ctx.streams.release();
    this.ctx.log(logRecord(exchange, this.client, status, bytes, reason));
  }
}

/** Bytes of a request body no handler reads that are still read, and dropped, to keep the connection. */
const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * Whether the unread rest of `body` is read and dropped so that the connection can go on: a body
 * no handler took (it never had a reader) of a declared length of at most DRAIN_MAX_BYTES. Starts
 * the draining when it says so.
 */
function drainsUnread(body: RequestBody, head: RequestHead): boolean {
  if (body.readableFlowing !== null || body.destroyed) return false;
  if (head.framing.kind !== 'length' || head.framing.length > DRAIN_MAX_BYTES) return false;
  body.resume();
  return true;
}
