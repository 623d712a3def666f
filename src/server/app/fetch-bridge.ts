/*
 * Tiny Server's Fetch bridge: runs one JavaScript app written against the Fetch standard (the
 * `export default { fetch }` shape of Workers, Deno and Bun, a Hono app, or a function
 * `(request) => Response`) for the server that started it. Bundled on its own as
 * dist/fetch_bridge.js and run by the server as a child process (inside VS Code: the extension
 * host's own runtime, with ELECTRON_RUN_AS_NODE=1):
 *
 *     node fetch_bridge.js --app server.mjs --app-dir DIR
 *
 * It speaks the framed protocol of frames.ts over fd 3 (in) and fd 4 (out), as wsgi_bridge.py
 * does; stdout and stderr stay the app's own (console.log), which the server logs. Requests are
 * served concurrently (the app is asynchronous, so no pool): each is a `Request` whose body is a
 * `ReadableStream` fed under credit, and each `Response` body is read under the server's credit,
 * so neither direction holds more than a window per request.
 */
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { IdTable } from '../churn';
import { bodyLength, describe, fieldsOf, isResponse } from './fetch-response';
import { BODY_CHUNK, FRAME, FrameDecoder, WINDOW, encodeCredit, encodeFrame, encodeHeader, encodeJsonFrame, encodeStartFrame, TurnBatch, type Frame } from './frames';
import { LazyRequest, fetchMethod, fetchUrl, fieldValue, installLazyRequest, type RequestSource } from './lazy-request';
import { LightResponse, installLightResponse, type ResponseParts } from './light-response';

type FetchHandler = (request: Request) => unknown;

/** The REQUEST frame's head (see AppExchange.head in exchange.ts). */
interface Head {
  readonly method: string;
  readonly scriptName: string;
  readonly path: string;
  readonly query: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly serverName: string;
  readonly serverPort: number;
}

/** Frames to the server, in batches (see TurnBatch): one pipe read for the server instead of three per request. */
class Channel {
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
class Exchange implements RequestSource {
  method = '';
  url = '';
  private aborter: AbortController | undefined;
  private abortReason: Error | undefined;
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

