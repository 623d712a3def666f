import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { declaredCharset } from '../../src/server/html/charset';
import { findInsertionPoint } from '../../src/server/reload/html-scan';
import { createReloadRewriter, injectTag, isPageLoad, scriptTag } from '../../src/server/reload/inject';
import { createStaticHandler } from '../../src/server/static';
import { createFixtureSite, fakeRequest } from './helpers/fixture-site';

const TAG = '<script src="x.js"></script>';

/** The document with TAG inserted, as a string (UTF-8 in, UTF-8 out). */
function inject(html: string): string {
  return injectTag(Buffer.from(html), TAG).toString();
}

/** The document with `|` replaced by TAG: what the injector must produce for `marked`. */
function expected(marked: string): string {
  assert.equal(marked.split('|').length, 2, 'test case must mark exactly one place');
  return marked.replace('|', TAG);
}

/** Each case marks where the tag belongs with `|`. */
const CASES: ReadonlyArray<readonly [string, string]> = [
  ['after the head tag', '<!DOCTYPE html><html><head>|<title>t</title></head><body>x</body></html>'],
  ['after a head tag with attributes', '<html><head lang="en" data-x=\'>\'>|</head></html>'],
  ['after an upper-case HEAD', '<HTML><HEAD>|<TITLE>t</TITLE></HEAD><BODY></BODY></HTML>'],
  ['after a self-closing head tag', '<html><head/>|<title>t</title></html>'],
  ['past a head inside a comment', '<!-- <head> --><html><head>|</head></html>'],
  ['past a comment ended by --!>', '<!-- <head> --!><head>|'],
  ['past an abruptly closed comment', '<!--><head>|'],
  ['past a comment of one dash', '<!---><head>|'],
  ['past a comment that mentions -- twice', '<!-- a -- b <head> --><head>|'],
  ['past a head inside a script string', '<script>var s="<head>"</script><body>|</body>'],
  ['past a script that looks like a closing comment', '<script>if (a-->b) x("<head>")</script><head>|'],
  [
    'past a script whose escaped nested script hides the first </script>',
    '<script><!-- <script> </script> <head> --></script><head>|',
  ],
  ['past an escaped end tag inside a script string', '<script>"<\\/script><head>"</script><head>|'],
  ['past a script closed with </SCRIPT >', '<script>x<head></SCRIPT ><head>|'],
  ['past a script that is not closed by </scripts>', '<script>"</scripts><head>"</script><head>|'],
  ['past a self-closing script, which still holds script data', '<script/>"<head>"</script><head>|'],
  ['past a head inside a style', '<style>/* <head> */</style><head>|'],
  ['past a head inside a textarea', '<body><textarea><head></textarea>|</body>'],
  ['past a head inside a title', '<title><head></title><html>|'],
  ['past a head inside a noscript', '<noscript><head></noscript><head>|'],
  ['past a head inside an attribute value', '<html lang="<head>">|'],
  ['past a head inside a single-quoted attribute', "<div title='<head>'></div><head>|"],
  ['past quotes inside an unquoted value', '<div title=a"b <head>|'],
  ['after a processing instruction', '<?xml version="1.0"?><head>|'],
  ['past a head inside a processing instruction', '<?php echo "<head>"; ?><p>x</p>|'],
  ['past a head inside a bogus comment', '<!x <head><head>|'],
  ['past a CDATA section, a bogus comment in HTML', '<![CDATA[ x ]]><head>|'],
  ['past a CDATA section inside SVG', '<svg><![CDATA[ > </svg> <head> ]]></svg><head>|'],
  ['past a head inside SVG', '<svg><head></head></svg><body>|</body>'],
  ['past a head inside a template', '<template><head></template><head>|'],
  ['past a header, which is not a head', '<header>x</header>|'],
  ['past a headline element, which is not a head', '<html><headx><head>|'],
  ['before </body> when there is no head', '<html><body><p>x</p>|</body></html>'],
  ['before </BODY > when there is no head', '<p>x</p>|</BODY ></html>'],
  ['after the html tag without head or body end', '<!DOCTYPE html><html lang="en">|<p>x'],
  ['at the end of a fragment', '<p>x</p>|'],
  ['at the end of an empty file', '|'],
  ['after the doctype when the file ends in a comment', '<!DOCTYPE html>|<p>x<!-- never closed'],
  ['at the start when the file ends in a script', '|<p>x<script>never closed'],
  ['at the start when the file ends inside a tag', '|<p>x<div class="y'],
  ['at the start when plaintext swallows the end', '|<plaintext><head>'],
  ['after a charset meta that follows the head', '<head><title>t</title><meta charset="gbk">|</head>'],
  ['after an http-equiv charset meta', '<html><META http-equiv="Content-Type" content="text/html; charset=x">|'],
  ['after the head when a meta declares no charset', '<head>|<meta name="viewport" content="x">'],
  // The tag's relative address must resolve against the page, not a <base>.
  ['before a base when there is no head start tag', '<!DOCTYPE html><title>t</title>|<base href="/assets/"><p>x</p>'],
  ['after a charset meta that follows a base: the prescan must find the meta', '<head><base href="/a/"><meta charset="utf-8">|'],
  ['after the head when a base follows it', '<head>|<base href="/assets/"><title>t</title>'],
  // A policy meta covers only what follows it (CSP3 section 3.3): the tag goes before it.
  ['before a policy meta when there is no head start tag', '<!DOCTYPE html><title>t</title>|<meta http-equiv="Content-Security-Policy" content="script-src \'none\'"><p>x</p></body>'],
  ['before a policy meta spelled in capitals, unquoted', '<!DOCTYPE html>|<META HTTP-EQUIV=content-security-policy CONTENT=x><HEAD>'],
  // Not one inside a noscript (raw text where scripts run), one that only mentions a policy, or one without content, which sets none.
  [
    'before the first meta that sets a policy',
    '<noscript><meta http-equiv="Content-Security-Policy" content="x"></noscript><meta name="description" content="Content-Security-Policy">' +
      '<meta http-equiv="Content-Security-Policy">|<meta http-equiv="Content-Security-Policy" content="x"><p>x</p>',
  ],
];

