import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { noTransform } from '../../http/cache-control';
import type { ResponseHead } from '../../http/response-parser';
import type { Request } from '../handler';
import type { HtmlRewriter, PageHead } from '../static';

/** Live reload for proxied pages: which answers get the client, and how a page is made rewritable. */
export interface PageRewrite {
  /** A browser navigation (not fetch()), see HtmlRewriter.applies. */
  applies(request: Request): boolean;
  rewrite(html: Buffer, urlPath: string, head: PageHead): Buffer;
}

export function pageRewrite(rewriter: HtmlRewriter): PageRewrite {
  return { applies: (request) => rewriter.applies(request), rewrite: (html, urlPath, head) => rewriter.rewrite(html, urlPath, head) };
}

/** Codings this server can decode to inject the client; a page in another (zstd) would pass unmodified. */
const DECODERS: Readonly<Record<string, (body: Buffer) => Buffer>> = {
  identity: (body) => body,
  gzip: (body) => gunzipSync(body, { maxOutputLength: MAX_DECODED }),
  'x-gzip': (body) => gunzipSync(body, { maxOutputLength: MAX_DECODED }),
  // "deflate" is meant to be zlib-wrapped (RFC 9110 section 8.4.1.2); some servers send it raw.
  deflate: (body) => {
    try {
      return inflateSync(body, { maxOutputLength: MAX_DECODED });
    } catch {
      return inflateRawSync(body, { maxOutputLength: MAX_DECODED });
    }
  },
  br: (body) => brotliDecompressSync(body, { maxOutputLength: MAX_DECODED }),
};

/** A decoded page larger than this is sent as received (and a zip bomb stops here). */
const MAX_DECODED = 64 * 1024 * 1024;

/**
 * The Accept-Encoding sent upstream for a page that may get the client: the client's codings
 * this server can decode, so the page never arrives in one it cannot (zstd).
 */
export function decodableEncodings(accept: string | undefined): string | undefined {
  if (accept === undefined) return undefined;
  const kept = accept.split(',').filter((item) => (item.split(';')[0] ?? '').trim().toLowerCase() in DECODERS);
  return kept.length === 0 ? 'identity' : kept.map((item) => item.trim()).join(', ');
}

/**
 * True when the answer is an HTML page this proxy may give the client, depending on the request:
 * in a coding it can decode, and not marked no-transform (RFC 9111 section 5.2.2.6: an
 * intermediary must not change such content). Such answers name DOCUMENT_FIELDS in `Vary`.
 */
export function rewritablePage(head: ResponseHead): boolean {
  const type = head.headers.get('content-type');
  if (type === undefined || !/^\s*text\/html\b/i.test(type)) return false;
  const coding = (head.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  return coding in DECODERS && !noTransform(head.headers.get('cache-control'));
}

/**
 * True when the answer is a 304 with a Vary field and without no-transform: a cache replaces the
 * stored Vary with it, so it must name DOCUMENT_FIELDS as the page's 200 did (a 304 for another
 * type gets them too, which only makes a cache's key finer).
 */
export function revalidatesVary(head: ResponseHead): boolean {
  return head.status === 304 && head.headers.has('vary') && !noTransform(head.headers.get('cache-control'));
}

/**
 * For an answer that is a rewritable page (above): true when it goes to a navigation that did not
 * ask for it untransformed, with a body that is the whole representation (never a 206 range,
 * never a 304, which have none).
 */
export function injectable(request: Request, head: ResponseHead, pages: PageRewrite): boolean {
  if (head.status === 206 || head.headers.has('content-range')) return false;
  return !noTransform(request.headers.get('cache-control')) && pages.applies(request);
}

/**
 * Fields that no longer describe a rewritten page: it is sent decoded, and its bytes changed
 * (the upstream's ranges would be of other bytes, so none are offered).
 */
const REWRITTEN_DROPS: ReadonlySet<string> = new Set(['content-encoding', 'etag', 'content-md5', 'digest', 'repr-digest', 'content-digest', 'accept-ranges']);
const NOTHING: ReadonlySet<string> = new Set();

/** The page with the live-reload client, decoded; a body that cannot be decoded is sent as it came. */
export function inject(request: Request, head: ResponseHead, body: Buffer, pages: PageRewrite): { body: Buffer; drop: ReadonlySet<string> } {
  const coding = (head.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  let html: Buffer;
  try {
    html = (DECODERS[coding] as (body: Buffer) => Buffer)(body);
  } catch {
    return { body, drop: NOTHING };
  }
  // The upstream's policy reaches the browser as it came; the client's tag reuses its nonce.
  const page: PageHead = { contentType: head.headers.get('content-type'), policy: head.headers.get('content-security-policy') };
  return { body: pages.rewrite(html, request.path, page), drop: REWRITTEN_DROPS };
}
