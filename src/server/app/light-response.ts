/*
 * The global `Response` in the Fetch bridge's process: a `Response` whose body is a string, an
 * ArrayBuffer, a typed array or null keeps that body as it is, so the bridge sends its bytes
 * without a ReadableStream, a reader and a promise per chunk; its fields, given as a plain
 * object, stay [name, value] pairs until someone reads `headers`. Undici's `new Response('hi')`
 * makes a stream of the string at once: a CPU profile of the bridge under `npm run bench --
 * --apps` had it at a sixth of its busy time, then reading it back as much again.
 * @hono/node-server replaces the global the same way (its src/response.ts).
 *
 * A LightResponse is a Response for the app (`instanceof Response`, every getter and method):
 * anything it does not answer itself (`body`, `text()`, `clone()`, ...) builds the undici
 * Response on first use, which the bridge then streams as before. Any other body (a stream, a
 * Blob, FormData) and any init it cannot check as undici would gets an undici Response at once,
 * with undici's errors.
 */
import { delegateRest, isInstance } from './delegate';
import { fieldsOf, keepsField } from './fetch-response';

const NativeResponse = globalThis.Response;

type Fields = Array<[string, string]>;

/** What the bridge sends for a LightResponse. */
export interface ResponseParts {
  readonly status: number;
  readonly statusText: string;
  /** Without hop-by-hop fields, each Set-Cookie its own. */
  readonly fields: Fields;
  readonly body: string | Uint8Array | null;
}

/** Fetch "extract a body": a string's type. */
const TEXT_TYPE = 'text/plain;charset=UTF-8';
/** RFC 9110 section 5.1 token, and the characters a reason phrase may hold (section 4 of RFC 9112). */
const TOKEN = /^[!#$%&'*+\-.^`|~\w]+$/;
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Field values undici refuses (after trimming whitespace), or cannot hold (beyond latin-1). */
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

export class LightResponse {
  #status = 200;
  #statusText = '';
  /** The fields given as a plain object, until `headers` is read. */
  #fields: Fields | undefined;
  #headers: Headers | undefined;
  #body: string | Uint8Array | null = null;
  #real: Response | undefined;

  static [Symbol.hasInstance](value: unknown): boolean {
    return isInstance(this, LightResponse, NativeResponse, value);
  }

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const kept = keptBody(body);
    if (kept === undefined || (init !== undefined && init !== null && typeof init !== 'object')) {
      this.#real = new NativeResponse(body, init);
      return;
    }
    // Read once, in the order undici reads them (a dictionary's members, sorted).
    const { headers, status, statusText } = init ?? {};
    const nullBody = status === 204 || status === 205 || status === 304;
    if (!isStatus(status) || (nullBody && kept !== null) || (statusText !== undefined && !(typeof statusText === 'string' && REASON.test(statusText)))) {
      this.#real = new NativeResponse(body, { headers, status, statusText } as ResponseInit);
      return;
    }
    this.#status = status ?? 200;
    this.#statusText = statusText ?? '';
    this.#body = kept;
    this.#fields = plainFields(headers);
    if (this.#fields === undefined) this.#headers = new Headers(headers);
    if (typeof kept === 'string' && !this.#has('content-type')) this.#append('content-type', TEXT_TYPE);
  }

  get status(): number {
    return this.#real?.status ?? this.#status;
  }

  get statusText(): string {
    return this.#real?.statusText ?? this.#statusText;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get headers(): Headers {
    if (this.#real !== undefined) return this.#real.headers;
    if (this.#headers === undefined) {
      this.#headers = new Headers(this.#fields);
      this.#fields = undefined;
    }
    return this.#headers;
  }

  /**
   * The undici Response this one stands for, built on first need. From then on it answers
   * everything, `headers` too: a Headers object read before and changed after is not its.
   */
  static real(response: LightResponse): Response {
    if (response.#real !== undefined) return response.#real;
    const init = { status: response.#status, statusText: response.#statusText, headers: response.#headers ?? response.#fields ?? [] };
    return (response.#real = new NativeResponse(response.#body as BodyInit | null, init));
  }

  /** What to send for `value` when it is a LightResponse (not a subclass) with its body at hand. */
  static parts(value: unknown): ResponseParts | undefined {
    if (!(value instanceof LightResponse) || Object.getPrototypeOf(value) !== LightResponse.prototype || value.#real !== undefined) return undefined;
    const fields = value.#fields === undefined ? fieldsOf(value.headers) : value.#fields.filter(([name]) => keepsField(name));
    return { status: value.#status, statusText: value.#statusText, fields, body: value.#body };
  }

  #has(name: string): boolean {
    return this.#fields === undefined ? (this.#headers as Headers).has(name) : this.#fields.some(([field]) => field === name);
  }

  #append(name: string, value: string): void {
    if (this.#fields === undefined) (this.#headers as Headers).append(name, value);
    else this.#fields.push([name, value]);
  }
}

function isStatus(status: unknown): status is number | undefined {
  return status === undefined || (typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599);
}

/**
 * The body as kept: a string, a copy of the bytes (Fetch copies a BufferSource, so a change to
 * the app's array afterwards is not sent) or null; undefined for a body undici must handle.
 */
function keptBody(body: unknown): string | Uint8Array | null | undefined {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  return undefined;
}

/**
 * A plain object's fields as undici would take them (names lower-cased, values trimmed); undefined
 * for anything else (a Headers, pairs) or a field it would refuse, which `new Headers` then gets.
 */
function plainFields(headers: unknown): Fields | undefined {
  if (headers === undefined) return [];
  if (typeof headers !== 'object' || headers === null) return undefined;
  const prototype = Object.getPrototypeOf(headers) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const fields: Fields = [];
  for (const name of Object.keys(headers)) {
    const value = String((headers as Record<string, unknown>)[name]).replace(EDGE_WHITESPACE, '');
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) return undefined;
    fields.push([name.toLowerCase(), value]);
  }
  return fields;
}

/** Makes LightResponse the global `Response` of this process; its static methods stay undici's. */
export function installLightResponse(): void {
  delegateRest(LightResponse.prototype, NativeResponse.prototype, LightResponse.real);
  Object.setPrototypeOf(LightResponse, NativeResponse);
  Object.defineProperty(LightResponse, 'name', { value: 'Response' });
  Object.defineProperty(globalThis, 'Response', { value: LightResponse, writable: true, configurable: true });
}
