import { endianness } from 'node:os';
import { requestsDocument } from '../fetch-metadata';
import type { Request } from '../handler';
import { policiesOf, scriptNonce } from '../html/csp';
import { escapeHtml } from '../static/html';
import type { HtmlRewriter } from '../static';
import { findInsertionPoint, type Place } from './html-scan';

/**
 * Where live reload answers, below the served root. Dot paths are hidden from static serving by
 * default, so it does not shadow a user's file in practice; it is fixed rather than a per-process
 * token so that a page can reconnect to a restarted server.
 */
export const ENDPOINT_PATH = '/.tiny-server/reload/';
export const CLIENT_FILE = 'client.js';
export const EVENTS_FILE = 'events';

/** Appended to the entity tag of rewritten pages, with the client's version; bump it when the injected tag changes. */
const ETAG_SUFFIX = '-lr4';
/** The same for pages whose tag turns on console forwarding (a different tag, see scriptTag). */
const CONSOLE_ETAG_SUFFIX = '-lr4c';
/**
 * An entity tag the script tag can carry as it is (RFC 9110 section 8.8.3, without obs-text):
 * the tag is ASCII, inserted into pages of any charset.
 */
const ASCII_ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;
/** The query that names the client's version in its URL (see scriptTag). */
export const VERSION_PARAMETER = 'v';

/** Fetch destinations that show a document: a tab, the Simple Browser's iframe, a frameset. */
const PAGE_DESTINATIONS = new Set(['document', 'iframe', 'frame']);

/**
 * True when the browser is loading this response as a page (see requestsDocument), so that
 * `fetch()` and scripts get the file unmodified.
 */
export function isPageLoad(request: Request): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  return requestsDocument(request, PAGE_DESTINATIONS);
}

/**
 * The script tag for a page at `urlPath`, addressed relative to the page so that it also works
 * behind a path-prefix proxy (code-server serves port 8000 as `/proxy/8000/`): each `/` after
 * the first is one folder to climb, e.g. `/a/b/c.html` and `/a/b/` both get `../../`.
 *
 * With `forwardConsole` the tag carries `data-console` and is not `async`: the client must wrap
 * `console` before the page's own scripts run, or the lines a page logs while it loads (most of
 * them) would be missed.
 *
 * With a `version` (a hash of the client's bytes) the URL carries it as `?v=…` and the client is
 * cached as immutable under that URL. A reload then takes the client from the browser's cache
 * instead of revalidating it, which matters because the parser waits for it: behind code-server's
 * proxy that round trip was a good part of the time from a keystroke to the updated page.
 *
 * With a `nonce` (the page's own, checked by scriptNonce to be a base64 value, which needs no
 * escaping) the tag carries it, so that a Content Security Policy that allows scripts by nonce
 * lets the client run.
 *
 * With an `etag` (see PageHead.etag) the tag carries it as `data-etag`: a page with scripts that
 * the browser takes from its cache (going back) asks whether it is still the current one.
 */
export function scriptTag(urlPath: string, forwardConsole = false, version?: string, nonce?: string, etag?: string): string {
  const depth = Math.max(0, urlPath.split('/').length - 2);
  const up = depth === 0 ? './' : '../'.repeat(depth);
  const query = version === undefined ? '' : `?${VERSION_PARAMETER}=${version}`;
  const tagged = etag !== undefined && ASCII_ENTITY_TAG.test(etag) ? ` data-etag="${escapeHtml(etag)}"` : '';
  const attributes = `${forwardConsole ? ' data-console' : ' async'}${nonce === undefined ? '' : ` nonce="${nonce}"`}${tagged}`;
  return `<script src="${up}${ENDPOINT_PATH.slice(1)}${CLIENT_FILE}${query}"${attributes}></script>`;
}


type Layout =
  | { readonly kind: 'bytes'; readonly bom: number }
  | { readonly kind: 'utf16'; readonly bigEndian: boolean };

/**
 * How the document's bytes encode text, as a browser decides it (HTML 13.2.3.1): a byte order
 * mark first, then the charset of `contentType` (the transport layer's), where it names UTF-16;
 * anything else keeps ASCII as bytes, which is all the tag needs.
 */
function layoutOf(html: Buffer, contentType?: string): Layout {
  if (html[0] === 0xff && html[1] === 0xfe) return { kind: 'utf16', bigEndian: false };
  if (html[0] === 0xfe && html[1] === 0xff) return { kind: 'utf16', bigEndian: true };
  const utf8Bom = html[0] === 0xef && html[1] === 0xbb && html[2] === 0xbf;
  if (!utf8Bom && contentType !== undefined) {
    const label = CHARSET.exec(contentType)?.[1]?.toLowerCase();
    if (label !== undefined && UTF16_LABELS.has(label)) return { kind: 'utf16', bigEndian: UTF16_LABELS.get(label) === true };
  }
  return { kind: 'bytes', bom: utf8Bom ? 3 : 0 };
}

