/** Reading a start tag's attributes, from the text the tag scanner found (see TagScanner.asciiText). */

/** An attribute: name, then an optional value quoted either way or bare. */
const ATTRIBUTE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;

/**
 * The attributes of a start tag's text (`<name ...>`), by lower-case name, values as written
 * (character references not decoded). The first spelling of a name counts, as in the tokenizer
 * (HTML 13.2.5.33: a duplicate attribute is dropped).
 */
export function attributesOf(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  const nameEnd = text.search(/[\s/>]/);
  for (const match of text.slice(nameEnd < 0 ? text.length : nameEnd).matchAll(ATTRIBUTE)) {
    const name = (match[1] as string).toLowerCase();
    if (!attributes.has(name)) attributes.set(name, match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attributes;
}

/** The named character references a policy's text may use (the full table has over 2,000). */
const NAMED: Readonly<Record<string, string>> = { amp: '&', apos: "'", quot: '"', lt: '<', gt: '>', semi: ';', comma: ',', colon: ':', sol: '/', equals: '=', plus: '+', lowbar: '_', hyphen: '-' };
const REFERENCE = /&(?:#(\d{1,7});?|#[xX]([0-9a-fA-F]{1,6});?|([A-Za-z]+);)/g;

/**
 * An attribute value with its character references decoded (HTML 13.2.5.72 ff.): numeric ones,
 * and the named ones of ASCII punctuation, which is what a `content` attribute of ASCII text needs
 * (`&#39;nonce-abc&#39;`). Other named references are left as written.
 */
export function decodeAttribute(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(REFERENCE, (reference, decimal?: string, hex?: string, name?: string) => {
    if (name !== undefined) return NAMED[name] ?? reference;
    const code = decimal !== undefined ? Number(decimal) : parseInt(hex as string, 16);
    // A null, a surrogate or beyond Unicode is U+FFFD (13.2.5.80).
    return code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? '\ufffd' : String.fromCodePoint(code);
  });
}
