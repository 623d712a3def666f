/*
 * The `Request` the Fetch bridge gives the app, built lazily. A real undici `Request` costs an
 * `AbortSignal` (transferable, so a JS wrapper and a native object), a `Headers` list, URL
 * parsing and a body stream, and most apps read only `method`, `url` and a field or two: a
 * CPU profile of the bridge under `npm run bench -- --apps` had `new Request` at a third of its
 * busy time. So the app gets a `LazyRequest` (its prototype chained to `Request.prototype`, so
 * `instanceof Request` holds) that answers `method`, `url`, `headers` and `signal` itself and
 * builds the real `Request` on first use of anything else (`body`, `text()`, `clone()`, ...).
 * @hono/node-server does the same (its src/request.ts).
 *
 * The globals `Request` and `fetch` are replaced by thin wrappers (installLazyRequest) so that
 * `new Request(request, init)` and `fetch(request)`, which undici would refuse for an object
 * it did not build, are given the real one.
 */
import { encodeRawBytes, hasDotSegments } from '../url-path';
import { delegateRest, isInstance } from './delegate';

const NativeRequest = globalThis.Request;

/** What a lazy Request is made of: the head as the server sent it, the rest on demand. */
export interface RequestSource {
  readonly method: string;
  readonly url: string;
  /** Each field's name (lower-case) and value, one after the other. */
  readonly fields: readonly string[];
  /** The body stream (read under credit), made once, when the real Request is built; null without a body. */
  body(): ReadableStream<Uint8Array> | null;
  /** The request's abort signal, made on first use. */
  signal(): AbortSignal;
}

export class LazyRequest {
  readonly #source: RequestSource;
  #headers: Headers | undefined;
  #real: Request | undefined;

  constructor(source: RequestSource) {
    this.#source = source;
  }

  get method(): string {
    return this.#source.method;
  }

  get url(): string {
    return this.#source.url;
  }

  /**
   * Built on first read; the real Request, when built, gets a copy (as `new Request(url,
   * { headers })` would) and is asked from then on, so a change made after it was built (a field
   * set after `console.log(request)` or a body read, for `fetch(request)`) reaches it too.
   */
  get headers(): Headers {
    if (this.#real !== undefined) return this.#real.headers;
    return (this.#headers ??= headersOf(this.#source.fields));
  }

  get signal(): AbortSignal {
    return this.#source.signal();
  }

  /** The undici Request this one stands for, built on first need with the same body and signal. */
  static real(request: LazyRequest): Request {
    if (request.#real !== undefined) return request.#real;
    const source = request.#source;
    const body = source.body();
    // Fetch requires `duplex: 'half'` for a streamed body; @types/node 20 does not know it yet.
    const init: RequestInit & { duplex: 'half' } = { method: source.method, headers: request.headers, body, duplex: 'half', signal: source.signal() };
    return (request.#real = new NativeRequest(source.url, init));
  }
}

function headersOf(fields: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < fields.length; i += 2) headers.append(fields[i] as string, fields[i + 1] as string);
  return headers;
}

const unwrap = (input: unknown): unknown => (input instanceof LazyRequest ? LazyRequest.real(input) : input);

/**
 * Makes LazyRequest a Request for the app: the global `Request` (a subclass that unwraps a lazy
 * input, still the `instanceof` test for every Request) and `fetch` (which unwraps its input).
 */
export function installLazyRequest(): void {
  // Whatever else a Request has (body, text(), clone(), cache, ...) is the real Request's.
  delegateRest(LazyRequest.prototype, NativeRequest.prototype, LazyRequest.real);
  class AppRequest extends NativeRequest {
    static override [Symbol.hasInstance](value: unknown): boolean {
      return isInstance(this, AppRequest, NativeRequest, value);
    }

    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(unwrap(input) as RequestInfo | URL, init);
    }
  }
  Object.defineProperty(AppRequest, 'name', { value: 'Request' });
  // `request.constructor === Request`, as for a Request the app makes.
  Object.defineProperty(LazyRequest.prototype, 'constructor', { value: AppRequest, writable: true, configurable: true });
  const nativeFetch = globalThis.fetch;
  const fetch = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => nativeFetch(unwrap(input) as RequestInfo | URL, init);
  Object.defineProperty(globalThis, 'Request', { value: AppRequest, writable: true, configurable: true });
  Object.defineProperty(globalThis, 'fetch', { value: fetch, writable: true, configurable: true });
}

/** Fetch "forbidden methods": a Request cannot have them. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
/** Fetch "normalize a method": these are upper-cased, any other keeps its case. */
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/** The method as a Request has it; undefined for one it cannot have. */
export function fetchMethod(method: string): string | undefined {
  const upper = method.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) return undefined;
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

/** Path and query characters the URL parser keeps as they are (no percent-encoding, no `\`). */
const PLAIN_TARGET = /^\/[\w\-.~!$&'()*+,;=:@/%]*(?:\?[\w\-.~!$&()*+,;=:@/?%]*)?$/;
const ORIGIN_CACHE_SIZE = 64;
const origins = new Map<string, string | null>();

/**
 * The URL a Request would have for `target` on `host`, as `new URL()` would serialise it, or
 * undefined when it is no URL a Request can have (a Host with a path or credentials in it).
 * Per request the host is looked up in a small cache and a plain target is appended as it is:
 * a full parse costs a few µs per request.
 */
export function fetchUrl(host: string, target: string): string | undefined {
  const origin = originOf(host);
  if (origin === null) return undefined;
  if (PLAIN_TARGET.test(target) && !hasDotSegments(target.split('?', 1)[0] as string)) return origin + target;
  // The target is latin-1 text, a character per byte as sent: raw bytes above 0x7f (UTF-8 a client
  // did not percent-encode) are encoded as the bytes they are, not as UTF-8 of those characters.
  return new URL(origin + encodeRawBytes(target)).href;
}

function originOf(host: string): string | null {
  let origin = origins.get(host);
  if (origin !== undefined) return origin;
  origin = null;
  try {
    const parsed = new URL(`http://${host}/`);
    if (parsed.host !== '' && parsed.href === `${parsed.origin}/`) origin = parsed.origin;
  } catch {
    // not a host: no URL
  }
  if (origins.size >= ORIGIN_CACHE_SIZE) origins.clear();
  origins.set(host, origin);
  return origin;
}

/** The value of field `name` (lower-case), the first if repeated. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
