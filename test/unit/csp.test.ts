import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAttribute } from '../../src/server/html/attributes';
import { policiesOf, scriptNonce } from '../../src/server/html/csp';
import { createReloadRewriter, scriptTag } from '../../src/server/reload/inject';
import { withServedSite } from './helpers/serve';

const NAVIGATION = 'Sec-Fetch-Dest: document\r\nAccept: text/html\r\n';

/** The nonce the client's tag carries in `html`: undefined without a tag or without a nonce, so a test can tell. */
function tagNonce(html: string): string | undefined | null {
  const tag = /<script src="[^"]*\.tiny-server\/reload\/client\.js[^"]*"[^>]*>/.exec(html)?.[0];
  if (tag === undefined) return null;
  return /\snonce="([^"]*)"/.exec(tag)?.[1];
}

test('scriptNonce() takes the nonce of the directive that governs a script element: script-src-elem, else script-src, else default-src', () => {
  const nonce = (field: string) => scriptNonce(policiesOf(field));
  assert.equal(nonce("script-src 'nonce-abc'"), 'abc');
  assert.equal(nonce("default-src 'self'; script-src 'nonce-abc' 'strict-dynamic'"), 'abc');
  assert.equal(nonce("script-src-elem 'nonce-elem'; script-src 'nonce-other'"), 'elem');
  assert.equal(nonce("default-src 'nonce-d0+/_=-'; img-src 'none'"), 'd0+/_=-');
  assert.equal(nonce(" SCRIPT-SRC\t'NONCE-AbC' ; "), 'AbC', 'names and keywords in any case; the nonce as written');
  assert.equal(nonce("style-src 'nonce-s'; img-src 'none'"), undefined, 'no directive governs scripts');
  assert.equal(nonce("script-src 'self'; script-src 'nonce-x'"), undefined, 'the first directive of a name counts');
  assert.equal(nonce(''), undefined);
});

test('scriptNonce() needs no nonce where \'self\' or * allows the script anyway, unless \'strict-dynamic\' turns them off', () => {
  const nonce = (field: string) => scriptNonce(policiesOf(field));
  assert.equal(nonce("script-src 'self' 'nonce-abc'"), undefined);
  assert.equal(nonce("script-src * 'nonce-abc'"), undefined);
  assert.equal(nonce("script-src 'self' 'strict-dynamic' 'nonce-abc'"), 'abc');
  assert.equal(nonce("script-src 'self'"), undefined);
});

test('scriptNonce() finds the one nonce common to every policy that needs one; a policy naming none is not consulted', () => {
  const nonce = (field: string) => scriptNonce(policiesOf(field));
  // Two fields, joined by the parser as one list.
  assert.equal(nonce("script-src 'nonce-a' 'nonce-b', default-src 'nonce-b'"), 'b');
  assert.equal(nonce("script-src 'nonce-a', script-src 'nonce-b'"), undefined, 'no nonce would do');
  assert.equal(nonce("script-src 'nonce-a', script-src 'self' 'nonce-b'"), 'a', "'self' allows it in the second");
  assert.equal(nonce("script-src 'nonce-a', script-src 'none'"), 'a', "'none' blocks it whatever it carries");
  assert.equal(nonce("script-src 'nonce-a', img-src 'self'"), 'a');
  assert.deepEqual(policiesOf("a 'b', c"), ["a 'b'", ' c']);
});

test('scriptNonce() never returns a nonce that is no base64 value, so nothing of a policy can end an attribute', () => {
  const nonce = (field: string) => scriptNonce(policiesOf(field));
  assert.equal(nonce(`script-src 'nonce-a"b'`), undefined);
  assert.equal(nonce("script-src 'nonce-a>b'"), undefined);
  assert.equal(nonce("script-src 'nonce-a&b'"), undefined);
  assert.equal(nonce("script-src 'nonce-'"), undefined);
  assert.equal(nonce("script-src 'nonce-a b'"), undefined);
  assert.equal(nonce(`script-src 'nonce-x"y' 'nonce-ok'`), 'ok');
});

test('decodeAttribute() decodes numeric references and the named ones of ASCII punctuation', () => {
  assert.equal(decodeAttribute('script-src &#39;nonce-a&#x27; &apos;self&apos; &quot;&amp;&lt;&gt;'), `script-src 'nonce-a' 'self' "&<>`);
  assert.equal(decodeAttribute('&#0;&#xD800;&#1114112;'), '\ufffd\ufffd\ufffd');
  assert.equal(decodeAttribute('&eacute; &amp &'), '&eacute; &amp &', 'others are left as written');
});

test('the rewriter takes the nonce from a policy meta that a charset meta holds before the tag', () => {
  const rewriter = createReloadRewriter();
  const rewrite = (html: string) => rewriter.rewrite(Buffer.from(html), '/a.html').toString();
  // The tag stays after a charset meta within the prescan window; a policy meta before it covers it.
  const held = '<head><meta http-equiv="Content-Security-Policy" content="script-src &#39;nonce-m1&#39;"><meta charset="utf-8">';
  assert.equal(rewrite(held), `${held}<script src="./.tiny-server/reload/client.js" async nonce="m1"></script>`);
  // A policy meta after the tag does not cover it.
  assert.equal(tagNonce(rewrite('<head><meta http-equiv="Content-Security-Policy" content="script-src \'nonce-m1\'">')), undefined);
});

test('a page from a file gets the client\'s tag before its Content-Security-Policy meta, which covers only what follows it', async () => {
  const meta = '<meta http-equiv="Content-Security-Policy" content="script-src \'nonce-abc\'">';
  // No <head> start tag: the head is implied, and the tag went before </body>, under the policy.
  const page = `<!DOCTYPE html><html lang="en"><meta charset="utf-8">${meta}<title>t</title><body><p>x</p></body></html>`;
  await withServedSite({ 'index.html': page }, async ({ request }) => {
    const body = (await request('/index.html', NAVIGATION)).body.toString();
    const tag = scriptTag('/index.html');
    assert.equal(body.replace(/\?v=[\w-]+/, ''), page.replace(meta, `${tag}${meta}`));
  }, { liveReload: true });
});
