import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAttribute } from '../../src/server/html/attributes';
import { policiesOf, scriptNonce } from '../../src/server/html/csp';
import { createReloadRewriter, scriptTag } from '../../src/server/reload/inject';
import { bridgeProcesses, folderWith } from './helpers/app';
import { exchange, get, parseResponses, type RawResponse } from './helpers/raw';
import { withServedSite } from './helpers/serve';
import { withLogged } from './helpers/server';
import { reply, startUpstream } from './helpers/upstream';

const NAVIGATION = 'Sec-Fetch-Dest: document\r\nAccept: text/html\r\n';
const PAGE = '<!DOCTYPE html><html><head><title>t</title></head><body><p>page</p></body></html>';

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

test('the rewriter takes the nonce from the page\'s policy fields, and from a policy meta a charset meta holds before the tag', () => {
  const rewriter = createReloadRewriter();
  const rewrite = (html: string, policy?: string) => rewriter.rewrite(Buffer.from(html), '/a.html', { policy }).toString();
  const tag = '<script src="./.tiny-server/reload/client.js" async nonce="abc"></script>';
  assert.equal(rewrite('<head><title>t</title>', "script-src 'nonce-abc'"), `<head>${tag}<title>t</title>`);
  assert.equal(tagNonce(rewrite('<head>', "script-src 'nonce-a\"><b'")), undefined);
  // The tag stays after a charset meta within the prescan window; a policy meta before it covers it.
  const held = '<head><meta http-equiv="Content-Security-Policy" content="script-src &#39;nonce-m1&#39;"><meta charset="utf-8">';
  assert.equal(rewrite(held), `${held}<script src="./.tiny-server/reload/client.js" async nonce="m1"></script>`);
  assert.equal(tagNonce(rewrite(held, "script-src 'nonce-m1' 'nonce-h'")), 'm1', 'the one nonce both name');
  assert.equal(tagNonce(rewrite(held, "script-src 'nonce-h'")), undefined, 'no nonce both name');
  // A policy meta after the tag does not cover it.
  assert.equal(tagNonce(rewrite('<head><meta http-equiv="Content-Security-Policy" content="script-src \'nonce-m1\'">')), undefined);
});

test('a proxied page whose Content-Security-Policy allows scripts by nonce gets the client\'s tag with that nonce, and the field as the upstream sent it', async () => {
  const policies: Record<string, string> = {
    '/nonce': "Content-Security-Policy: script-src 'nonce-abc'\r\n",
    '/dynamic': "Content-Security-Policy: default-src 'self'; script-src 'nonce-abc' 'strict-dynamic'\r\n",
    '/two': "Content-Security-Policy: script-src 'nonce-abc' 'nonce-x'\r\nContent-Security-Policy: default-src 'nonce-abc'\r\n",
    '/quote': `Content-Security-Policy: script-src 'nonce-a"b'\r\n`,
    '/angle': "Content-Security-Policy: script-src 'nonce-a><script>alert(1)</script>'\r\n",
    '/report-only': "Content-Security-Policy-Report-Only: script-src 'nonce-abc'\r\n",
  };
  const upstream = await startUpstream((request, socket) => {
    const path = request.requestLine.split(' ')[1] ?? '';
    socket.write(reply(PAGE, `Content-Type: text/html; charset=utf-8\r\n${policies[path] ?? ''}`));
  });
  try {
    await withServedSite({}, async ({ request }) => {
      const page = await request('/nonce', NAVIGATION);
      assert.equal(tagNonce(page.body.toString()), 'abc');
      assert.equal(page.headers.get('content-security-policy'), "script-src 'nonce-abc'");
      assert.equal(tagNonce((await request('/dynamic', NAVIGATION)).body.toString()), 'abc');
      const two = await request('/two', NAVIGATION);
      assert.equal(tagNonce(two.body.toString()), 'abc');
      assert.equal(two.headers.get('content-security-policy'), "script-src 'nonce-abc' 'nonce-x', default-src 'nonce-abc'");
      for (const path of ['/quote', '/angle', '/report-only']) {
        const body = (await request(path, NAVIGATION)).body.toString();
        assert.equal(tagNonce(body), undefined, `${path} gets the tag without a nonce`);
        assert.doesNotMatch(body, /alert/);
      }
      // HEAD is asked upstream as a GET: the same tag, so the same length.
      const head = await request('/nonce', NAVIGATION, 'HEAD');
      assert.equal(Number(head.headers.get('content-length')), page.body.length);
    }, { proxy: { '/': upstream.url }, liveReload: true });
  } finally {
    await upstream.close();
  }
});

test('a Fetch app page whose Content-Security-Policy allows scripts by nonce gets the client\'s tag with that nonce, and its HEAD the length of that GET', async () => {
  const app = [
    'export default { fetch(request) {',
    "  const policy = new URL(request.url).searchParams.get('p') ?? '';",
    "  const body = '<!doctype html><html><head><title>app</title></head><body>app page</body></html>';",
    "  return new Response(body, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': policy } });",
    '} };',
  ].join('\n');
  const folder = folderWith({ 'app.mjs': app });
  const ask = async (port: number, raw: string): Promise<RawResponse> => {
    const [response] = parseResponses(await exchange(port, raw, 10_000), raw.startsWith('HEAD') ? 1 : 0);
    assert.ok(response, 'a response');
    return response;
  };
  try {
    await withLogged({ root: folder.dir, app: 'app.mjs', appTimeout: 30, appMount: '/', liveReload: true }, async ({ server }) => {
      const target = `/page?p=${encodeURIComponent("script-src 'nonce-r4nd0m'")}`;
      const page = await ask(server.port, get(target, `${NAVIGATION}Connection: close\r\n`));
      assert.equal(tagNonce(page.body.toString()), 'r4nd0m');
      assert.equal(page.headers.get('content-security-policy'), "script-src 'nonce-r4nd0m'");
      const head = await ask(server.port, `HEAD ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${NAVIGATION}Connection: close\r\n\r\n`);
      assert.equal(head.headers.get('content-length'), String(page.body.length));
      const quoted = await ask(server.port, get(`/page?p=${encodeURIComponent("script-src 'nonce-a\"b'")}`, `${NAVIGATION}Connection: close\r\n`));
      assert.equal(tagNonce(quoted.body.toString()), undefined);
    });
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Node bridge process is left behind');
  } finally {
    folder.remove();
  }
});

test('a page from a file gets the client\'s tag before its Content-Security-Policy meta, which covers only what follows it', async () => {
  const meta = '<meta http-equiv="Content-Security-Policy" content="script-src \'nonce-abc\'">';
  // No <head> start tag: the head is implied, and the tag went before </body>, under the policy.
  const page = `<!DOCTYPE html><html lang="en"><meta charset="utf-8">${meta}<title>t</title><body><p>x</p></body></html>`;
  await withServedSite({ 'index.html': page }, async ({ request }) => {
    const body = (await request('/index.html', NAVIGATION)).body.toString();
    const etag = (await request('/index.html')).headers.get('etag') ?? '';
    const tag = scriptTag('/index.html', false, undefined, undefined, etag);
    assert.equal(body.replace(/\?v=[\w-]+/, ''), page.replace(meta, `${tag}${meta}`));
  }, { liveReload: true });
});