for (const [name, marked] of CASES) {
  test(`injectTag() inserts ${name}`, () => {
    assert.equal(inject(marked.replace('|', '')), expected(marked));
  });
}

test('injectTag() ignores a charset meta beyond the prescan window', () => {
  const filler = `<!-- ${'x'.repeat(1100)} -->`;
  const marked = `<head>|${filler}<meta charset="gbk">`;
  assert.equal(inject(marked.replace('|', '')), expected(marked));
});

test('injectTag() keeps a UTF-8 byte order mark first', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  assert.deepEqual(injectTag(bom, TAG), Buffer.concat([bom, Buffer.from(TAG)]));
  const page = Buffer.concat([bom, Buffer.from('<p>é')]);
  assert.deepEqual(injectTag(page, TAG), Buffer.concat([page, Buffer.from(TAG)]));
});

test('findInsertionPoint() reads multi-byte characters whose trail bytes are ASCII as text', () => {
  // Shift_JIS 表 is 0x95 0x5C; GBK 丂 is 0x81 0x40: trail bytes never equal '<', '>' or quotes.
  const sjis = Buffer.from([0x3c, 0x70, 0x3e, 0x95, 0x5c, 0x3c, 0x2f, 0x70, 0x3e]);
  assert.equal(findInsertionPoint(sjis, 0).point, sjis.length);
  const gbk = Buffer.concat([Buffer.from('<html title="'), Buffer.from([0x81, 0x40]), Buffer.from('">')]);
  assert.equal(findInsertionPoint(gbk, 0).point, gbk.length);
});

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'unit', 'fixtures', 'charsets');

