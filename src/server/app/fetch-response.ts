import { HOP_BY_HOP_FIELDS } from '../../http/field-names';

/*
 * What the Fetch bridge makes of an app's `Response`: its fields as the frame protocol carries
 * them, the length a HEAD answer would have, and words for what the app returned instead.
 */

/** How long, and how many bytes, a HEAD response's body is read to give it the length a GET would have. */
const HEAD_READ_MS = 10;
const HEAD_READ_BYTES = 1024 * 1024;

/**
 * The length of a body at hand (a string or bytes given to `new Response`), read and dropped;
 * undefined for one that streams on (RFC 9110 section 9.3.2: HEAD may then omit the length).
 */
export async function bodyLength(body: ReadableStream<Uint8Array>): Promise<number | undefined> {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), HEAD_READ_MS)));
  let total = 0;
  try {
    for (;;) {
      const read = await Promise.race([reader.read(), late]);
      if (read === undefined || !(read.value instanceof Uint8Array || read.done)) return undefined;
      if (read.done) return total;
      total += read.value.byteLength;
      if (total > HEAD_READ_BYTES) return undefined;
    }
  } finally {
    clearTimeout(timer);
    void reader.cancel().catch(() => undefined);
  }
}

/**
 * The response's fields as [name, value] pairs. Hop-by-hop fields are the server's to write: an
 * app may copy them from somewhere (a proxied response), so they are dropped rather than refused.
 */
export function fieldsOf(headers: Headers): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  headers.forEach((value, name) => {
    if (name !== 'set-cookie' && keepsField(name)) fields.push([name, value]);
  });
  // forEach joins repeated fields with ", ", which Set-Cookie cannot survive (RFC 6265 section 3).
  for (const cookie of headers.getSetCookie()) fields.push(['set-cookie', cookie]);
  return fields;
}

/** The content codings undici's fetch() decodes: it then drops none of the fields that name them. */
const FETCH_DECODES = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

/**
 * The fields of a Response that came from `fetch()` (type `basic` or `cors`), as they describe
 * the body it has: undici decodes gzip, deflate and br bodies (when it knows every coding listed)
 * but keeps Content-Encoding and Content-Length, which then name the encoded body. Those two are
 * dropped, as Workers do, so that an app that returns `fetch(upstream)` sends a body the client
 * can read.
 */
export function decodedFields(fields: Array<[string, string]>): Array<[string, string]> {
  const encoding = fields.find(([name]) => name === 'content-encoding')?.[1];
  if (encoding === undefined) return fields;
  const codings = encoding.split(',').map((coding) => coding.trim().toLowerCase()).filter((coding) => coding !== '' && coding !== 'identity');
  if (!codings.every((coding) => FETCH_DECODES.has(coding))) return fields;
  return fields.filter(([name]) => name !== 'content-encoding' && name !== 'content-length');
}

/** Whether the app's field `name` (lower-case) is sent: hop-by-hop fields are the server's. */
export function keepsField(name: string): boolean {
  return !HOP_BY_HOP_FIELDS.has(name);
}

/** A Response, also one from another realm or a library's own class that follows the standard. */
export function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Response>;
  return typeof candidate.status === 'number' && candidate.headers instanceof Headers && 'body' in candidate;
}

/** A few words for a value that is not what was expected, for an error message. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
