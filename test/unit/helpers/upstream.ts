import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PYTHON, requirePython } from './app';
import { fieldsOf, open } from './raw';

/** One request as a raw upstream read it: the head text and the body bytes. */
export interface UpstreamRequest {
  readonly head: string;
  readonly requestLine: string;
  /** Lower-case names; repeated fields joined with ", ". */
  readonly headers: Map<string, string>;
  readonly body: Buffer;
  /** Which connection of the upstream it came on, counting from 1. */
  readonly connection: number;
}

/** What the test does with a request: write any bytes (well-formed or not) on `socket`. */
export type UpstreamScript = (request: UpstreamRequest, socket: Socket) => void | Promise<void>;

/** A raw `net` upstream started by a test, which can misbehave in any way the script likes. */
export interface RawUpstream {
  readonly port: number;
  readonly url: string;
  readonly requests: UpstreamRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections the proxy closed or destroyed so far. */
  readonly closed: number;
  close(): Promise<void>;
}

/**
 * Starts an upstream on 127.0.0.1 that reads requests (Content-Length or chunked bodies, decoded)
 * and hands each to `script`, one at a time per connection.
 */
export async function startUpstream(script: UpstreamScript): Promise<RawUpstream> {
  const requests: UpstreamRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let closed = 0;
  const server: Server = createServer((socket) => {
    const id = ++connections;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed++;
      sockets.delete(socket);
    });
    void serve(socket, id, requests, script);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    get closed() {
      return closed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function serve(socket: Socket, connection: number, requests: UpstreamRequest[], script: UpstreamScript): Promise<void> {
  let buffer = Buffer.alloc(0);
  let waiting: (() => void) | undefined;
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    waiting?.();
  });
  socket.on('close', () => {
    ended = true;
    waiting?.();
  });
  const more = (): Promise<void> => new Promise((resolve) => (waiting = resolve));
  for (;;) {
    let end: number;
    while ((end = buffer.indexOf('\r\n\r\n')) < 0) {
      if (ended) return;
      await more();
    }
    const head = buffer.subarray(0, end).toString('latin1');
    buffer = buffer.subarray(end + 4);
    const lines = head.split('\r\n');
    const headers = fieldsOf(lines.slice(1));
    const parts: Buffer[] = [];
    if (headers.get('transfer-encoding') === 'chunked') {
      for (;;) {
        let lineEnd: number;
        while ((lineEnd = buffer.indexOf('\r\n')) < 0) {
          if (ended) return;
          await more();
        }
        const size = parseInt(buffer.subarray(0, lineEnd).toString('latin1'), 16);
        while (buffer.length < lineEnd + 2 + size + 2) {
          if (ended) return;
          await more();
        }
        parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        buffer = buffer.subarray(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const length = Number(headers.get('content-length') ?? 0);
      while (buffer.length < length) {
        if (ended) return;
        await more();
      }
      parts.push(buffer.subarray(0, length));
      buffer = buffer.subarray(length);
    }
    const request = { head, requestLine: lines[0] ?? '', headers, body: Buffer.concat(parts), connection };
    requests.push(request);
    await script(request, socket);
    if (socket.destroyed) return;
  }
}

/** A complete response with a Content-Length. */
export function reply(body: string | Buffer, fields = 'Content-Type: text/plain\r\n', status = '200 OK'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`HTTP/1.1 ${status}\r\n${fields}Content-Length: ${bytes.length}\r\n\r\n`, 'latin1'), bytes]);
}

/** `python3 -m http.server` serving a folder, as a test's upstream. */
export interface PythonUpstream {
  readonly port: number;
  readonly url: string;
  stop(): void;
}

/**
 * Starts `python3 -m http.server` on a free port of 127.0.0.1 serving `dir`, and waits until it
 * accepts connections. Without python3 the test fails with the fix in the message.
 */
export async function startPythonHttpServer(dir: string): Promise<PythonUpstream> {
  requirePython();
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const python = spawn(PYTHON, ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], { cwd: dir, stdio: 'ignore' });
  const stop = (): void => void python.kill();
  let ready = false;
  for (let i = 0; i < 100 && !ready; i++) {
    ready = await open(port, 500).then(
      (socket) => (socket.destroy(), true),
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  if (!ready) {
    stop();
    throw new Error(`python3 -m http.server did not listen on port ${port} within 5 s`);
  }
  return { port, url: `http://127.0.0.1:${port}`, stop };
}
