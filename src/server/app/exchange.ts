import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';
import { noTransform, varyWith } from '../../http/cache-control';
import { isFieldName, isFieldValue } from '../../http/response';
import { DOCUMENT_FIELDS } from '../fetch-metadata';
import type { Request, Response, ResponseHeaders } from '../handler';
import type { HtmlRewriter } from '../static';
import type { BridgeProcess, ExchangeSink } from './bridge-process';
import type { Deadlines, Expiring } from './deadlines';
import { appErrorPage } from './error-page';
import { FRAME, WINDOW, encodeCredit, encodeTextFrame } from './frames';
import { headJson, type ServerPart } from './heads';
import { Upload } from './upload';

/** What every request forwarded to one app shares. */
export interface ExchangeContext extends ServerPart {
  readonly timeoutMs: number;
  /** When each request's `timeoutMs` is up: one timer for all of them. */
  readonly deadlines: Deadlines;
  /** Show tracebacks on error pages (a loopback server, so only its own user sees them). */
  readonly showTraceback: boolean;
  /** Live reload's page rewriter: app pages get its client like files do. */
  readonly htmlRewriter: HtmlRewriter | undefined;
}

/** Forwards `request` to the app in `bridge` and resolves with its response, or an error page. */
export function forward(bridge: BridgeProcess, request: Request, context: ExchangeContext): Promise<Response> {
  return new Promise((resolve) => new AppExchange(bridge, request, context, resolve));
}

/** RFC 9110 section 6.4.1: these never carry content; what the app sends anyway is dropped. */
function hasNoContent(status: number, method: string): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200) || method === 'HEAD';
}

/**
 * One request on its way through the bridge: the head and body go out under the bridge's
 * credit; the response comes back as a buffer when it is complete soon after its head (most
 * pages), else as a stream under our credit.
 */
