import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ResponseParser, type ResponseCallbacks, type ResponseHead } from '../../http/response-parser';
import type { HeaderMap, ParseError } from '../../http/types';
import { SlotList, type Slotted } from '../churn';
import { SHARED_READ_BUFFER } from '../socket';
import type { Upstream } from './routes';

/** Idle connections kept per upstream: enough for a benchmark's 50 concurrent clients and a browser's bursts. */
const MAX_IDLE = 128;
/**
 * An idle connection is closed after about this long: below the keep-alive timeout of common dev
 * servers (Node's http 5 s, gunicorn 2 s is the exception), so we rarely reuse one the upstream
 * is closing at that moment; a request that meets such a race is retried (see ProxyExchange).
 */
const IDLE_MS = 4000;
/**
 * One sweep timer per pool instead of a setTimeout per request and per given-back connection: it
 * closes idle connections and times out exchanges still waiting for their head, to within SWEEP_MS.
 */
const SWEEP_MS = 250;
const IDLE_SWEEPS = Math.ceil(IDLE_MS / SWEEP_MS);
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** The exchange that holds a connection: it gets the connection's parsed response and socket events. */
export interface UpstreamUser extends ResponseCallbacks {
  /** The parser has taken a data event (its callbacks have run). */
  onParsed(): void;
  onSocketError(error: NodeJS.ErrnoException): void;
  /** The upstream ended its side (FIN) while this user held the connection. */
  onSocketEnd(): void;
  /** The socket closed while this user held it. */
  onSocketClose(): void;
  /** Called by the pool's sweep with `performance.now()`. */
  sweep(now: number): void;
}

/**
 * One keep-alive connection to the upstream, with its own response parser and listeners, set
 * once for its whole life: an exchange only becomes its `user` (no listeners added and removed,
 * no parser built per request). While idle, any byte, end or error drops it.
 */
export class UpstreamConnection implements ResponseCallbacks, Slotted {
  readonly parser: ResponseParser;
  user: UpstreamUser | undefined;
  /** It carried an exchange before: the upstream may be closing it at this moment. */
  reused = false;
  /** Sweeps that found it idle in a row. */
  idleSweeps = 0;
  /** Its index in the pool's list of lent connections, -1 while not lent. */
  slot = -1;
  /** Its parser is taking a read: a connection given back meanwhile waits for the end of it. */
  parsing = false;
  /** Given back during the read being parsed: it joins the idle ones once that read is done. */
  returning = false;

  readonly socket: Socket;

  /**
   * `streamed`: the socket reads through its Readable side, as a tunnel needs after a 101 (see
   * `handOver`); such a connection serves one exchange and is never pooled.
   */
  constructor(
    upstream: Upstream,
    maxHeaderBytes: number,
    private readonly pool: UpstreamPool,
    readonly streamed: boolean,
  ) {
    this.parser = new ResponseParser(this, { maxHeaderBytes, maxBodyBytes: NO_LIMIT });
    const { hostname: host, port } = upstream;
    // A tunnel relays a half-close (see tunnelWith): our half stays open after the upstream's FIN.
    const socket = streamed ? connect({ host, port, allowHalfOpen: true }) : connect({ host, port, onread: { buffer: SHARED_READ_BUFFER, callback: this.onRead } });
    this.socket = socket;
    socket.setNoDelay(true);
    if (streamed) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onClose);
  }

  /** Gives the socket to someone else (a tunnel): this connection and the pool let go of it. */
  handOver(): Socket {
    const socket = this.socket;
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('error', this.onSocketError);
    socket.removeListener('close', this.onClose);
    this.user = undefined;
    this.pool.forget(this);
    return socket;
  }

  /** Destroys the socket; the errors it may still raise are nobody's concern. */
  destroy(): void {
    this.user = undefined;
    this.socket.destroy();
  }

  /** Reading pauses through `socket.pause()` (backpressure from a streamed body), never by returning false. */
  private readonly onRead = (length: number): boolean => {
    this.onData(SHARED_READ_BUFFER.subarray(0, length));
    return true;
  };

  private readonly onData = (chunk: Buffer): void => {
    const user = this.user;
    // Bytes on an idle connection answer nothing we asked: it cannot be trusted.
    if (user === undefined) return void this.socket.destroy();
    this.parsing = true;
    let used: number;
    try {
      used = this.parser.execute(chunk);
    } finally {
      this.parsing = false;
      if (this.returning) {
        // Given back by an exchange that ended within this read: only now is the whole read
        // parsed (bytes after the response have killed the socket), so a request answered in the
        // same event cannot take the connection while the rest of the read is still to be
        // parsed. Also when an answer written within the read threw: the connection is kept if
        // its parser is idle and destroyed if not, never left in neither list.
        this.returning = false;
        this.pool.keep(this);
      }
    }
    // After a 101 the rest is the new protocol's, for the tunnel: back into the paused socket.
    if (used < chunk.length && this.streamed && !this.parser.failed) this.socket.unshift(chunk.subarray(used));
    user.onParsed();
  };

  private readonly onEnd = (): void => {
    const user = this.user;
    if (user === undefined) this.socket.destroy();
    else user.onSocketEnd();
  };

  private readonly onSocketError = (error: NodeJS.ErrnoException): void => {
    const user = this.user;
    if (user === undefined) this.socket.destroy();
    else user.onSocketError(error);
  };

  private readonly onClose = (): void => {
    const user = this.user;
    this.user = undefined;
    this.pool.forget(this);
    user?.onSocketClose();
  };

  /** @internal parser callback */
  onHead(head: ResponseHead): void {
    this.user?.onHead(head);
  }

  /** @internal parser callback */
  onBody(chunk: Buffer): void {
    this.user?.onBody(chunk);
  }

  /** @internal parser callback */
  onMessageEnd(trailers: HeaderMap): void {
    this.user?.onMessageEnd(trailers);
  }

  /**
   * @internal parser callback. Without a user the error is about bytes that followed a complete
   * response in the same read, after its exchange gave the connection back: nobody asked for
   * them, so the connection cannot be trusted with another request.
   */
  onError(error: ParseError): void {
    const user = this.user;
    if (user === undefined) this.socket.destroy();
    else user.onError(error);
  }
}