  get fields(): ReadonlyArray<readonly [string, string]> {
    return this.head.headers;
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

  /** Calls the app and sends its response; whatever goes wrong becomes an ERROR frame. */
  async run(handler: FetchHandler): Promise<void> {
    try {
      const request = this.request();
      if (request === undefined) return;
      const response = await handler(request);
      if (!isResponse(response)) {
        throw new TypeError(`The app returned ${describe(response)}, not a Response: return new Response(body), or c.text() / c.json() in Hono`);
      }
      await this.send(response);
    } catch (error) {
      if (this.aborted) return;
      const stack = error instanceof Error ? (error.stack ?? '') : '';
      const message = error instanceof Error ? `${error.name}: ${error.message}` : `Thrown: ${describe(error)}`;
      this.channel.send(encodeJsonFrame(FRAME.error, this.id, { message, traceback: stack, started: this.started }));
    }
  }

  /**
   * The app's Request; undefined (and a 501 sent) for a method the Fetch standard forbids
   * (CONNECT, TRACE, TRACK) or a Host that makes no URL.
   */
  private request(): Request | undefined {
    const { method, scriptName, path, query, headers: fields } = this.head;
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
    this.started = true;
    this.channel.send(encodeStartFrame(this.id, '501 Not Implemented', [['content-type', 'text/plain; charset=utf-8']]));
    this.channel.body(this.id, Buffer.from(text));
    this.channel.send(encodeFrame(FRAME.responseEnd, this.id));
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
    this.started = true;
    const parts = LightResponse.parts(response);
    if (parts !== undefined) {
      await this.sendParts(parts);
      return;
    }
    const fields = fieldsOf(response.headers);
    const body = response.body;
    if (this.head.method === 'HEAD' && body !== null && !response.headers.has('content-length')) {
      const length = await bodyLength(body);
      if (length !== undefined) fields.push(['content-length', String(length)]);
    }
    this.channel.send(encodeStartFrame(this.id, `${response.status} ${response.statusText}`, fields));
    if (body !== null && !body.locked) {
      const reader = body.getReader();
      try {
        for (let read = await reader.read(); !read.done; read = await reader.read()) {
          if (!(read.value instanceof Uint8Array)) {
            throw new TypeError(`The response body stream gave ${describe(read.value)} where bytes belong: enqueue Uint8Array chunks, e.g. through a TextEncoderStream`);
          }
          if (!(await this.sendBody(read.value))) break;
        }
      } finally {
        // The client went away: the app's stream is cancelled (its cancel() runs).
        if (this.aborted) void reader.cancel(this.abortReason).catch(() => undefined);
      }
    }
    if (!this.aborted) this.channel.send(encodeFrame(FRAME.responseEnd, this.id));
  }

  /** A LightResponse: its body's bytes at once, no stream to read. */
  private async sendParts({ status, statusText, fields, body }: ResponseParts): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const head = this.head.method === 'HEAD';
    if (head && bytes !== null && !fields.some(([name]) => name === 'content-length')) fields.push(['content-length', String(bytes.byteLength)]);
    this.channel.send(encodeStartFrame(this.id, `${status} ${statusText}`, fields));
    if (bytes !== null && !head && !(await this.sendBody(bytes))) return;
    this.channel.send(encodeFrame(FRAME.responseEnd, this.id));
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

/**
 * The app's handler: its default export (`module.exports` for CommonJS), `{ fetch }` or a
 * function; a CommonJS module compiled from TypeScript holds it one level down, in `default`.
 */
async function loadApp(spec: string, appDir: string): Promise<FetchHandler> {
  const loaded = (await import(pathToFileURL(resolve(appDir, spec)).href)) as { default?: unknown };
  let target = loaded.default;
  if (!hasFetch(target) && typeof target !== 'function' && typeof target === 'object' && target !== null && 'default' in target) {
    target = (target as { default: unknown }).default;
  }
  if (hasFetch(target)) return (request) => target.fetch(request);
  if (typeof target === 'function') return (request) => (target as FetchHandler)(request);
  throw new TypeError(`${spec} has ${describe(target)} as its default export; a Fetch app exports { fetch(request) } or a function (request) => Response`);
}

function hasFetch(value: unknown): value is { fetch: FetchHandler } {
  return typeof value === 'object' && value !== null && typeof (value as { fetch?: unknown }).fetch === 'function';
}

/** The protocol is broken: nothing more can be trusted, so the process ends. */
function fatal(message: string): never {
  process.stderr.write(`fetch_bridge: ${message}\n`);
  process.exit(4);
}

/** Reads frames from fd 3 until the server closes it, then exits. */
function serve(handler: FetchHandler, channel: Channel, input: Socket): void {
  const exchanges = new IdTable<Exchange>();
  const decoder = new FrameDecoder((frame) => onFrame(frame));
  const onFrame = (frame: Frame): void => {
    if (frame.type >= 0x10) fatal(`Frame type 0x${frame.type.toString(16)} is one only the bridge sends`);
    if (frame.type === FRAME.request) {
      const exchange = new Exchange(frame.id, JSON.parse(frame.payload.toString('utf8')) as Head, channel);
      exchanges.set(frame.id, exchange);
      void exchange.run(handler).finally(() => exchanges.delete(frame.id));
      return;
    }
    const exchange = exchanges.get(frame.id);
    if (exchange === undefined) return; // the request already ended; late frames are harmless
    if (frame.type === FRAME.body) exchange.feed(frame.payload);
    else if (frame.type === FRAME.end) exchange.finishInput();
    else if (frame.type === FRAME.abort) exchange.abort();
    else if (frame.type === FRAME.credit) exchange.grant(frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : 0);
  };
  input.on('data', (chunk: Buffer) => {
    const error = decoder.push(chunk);
    if (error !== undefined) fatal(error.message);
  });
  // The server closed the pipe or went away: nothing more can be answered.
  input.on('end', () => process.exit(0));
  input.on('error', () => process.exit(0));
}

function argument(name: string): string {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : process.argv[at + 1];
  if (value === undefined) fatal(`missing ${name}`);
  return value;
}

async function main(): Promise<void> {
  const spec = argument('--app');
  const appDir = argument('--app-dir');
  // Ctrl-C in a terminal reaches the whole process group; the server stops this process itself.
  process.on('SIGINT', () => undefined);
  // An app's stray rejection or timer error is its bug, not a reason to drop every request in flight.
  process.on('unhandledRejection', (reason) => console.error('Unhandled rejection in the app:', reason));
  process.on('uncaughtException', (error) => console.error('Uncaught exception in the app:', error));
  const channel = new Channel(new Socket({ fd: 4, readable: false, writable: true }));
  process.chdir(appDir);
  // As in cli.ts: V8's young generation stays at two 1 MiB semi-spaces instead of growing to 16
  // MiB each under load.
  setFlagsFromString('--semi-space-growth-factor=1');
  installLazyRequest();
  installLightResponse();
  let handler: FetchHandler;
  try {
    handler = await loadApp(spec, appDir);
  } catch (error) {
    const failure = error instanceof Error ? { message: `${error.name}: ${error.message}`, traceback: error.stack ?? '' } : { message: describe(error), traceback: '' };
    channel.last(encodeJsonFrame(FRAME.failed, 0, failure), () => process.exit(3));
    return;
  }
  channel.send(encodeJsonFrame(FRAME.ready, 0, { pid: process.pid, runtime: `Node ${process.versions.node}` }));
  serve(handler, channel, new Socket({ fd: 3, readable: true, writable: false }));
}

void main();