class AppExchange implements ExchangeSink, Expiring {
  private readonly id: number;
  private settled = false;
  // Links of the app's Deadlines list (see deadlines.ts): -1 while not listed.
  deadlineAt = -1;
  olderEntry: Expiring | undefined;
  newerEntry: Expiring | undefined;
  /** Sends the request body; undefined for a request without one (REQUEST_ALONE). */
  private readonly upload: Upload | undefined;
  private status = 0;
  private headers: ResponseHeaders = {};
  private length: number | undefined;
  /** An uncompressed HTML page, which live reload may rewrite when it arrives whole. */
  private html = false;
  /** The app's Content-Type, whose charset may say the page is UTF-16. */
  private contentType: string | undefined;
  /** The app's Content-Security-Policy fields, joined with ", ": live reload's tag reuses the page's nonce. */
  private policy: string | undefined;
  private chunks: Buffer[] = [];
  private stream: Readable | undefined;
  /** Response bytes received since credit was last granted. */
  private unacknowledged = 0;
  private ended = false;
  /** Body bytes received before the response was settled. */
  private buffered = 0;
  private settleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bridge: BridgeProcess,
    private readonly request: Request,
    private readonly context: ExchangeContext,
    private readonly resolve: (response: Response) => void,
  ) {
    this.id = bridge.open(this);
    const gone = bridge.goneReason;
    if (gone !== undefined) queueMicrotask(() => this.onGone(gone));
    const alone = request.bodyStream === undefined && request.body.length === 0;
    bridge.send(encodeTextFrame(alone ? FRAME.requestAlone : FRAME.request, this.id, headJson(request, context)));
    context.deadlines.add(this);
    if (!alone) this.upload = new Upload(bridge, this.id, request, (message) => this.bodyFailed(message), () => this.uploaded());
    request.client?.whenGone(this.clientGone);
  }

  /**
   * The client left before its answer was ready: the app's request is aborted (a Fetch app's
   * `request.signal`, a WSGI iterable's close()). 499 is nginx's "client closed request", for
   * the log only.
   */
  private readonly clientGone = (): void => {
    if (this.settled) return;
    this.abandon();
    this.settleWith({ status: 499, headers: {}, reason: 'client closed the connection; app request aborted' });
  };

  /** The client's body has all gone to the app: the app's time starts again, none of it spent on the upload. */
  private uploaded(): void {
    if (this.deadlineAt < 0) return;
    this.context.deadlines.delete(this);
    this.context.deadlines.add(this);
  }

  onGrant(bytes: number): void {
    this.upload?.grant(bytes);
  }

  /** The client's body broke off (bad chunk, connection gone): the app stops reading it. */
  private bodyFailed(message: string): void {
    this.abandon();
    this.fail(400, 'The request body could not be read', `request body failed: ${message}`, '');
  }

  onStart(head: readonly string[]): void {
    const problem = this.readHead(head);
    if (problem !== undefined) return this.badHead(problem);
    if (hasNoContent(this.status, this.request.method)) this.settleStarted();
    // The wait starts once the frames that came with START are read: a response whose body and
    // END came in the same pipe read is settled by then, and needs no timer.
    else queueMicrotask(this.awaitBody);
  }

  onResponse(head: readonly string[], body: Buffer): void {
    const problem = this.readHead(head);
    if (problem !== undefined) return this.badHead(problem);
    this.ended = true;
    if (body.length > 0) {
      this.chunks.push(body);
      this.buffered = body.length;
    }
    this.settleStarted();
  }

  /** The app's head cannot be sent (see readHead): 502, as for an upstream's malformed answer. */
  private badHead(problem: string): void {
    this.abandon();
    this.fail(502, 'The app answered with an invalid status or header field', problem, '');
  }

  /**
   * Reads the status and fields of START or RESPONSE; says what is wrong when the status is no
   * final one (three digits from 200 to 599, then a space or nothing: `Response.error()` has 0, a
   * look-alike object may have 1000, and a 1xx is never final) or a field is not one HTTP can
   * carry (RFC 9110 section 5: a token name, a value without control characters but HTAB).
   */
  private readHead(head: readonly string[]): string | undefined {
    this.clearTimer();
    const status = head[0] as string;
    const code = /^([2-5]\d\d)(?: |$)/.exec(status);
    if (code === null) return `the app's status ${JSON.stringify(status.slice(0, 40))} is not a final HTTP status (200 to 599)`;
    this.status = Number(code[1]);
    // A plain object, which the connection reads fastest; which fields it holds is known from
    // `spellings`, so a name like `constructor` is never taken for one already there.
    const headers: Record<string, string | string[]> = {};
    /**
     * Each field's first spelling, by lower-case name: names differing in case only are one field.
     * A Map: an object made by `Object.create(null)` here kept V8 from ever optimizing this
     * function (its inline caches changed on every call), which cost 3 µs per app request.
     */
    const spellings = new Map<string, string>();
    let encoded = false;
    /** Cache-Control: no-transform, which asks that the content reach the client as the app made it. */
    let untouched = false;
    for (let i = 1; i < head.length; i += 2) {
      const name = head[i] as string;
      const value = head[i + 1] as string;
      if (!isFieldName(name) || !isFieldValue(value)) {
        return `the app's field ${JSON.stringify(name.slice(0, 40))}: ${JSON.stringify(value.slice(0, 80))} is not a valid HTTP field (a control character, or a name that is no token)`;
      }
      const lower = name.toLowerCase();
      if (lower === 'content-type') {
        this.html = /^\s*text\/html\b/i.test(value);
        this.contentType = value;
      } else if (lower === 'content-encoding') encoded = true;
      else if (lower === 'cache-control' && noTransform(value)) untouched = true;
      else if (lower === 'content-security-policy') this.policy = this.policy === undefined ? value : `${this.policy}, ${value}`;
      // The app's Content-Length decides the framing; the connection writes the field itself.
      if (lower === 'content-length') {
        if (/^\d{1,15}$/.test(value)) this.length = Number(value);
        continue;
      }
      const first = spellings.get(lower);
      if (first === undefined) {
        spellings.set(lower, name);
        setField(headers, name, value);
      } else {
        const existing = headers[first] as string | string[];
        setField(headers, first, Array.isArray(existing) ? [...existing, value] : [existing, value]);
      }
    }
    this.html &&= !encoded && !untouched;
    // Whether the page gets the client depends on the request (a navigation or a fetch()). A 304
    // with a Vary repeats the page's (RFC 9110 section 15.4.5), though it names no type.
    const revalidates = this.status === 304 && spellings.get('vary') !== undefined && !untouched;
    if ((this.html || revalidates) && this.context.htmlRewriter !== undefined) {
      const name = spellings.get('vary') ?? 'Vary';
      const previous = headers[name];
      setField(headers, name, varyWith(Array.isArray(previous) ? previous.join(', ') : previous, DOCUMENT_FIELDS));
    }
    this.headers = headers;
    return undefined;
  }

  private readonly awaitBody = (): void => {
    if (!this.settled) this.settleTimer = setTimeout(() => this.settleStarted(), SETTLE_MS);
  };

  onBody(chunk: Buffer): void {
    this.unacknowledged += chunk.length;
    if (this.stream !== undefined) {
      if (this.stream.push(chunk)) this.grant();
    } else if (this.settled) {
      // Answered whole once its Content-Length was reached: this is more than that length.
      this.abandon();
    } else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.complete() || this.buffered >= WINDOW / 2) this.settleStarted();
    }
  }

  /** The whole body is here: the bridge said END, or the app's Content-Length is reached. */
  private complete(): boolean {
    return this.ended || (this.length !== undefined && this.buffered >= this.length);
  }

  onEnd(): void {
    this.ended = true;
    if (this.stream !== undefined) this.stream.push(null);
    else if (this.status !== 0) this.settleStarted();
    else this.fail(502, 'The app ended the response without a status', 'the bridge ended a response it never started', '');
  }

  onError(message: string, traceback: string): void {
    if (this.stream !== undefined) {
      this.stream.destroy(new Error(`app error: ${message}`));
      return;
    }
    this.fail(500, 'The app raised an exception', `app error: ${message}`, traceback);
  }

  onGone(reason: string): void {
    if (this.stream !== undefined) {
      this.stream.destroy(new Error(reason));
      return;
    }
    this.fail(502, 'The app process stopped before it answered', reason, '');
  }

  /**
   * The response as a buffer when it is complete by now (most pages: written at once, with a
   * Content-Length, and live reload can rewrite them), else as a stream from here on.
   */
  private settleStarted(): void {
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    if (this.settled) return;
    this.settled = true;
    const { status, headers } = this;
    if (hasNoContent(status, this.request.method)) {
      if (!this.ended) this.abandon();
      // HEAD keeps the framing a GET would have (the app's length, else chunked), never a made-up
      // `Content-Length: 0`; the connection sends no body for it. A page that its GET would get
      // with live reload's tag (one held whole: up to half a window) is longer by the tag, which
      // carries the nonce of the page's policy fields as its GET's does.
      const length = this.length === undefined ? undefined : this.length <= WINDOW / 2 ? this.length + this.rewritten(EMPTY).length : this.length;
      if (this.request.method !== 'HEAD' || status === 204 || status === 304) this.resolve({ status, headers });
      else if (length === undefined) this.resolve({ status, headers, body: { kind: 'stream', stream: Readable.from([]) } });
      else this.resolve({ status, headers, body: { kind: 'stream', stream: Readable.from([]), length } });
      return;
    }
    if (this.complete()) {
      const chunks = this.chunks;
      this.chunks = [];
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const length = this.length;
      if (length !== undefined && body.length > length) {
        // More than its Content-Length says: the app is stopped, and the client gets what the field promised.
        if (!this.ended) this.abandon();
        this.resolve({ status, headers, body: body.subarray(0, length), reason: `the app sent more than its Content-Length of ${length} bytes; cut there` });
        return;
      }
      this.resolve({ status, headers, body: this.rewritten(body) });
      return;
    }
    this.stream = new Readable({
      highWaterMark: WINDOW / 4,
      read: () => this.grant(),
      destroy: (error, callback) => {
        // The client went away, or the connection would not send a body: stop the app.
        if (!this.ended) this.abandon();
        callback(error);
      },
    });
    for (const chunk of this.chunks) this.stream.push(chunk);
    this.chunks = [];
    if (this.length === undefined) this.resolve({ status, headers, body: { kind: 'stream', stream: this.stream } });
    else this.resolve({ status, headers, body: { kind: 'stream', stream: this.stream, length: this.length } });
  }

  /**
   * The page with live reload's client when it applies (a browser navigation to HTML). A page
   * that is still streaming when its head is sent is left as it is.
   */
  private rewritten(body: Buffer): Buffer {
    const rewriter = this.context.htmlRewriter;
    if (!this.html || rewriter === undefined || !rewriter.applies(this.request)) return body;
    return rewriter.rewrite(body, this.request.path, { contentType: this.contentType, policy: this.policy });
  }

  /** Lets the bridge send as much again as has reached the client's side. */
  private grant(): void {
    if (this.unacknowledged === 0 || this.ended) return;
    this.bridge.send(encodeCredit(FRAME.credit, this.id, this.unacknowledged));
    this.unacknowledged = 0;
  }

  /** The app did not answer in time (see Deadlines). */
  expire(): void {
    if (this.upload?.waitingOnClient === true) {
      this.context.deadlines.add(this);
      return;
    }
    const seconds = this.context.timeoutMs / 1000;
    this.bridge.probe(Math.min(this.context.timeoutMs, MAX_PROBE_MS));
    this.abandon();
    this.fail(504, `The app did not answer within ${seconds} s`, `app did not answer within ${seconds} s`, '');
    this.bridge.overdue(this.id);
  }

  /** Tells the bridge to stop this request (its iterable is closed) and forgets it. */
  private abandon(): void {
    this.ended = true;
    this.upload?.stop();
    this.bridge.sendEmpty(FRAME.abort, this.id);
    this.bridge.close(this.id);
  }

  private fail(status: number, title: string, reason: string, traceback: string): void {
    // Once the body streams, the head has gone out: the response can only be cut off.
    if (this.stream !== undefined) {
      this.stream.destroy(new Error(reason));
      return;
    }
    const shown = this.context.showTraceback ? traceback : '';
    this.settleWith({ status, headers: HTML_HEADERS, body: appErrorPage(status, title, shown), reason });
  }

  /** Answers with `response` unless an answer went out already; either way both timers stop. */
  private settleWith(response: Response): void {
    this.clearTimer();
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    if (this.settled) return;
    this.settled = true;
    this.resolve(response);
  }

  private clearTimer(): void {
    this.context.deadlines.delete(this);
  }
}

/** Sets the field as an own property, also one named `__proto__` (which an assignment would take for the prototype). */
function setField(headers: Record<string, string | string[]>, name: string, value: string | string[]): void {
  if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  else headers[name] = value;
}

/**
 * How long a started response may wait to arrive whole before its head goes out and the body
 * streams: it bounds the delay PEP 3333 forbids ("must not delay the transmission of any
 * block") while letting a page written in a few pieces be sent, and rewritten, as one.
 */
const SETTLE_MS = 10;

/** How long a process whose request timed out may take to answer a PING (at most the app timeout). */
const MAX_PROBE_MS = 10_000;

const EMPTY = Buffer.alloc(0);

const HTML_HEADERS = Object.freeze({ 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
