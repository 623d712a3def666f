import { PRESCAN_WINDOW, TagScanner } from './tag-scanner';

const CHARSET_VALUE = /charset\s*=\s*["']?\s*([a-z0-9._:+-]+)/;

/**
 * The encoding a document declares, lower-case, as a browser would find it before parsing:
 * a byte order mark, else the first `<meta charset>` or `<meta http-equiv content="...;
 * charset=...">` within the first 1024 bytes (HTML 13.2.3.2, "prescan a byte stream").
 * Undefined when it declares none. Meant for the static handler: a page that declares its own
 * encoding must not be served with a conflicting `charset=utf-8`, which would override it.
 */
export function declaredCharset(html: Buffer): string | undefined {
  if (html[0] === 0xef && html[1] === 0xbb && html[2] === 0xbf) return 'utf-8';
  if (html[0] === 0xff && html[1] === 0xfe) return 'utf-16le';
  if (html[0] === 0xfe && html[1] === 0xff) return 'utf-16be';
  const scanner = new TagScanner(html.subarray(0, PRESCAN_WINDOW), 0);
  for (let tag = scanner.next(); tag !== undefined; tag = scanner.next()) {
    if (tag.kind !== 'start' || tag.name !== 'meta' || scanner.foreignDepth > 0) continue;
    const label = CHARSET_VALUE.exec(scanner.asciiText(tag.start, tag.end))?.[1];
    if (label !== undefined) return label;
  }
  return undefined;
}
