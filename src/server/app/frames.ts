import { Buffer } from 'node:buffer';

/*
 * The app protocol: how the server and the Python bridge (wsgi_bridge.py, which implements the
 * same format) talk over two pipes, fd 3 (server to bridge) and fd 4 (bridge to server). The
 * app's own stdout and stderr stay free for its prints, which the server logs.
 *
 * Every frame is a 9-byte header and a payload:
 *
 *     offset 0  uint32 BE  payload length (0 to MAX_PAYLOAD)
 *     offset 4  uint8      type (FRAME below)
 *     offset 5  uint32 BE  request id (0 for frames about the process, not a request)
 *     offset 9  payload
 *
 * Heads are JSON arrays of strings (and two port numbers), flat: an object or an array of
 * pairs costs twice the parsing, in the server and in the bridge, for every request (heads.ts
 * writes and reads them).
 *
 * Server to bridge, per request id (ids are never reused by one process):
 *   REQUEST  JSON head, `[method, path, query, protocol, remoteAddress, remotePort, scriptName,
 *            serverName, serverPort, name, value, name, value, ...]` (heads.ts, REQUEST_ITEMS before the
 *            fields): path as sent (percent-encoding kept) below the mount prefix, which is the
 *            script name; field names lower-case; path and values as latin-1 text. BODY frames
 *            and END follow.
 *   REQUEST_ALONE  REQUEST and END in one frame: the same head, for a request without a body
 *            (most): nothing follows but, maybe, ABORT and CREDIT.
 *   BODY     request body bytes (chunked bodies already decoded), at most `credit` bytes
 *            beyond what the bridge has acknowledged with CREDIT frames.
 *   END      the request body is complete (a request without a body is a REQUEST_ALONE).
 *   ABORT    the client went away or the server gave up (timeout): stop, call close().
 *   CREDIT   uint32 BE: the bridge may send this many more response body bytes.
 *   PING     (id 0) answer PONG: a request timed out, and the server checks that the process
 *            itself still answers (a JavaScript app's one event loop may be blocked).
 * Bridge to server:
 *   START    JSON `["200 OK", name, value, name, value, ...]`: the status line's text, then the
 *            fields; sent with the first non-empty body chunk or at the end (PEP 3333: headers
 *            wait for the body).
 *   BODY     response body bytes, within the credit the server granted.
 *   END      the response is complete and the iterable's close() has returned.
 *   RESPONSE START, BODY and END in one frame, for a response whose whole body is at hand and
 *            fits the credit and BODY_CHUNK, and with its head MAX_PAYLOAD: uint32 BE length of
 *            the START JSON, the START JSON, then the body (possibly empty).
 *   ERROR    JSON {message, traceback, started}: the app failed; `started` says whether
 *            START was already sent (then the response can only be cut off).
 *   CREDIT   uint32 BE: the server may send this many more request body bytes.
 *   LOG      UTF-8 text the app wrote to wsgi.errors, for the log (cut to fit a frame, saying so).
 *   READY    (id 0) JSON {pid, python}: the app was imported and takes requests.
 *   FAILED   (id 0) JSON {message, traceback}: the app could not be imported; the bridge exits.
 *   PONG     (id 0) the answer to PING, sent by the bridge's reading loop.
 *
 * Flow control is by credit, both ways: each side may have at most WINDOW bytes of body in
 * flight per request before the other side grants more, which it does as it consumes them
 * (the bridge as wsgi.input is read, the server as the client's socket drains). A 20 MB upload
 * or download so holds at most a window per request in each process.
 */

/** Frame types; the high nibble says the direction (0 server to bridge, 1 bridge to server). */
export const FRAME = {
  request: 0x01,
  body: 0x02,
  end: 0x03,
  abort: 0x04,
  credit: 0x05,
  requestAlone: 0x06,
  ping: 0x07,
  start: 0x11,
  responseBody: 0x12,
  responseEnd: 0x13,
  error: 0x14,
  grant: 0x15,
  log: 0x16,
  ready: 0x17,
  failed: 0x18,
  response: 0x19,
  pong: 0x1a,
} as const;

export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** Bytes of body each side may send per request before the other grants more. */
export const WINDOW = 256 * 1024;
/** Largest payload: body chunks are cut to BODY_CHUNK; a head (16 KiB of fields) fits easily. */
export const MAX_PAYLOAD = 1024 * 1024;
/** Body bytes per BODY frame. */
export const BODY_CHUNK = 64 * 1024;
export const HEADER_BYTES = 9;

/** 1 at each known type's index: a table rather than a Set, looked up for every frame. */
const KNOWN_TYPES = new Uint8Array(256);
for (const type of Object.values(FRAME)) KNOWN_TYPES[type] = 1;

export interface Frame {
  readonly type: FrameType;
  readonly id: number;
  readonly payload: Buffer;
}

/** Why a byte stream is not a valid sequence of frames; the stream is then unusable. */
export interface FrameError {
  readonly code: 'frame-too-large' | 'frame-type-unknown';
  readonly message: string;
}

/** One frame's bytes. */
export function encodeFrame(type: FrameType, id: number, payload: Buffer = EMPTY): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  writeHeader(frame, type, id, payload.length);
  payload.copy(frame, HEADER_BYTES);
  return frame;
}

/** The header alone, for a body payload written after it without being copied. */
export function encodeHeader(type: FrameType, id: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  writeHeader(header, type, id, length);
  return header;
}

/** Writes a frame header at the start of `target`, for a payload written after it. */
export function writeHeader(target: Buffer, type: FrameType, id: number, length: number): void {
  target.writeUInt32BE(length, 0);
  target.writeUInt8(type, 4);
  target.writeUInt32BE(id, 5);
}

