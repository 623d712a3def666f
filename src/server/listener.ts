import { createServer, type Server, type Socket } from 'node:net';
import { DateCache } from '../http/response';
import { Connection, type ConnectionContext, type StreamSlots } from './connection';
import { internalError, PendingResponse, PLAIN_TEXT_HEADERS, type DeferringHandler, type Request, type Response } from './handler';
import type { RequestLogRecord } from './log';
import type { Limits } from './options';
import { lingeringClose } from './socket';
import { WireCache } from './wire';

/** Why listening failed. */
export interface ListenError {
  readonly code: 'no-free-port' | 'bind-failed';
  readonly message: string;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** How many following ports to try when `port` is taken. */
  readonly portAttempts: number;
  readonly limits: Limits;
  readonly handlers: readonly DeferringHandler[];
  readonly log: (record: RequestLogRecord) => void;
  /**
   * Read through each socket's stream ('data' events) even where the shared read buffer is
   * available (see `listenTo`): how Node versions whose sockets lack it are served; for tests.
   */
  readonly streamReads?: boolean;
}

const NOT_HANDLED: Response = {
  status: 404,
  headers: PLAIN_TEXT_HEADERS,
  body: Buffer.from('404 Not Found\n'),
  reason: 'no handler answered',
};

const SERVICE_UNAVAILABLE = Buffer.from(
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n' +
    'Content-Length: 24\r\nConnection: close\r\n\r\n503 Too many connections',
  'latin1',
);

/**
 * Runs the handler chain: the first handler that answers wins. Synchronous handlers stay
 * synchronous (no promise per request on the hot path), a PendingResponse is passed on as it
 * is, and a throw or rejection becomes a 500.
 */
export function chain(handlers: readonly DeferringHandler[]): (request: Request) => Response | Promise<Response> | PendingResponse {
  const from = (index: number, request: Request): Response | Promise<Response> | PendingResponse => {
    for (let i = index; i < handlers.length; i++) {
      let result: ReturnType<DeferringHandler>;
      try {
        result = (handlers[i] as DeferringHandler)(request);
      } catch (error) {
        return internalError(error);
      }
      if (result === undefined) continue;
      if (result instanceof Promise) {
        const next = i + 1;
        return result.then(
          (response) => response ?? settled(from(next, request)),
          (error: unknown) => internalError(error),
        );
      }
      return result;
    }
    return NOT_HANDLED;
  };
  return (request) => from(0, request);
}

/** Inside a promise, an answer that comes later is awaited like one. */
function settled(answer: Response | Promise<Response> | PendingResponse): Response | Promise<Response> {
  return answer instanceof PendingResponse ? new Promise((resolve) => answer.whenSettled(resolve)) : answer;
}

/** A bound socket server with its connections. */
export class Listener {
  private readonly connections = new Set<Connection>();
  /** Sockets refused with 503 that are still draining (at most `limits.maxRefusing`). */
  private readonly refused = new Set<Socket>();
  private readonly sweeper: NodeJS.Timeout;
  private closing: Promise<void> | undefined;
  requestCount = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const connection of this.connections) connection.sweep(now);
    }, 1000);
    this.sweeper.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Body bytes all connections hold for requests not answered yet (see `Connection.heldBytes`). */
  get heldBytes(): number {
    let bytes = 0;
    for (const connection of this.connections) bytes += connection.heldBytes;
    return bytes;
  }

  /** Binds `host:port` (or the next free port) and starts answering. */
  static async listen(options: ListenOptions): Promise<{ ok: true; listener: Listener } | { ok: false; error: ListenError }> {
    // The last port tried: the attempts never go past the highest port there is.
    const last = options.port === 0 ? 0 : Math.min(options.port + options.portAttempts, 65535);
    for (let port = options.port; port <= last; port++) {
      const server = createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true });
      const bound = await bind(server, options.host, port);
      if (bound.ok) {
        const address = server.address();
        const actual = typeof address === 'object' && address !== null ? address.port : port;
        const listener = new Listener(server, actual);
        listener.accept(options);
        return { ok: true, listener };
      }
      if (bound.code !== 'EADDRINUSE') {
        return { ok: false, error: { code: 'bind-failed', message: `Could not listen on ${options.host}:${port}: ${bound.message}` } };
      }
    }
    const message =
      last === options.port
        ? `Port ${options.port} on ${options.host} is in use`
        : last === options.port + 1
          ? `Ports ${options.port} and ${last} on ${options.host} are in use`
          : `Port ${options.port} and the next ${last - options.port} ports on ${options.host} are in use`;
    return { ok: false, error: { code: 'no-free-port', message } };
  }

  private accept(options: ListenOptions): void {
    const limits = options.limits;
    const context: ConnectionContext = {
      limits,
      dispatch: chain(options.handlers),
      dates: new DateCache(),
      wire: new WireCache(),
      streams: streamSlots(limits.maxEventStreams),
      streamReads: options.streamReads === true,
      log: (record: RequestLogRecord) => {
        this.requestCount++;
        options.log(record);
      },
      onClose: (connection: Connection) => this.connections.delete(connection),
    };
    this.server.on('connection', (socket: Socket) => {
      if (this.closing === undefined && this.connections.size < limits.maxConnections) {
        this.connections.add(new Connection(socket, context));
      } else {
        this.refuse(socket, limits);
      }
    });
  }

  /**
   * Answers 503 and closes. Each refused socket holds a descriptor until its 503 has drained;
   * past `maxRefusing` of them (a flood) the socket is closed at once, so that refusing cannot
   * use up the descriptors the open connections need.
   */
  private refuse(socket: Socket, limits: Limits): void {
    socket.on('error', () => socket.destroy());
    if (this.refused.size >= limits.maxRefusing) {
      socket.destroy();
      return;
    }
    this.refused.add(socket);
    socket.once('close', () => this.refused.delete(socket));
    socket.write(SERVICE_UNAVAILABLE);
    lingeringClose(socket, limits.lingerMs);
  }

  /** Stops listening and destroys every connection now; resolves when the port is free. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.sweeper);
      this.server.close(() => resolve());
      for (const connection of this.connections) connection.destroy();
      for (const socket of this.refused) socket.destroy();
      this.connections.clear();
    });
    return this.closing;
  }
}

function streamSlots(max: number): StreamSlots {
  let used = 0;
  return {
    take: () => {
      if (used >= max) return false;
      used++;
      return true;
    },
    release: () => {
      used--;
    },
  };
}

type BindResult = { ok: true } | { ok: false; code: string; message: string };

function bind(server: Server, host: string, port: number): Promise<BindResult> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      resolve({ ok: false, code: error.code ?? 'UNKNOWN', message: error.message });
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      server.on('error', () => undefined);
      resolve({ ok: true });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}
