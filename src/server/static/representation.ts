import { ifRangeMatches, isNotModified, preconditionFails } from '../../http/conditional';
import { parseRange } from '../../http/range';
import type { Body, Request, Response, ResponseHeaders } from '../handler';
import { compress, MIN_COMPRESS_BYTES, preferredCoding, type ContentCoding } from './compress';

/** Largest body compressed (on the event loop, once per file version) and kept in memory. */
export const MAX_COMPRESS_BYTES = 256 * 1024;

/** Metadata shared by every representation of one version of a file. */
export interface FileMeta {
  readonly contentType: string;
  /** Worth compressing by media type; whether it is done also depends on the body size. */
  readonly compressible: boolean;
  /** Last-Modified as an IMF-fixdate (RFC 9110 section 5.6.7). */
  readonly lastModified: string;
  /** The modification time in whole seconds, the precision of Last-Modified. */
  readonly lastModifiedSec: number;
  /**
   * Request fields besides Accept-Encoding that choose between this file's representations, for
   * `Vary`: those that decide whether a page gets live reload's client (a navigation does, a
   * fetch() does not), so that a cache never answers one with the copy stored for the other.
   */
  readonly varies: string | undefined;
}

/**
 * The metadata of a file version, from its stat; `varies` as in FileMeta. A modification time in
 * the future (a file from a FAT drive or an archive made with a wrong clock) is taken as now: an
 * origin never sends a Last-Modified later than its Date (RFC 9110 section 8.8.2.1), and one in
 * 2030 would make every If-Modified-Since until then a 304, whatever the file became.
 */
export function fileMeta(mtimeMs: number, contentType: string, compressible: boolean, varies?: string): FileMeta {
  const modified = Math.min(mtimeMs, Date.now());
  return {
    contentType,
    compressible,
    lastModified: new Date(modified).toUTCString(),
    lastModifiedSec: Math.floor(modified / 1000),
    varies,
  };
}

const EMPTY = Buffer.alloc(0);

/**
 * One representation of a file (identity, gzip or brotli) with its 200 response built once, so
 * that answering a request is a lookup. Responses are frozen because they are shared by requests.
 */
export class Representation {
  readonly ok: Response;
  private readonly headers: Readonly<ResponseHeaders>;
  private notModifiedResponse: Response | undefined;

  constructor(
    /** A strong entity-tag with its quotes. */
    readonly etag: string,
    private readonly meta: FileMeta,
    /** Body length in bytes. */
    readonly size: number,
    /** The bytes, or the open descriptor of a file too large to hold in memory (see FileBody). */
    private readonly source: Buffer | number,
    vary: boolean,
    coding?: ContentCoding,
  ) {
    const headers: Record<string, string> = {
      'Content-Type': meta.contentType,
      'Cache-Control': 'no-cache',
      ETag: etag,
      'Last-Modified': meta.lastModified,
      'Accept-Ranges': 'bytes',
    };
    const fields = vary ? (meta.varies === undefined ? 'Accept-Encoding' : `${meta.varies}, Accept-Encoding`) : meta.varies;
    if (fields !== undefined) headers['Vary'] = fields;
    if (coding !== undefined) headers['Content-Encoding'] = coding;
    this.headers = Object.freeze(headers);
    this.ok = Object.freeze({ status: 200, headers: this.headers, body: this.body(0, size - 1) });
  }

  get lastModifiedSec(): number {
    return this.meta.lastModifiedSec;
  }

