import { extname } from 'node:path';
import mime from 'mime-types';

/** What the static handler needs to know about a file's media type. */
export interface MediaType {
  /** The Content-Type field value, with `; charset=utf-8` for text other than XML. */
  readonly contentType: string;
  /** Worth compressing with gzip or brotli (text, JSON, SVG, WebAssembly, uncompressed fonts). */
  readonly compressible: boolean;
  readonly html: boolean;
}

const OCTET_STREAM: MediaType = { contentType: 'application/octet-stream', compressible: false, html: false };

// Text that is not `text/*`; `+json` and `+xml` suffixes (RFC 6839) are matched separately.
const TEXT_TYPES = new Set(['application/javascript', 'application/json', 'application/xml', 'application/ecmascript']);
const BINARY_COMPRESSIBLE = new Set([
  'application/wasm',
  'font/ttf',
  'font/otf',
  'application/vnd.ms-fontobject',
  'image/vnd.microsoft.icon',
  'image/x-icon',
  'image/bmp',
]);

/** Media types by lower-case extension, filled as files are met. */
const byExtension = new Map<string, MediaType>();

/** The media type of `filePath` by its extension; unknown extensions are `application/octet-stream`. */
export function mediaTypeFor(filePath: string): MediaType {
  const extension = extname(filePath).toLowerCase();
  let known = byExtension.get(extension);
  if (known === undefined) {
    const type = extension === '' ? false : mime.lookup(extension);
    known = type === false ? OCTET_STREAM : describe(type);
    if (byExtension.size < 1000) byExtension.set(extension, known);
  }
  return known;
}

function describe(type: string): MediaType {
  const text = isText(type);
  return {
    // Files on disk are assumed to be UTF-8, like every editor writes them by default. XML says
    // its own encoding (a BOM or `<?xml encoding=...?>`, UTF-8 without), which a charset
    // parameter would override (RFC 7303 section 3.2): XML types get none.
    contentType: text && !isXml(type) ? `${type}; charset=utf-8` : type,
    compressible: text || BINARY_COMPRESSIBLE.has(type),
    html: type === 'text/html',
  };
}

function isText(type: string): boolean {
  return type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

function isXml(type: string): boolean {
  return type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml');
}
