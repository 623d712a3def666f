/**
 * A small HTML tokenizer that finds where a tag can be inserted without landing inside a
 * comment, a script, a style, a textarea, a title, a tag's attributes or a string. It follows
 * the tokenizer of the HTML Living Standard (section 13.2.5) closely enough to find where each
 * real tag starts and ends, and ignores everything else (text, entities, attribute values).
 *
 * It works on code units, not characters: bytes of an ASCII-compatible encoding (UTF-8, GBK,
 * Shift_JIS, Big5, EUC-*, ISO-8859-*, windows-125x) or UTF-16 code units. Every character the
 * tokenizer looks at is ASCII below 0x40 ('<', '>', '/', '!', '?', '-', quotes, white space) or
 * an ASCII letter right after one of them; the trail bytes of GBK, Shift_JIS and Big5 are 0x40
 * or above and never follow '<' or '</' directly, so multi-byte characters cannot be mistaken
 * for markup. (ISO-2022-JP switches to 7-bit double-byte runs and is not supported.)
 */

/** Code units of the document: a Buffer for byte encodings, a Uint16Array for UTF-16. */
export type Units = Uint8Array | Uint16Array;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const DASH = 0x2d;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;

/** Elements whose content the tokenizer reads as raw text or RCDATA (section 13.2.6.4.4 ff.). */
const RAW_TEXT = new Set(['style', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript', 'title', 'textarea']);
/** Charset declarations are found by the prescan only within the first 1024 bytes (13.2.3.2). */
/** How far a browser looks for a charset declaration (HTML 13.2.3.2, prescan). */
export const PRESCAN_WINDOW = 1024;

export interface Tag {
  readonly kind: 'start' | 'end';
  /** Lower-case ASCII name, e.g. `head`. */
  readonly name: string;
  /** Index of the `<`. */
  readonly start: number;
  /** Index just after the `>`. */
  readonly end: number;
  readonly selfClosing: boolean;
}

/** Tab, line feed, form feed, carriage return, space (the tokenizer's white space). */
function isSpace(c: number): boolean {
  return c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isNameEnd(c: number): boolean {
  return c === SLASH || c === GT || c === EQUALS;
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/**
 * Yields the real tags of a document in order. Comments, doctypes, processing instructions,
 * CDATA sections and the content of raw-text elements are skipped. `clean` tells afterwards
 * whether the document ended in plain text (true) or inside a comment, tag or raw text.
 */
export class TagScanner {
  private pos: number;
  /** The raw-text element whose content comes next, if the last tag opened one. */
  private rawText: string | undefined;
  /** Depth of `<svg>` and `<math>`: inside them `<![CDATA[` is real and `<style>` is not raw. */
  foreignDepth = 0;
  clean = true;
  /** Index just after the first doctype, if one was met. */
  doctypeEnd: number | undefined;

  constructor(
    private readonly text: Units,
    start: number,
  ) {
    this.pos = start;
  }

  private at(i: number): number {
    return i < this.text.length ? (this.text[i] ?? -1) : -1;
  }

  /** True when the units at `i` spell `word` (lower-case ASCII), ignoring ASCII case. */
  private matches(i: number, word: string): boolean {
    for (let k = 0; k < word.length; k++) {
      if (lower(this.at(i + k)) !== word.charCodeAt(k)) return false;
    }
    return true;
  }

  private indexOf(from: number, c: number): number {
    return from >= this.text.length ? -1 : this.text.indexOf(c, from);
  }

  /** Moves past the first `>` at or after `from` (bogus comments, doctypes). */
  private skipPast(from: number): void {
    const i = this.indexOf(from, GT);
    if (i < 0) this.finishUnclean();
    else this.pos = i + 1;
  }

  private finishUnclean(): void {
    this.clean = false;
    this.pos = this.text.length;
  }

  next(): Tag | undefined {
    if (this.rawText !== undefined) this.skipRawText(this.rawText);
    for (;;) {
      const lt = this.indexOf(this.pos, LT);
      if (lt < 0) {
        this.pos = this.text.length;
        return undefined;
      }
      const tag = this.markupAt(lt);
      if (tag !== undefined) return this.track(tag);
    }
  }

  /** Handles the markup starting at `lt`, advancing `pos`; returns a tag when it is one. */
  private markupAt(lt: number): Tag | undefined {
    const c1 = this.at(lt + 1);
    const c2 = this.at(lt + 2);
    if (isAlpha(c1)) return this.readTag(lt, 'start', lt + 1);
    if (c1 === SLASH && isAlpha(c2)) return this.readTag(lt, 'end', lt + 2);
    if (c1 === BANG) this.markupDeclaration(lt + 2);
    else if (c1 === QUESTION) this.skipPast(lt + 2);
    else if (c1 === SLASH && c2 === GT) this.pos = lt + 3;
    else if (c1 === SLASH && c2 >= 0) this.skipPast(lt + 2);
    else this.pos = lt + 1;
    return undefined;
  }

  /** After `<!`: a comment, a CDATA section in foreign content, or a bogus comment (doctype too). */
  private markupDeclaration(i: number): void {
    if (this.at(i) === DASH && this.at(i + 1) === DASH) this.skipComment(i + 2);
    else if (this.foreignDepth > 0 && this.matches(i, '[cdata[')) this.skipUntil(i + 7, ']]>');
    else {
      const doctype = this.matches(i, 'doctype');
      this.skipPast(i);
      if (doctype && this.clean) this.doctypeEnd ??= this.pos;
    }
  }

  /** `<!-->` and `<!--->` end at once (abrupt closing); otherwise the first `-->` or `--!>`. */
  private skipComment(i: number): void {
    if (this.at(i) === GT) this.pos = i + 1;
    else if (this.at(i) === DASH && this.at(i + 1) === GT) this.pos = i + 2;
    else {
      for (let k = i; k < this.text.length; k++) {
        if (this.at(k) !== DASH || this.at(k + 1) !== DASH) continue;
        if (this.at(k + 2) === GT) return void (this.pos = k + 3);
        if (this.at(k + 2) === BANG && this.at(k + 3) === GT) return void (this.pos = k + 4);
      }
      this.finishUnclean();
    }
  }

  private skipUntil(from: number, word: string): void {
    for (let k = from; k < this.text.length; k++) {
      if (this.matches(k, word)) return void (this.pos = k + word.length);
    }
    this.finishUnclean();
  }

  /**
   * Reads a tag from its name to its `>`, through the attribute states of section 13.2.5.32 ff.:
   * quoted values may hold `>`, and quotes only count where a value starts.
   */
  private readTag(lt: number, kind: 'start' | 'end', nameStart: number): Tag | undefined {
    let i = nameStart;
    while (i < this.text.length && !isSpace(this.at(i)) && this.at(i) !== SLASH && this.at(i) !== GT) i++;
    let name = '';
    for (let k = nameStart; k < i; k++) name += String.fromCharCode(lower(this.at(k)) & 0xffff);
    let selfClosing = false;
    while (i < this.text.length) {
      const c = this.at(i);
      if (c === GT) {
        this.pos = i + 1;
        return { kind, name, start: lt, end: i + 1, selfClosing };
      }
      selfClosing = c === SLASH && this.at(i + 1) === GT;
      i = isSpace(c) || c === SLASH ? i + 1 : this.skipAttribute(i);
    }
    this.finishUnclean();
    return undefined;
  }

  /** Skips one attribute (name, optional `=` and value); returns the index after it. */
  private skipAttribute(i: number): number {
    // The first character of a name may be `=` (a parse error, part of the name).
    let k = i + 1;
    while (k < this.text.length && !isSpace(this.at(k)) && !isNameEnd(this.at(k))) k++;
    let j = k;
    while (isSpace(this.at(j))) j++;
    if (this.at(j) !== EQUALS) return k;
    j++;
    while (isSpace(this.at(j))) j++;
    const quote = this.at(j);
    if (quote === DQUOTE || quote === SQUOTE) {
      const close = this.indexOf(j + 1, quote);
      return close < 0 ? this.text.length : close + 1;
    }
    while (j < this.text.length && !isSpace(this.at(j)) && this.at(j) !== GT) j++;
    return j;
  }

  /** Updates foreign-content depth and notes raw-text elements for the next call. */
  private track(tag: Tag): Tag {
    const foreignRoot = tag.name === 'svg' || tag.name === 'math';
    if (tag.kind === 'start' && foreignRoot && !tag.selfClosing) this.foreignDepth++;
    else if (tag.kind === 'end' && foreignRoot && this.foreignDepth > 0) this.foreignDepth--;
    else if (tag.kind === 'start' && this.foreignDepth === 0) {
      // Self-closing is ignored on HTML elements: `<script/>` still starts a script.
      if (tag.name === 'plaintext') this.finishUnclean();
      else if (tag.name === 'script' || RAW_TEXT.has(tag.name)) this.rawText = tag.name;
    }
    return tag;
  }

  /** Moves to the `<` of the end tag that closes raw text, RCDATA or script data. */
  private skipRawText(name: string): void {
    this.rawText = undefined;
    const end = name === 'script' ? this.scriptEnd(this.pos) : this.endTagAt(this.pos, name);
    if (end < 0) this.finishUnclean();
    else this.pos = end;
  }

  /** The next `</name` followed by white space, `/` or `>` (an "appropriate end tag"). */
  private endTagAt(from: number, name: string): number {
    for (let k = this.indexOf(from, LT); k >= 0; k = this.indexOf(k + 1, LT)) {
      if (this.isEndTag(k, name)) return k;
    }
    return -1;
  }

  private isEndTag(k: number, name: string): boolean {
    return this.at(k + 1) === SLASH && this.isNameAt(k + 2, name);
  }

  private isNameAt(k: number, name: string): boolean {
    if (!this.matches(k, name)) return false;
    const after = this.at(k + name.length);
    return isSpace(after) || after === SLASH || after === GT;
  }

  /**
   * Script data with its escaped and double-escaped states (13.2.5.15 ff.): after `<!--`, a
   * nested `<script>` hides the next `</script>` until the comment's `-->`.
   */
  private scriptEnd(from: number): number {
    let state: 'data' | 'escaped' | 'double' = 'data';
    for (let k = from; k < this.text.length; k++) {
      if (state !== 'data' && this.at(k) === DASH && this.at(k + 1) === DASH && this.at(k + 2) === GT) {
        state = 'data';
        k += 2;
      } else if (this.at(k) !== LT) {
        continue;
      } else if (state === 'data' && this.at(k + 1) === BANG && this.at(k + 2) === DASH && this.at(k + 3) === DASH) {
        state = 'escaped';
        k += 1; // the dashes may also start the closing `-->`, as in `<!-->`
      } else if (this.isEndTag(k, 'script')) {
        if (state !== 'double') return k;
        state = 'escaped';
      } else if (state === 'escaped' && this.isNameAt(k + 1, 'script')) {
        state = 'double';
      }
    }
    return -1;
  }

  /**
   * The ASCII text of `[start, end)`, other units as `?`, for looking at attributes: lower-case,
   * or as written with `asWritten` (a value whose case counts, such as a nonce).
   */
  asciiText(start: number, end: number, asWritten = false): string {
    let out = '';
    for (let k = start; k < end; k++) {
      const c = this.at(k);
      out += c < 0x80 ? String.fromCharCode(asWritten ? c : lower(c)) : '?';
    }
    return out;
  }
}