  /** 304 keeps the validators and caching fields of the 200 (RFC 9110 section 15.4.5). */
  notModified(): Response {
    if (this.notModifiedResponse === undefined) {
      const headers: Record<string, string> = {};
      for (const name of ['Cache-Control', 'ETag', 'Last-Modified', 'Vary']) {
        const value = this.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      this.notModifiedResponse = Object.freeze({ status: 304, headers: Object.freeze(headers) });
    }
    return this.notModifiedResponse;
  }

  partial(start: number, end: number): Response {
    const headers = { ...this.headers, 'Content-Range': `bytes ${start}-${end}/${this.size}` };
    return { status: 206, headers, body: this.body(start, end) };
  }

  /** 412: a precondition of the request (If-Match, If-Unmodified-Since) does not hold for this version. */
  preconditionFailed(): Response {
    const headers: Record<string, string> = { ETag: this.etag, 'Last-Modified': this.meta.lastModified, 'Cache-Control': 'no-cache' };
    const vary = this.headers['Vary'];
    if (typeof vary === 'string') headers['Vary'] = vary;
    return {
      status: 412,
      headers,
      body: EMPTY,
      reason: 'If-Match or If-Unmodified-Since does not hold for this version of the file',
    };
  }

  /** 416 says how long the representation is (RFC 9110 section 15.5.17). */
  unsatisfiable(): Response {
    return {
      status: 416,
      headers: {
        'Content-Range': `bytes */${this.size}`,
        'Cache-Control': 'no-cache',
      },
      body: EMPTY,
      reason: `range outside the ${this.size} bytes of the file`,
    };
  }

  private body(start: number, end: number): Body {
    if (end < start) return EMPTY;
    if (typeof this.source === 'number') return { kind: 'file', fd: this.source, start, end };
    return start === 0 && end === this.source.length - 1 ? this.source : this.source.subarray(start, end + 1);
  }
}

/**
 * Answers from a representation in the order of RFC 9110 section 13.2.2: 412 when If-Match or
 * If-Unmodified-Since fails, 304 when a validator matches, then 206 or 416 for a Range on GET,
 * else the prebuilt 200. `range` is the Range field, undefined for HEAD: range handling is only
 * defined for GET (RFC 9110 section 14.2).
 */
export function respond(request: Request, representation: Representation, range: string | undefined): Response {
  const headers = request.headers;
  if (preconditionFails(headers, representation.etag, representation.lastModifiedSec)) return representation.preconditionFailed();
  if (isNotModified(headers, representation.etag, representation.lastModifiedSec)) {
    return representation.notModified();
  }
  if (range === undefined) return representation.ok;
  const ifRange = headers.get('if-range');
  if (ifRange !== undefined && !ifRangeMatches(ifRange, representation.etag, representation.lastModifiedSec)) {
    return representation.ok;
  }
  const wanted = parseRange(range, representation.size);
  if (wanted.kind === 'range') return representation.partial(wanted.start, wanted.end);
  if (wanted.kind === 'unsatisfiable') return representation.unsatisfiable();
  return representation.ok;
}

/**
 * The bytes of one version of a document (as on disk, or rewritten) with its identity
 * representation and, made on first demand, its gzip and brotli ones.
 */
export class Document {
  readonly identity: Representation;
  /** Whether responses depend on Accept-Encoding (then they carry `Vary: Accept-Encoding`). */
  readonly compressible: boolean;
  private br: Representation | null | undefined;
  private gzip: Representation | null | undefined;

  /**
   * `tag` is the entity-tag without quotes; codings append `-br` or `-gz` so that variants never
   * share a validator. `grow` is told how many bytes each compressed variant adds.
   */
  constructor(
    readonly body: Buffer,
    /** The identity entity-tag without quotes. */
    readonly tag: string,
    readonly meta: FileMeta,
    private readonly grow: (bytes: number) => void,
  ) {
    this.compressible =
      meta.compressible && body.length > MIN_COMPRESS_BYTES && body.length <= MAX_COMPRESS_BYTES;
    this.identity = new Representation(`"${tag}"`, meta, body.length, body, this.compressible);
  }

  /** The representation for a request's Accept-Encoding value. */
  select(acceptEncoding: string | undefined): Representation {
    if (!this.compressible) return this.identity;
    const coding = preferredCoding(acceptEncoding);
    if (coding === undefined) return this.identity;
    return this.encoded(coding) ?? this.identity;
  }

  private encoded(coding: ContentCoding): Representation | null {
    const known = coding === 'br' ? this.br : this.gzip;
    if (known !== undefined) return known;
    const bytes = compress(this.body, coding);
    const suffix = coding === 'br' ? '-br' : '-gz';
    const made =
      bytes === undefined
        ? null
        : new Representation(`"${this.tag}${suffix}"`, this.meta, bytes.length, bytes, true, coding);
    if (coding === 'br') this.br = made;
    else this.gzip = made;
    if (bytes !== undefined) this.grow(bytes.length);
    return made;
  }
}
