// Where live reload puts its tag in a page, found with the shared HTML tag scanner.
import { PRESCAN_WINDOW, TagScanner, type Units } from '../html/tag-scanner';

interface Marks {
  head?: number;
  bodyEnd?: number;
  html?: number;
  charsetMeta?: number;
  /** Where the first `<base>` start tag begins. */
  base?: number;
  /** The document ends in plain HTML text, where appending is safe. */
  endsInText: boolean;
}

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
 * base instead of the page (unless a charset meta after the base holds it there).
 * Tags inside `<template>`, `<svg>` and `<math>` do not count.
 */
export function findInsertionPoint(text: Units, start: number): number {
  const scanner = new TagScanner(text, start);
  const marks = collectMarks(scanner, start);
  let point = marks.head ?? marks.bodyEnd ?? marks.html;
  if (point === undefined) point = marks.endsInText ? text.length : (scanner.doctypeEnd ?? start);
  if (marks.charsetMeta !== undefined && marks.charsetMeta > point) point = marks.charsetMeta;
  const base = marks.base;
  if (base !== undefined && point > base && !(marks.charsetMeta !== undefined && marks.charsetMeta > base)) point = base;
  return point;
}

function collectMarks(scanner: TagScanner, start: number): Marks {
  const marks: Marks = { endsInText: false };
  let template = 0;
  for (let tag = scanner.next(); tag !== undefined; tag = scanner.next()) {
    if (tag.name === 'template') template = Math.max(0, template + (tag.kind === 'start' ? 1 : -1));
    if (template > 0 || scanner.foreignDepth > 0) continue;
    if (tag.kind === 'start' && tag.name === 'head') marks.head ??= tag.end;
    else if (tag.kind === 'end' && tag.name === 'body') marks.bodyEnd ??= tag.start;
    else if (tag.kind === 'start' && tag.name === 'html') marks.html ??= tag.end;
    else if (tag.kind === 'start' && tag.name === 'base') marks.base ??= tag.start;
    else if (tag.kind === 'start' && tag.name === 'meta' && tag.start < start + PRESCAN_WINDOW) {
      if (scanner.asciiText(tag.start, tag.end).includes('charset')) marks.charsetMeta ??= tag.end;
    }
    if (marks.head !== undefined && tag.end >= start + PRESCAN_WINDOW) return marks;
  }
  marks.endsInText = scanner.clean && scanner.foreignDepth === 0 && template === 0;
  return marks;
}