/** A frame whose payload is JSON. */
export function encodeJsonFrame(type: FrameType, id: number, value: unknown): Buffer {
  return encodeTextFrame(type, id, JSON.stringify(value));
}

/** A frame whose payload is `text` in UTF-8, written into the frame itself (no buffer to copy from). */
export function encodeTextFrame(type: FrameType, id: number, text: string): Buffer {
  const length = Buffer.byteLength(text, 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
  writeHeader(frame, type, id, length);
  frame.write(text, HEADER_BYTES, 'utf8');
  return frame;
}

/** A CREDIT or grant frame. */
export function encodeCredit(type: typeof FRAME.credit | typeof FRAME.grant, id: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return encodeFrame(type, id, payload);
}

const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into frames, whatever the chunking: a header may arrive one byte at a
 * time and a payload across many chunks. Strict: an unknown type or a length over the limit
 * is an error value, after which the decoder accepts nothing more.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  private type: FrameType = FRAME.request;
  private id = 0;
  private failed: FrameError | undefined;

  constructor(
    private readonly onFrame: (frame: Frame) => void,
    private readonly maxPayload = MAX_PAYLOAD,
  ) {}

  /** Consumes `chunk`; returns the error that makes the stream unusable, if any. */
  push(chunk: Buffer): FrameError | undefined {
    if (this.failed !== undefined) return this.failed;
    let at = 0;
    while (at < chunk.length) {
      at = this.payload === undefined ? this.readHeader(chunk, at) : this.readPayload(chunk, at);
      if (this.failed !== undefined) return this.failed;
    }
    return undefined;
  }

  /** True between frames: a stream that ends here ended cleanly. */
  get idle(): boolean {
    return this.headerFill === 0 && this.payload === undefined;
  }

  private readHeader(chunk: Buffer, at: number): number {
    // A header wholly inside the chunk (almost always) is read where it is.
    let source = chunk;
    let start = at;
    if (this.headerFill > 0 || chunk.length - at < HEADER_BYTES) {
      const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - at);
      chunk.copy(this.header, this.headerFill, at, at + take);
      this.headerFill += take;
      if (this.headerFill < HEADER_BYTES) return at + take;
      this.headerFill = 0;
      source = this.header;
      start = 0;
      at += take;
    } else at += HEADER_BYTES;
    const length = source.readUInt32BE(start);
    const type = source[start + 4] as number;
    if (KNOWN_TYPES[type] !== 1) {
      this.failed = { code: 'frame-type-unknown', message: `Frame type 0x${type.toString(16)} is unknown` };
      return chunk.length;
    }
    if (length > this.maxPayload) {
      this.failed = { code: 'frame-too-large', message: `Frame of ${length} bytes is larger than the limit of ${this.maxPayload}` };
      return chunk.length;
    }
    this.type = type as FrameType;
    this.id = source.readUInt32BE(start + 5);
    // A payload wholly inside this chunk is delivered as a view, without a copy.
    if (chunk.length - at >= length) {
      this.onFrame({ type: this.type, id: this.id, payload: length === 0 ? EMPTY : chunk.subarray(at, at + length) });
      return at + length;
    }
    this.payload = Buffer.allocUnsafe(length);
    this.payloadFill = 0;
    return at;
  }

  private readPayload(chunk: Buffer, at: number): number {
    const payload = this.payload as Buffer;
    const take = Math.min(payload.length - this.payloadFill, chunk.length - at);
    chunk.copy(payload, this.payloadFill, at, at + take);
    this.payloadFill += take;
    if (this.payloadFill === payload.length) {
      this.payload = undefined;
      this.onFrame({ type: this.type, id: this.id, payload });
    }
    return at + take;
  }
}

/** Where a TurnBatch writes: the pipe's writable side. */
export interface FrameSink {
  write(buffer: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

/** A batch of frames up to this size is joined into one buffer before it is written. */
const JOIN_BYTES = 16 * 1024;

/**
 * Frames queued in one turn of the event loop, written in one write after its poll phase (the
 * server's: the REQUEST_ALONE, or REQUEST and BODY, of every request read in that phase; the
 * bridge's: the RESPONSE, or START, BODY and END, of every response finished in it). Each write
 * to the pipe is a system call that wakes the other process, which cost as much as the rest of a
 * request. Small frames are joined into one buffer (a copy costs less than the stream's
 * bookkeeping of a write per frame); a batch with large bodies is written as it is, corked into
 * one writev.
 */
export class TurnBatch {
  private frames: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  constructor(private readonly out: FrameSink) {}

  push(buffer: Buffer): void {
    if (this.dropped) return;
    if (this.frames.length === 0) setImmediate(this.flush);
    this.frames.push(buffer);
    this.bytes += buffer.length;
  }

  /** Writes what is queued now, before a write that must follow it. */
  readonly flush = (): void => {
    const { frames, bytes } = this;
    if (frames.length === 0) return;
    this.frames = [];
    this.bytes = 0;
    if (this.dropped) return;
    if (frames.length === 1) this.out.write(frames[0] as Buffer);
    else if (bytes <= JOIN_BYTES) this.out.write(Buffer.concat(frames, bytes));
    else {
      this.out.cork();
      for (const frame of frames) this.out.write(frame);
      this.out.uncork();
    }
  };

  /** Nothing queued or pushed from now on is written: the other side is gone. */
  drop(): void {
    this.dropped = true;
    this.frames = [];
    this.bytes = 0;
  }
}

/** Text cut to at most `max` characters, saying so: an ERROR frame's message and traceback must fit a frame. */
export function clipped(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
