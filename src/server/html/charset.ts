import { attributesOf } from './attributes';
import { PRESCAN_WINDOW, TagScanner } from './tag-scanner';

const CHARSET_VALUE = /charset\s*=\s*["']?\s*([a-z0-9._:+-]+)/;
/**
 * Labels a meta may not declare as they are: a UTF-16 one (the bytes read so far were ASCII, so
 * the page is not UTF-16) is UTF-8, and x-user-defined is windows-1252 (HTML 13.2.3.2, step 2.11).
 */
const RELABELED: Readonly<Record<string, string>> = {
  'utf-16': 'utf-8',
  'utf-16le': 'utf-8',
  'utf-16be': 'utf-8',
  unicode: 'utf-8',
  unicodefeff: 'utf-8',
  unicodefffe: 'utf-8',
  'ucs-2': 'utf-8',
  csunicode: 'utf-8',
  'iso-10646-ucs-2': 'utf-8',
  'x-user-defined': 'windows-1252',
};

/**
 * The encoding a document declares, lower-case, as a browser would find it before parsing:
 * a byte order mark, else the first `<meta charset>` or `<meta http-equiv="content-type"
 * content="...; charset=...">` within the first 1024 bytes (HTML 13.2.3.2, "prescan a byte
 * stream"). Undefined when it declares none. Meant for the static handler: a page that declares
 * its own encoding must not be served with a conflicting `charset=utf-8`, which would override it.
 */
export function declaredCharset(html: Buffer): string | undefined {
  if (html[0] === 0xef && html[1] === 0xbb && html[2] === 0xbf) return 'utf-8';
  if (html[0] === 0xff && html[1] === 0xfe) return 'utf-16le';
  if (html[0] === 0xfe && html[1] === 0xff) return 'utf-16be';
  const scanner = new TagScanner(html.subarray(0, PRESCAN_WINDOW), 0);
  for (let tag = scanner.next(); tag !== undefined; tag = scanner.next()) {
    if (tag.kind !== 'start' || tag.name !== 'meta' || scanner.foreignDepth > 0) continue;
    const label = metaCharset(scanner.asciiText(tag.start, tag.end));
    if (label !== undefined) return RELABELED[label] ?? label;
  }
  return undefined;
}

/**
 * The charset a `<meta>` tag's text declares: its `charset` attribute, else the charset in
 * `content` when `http-equiv` is `content-type` (a `content` alone, as in a description, says nothing).
 */
function metaCharset(text: string): string | undefined {
  const attributes = attributesOf(text);
  const charset = attributes.get('charset')?.trim();
  if (charset !== undefined && charset !== '') return charset;
  if (attributes.get('http-equiv')?.trim() !== 'content-type') return undefined;
  return CHARSET_VALUE.exec(attributes.get('content') ?? '')?.[1];
}