/** Fixture, decoder label, and the text after which the tag must appear. */
const CHARSET_FIXTURES: ReadonlyArray<readonly [string, string, string]> = [
  ['gbk.html', 'gbk', '<meta charset="gbk">'],
  ['shift_jis.html', 'shift_jis', 'charset=Shift_JIS">'],
  ['latin1.html', 'iso-8859-1', '<meta charset="iso-8859-1">'],
  ['utf16le.html', 'utf-16le', '<head lang="en">'],
  ['utf16be.html', 'utf-16be', '<head lang="en">'],
  ['utf8-bom.html', 'utf-8', '<head>'],
];

for (const [file, encoding, anchor] of CHARSET_FIXTURES) {
  test(`injectTag() keeps every byte of ${file} and adds the tag after ${anchor}`, () => {
    const original = readFileSync(join(FIXTURES, file));
    const result = injectTag(original, TAG);
    const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
    const before = decoder.decode(original);
    const after = decoder.decode(result);
    const at = before.indexOf(anchor) + anchor.length;
    assert.ok(at > anchor.length, `anchor ${anchor} is in ${file}`);
    assert.equal(after, before.slice(0, at) + TAG + before.slice(at));

    const tagBytes = result.length - original.length;
    let offset = 0;
    while (offset < original.length && result[offset] === original[offset]) offset++;
    assert.deepEqual(Buffer.concat([result.subarray(0, offset), result.subarray(offset + tagBytes)]), original);
  });
}

test('injectTag() writes the tag in the byte order of a UTF-16 document', () => {
  const le = injectTag(Buffer.from('\ufeff<head>x', 'utf16le'), '<s>');
  assert.deepEqual(le, Buffer.from('\ufeff<head><s>x', 'utf16le'));
  const be = injectTag(Buffer.from('\ufeff<head>x', 'utf16le').swap16(), '<s>');
  assert.deepEqual(be, Buffer.from('\ufeff<head><s>x', 'utf16le').swap16());
});

test('injectTag() reads a UTF-16 document by code units, not bytes', () => {
  // U+3C68 has the bytes of '<h' in UTF-16LE; it must not start a head tag.
  const page = Buffer.from('\ufeff\u3c68ead><p>x</p>', 'utf16le');
  assert.deepEqual(injectTag(page, '<s>'), Buffer.from('\ufeff\u3c68ead><p>x</p><s>', 'utf16le'));
});

test('injectTag() takes a UTF-16 document without a byte order mark from the charset of its Content-Type, as a browser does', () => {
  const page = '<html><head><title>t</title></head><body>x</body></html>';
  const expected = '<html><head><script>1</script><title>t</title></head><body>x</body></html>';
  assert.deepEqual(injectTag(Buffer.from(page, 'utf16le'), '<script>1</script>', 'text/html; charset=UTF-16LE'), Buffer.from(expected, 'utf16le'));
  assert.deepEqual(injectTag(Buffer.from(page, 'utf16le'), '<script>1</script>', 'text/html;charset="utf-16"'), Buffer.from(expected, 'utf16le'), '"utf-16" is little-endian');
  assert.deepEqual(injectTag(Buffer.from(page, 'utf16le').swap16(), '<script>1</script>', 'text/html; charset=utf-16be'), Buffer.from(expected, 'utf16le').swap16());
  // A byte order mark outranks the field; other charsets keep ASCII as bytes.
  assert.deepEqual(injectTag(Buffer.from(`\ufeff${page}`, 'utf16le'), '<script>1</script>', 'text/html; charset=utf-16be'), Buffer.from(`\ufeff${expected}`, 'utf16le'));
  assert.deepEqual(injectTag(Buffer.from(page, 'latin1'), '<script>1</script>', 'text/html; charset=windows-1252'), Buffer.from(expected, 'latin1'));
});

test('injectTag() keeps the odd trailing byte of a truncated UTF-16 document', () => {
  const page = Buffer.concat([Buffer.from('\ufeff<head>', 'utf16le'), Buffer.from([0x41])]);
  const result = injectTag(page, '<s>');
  assert.deepEqual(result, Buffer.concat([Buffer.from('\ufeff<head><s>', 'utf16le'), Buffer.from([0x41])]));
});

