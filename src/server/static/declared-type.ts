// The Content-Type a file's own bytes decide: the charset a page or a stylesheet declares.
import { declaredCharset } from '../html/charset';
import type { MediaType } from './content-type';

/** A stylesheet's type by its extension, before its bytes are looked at. */
const CSS = 'text/css; charset=utf-8';

/** Charset labels are tokens; anything else in a page's declaration is not repeated in a header. */
const CHARSET_LABEL = /^[A-Za-z0-9._:-]{1,40}$/;

/**
 * HTML says which charset it is in (a byte order mark or `<meta charset>`), and a header charset
 * would override that declaration (HTML "determining the character encoding"), garbling GBK or
 * Shift_JIS pages; so the header repeats the page's own declaration, and UTF-8 is assumed only
 * for pages that declare nothing.
 */
function htmlContentType(body: Buffer): string {
  const declared = declaredCharset(body);
  return declared !== undefined && CHARSET_LABEL.test(declared)
    ? `text/html; charset=${declared.toLowerCase()}`
    : 'text/html; charset=utf-8';
}

/** `@charset "name";` as the first bytes of a stylesheet (CSS Syntax section 3.2: exactly so). */
const CSS_CHARSET = /^@charset "([A-Za-z0-9._:+-]{1,40})";/;

/**
 * A stylesheet's Content-Type: a charset in the header would override its `@charset` rule (CSS
 * Syntax section 3.2), so the header repeats the rule's encoding, and says UTF-8 without one
 * (a BOM still wins in the browser). A UTF-16 label there is read as UTF-8, as browsers do.
 */
function cssContentType(body: Buffer): string {
  const declared = CSS_CHARSET.exec(body.toString('latin1', 0, 64))?.[1]?.toLowerCase();
  if (declared === undefined || !CHARSET_LABEL.test(declared) || declared.startsWith('utf-16')) return 'text/css; charset=utf-8';
  return `text/css; charset=${declared}`;
}

/** True when the type's charset comes from the file's first bytes (see contentTypeOf): pages and stylesheets. */
export function declaresEncoding(media: MediaType): boolean {
  return media.html || media.contentType === CSS;
}

/**
 * The Content-Type of a file whose first bytes (at least the first PRESCAN_WINDOW) are `body`:
 * pages and stylesheets by what they declare, others by their extension.
 */
export function contentTypeOf(media: MediaType, body: Buffer): string {
  if (media.html) return htmlContentType(body);
  return media.contentType === CSS ? cssContentType(body) : media.contentType;
}
