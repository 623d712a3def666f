import { connect, type Socket } from 'node:net';

/** One response read off the wire. */
export interface RawResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-case names; repeated fields joined with ", ". */
  readonly headers: Map<string, string>;
  readonly body: Buffer;
}

/** Opens a TCP connection to 127.0.0.1:port, failing after `timeoutMs`. */
export function open(port: number, timeoutMs = 5000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Connecting to port ${port} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Reads from `socket` until the peer closes it, or until `timeoutMs`; resolves with every byte.
 * Never hangs a test: on timeout it destroys the socket and rejects.
 */
export function readAll(socket: Socket, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Server did not close the connection within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', () => undefined);
  });
}

/** Sends raw bytes on a new connection and returns everything until the server closes. */
export async function exchange(port: number, bytes: string | Buffer, timeoutMs = 5000): Promise<Buffer> {
  const socket = await open(port, timeoutMs);
  const done = readAll(socket, timeoutMs);
  socket.write(bytes);
  return done;
}

/** Field lines as a map: lower-case names, repeated fields joined with ", ". */
export function fieldsOf(lines: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return headers;
}

/** Parses consecutive HTTP/1.1 responses from `data`; bodies framed by Content-Length or chunked. */
export function parseResponses(data: Buffer, headRequests = 0): RawResponse[] {
  const responses: RawResponse[] = [];
  let offset = 0;
  let heads = headRequests;
  while (offset < data.length) {
    const end = data.indexOf('\r\n\r\n', offset);
    if (end === -1) throw new Error(`Incomplete response head: ${JSON.stringify(data.subarray(offset).toString('latin1').slice(0, 200))}`);
    const lines = data.subarray(offset, end).toString('latin1').split('\r\n');
    const statusLine = lines[0] ?? '';
    const status = Number(statusLine.split(' ')[1]);
    const headers = fieldsOf(lines.slice(1));
    offset = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const noBody = status === 304 || status === 204 || (status >= 100 && status < 200) || (heads > 0 && status >= 200);
    if (status >= 200 && heads > 0) heads--;
    if (noBody) {
      // nothing to read
    } else if (headers.get('transfer-encoding') === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', offset);
        const size = parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
        offset = lineEnd + 2;
        if (size === 0) {
          offset = data.indexOf('\r\n', offset) + 2;
          break;
        }
        parts.push(data.subarray(offset, offset + size));
        offset += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'));
      body = data.subarray(offset, offset + length);
      offset += length;
    } else {
      body = data.subarray(offset);
      offset = data.length;
    }
    responses.push({ status, statusLine, headers, body });
  }
  return responses;
}

/** A minimal GET request line and Host field. */
export function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}
