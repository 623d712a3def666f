// The Fetch bridge's side of one request (see fetch-bridge.ts): the frames to the server, and an
// exchange that feeds the app's Request and sends its Response under the server's credit.
import { Socket } from 'node:net';
import { bodyLength, decodedFields, describe, fieldsOf, isResponse } from './fetch-response';
import { BODY_CHUNK, FRAME, MAX_PAYLOAD, WINDOW, clipped, encodeCredit, encodeFrame, encodeHeader, encodeJsonFrame, TurnBatch } from './frames';
import { encodeResponseFrame, encodeStartFrame, type Head } from './heads';
import { LazyRequest, fetchMethod, fetchUrl, fieldValue, type RequestSource } from './lazy-request';
import { LightResponse, type ResponseParts } from './light-response';

const EMPTY = new Uint8Array(0);

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The app's handler, as loaded by fetch-bridge.ts. */
export type FetchHandler = (request: Request) => unknown;

/** Frames to the server, in batches (see TurnBatch): one pipe read for the server instead of three per request. */
export class Channel {
  private readonly batch: TurnBatch;

  constructor(private readonly out: Socket) {
    this.batch = new TurnBatch(out);
  }

  send(frame: Buffer): void {
    this.batch.push(frame);
  }

  body(id: number, chunk: Uint8Array): void {
    this.send(encodeHeader(FRAME.responseBody, id, chunk.byteLength));
    this.send(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  /** The last frame of a process that exits now (the app could not be loaded). */
  last(frame: Buffer, then: () => void): void {
    this.batch.flush();
    this.out.write(frame, then);
  }
}

/**
 * One request: its body as it arrives, its response under credit, its abort signal. It is the
 * source of the app's LazyRequest, which asks for the body stream and the signal only when the
 * app uses them: an AbortController costs as much as the rest of a hello-world request.
 */
export class Exchange implements RequestSource {
  method = '';
  url = '';
  private aborter: AbortController | undefined;
  private abortReason: Error | undefined;
  /** The reader of the response body being sent, for abort() to cancel. */
  private reader: ReadableStreamDefaultReader<unknown> | undefined;
  private hasBody = false;
  private readonly pending: Buffer[] = [];
  private inputEnded = false;
  private wakeReader: (() => void) | undefined;
  /** Request body bytes read by the app since credit was last granted. */
  private consumed = 0;
  /** Response body bytes the server lets us send. */
  private credit = WINDOW;
  private wakeWriter: (() => void) | undefined;
  private started = false;

  constructor(
    private readonly id: number,
    private readonly head: Head,
    private readonly channel: Channel,
  ) {}

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  get fields(): readonly string[] {
    return this.head.fields;
  }

  signal(): AbortSignal {
    this.aborter ??= new AbortController();
    if (this.abortReason !== undefined && !this.aborter.signal.aborted) this.aborter.abort(this.abortReason);
    return this.aborter.signal;
  }

  body(): ReadableStream<Uint8Array> | null {
    return this.hasBody ? this.bodyStream() : null;
  }

  // Frames from the server.
  feed(chunk: Buffer): void {
    this.pending.push(chunk);
    this.wake();
  }

  finishInput(): void {
    this.inputEnded = true;
    this.wake();
  }

  abort(): void {
    this.abortReason ??= new Error('The client went away or the server gave up on the request');
    this.aborter?.abort(this.abortReason);
    // A body that is quiet now would keep its read pending, and the app's cancel() unrun.
    void this.reader?.cancel(this.abortReason).catch(() => undefined);
    this.wake();
  }

  grant(bytes: number): void {
    this.credit += bytes;
    this.wake();
  }

  private wake(): void {
    const reader = this.wakeReader;
    const writer = this.wakeWriter;
    this.wakeReader = undefined;
    this.wakeWriter = undefined;
    reader?.();
    writer?.();
  }

  /**
   * Calls the app and sends its response; whatever goes wrong becomes an ERROR frame. A Response
   * returned (not a promise of one) whose body is at hand is sent at once, and nothing is
   * returned; else the promise of the rest, which never rejects.
   */
  run(handler: FetchHandler): Promise<void> | undefined {
    let response: unknown;
    try {
      const request = this.request();
      if (request === undefined) return undefined;
      response = handler(request);
      if (!isThenable(response)) {
        const parts = LightResponse.parts(response);
        if (parts !== undefined) return this.sendParts(parts);
      }
    } catch (error) {
      this.failed(error);
      return undefined;
    }
    return this.finish(response);
  }

  private async finish(pending: unknown): Promise<void> {
    try {
      const response: unknown = await pending;
      if (!isResponse(response)) {
        throw new TypeError(`The app returned ${describe(response)}, not a Response: return new Response(body), or c.text() / c.json() in Hono`);
      }
      await this.send(response);
    } catch (error) {
      this.failed(error);
    }
  }

  /** Sends ERROR for `error`; never throws, even for a value whose properties do (it runs inside the frame reader). */
  private failed(error: unknown): void {
    if (this.aborted) return;
    let message = 'Thrown: a value that cannot be described';
    let stack = '';
    try {
      stack = error instanceof Error ? String(error.stack ?? '') : '';
      message = error instanceof Error ? `${String(error.name)}: ${String(error.message)}` : `Thrown: ${describe(error)}`;
    } catch {
      // A revoked Proxy, or a getter that throws: the generic words above stand.
    }
    // A message of any size from the app: cut to fit one frame (characters may take 6 bytes as JSON).
    const max = MAX_PAYLOAD / 16;
    this.channel.send(encodeJsonFrame(FRAME.error, this.id, { message: clipped(message, max), traceback: clipped(stack, max), started: this.started }));
  }

  /**
   * The app's Request; undefined (and a 501 sent) for a method the Fetch standard forbids
   * (CONNECT, TRACE, TRACK) or a Host that makes no URL.
   */
  private request(): Request | undefined {
    const { method, scriptName, path, query, fields } = this.head;
    const fetchedMethod = fetchMethod(method);
    // The URL the client asked for, mount prefix included: routes are written as the browser sees them.
    const host = fieldValue(fields, 'host') ?? `${this.head.serverName}:${this.head.serverPort}`;
    const url = fetchUrl(host, `${scriptName}${path}${query === '' ? '' : `?${query}`}`);
    if (fetchedMethod === undefined || url === undefined) {
      const why = fetchedMethod === undefined ? `the Fetch standard forbids the method ${method}` : `the Host ${JSON.stringify(host)} makes no URL`;
      this.head501(`The app cannot be given this request: ${why}\n`);
      return undefined;
    }
    this.method = fetchedMethod;
    this.url = url;
    const length = fieldValue(fields, 'content-length');
    this.hasBody = fetchedMethod !== 'GET' && fetchedMethod !== 'HEAD' && (fieldValue(fields, 'transfer-encoding') !== undefined || (length !== undefined && length !== '0'));
    return new LazyRequest(this) as unknown as Request;
  }

  private head501(text: string): void {
    void this.sendParts({ status: 501, statusText: 'Not Implemented', fields: [['content-type', 'text/plain; charset=utf-8']], body: text });
  }

  /** The request body, read by the app as the server sends it; credit is granted as it is read. */
  private bodyStream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          while (this.pending.length === 0 && !this.inputEnded && !this.aborted) {
            await new Promise<void>((wake) => (this.wakeReader = wake));
          }
          const chunk = this.pending.shift();
          if (this.aborted) controller.error(this.abortReason);
          else if (chunk !== undefined) {
            controller.enqueue(chunk);
            this.acknowledge(chunk.length);
          } else controller.close();
        },
      },
      // Nothing is pulled before the app reads: the bytes wait in `pending`, within the window.
      { highWaterMark: 0 },
    );
  }

  /** Grants the server credit for consumed body bytes, a quarter window at a time. */
  private acknowledge(bytes: number): void {
    this.consumed += bytes;
    if (this.consumed >= WINDOW / 4 && !this.inputEnded) {
      this.channel.send(encodeCredit(FRAME.grant, this.id, this.consumed));
      this.consumed = 0;
    }
  }

  /** START at once (an event stream's head must not wait for its first event), then the body. */
  private async send(response: Response): Promise<void> {
    const parts = LightResponse.parts(response);
    if (parts !== undefined) {
      await this.sendParts(parts);
      return;
    }
    if (response.bodyUsed === true || response.body?.locked === true) {
      throw new TypeError('The app returned a Response whose body was already read, or is being read: return a new Response, or read a response.clone()');
    }
    const own = fieldsOf(response.headers);
    const fields = response.type === 'basic' || response.type === 'cors' ? decodedFields(own) : own;
    const body = response.body;
    if (this.head.method === 'HEAD' && !response.headers.has('content-length')) {
      // The length a GET would have: 0 for no body at all.
      const length = body === null ? 0 : await bodyLength(body);
      if (length !== undefined) fields.push(['content-length', String(length)]);
    }
    const start = encodeStartFrame(this.id, `${response.status} ${response.statusText}`, fields);
    this.started = true;
    this.channel.send(start);
    if (body !== null) {
      const reader = body.getReader();
      this.reader = reader;
      try {
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          if (!(read.value instanceof Uint8Array)) {
            throw new TypeError(`The response body stream gave ${describe(read.value)} where bytes belong: enqueue Uint8Array chunks, e.g. through a TextEncoderStream`);
          }
          if (!(await this.sendBody(read.value))) break;
        }
      } finally {
        this.reader = undefined;
        // The client went away: the app's stream is cancelled (its cancel() runs).
        if (this.aborted) void reader.cancel(this.abortReason).catch(() => undefined);
      }
    }
    if (!this.aborted) this.channel.send(encodeFrame(FRAME.responseEnd, this.id));
  }

  /**
   * A LightResponse: its body's bytes at once, no stream to read. One RESPONSE frame when the body
   * fits the credit and a frame, and then nothing is returned; else START, then the body.
   */
  private sendParts({ status, statusText, fields, body }: ResponseParts): Promise<void> | undefined {
    let bytes = typeof body === 'string' ? Buffer.from(body) : body;
    if (this.head.method === 'HEAD') {
      // HEAD gets the length a GET would have (0 for no body at all), and no body.
      if (!fields.some(([name]) => name === 'content-length')) fields.push(['content-length', String(bytes === null ? 0 : bytes.byteLength)]);
      bytes = null;
    }
    const size = bytes === null ? 0 : bytes.byteLength;
    const whole = size <= this.credit && size <= BODY_CHUNK ? encodeResponseFrame(this.id, `${status} ${statusText}`, fields, bytes ?? EMPTY) : undefined;
    // Marked started only once its frame is made: a head too large to send is an error to answer.
    const start = whole ?? encodeStartFrame(this.id, `${status} ${statusText}`, fields);
    this.started = true;
    this.channel.send(start);
    return whole === undefined ? this.sendRest(bytes) : undefined;
  }

  private async sendRest(bytes: Uint8Array | null): Promise<void> {
    if (bytes === null || (await this.sendBody(bytes))) this.channel.send(encodeFrame(FRAME.responseEnd, this.id));
  }

  /** Sends `chunk` within the credit, waiting for more; false when the request was aborted. */
  private async sendBody(chunk: Uint8Array): Promise<boolean> {
    let at = 0;
    while (at < chunk.byteLength) {
      while (this.credit <= 0 && !this.aborted) await new Promise<void>((wake) => (this.wakeWriter = wake));
      if (this.aborted) return false;
      const size = Math.min(chunk.byteLength - at, this.credit, BODY_CHUNK);
      this.channel.body(this.id, chunk.subarray(at, at + size));
      this.credit -= size;
      at += size;
    }
    return true;
  }
}