/**
 * The keep-alive connections to one upstream. A connection is only given back after a complete,
 * well-framed exchange; one that failed in any way is destroyed, so a desynchronised stream is
 * never reused.
 */
export class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  /** Connections lent to exchanges: destroyed with the pool, so no request outlives the server. */
  private readonly busy = new SlotList<UpstreamConnection>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly maxHeaderBytes: number,
  ) {}

  /**
   * An idle connection, newest first, or a new one (still connecting), lent to `user`; a request
   * that asks to upgrade gets a new `streamed` one, which a tunnel can take over.
   */
  take(user: UpstreamUser, upgrade: boolean): UpstreamConnection {
    let connection = upgrade ? undefined : this.idle.pop();
    // One destroyed while idle has not said 'close' yet.
    while (connection?.socket.destroyed === true) connection = this.idle.pop();
    connection ??= new UpstreamConnection(this.upstream, this.maxHeaderBytes, this, upgrade);
    connection.user = user;
    this.busy.add(connection);
    this.timer ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return connection;
  }

  /**
   * Keeps a connection whose exchange ended cleanly (its parser idle, its socket flowing); one
   * whose read is still being parsed joins the idle ones when that is done.
   */
  give(connection: UpstreamConnection): void {
    connection.user = undefined;
    this.busy.delete(connection);
    if (connection.parsing) connection.returning = true;
    else this.keep(connection);
  }

  /** @internal an unused connection, kept idle unless it cannot be reused. */
  keep(connection: UpstreamConnection): void {
    if (this.closed || connection.streamed || connection.socket.destroyed || !connection.parser.idle || this.idle.length >= MAX_IDLE) {
      connection.destroy();
      return;
    }
    connection.reused = true;
    connection.idleSweeps = 0;
    this.idle.push(connection);
  }

  /** Closes every connection, idle or in use. */
  dispose(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.destroy();
    for (const connection of this.busy.takeAll()) connection.destroy();
    this.stopSweeping();
  }

  /** @internal a connection that closed or was handed over */
  forget(connection: UpstreamConnection): void {
    if (this.busy.delete(connection)) return;
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
  }

  private sweep(): void {
    const idle = this.idle;
    let kept = 0;
    for (const connection of idle) {
      if (++connection.idleSweeps >= IDLE_SWEEPS) connection.destroy();
      else idle[kept++] = connection;
    }
    idle.length = kept;
    const now = performance.now();
    for (const connection of this.busy.toArray()) connection.user?.sweep(now);
    if (this.idle.length === 0 && this.busy.size === 0) this.stopSweeping();
  }

  private stopSweeping(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