test('scriptTag() addresses the client relative to the page', () => {
  assert.equal(scriptTag('/'), '<script src="./.tiny-server/reload/client.js" async></script>');
  assert.equal(scriptTag('/index.html'), '<script src="./.tiny-server/reload/client.js" async></script>');
  assert.equal(scriptTag('/a/b/c.html'), '<script src="../../.tiny-server/reload/client.js" async></script>');
  assert.equal(scriptTag('/a/b/'), '<script src="../../.tiny-server/reload/client.js" async></script>');
  assert.equal(scriptTag('/a//b.html'), '<script src="../../.tiny-server/reload/client.js" async></script>');
});

test('scriptTag() carries the page\'s entity tag, escaped, and leaves out one it cannot write as ASCII', () => {
  const tag = (etag: string) => scriptTag('/a.html', false, undefined, undefined, etag);
  assert.equal(tag('"64-B8xi"'), '<script src="./.tiny-server/reload/client.js" async data-etag="&quot;64-B8xi&quot;"></script>');
  assert.equal(tag('W/"a&b<c\'d"'), '<script src="./.tiny-server/reload/client.js" async data-etag="W/&quot;a&amp;b&lt;c&#39;d&quot;"></script>');
  for (const unusable of ['64-B8xi', '"caf\u00e9"', '"a"b"', '"a b"', 'W/64']) {
    assert.equal(tag(unusable), '<script src="./.tiny-server/reload/client.js" async></script>', unusable);
  }
  // What the browser reads back from the attribute is the entity tag as sent.
  const attribute = /data-etag="([^"]*)"/.exec(tag('W/"a&b<c"'))?.[1] ?? '';
  assert.equal(attribute.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&amp;/g, '&'), 'W/"a&b<c"');
});

test('a page from the static handler carries the entity tag a fetch() of it gets, unless too large for the cache', async () => {
  const large = `<!doctype html><p>x</p><script>1</script>${'<p>filler</p>'.repeat(30_000)}`;
  const site = createFixtureSite({ 'page.html': '<!doctype html><p>x</p><script>1</script>', 'large.html': large });
  try {
    const { handle, dispose } = createStaticHandler({ root: site.root, showDotfiles: false, directoryListing: false, htmlRewriter: createReloadRewriter() });
    const page = await handle(fakeRequest('/page.html', { headers: { 'Sec-Fetch-Dest': 'iframe' } }));
    const plain = await handle(fakeRequest('/page.html', { headers: { 'Sec-Fetch-Dest': 'empty', Range: 'bytes=0-0' } }));
    const largePage = await handle(fakeRequest('/large.html', { headers: { 'Sec-Fetch-Dest': 'iframe' } }));
    dispose();
    const text = String((page as { body: Buffer }).body);
    const etag = (plain as { headers: Record<string, string> }).headers.ETag ?? '';
    assert.match(etag, /^"[^"]+"$/);
    assert.ok(text.includes(`data-etag="${etag.replace(/"/g, '&quot;')}"`), text);
    // Served from the file by serveLarge to a fetch(), with a tag of another kind: no tag to compare.
    assert.ok(large.length > 256 * 1024);
    const largeText = String((largePage as { body: Buffer }).body);
    assert.ok(largeText.includes('.tiny-server/reload/client.js') && !largeText.includes('data-etag'));
  } finally {
    site.remove();
  }
});

test('scriptTag() resolves to the endpoint from any page, with or without a proxy prefix', () => {
  for (const prefix of ['', '/proxy/8000']) {
    for (const page of ['/', '/a.html', '/a/', '/a/b/c.html', '/a b/é/x.html']) {
      const src = /src="([^"]+)"/.exec(scriptTag(page))?.[1] ?? '';
      const resolved = new URL(src, `http://h${prefix}${encodeURI(page)}`);
      assert.equal(resolved.pathname, `${prefix}/.tiny-server/reload/client.js`, page);
    }
  }
});

