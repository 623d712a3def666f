import { connect, type Socket } from 'node:net';
import type { Upstream } from './routes';

/** Idle connections kept per upstream: enough for a benchmark's 50 concurrent clients and a browser's bursts. */
const MAX_IDLE = 128;
/**
 * An idle connection is closed after this long: below the keep-alive timeout of common dev
 * servers (Node's http 5 s, gunicorn 2 s is the exception), so we rarely reuse one the upstream
 * is closing at that moment; a request that meets such a race is retried (see ProxyExchange).
 */
const IDLE_MS = 4000;

/** A connection to the upstream and whether it carried a request before. */
export interface Lease {
  readonly socket: Socket;
  readonly reused: boolean;
}

/**
 * The keep-alive connections to one upstream. A connection is only given back after a complete,
 * well-framed exchange; one that failed in any way is destroyed, so a desynchronised stream is
 * never reused. An idle connection that receives bytes or closes is dropped.
 */
export class UpstreamPool {
  private readonly idle: Socket[] = [];
  /** Connections lent to exchanges: destroyed with the pool, so no request outlives the server. */
  private readonly busy = new Set<Socket>();
  /** The idle timer and 'close' listener of each idle connection. */
  private readonly waiting = new Map<Socket, { timer: NodeJS.Timeout; onClose: () => void }>();
  private closed = false;

  constructor(private readonly upstream: Upstream) {}

  /** An idle connection, newest first, or a new one (still connecting). */
  take(): Lease {
    const socket = this.idle.pop();
    if (socket !== undefined) {
      this.forget(socket);
      this.lend(socket);
      return { socket, reused: true };
    }
    const fresh = connect({ host: this.upstream.hostname, port: this.upstream.port });
    fresh.setNoDelay(true);
    this.lend(fresh);
    return { socket: fresh, reused: false };
  }

  /** Keeps a connection whose exchange ended cleanly, with no listeners of the exchange left on it (it must not be paused). */
  give(socket: Socket): void {
    this.busy.delete(socket);
    if (this.closed || socket.destroyed || this.idle.length >= MAX_IDLE) {
      socket.destroy();
      return;
    }
    socket.on('data', dropIdle);
    socket.on('end', dropIdle);
    socket.on('error', dropIdle);
    const onClose = (): void => this.remove(socket);
    socket.on('close', onClose);
    const timer = setTimeout(() => socket.destroy(), IDLE_MS);
    timer.unref();
    this.waiting.set(socket, { timer, onClose });
    this.idle.push(socket);
    socket.resume();
  }

  /** Closes every idle connection; connections in use are destroyed by their exchanges. */
  dispose(): void {
    this.closed = true;
    for (const socket of this.idle.splice(0)) {
      this.forget(socket);
      socket.destroy();
    }
    for (const socket of this.busy) socket.destroy();
    this.busy.clear();
  }

  private lend(socket: Socket): void {
    this.busy.add(socket);
    socket.once('close', () => this.busy.delete(socket));
  }

  private remove(socket: Socket): void {
    const index = this.idle.indexOf(socket);
    if (index < 0) return;
    this.idle.splice(index, 1);
    this.forget(socket);
  }

  /** Takes the idle-state listeners and timer off a connection. */
  private forget(socket: Socket): void {
    socket.removeListener('data', dropIdle);
    socket.removeListener('end', dropIdle);
    socket.removeListener('error', dropIdle);
    const waiting = this.waiting.get(socket);
    if (waiting === undefined) return;
    socket.removeListener('close', waiting.onClose);
    clearTimeout(waiting.timer);
    this.waiting.delete(socket);
  }
}

/** Bytes from an idle connection answer nothing we asked: the connection cannot be trusted. */
function dropIdle(this: Socket): void {
  this.destroy();
}
