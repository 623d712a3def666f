// Where live reload puts its tag in a page, found with the shared HTML tag scanner.
import { attributesOf, decodeAttribute } from '../html/attributes';
import { PRESCAN_WINDOW, TagScanner, type Tag, type Units } from '../html/tag-scanner';

/** A `<meta http-equiv="Content-Security-Policy">`: where it starts, and its decoded content. */
interface PolicyMeta {
  readonly start: number;
  readonly policy: string;
}

interface Marks {
  head?: number;
  bodyEnd?: number;
  html?: number;
  charsetMeta?: number;
  /** Where the first `<base>` start tag begins. */
  base?: number;
  /** Content Security Policy metas, in document order. */
  policyMetas: PolicyMeta[];
  /** The document ends in plain HTML text, where appending is safe. */
  endsInText: boolean;
}

/** Where the tag goes, and the policies of the page's own `<meta>` elements that cover it there. */
export interface Place {
  /** A code-unit index. */
  readonly point: number;
  /** Each a serialized policy (see csp.ts), from a meta before the point; usually none. */
  readonly policies: readonly string[];
}

const NO_POLICIES: readonly string[] = [];

/**
 * Where to insert a tag, as a code-unit index, by the first rule that applies:
 * 1. just after the first `<head ...>` start tag;
 * 2. just before the first `</body>`;
 * 3. just after the first `<html ...>` start tag;
 * 4. at the end, when the document ends in plain HTML text;
 * 5. otherwise after a doctype (inserting before it would switch to quirks mode), else at `start`.
 * If a `<meta>` declaring the charset starts within the first 1024 units but after that point,
 * the tag goes right after the meta instead, so the prescan still finds the declaration. And it
 * never goes after the first `<base>`, which would make its relative address resolve against the
 * base instead of the page, nor after the first `<meta http-equiv="Content-Security-Policy">`,
 * whose policy covers only what comes after it (CSP3 section 3.3) and could refuse the script
 * there (unless a charset meta after the base or policy holds it there: then the policies of the
 * metas before it come with the place, so that the tag can carry their nonce).
 * Tags inside `<template>`, `<svg>` and `<math>` do not count.
 */
export function findInsertionPoint(text: Units, start: number): Place {
  const scanner = new TagScanner(text, start);
  const marks = collectMarks(scanner, start);
  let point = marks.head ?? marks.bodyEnd ?? marks.html;
  if (point === undefined) point = marks.endsInText ? text.length : (scanner.doctypeEnd ?? start);
  const charsetMeta = marks.charsetMeta;
  if (charsetMeta !== undefined && charsetMeta > point) point = charsetMeta;
  for (const limit of [marks.base, marks.policyMetas[0]?.start]) {
    if (limit !== undefined && point > limit && !(charsetMeta !== undefined && charsetMeta > limit)) point = limit;
  }
  const metas = marks.policyMetas;
  if (metas.length === 0 || (metas[0] as PolicyMeta).start >= point) return { point, policies: NO_POLICIES };
  return { point, policies: metas.filter((meta) => meta.start < point).map((meta) => meta.policy) };
}

function collectMarks(scanner: TagScanner, start: number): Marks {
  const marks: Marks = { policyMetas: [], endsInText: false };
  let template = 0;
  for (let tag = scanner.next(); tag !== undefined; tag = scanner.next()) {
    if (tag.name === 'template') template = Math.max(0, template + (tag.kind === 'start' ? 1 : -1));
    if (template > 0 || scanner.foreignDepth > 0) continue;
    if (tag.kind === 'start' && tag.name === 'head') marks.head ??= tag.end;
    else if (tag.kind === 'end' && tag.name === 'body') marks.bodyEnd ??= tag.start;
    else if (tag.kind === 'start' && tag.name === 'html') marks.html ??= tag.end;
    else if (tag.kind === 'start' && tag.name === 'base') marks.base ??= tag.start;
    else if (tag.kind === 'start' && tag.name === 'meta') markMeta(scanner, tag, start, marks);
    if (marks.head !== undefined && tag.end >= start + PRESCAN_WINDOW) return marks;
  }
  marks.endsInText = scanner.clean && scanner.foreignDepth === 0 && template === 0;
  return marks;
}

/** Notes a meta that declares the charset (within the prescan window) or a Content Security Policy. */
function markMeta(scanner: TagScanner, tag: Tag, start: number, marks: Marks): void {
  const text = scanner.asciiText(tag.start, tag.end);
  if (tag.start < start + PRESCAN_WINDOW && text.includes('charset')) marks.charsetMeta ??= tag.end;
  if (!text.includes('content-security-policy')) return;
  const attributes = attributesOf(scanner.asciiText(tag.start, tag.end, true));
  // The pragma's name is matched ASCII case-insensitively; a meta without content sets no policy (HTML 4.2.5.3).
  const content = attributes.get('content');
  if (attributes.get('http-equiv')?.toLowerCase() !== 'content-security-policy' || content === undefined) return;
  marks.policyMetas.push({ start: tag.start, policy: decodeAttribute(content) });
}