const CHARSET = /;\s*charset\s*=\s*"?([\w.:-]+)/i;
/** The Encoding Standard's labels of UTF-16, and whether each is big-endian ("utf-16" alone is little-endian). */
const UTF16_LABELS: ReadonlyMap<string, boolean> = new Map([
  ['utf-16', false], ['utf-16le', false], ['ucs-2', false], ['unicode', false], ['unicodefeff', false], ['csunicode', false], ['iso-10646-ucs-2', false],
  ['utf-16be', true], ['unicodefffe', true],
]);

/** The document's code units; a trailing odd byte is left out. */
function utf16Units(html: Buffer, bigEndian: boolean): Uint16Array {
  const units = new Uint16Array(html.length >> 1);
  const bytes = Buffer.from(units.buffer);
  html.copy(bytes, 0, 0, bytes.length);
  if (bigEndian !== (endianness() === 'BE')) bytes.swap16();
  return units;
}

function encodeUtf16(text: string, bigEndian: boolean): Buffer {
  const bytes = Buffer.from(text, 'utf16le');
  return bigEndian ? bytes.swap16() : bytes;
}

/** Where a tag goes in a document: how its bytes encode text, and the place `findInsertionPoint` chooses. */
interface Spot {
  readonly layout: Layout;
  readonly place: Place;
}

/** The spot for a tag in `html`, read as UTF-16 (by its byte order mark, or else the charset of `contentType`) or as bytes. */
function spotOf(html: Buffer, contentType?: string): Spot {
  const layout = layoutOf(html, contentType);
  const place = layout.kind === 'utf16' ? findInsertionPoint(utf16Units(html, layout.bigEndian), 1) : findInsertionPoint(html, layout.bom);
  return { layout, place };
}

/** `html` with `tag` (ASCII) at `spot`: in the document's own byte order for UTF-16, as ASCII bytes otherwise. */
function insertAt(html: Buffer, spot: Spot, tag: string): Buffer {
  const { layout, place } = spot;
  const offset = layout.kind === 'utf16' ? 2 * place.point : place.point;
  const bytes = layout.kind === 'utf16' ? encodeUtf16(tag, layout.bigEndian) : Buffer.from(tag, 'latin1');
  return Buffer.concat([html.subarray(0, offset), bytes, html.subarray(offset)]);
}

/**
 * Inserts `tag` (ASCII) into an HTML document at the place `findInsertionPoint` chooses. Byte
 * encodings get the tag's ASCII bytes, UTF-16 documents (by their byte order mark, or else the
 * charset of `contentType`) get it in their own byte order; every other byte is kept as it was.
 */
export function injectTag(html: Buffer, tag: string, contentType?: string): Buffer {
  return insertAt(html, spotOf(html, contentType), tag);
}

/**
 * The nonce the client's tag needs at its place (see scriptNonce): from the page's
 * Content-Security-Policy fields and the policy metas before the tag. A page without either, all
 * but a few, costs no parsing. Report-only policies are not enforced, so they are not read.
 */
function pageNonce(field: string | undefined, metaPolicies: readonly string[]): string | undefined {
  if (field === undefined && metaPolicies.length === 0) return undefined;
  return scriptNonce(field === undefined ? metaPolicies : [...policiesOf(field), ...metaPolicies]);
}

/**
 * The rewriter that adds the live-reload client to pages (see scriptTag for `forwardConsole` and
 * `version`). The version is part of the pages' entity tags, so a page cached with an older
 * client's URL is not confirmed by a 304 once the client changes. A page whose Content Security
 * Policy allows scripts by nonce gets the client's tag with its nonce; the policy is left as it is.
 */
export function createReloadRewriter(forwardConsole = false, version?: string): HtmlRewriter {
  const suffix = forwardConsole ? CONSOLE_ETAG_SUFFIX : ETAG_SUFFIX;
  return {
    applies: isPageLoad,
    rewrite: (html, urlPath, head) => {
      const spot = spotOf(html, head?.contentType);
      const nonce = pageNonce(head?.policy, spot.place.policies);
      return insertAt(html, spot, scriptTag(urlPath, forwardConsole, version, nonce, head?.etag));
    },
    etagSuffix: version === undefined ? suffix : `${suffix}-${version}`,
  };
}