test('isPageLoad() accepts navigations of documents and frames only', () => {
  const dest = (value: string, method = 'GET') => isPageLoad(fakeRequest('/a.html', { method, headers: { 'Sec-Fetch-Dest': value } }));
  assert.equal(dest('document'), true);
  assert.equal(dest('iframe'), true);
  assert.equal(dest('frame'), true);
  assert.equal(dest('document', 'HEAD'), true);
  assert.equal(dest('empty'), false);
  assert.equal(dest('script'), false);
  assert.equal(dest('document', 'POST'), false);
});

test('isPageLoad() without Sec-Fetch-Dest injects when Accept asks for text/html', () => {
  const accept = (value?: string) => isPageLoad(fakeRequest('/a.html', value === undefined ? {} : { headers: { Accept: value } }));
  assert.equal(accept('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), true);
  assert.equal(accept('TEXT/HTML'), true);
  assert.equal(accept('*/*'), false);
  assert.equal(accept('text/htmlx'), false);
  assert.equal(accept(), false);
  // q=0 says "not HTML" (RFC 9110 section 12.4.2).
  assert.equal(accept('text/html;q=0, */*'), false);
  assert.equal(accept('text/html; q=0.0, */*'), false);
  assert.equal(accept('text/html;level=1;q=0.5'), true);
  assert.equal(accept('application/json, text/html;q=0.001'), true);
  // Fetch Metadata wins: a script's fetch asking for HTML still gets the file as it is.
  const fetched = fakeRequest('/a.html', { headers: { Accept: 'text/html', 'Sec-Fetch-Dest': 'empty' } });
  assert.equal(isPageLoad(fetched), false);
});

test('createReloadRewriter() rewrites deterministically with a fixed entity-tag suffix', () => {
  const rewriter = createReloadRewriter();
  const page = Buffer.from('<head></head>');
  assert.deepEqual(rewriter.rewrite(page, '/a/b.html'), rewriter.rewrite(page, '/a/b.html'));
  assert.equal(rewriter.rewrite(page, '/a/b.html').toString(), `<head>${scriptTag('/a/b.html')}</head>`);
  assert.match(rewriter.etagSuffix, /^[!#-~]+$/);
});

test('declaredCharset() finds the encoding a page declares, as the prescan would', () => {
  const charset = (html: string | Buffer) => declaredCharset(Buffer.isBuffer(html) ? html : Buffer.from(html, 'latin1'));
  for (const [file, label] of [
    ['gbk.html', 'gbk'],
    ['shift_jis.html', 'shift_jis'],
    ['latin1.html', 'iso-8859-1'],
    ['utf16le.html', 'utf-16le'],
    ['utf16be.html', 'utf-16be'],
    ['utf8-bom.html', 'utf-8'],
  ] as const) {
    assert.equal(charset(readFileSync(join(FIXTURES, file))), label, file);
  }
  assert.equal(charset("<META CHARSET='EUC-KR'>"), 'euc-kr');
  assert.equal(charset('<meta content="text/html;charset = windows-1252" http-equiv="content-type">'), 'windows-1252');
  assert.equal(charset('<!-- <meta charset="gbk"> --><p>x'), undefined);
  assert.equal(charset('<title><meta charset="gbk"></title>'), undefined);
  assert.equal(charset('<meta name="description" content="no charset here">'), undefined);
  // `content` counts only with http-equiv="content-type" (HTML 13.2.3.2).
  assert.equal(charset('<meta name="description" content="about charset=iso-8859-2 tables"><p>café'), undefined);
  assert.equal(charset('<meta name="description" content="charset=iso-8859-2"><meta charset="gbk">'), 'gbk');
  // A UTF-16 label on bytes read as ASCII means UTF-8; x-user-defined means windows-1252.
  assert.equal(charset('<meta charset="utf-16">'), 'utf-8');
  assert.equal(charset("<meta http-equiv=Content-Type content='text/html; charset=UTF-16BE'>"), 'utf-8');
  assert.equal(charset('<meta charset=x-user-defined>'), 'windows-1252');
  assert.equal(charset(`<!-- ${'x'.repeat(1024)} --><meta charset="gbk">`), undefined);
  assert.equal(charset(''), undefined);
});
