import { Buffer } from 'node:buffer';
import { close, createReadStream } from 'node:fs';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { CHUNK_SUFFIX, LAST_CHUNK, chunkPrefix, serializeHead, type Framing } from '../http/response';
import type { HttpVersion } from '../http/types';
import type { FileBody, Response, StreamBody } from './handler';
import { COMBINED_MAX_BYTES, wireVariant, type WireCache } from './wire';

/** How sending one response ended. */
export interface BodyOutcome {
  /** Bytes written, head included. */
  readonly bytes: number;
  /** Why the response could not be completed; the connection is then destroyed. */
  readonly error?: string;
  /** The body was close-delimited (HTTP/1.0 without a length): the connection must end. */
  readonly close?: boolean;
}

export interface SendOptions {
  readonly socket: Socket;
  readonly version: HttpVersion;
  readonly response: Response;
  readonly isHead: boolean;
  readonly keepAlive: boolean;
  readonly date: string;
  /** The socket buffer is full: stop reading requests until it drains. */
  readonly onBlocked: () => void;
  readonly done: (outcome: BodyOutcome) => void;
}

/** Large files are read in big slices: fewer reads and writes per megabyte. */
const FILE_CHUNK = 2 * 1024 * 1024;

/** RFC 9110 section 6.4.1: these responses never carry content. */
function hasNoContent(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/**
 * True when the whole response can be written at once with `writeBuffered`: no body, or a body
 * in memory of at most FILE_CHUNK bytes, or one of which nothing is sent (HEAD, 304). That is
 * every cached file and every generated page; `sendBody` takes the rest.
 */
export function isSmallBuffered(response: Response, isHead: boolean): boolean {
  const body = response.body;
  if (body === undefined) return true;
  if (!Buffer.isBuffer(body)) return false;
  return body.length <= FILE_CHUNK || isHead || hasNoContent(response.status);
}

/** How one response goes on the wire, decided by the connection for each request. */
export interface ResponseFrame {
  readonly version: HttpVersion;
  readonly isHead: boolean;
  readonly keepAlive: boolean;
  readonly date: string;
}

/**
 * Writes a response that `isSmallBuffered` accepted and returns the bytes written; when the
 * socket's buffer is full afterwards, `socket.writableNeedDrain` says so. The head goes out
 * with the body in one buffer when the body is small. A frozen response is shared by many
 * requests, so its bytes for this second come from the wire cache instead of being built again.
 * Throws when a handler's header cannot be serialized (see HeaderValueError).
 */
export function writeBuffered(socket: Socket, response: Response, frame: ResponseFrame, wire: WireCache): number {
  const { version, isHead, keepAlive, date } = frame;
  const body = response.body as Buffer | undefined;
  const length = body?.length ?? 0;
  const withBody = length > 0 && !isHead && !hasNoContent(response.status);
  const combined = withBody && length <= COMBINED_MAX_BYTES;
  let bytes: Buffer;
  if (Object.isFrozen(response)) {
    const variant = wireVariant(isHead, keepAlive, version);
    bytes = wire.get(response, date, variant) ?? wire.set(response, variant, firstBytes(version, response, keepAlive, date, combined, false));
  } else {
    bytes = firstBytes(version, response, keepAlive, date, combined, true);
  }
  if (withBody && !combined) {
    socket.cork();
    socket.write(bytes);
    socket.write(body as Buffer);
    socket.uncork();
    return bytes.length + length;
  }
  socket.write(bytes);
  return bytes.length;
}

/**
 * Writes a response that `isSmallBuffered` refused: a file streamed from disk, a stream, or a
 * large buffer sent in slices, each with backpressure. Returns a function that abandons the body
 * (the client went away); `options.done` is called once, when the body ends or fails.
 */
export function sendBody(options: SendOptions): () => void {
  const body = options.response.body;
  if (body === undefined || Buffer.isBuffer(body)) {
    // Each slice that drains counts as progress for the send timeout, so a slow reader is not
    // cut off mid-page.
    const length = body?.length ?? 0;
    return sendStream(options, { kind: 'stream', stream: Readable.from(slices(body ?? EMPTY, FILE_CHUNK)), length });
  }
  if (body.kind === 'file') return sendFile(options, body);
  return sendStream(options, body);
}

const EMPTY = Buffer.alloc(0);

function* slices(buffer: Buffer, size: number): Generator<Buffer> {
  for (let start = 0; start < buffer.length; start += size) yield buffer.subarray(start, start + size);
}

function head(options: SendOptions, framing: Framing, keepAlive = options.keepAlive, status = options.response.status): string {
  return serializeHead({
    version: options.version,
    status,
    headers: options.response.headers,
    fieldLines: options.response.fieldLines,
    framing,
    keepAlive,
    date: options.date,
  });
}

/**
 * The head, followed by the body when `combined`: what the first write sends. `pooled` for bytes
 * sent once (a proxied answer): a slice of Node's shared pool instead of an allocation of their
 * own; bytes kept in the wire cache get their own, so they never pin a pool slab.
 */
function firstBytes(version: HttpVersion, response: Response, keepAlive: boolean, date: string, combined: boolean, pooled: boolean): Buffer {
  const body = response.body as Buffer | undefined;
  const framing: Framing = hasNoContent(response.status) ? { kind: 'none' } : { kind: 'length', length: body?.length ?? 0 };
  const text = serializeHead({ version, status: response.status, headers: response.headers, fieldLines: response.fieldLines, framing, keepAlive, date });
  return combined ? concatHead(text, body as Buffer, pooled) : Buffer.from(text, 'latin1');
}

function concatHead(text: string, body: Buffer, pooled: boolean): Buffer {
  const length = text.length + body.length;
  const bytes = pooled ? Buffer.allocUnsafe(length) : Buffer.allocUnsafeSlow(length);
  bytes.write(text, 0, 'latin1');
  body.copy(bytes, text.length);
  return bytes;
}

/**
 * Streams a file body from its descriptor, which the handler opened and checked: the path is
 * never opened again, so what is sent is the file that was checked, at most `end - start + 1`
 * bytes of it (a file that grows does not make the body longer; one that shrinks ends the
 * connection, see pipeBody). The stream closes the descriptor when it ends or is destroyed.
 */
function sendFile(options: SendOptions, body: FileBody): () => void {
  const length = body.end - body.start + 1;
  const text = head(options, { kind: 'length', length });
  if (options.isHead) {
    releaseBody(body);
    if (!options.socket.write(text, 'latin1')) options.onBlocked();
    options.done({ bytes: text.length });
    return () => undefined;
  }
  const stream = createReadStream('', { fd: body.fd, start: body.start, end: body.end, highWaterMark: FILE_CHUNK });
  pipeBody(options, stream, text, 'raw', length);
  return () => stream.destroy();
}

/**
 * Releases a body that will not be sent (or no longer): a stream is destroyed, so its file or
 * producer is released, and a file body's descriptor is closed.
 */
export function releaseBody(body: Response['body']): void {
  if (body === undefined || Buffer.isBuffer(body)) return;
  if (body.kind === 'stream') body.stream.destroy();
  else close(body.fd, () => undefined);
}

function sendStream(options: SendOptions, body: StreamBody): () => void {
  const { stream } = body;
  let framing: Framing;
  let keepAlive = options.keepAlive;
  if (body.length !== undefined) framing = { kind: 'length', length: body.length };
  else if (options.version === '1.1') framing = { kind: 'chunked' };
  else {
    framing = { kind: 'close' };
    keepAlive = false;
  }
  const text = head(options, framing, keepAlive);
  if (options.isHead) {
    stream.destroy();
    if (!options.socket.write(text, 'latin1')) options.onBlocked();
    options.done({ bytes: text.length });
    return () => undefined;
  }
  const piped = keepAlive ? options : { ...options, done: (outcome: BodyOutcome) => options.done({ ...outcome, close: true }) };
  pipeBody(piped, stream, text, framing.kind === 'chunked' ? 'chunked' : 'raw', body.length);
  return () => stream.destroy();
}

/** Copies `stream` to the socket after `text`, pausing the stream while the socket is full. */
function pipeBody(options: SendOptions, stream: Readable, text: string, coding: 'raw' | 'chunked', length?: number): void {
  const { socket } = options;
  let bytes = text.length;
  let bodyBytes = 0;
  let finished = false;
  const finish = (error?: string): void => {
    if (finished) return;
    finished = true;
    socket.removeListener('drain', onDrain);
    socket.removeListener('close', onClose);
    options.done(error === undefined ? { bytes } : { bytes, error });
  };
  const onDrain = (): void => {
    stream.resume();
  };
  const onClose = (): void => {
    stream.destroy();
  };
  socket.on('drain', onDrain);
  socket.once('close', onClose);
  socket.write(text, 'latin1');
  stream.on('data', (chunk: Buffer | string) => {
    if (finished) return;
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (data.length === 0) return;
    // More than the promised Content-Length (an app whose field says less than it sends): what
    // went past it would be read as the next response. Up to the length is sent, then the
    // connection closes, as when a body ends short.
    const over = length !== undefined && bodyBytes + data.length > length;
    if (over) data = data.subarray(0, length - bodyBytes);
    let flushed: boolean;
    if (coding === 'chunked') {
      const prefix = chunkPrefix(data.length);
      socket.cork();
      socket.write(prefix, 'latin1');
      socket.write(data);
      flushed = socket.write(CHUNK_SUFFIX, 'latin1');
      socket.uncork();
      bytes += prefix.length + data.length + 2;
    } else {
      flushed = socket.write(data);
      bytes += data.length;
    }
    bodyBytes += data.length;
    if (over) {
      finish(`body is longer than its Content-Length of ${length} bytes`);
      stream.destroy();
      return;
    }
    if (!flushed) {
      stream.pause();
      options.onBlocked();
    }
  });
  stream.on('end', () => {
    // A file that shrank after its stat cannot fill the promised Content-Length: the only
    // honest ending is to close, so the client does not wait or misread the next response.
    if (length !== undefined && bodyBytes !== length) return finish(`body ended after ${bodyBytes} of ${length} bytes`);
    if (coding === 'chunked') {
      socket.write(LAST_CHUNK, 'latin1');
      bytes += LAST_CHUNK.length;
    }
    finish();
  });
  stream.on('error', (error) => finish(`body stream failed: ${error.message}`));
  stream.on('close', () => finish(socket.destroyed ? 'client closed the connection' : 'body stream closed early'));
}
