import assert from 'node:assert/strict';
import { closeSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Request, Response } from '../../src/server/handler';
import { createStaticHandler, type HtmlRewriter, type StaticOptions } from '../../src/server/static';
import { bodyBytes, createFixtureSite, fakeRequest, type FixtureSite } from './helpers/fixture-site';

type Options = Partial<Omit<StaticOptions, 'root'>>;
type Get = (target: string, init?: Parameters<typeof fakeRequest>[1]) => Response;
/** For answers that may come later: listings are read asynchronously. */
type Answer = (target: string, init?: Parameters<typeof fakeRequest>[1]) => Promise<Response>;

/** Runs `check` against a handler serving a fresh fixture site, then cleans up. */
async function withHandler(
  files: Record<string, string | Buffer>,
  check: (get: Get, site: FixtureSite, answer: Answer) => void | Promise<void>,
  options: Options = {},
): Promise<void> {
  const site = createFixtureSite(files);
  const { handle, dispose } = createStaticHandler({
    root: site.root,
    showDotfiles: false,
    directoryListing: true,
    ...options,
  });
  // A file body owns its descriptor; the connection would close it after sending.
  const descriptors: number[] = [];
  const get: Get = (target, init) => {
    const response = handle(fakeRequest(target, init));
    assert.ok(response !== undefined && !(response instanceof Promise), 'the static handler answers synchronously');
    const body = response.body;
    if (body !== undefined && !Buffer.isBuffer(body) && body.kind === 'file') descriptors.push(body.fd);
    return response;
  };
  const answer: Answer = async (target, init) => {
    const response = await handle(fakeRequest(target, init));
    assert.ok(response !== undefined, 'the static handler answers');
    return response;
  };
  try {
    await check(get, site, answer);
  } finally {
    for (const fd of descriptors) closeSync(fd);
    dispose();
    site.remove();
  }
}

const text = (response: Response): string => bodyBytes(response.body).toString();
const header = (response: Response, name: string): unknown => response.headers[name];

test('the handler serves index.html for / with validators and no-cache', async () => {
  await withHandler({ 'index.html': '<h1>home</h1>' }, (get) => {
    const response = get('/');
    assert.equal(response.status, 200);
    assert.equal(text(response), '<h1>home</h1>');
    assert.equal(header(response, 'Content-Type'), 'text/html; charset=utf-8');
    assert.equal(header(response, 'Cache-Control'), 'no-cache');
    assert.equal(header(response, 'X-Content-Type-Options'), undefined, 'files carry no nosniff, as from nginx or Apache');
    assert.equal(header(response, 'Accept-Ranges'), 'bytes');
    assert.match(String(header(response, 'ETag')), /^"[0-9a-f]+-[\w-]+"$/);
    assert.match(String(header(response, 'Last-Modified')), /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.equal(get('/index.html').headers['ETag'], header(response, 'ETag'), 'same bytes, same tag');
  });
});

test('the handler ignores the query string when looking up a file', async () => {
  await withHandler({ 'a.txt': 'a' }, (get) => {
    assert.equal(text(get('/a.txt?v=1&x=%zz')), 'a');
  });
});

test('the handler falls back to index.htm, and prefers an index.html created later', async () => {
  await withHandler({ 'docs/index.htm': 'htm' }, (get, site) => {
    assert.equal(text(get('/docs/')), 'htm');
    site.write('docs/index.html', 'html');
    assert.equal(text(get('/docs/')), 'html');
  });
});

test('the handler redirects a folder without a trailing slash with a relative Location', async () => {
  await withHandler({ 'docs/index.html': 'x', 'a b/index.html': 'y', 'c:d/index.html': 'z' }, (get) => {
    const response = get('/docs?x=1');
    assert.equal(response.status, 301);
    assert.equal(header(response, 'Location'), 'docs/?x=1');
    assert.equal(header(get('/docs'), 'Location'), 'docs/');
    assert.equal(header(get('/a%20b'), 'Location'), 'a%20b/');
    assert.equal(header(get('/c:d'), 'Location'), './c:d/', 'a colon must not read as a scheme');
  });
});

test('the handler answers 404 with an escaped page that hides file-system paths', async () => {
  await withHandler({}, (get, site) => {
    const response = get('/%3Cscript%3Ealert(1)%3C/script%3E.html', { headers: { 'Sec-Fetch-Dest': 'document' } });
    assert.equal(response.status, 404);
    const page = text(response);
    assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;.html'), page);
    assert.ok(!page.includes('<script>'));
    assert.ok(!page.includes(site.root), 'no absolute path in the page');
    assert.equal(header(response, 'Content-Type'), 'text/html; charset=utf-8');
    assert.equal(get('/missing.html').reason, `no file at ${site.path('missing.html')}`);
  });
});

test('below an app mount a path no file answers gets a 404 without a page, for the app to answer; elsewhere the page', async () => {
  await withHandler(
    { 'api/data.json': '{}', 'index.html': '<p>spa</p>' },
    (get) => {
      const browser = { headers: { 'Sec-Fetch-Dest': 'document', Accept: 'text/html' } };
      for (const path of ['/api/users', '/api/data.json/']) {
        const below = get(path, browser);
        assert.equal(below.status, 404, path);
        assert.equal(below.body, undefined, `${path}: no page is made for the app paths`);
      }
      assert.equal(get('/api/data.json', browser).status, 200, 'files below the mount are still served');
      const route = get('/users/42', browser);
      assert.equal(route.status, 200, 'outside the mount the SPA page stands in');
      const missing = get('/missing.css', browser);
      assert.equal(missing.status, 404);
      assert.ok(text(missing).includes('missing.css'), 'outside the mount the 404 page names the path');
    },
    { appMounts: (path) => path === '/api' || path.startsWith('/api/'), spaFallback: '/index.html' },
  );
});

test('the handler answers 404 for a file asked for as a folder and for hidden dotfiles', async () => {
  await withHandler({ 'a.txt': 'a', '.env': 'SECRET', '.git/config': 'x', 'a/.hidden/x': 'x' }, (get) => {
    assert.equal(get('/a.txt/').status, 404);
    for (const path of ['/.env', '/.git/config', '/a/.hidden/x', '/.git/']) assert.equal(get(path).status, 404, path);
  });
});

test('the handler serves dotfiles when showDotfiles is on', async () => {
  await withHandler({ '.env': 'SECRET' }, (get) => assert.equal(text(get('/.env')), 'SECRET'), { showDotfiles: true });
});

test('the handler answers 400 for traversal and bad encoding', async () => {
  await withHandler({ 'a.txt': 'a' }, (get) => {
    for (const path of ['/../x', '/%2e%2e/x', '/..%2fx', '/%2e%2e%2fx', '/a/..%5c..%5cx', '/%00', '/%zz', '/%E0%A4']) {
      const response = get(path);
      assert.equal(response.status, 400, path);
      assert.equal(typeof response.reason, 'string');
    }
  });
});

test('the handler answers 405 with Allow for known methods other than GET and HEAD, 501 for unknown ones', async () => {
  await withHandler({ 'a.txt': 'a' }, (get) => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const response = get('/a.txt', { method });
      assert.equal(response.status, 405, method);
      assert.equal(header(response, 'Allow'), 'GET, HEAD');
    }
    // Methods are case-sensitive: one this server does not know is 501 (RFC 9110 section 9.1).
    for (const method of ['FOO', 'get', 'PROPFIND']) assert.equal(get('/a.txt', { method }).status, 501, method);
  });
});

test('a page the cache does not hold keeps the charset it declares, as a small one does', async () => {
  const latin = Buffer.concat([Buffer.from('<!doctype html><meta charset="windows-1252"><title>x</title><p>caf\xe9', 'latin1'), Buffer.alloc(300 * 1024, 'x')]);
  await withHandler({ 'big.html': latin, 'small.html': latin.subarray(0, 200) }, (get) => {
    for (const path of ['/big.html', '/small.html']) {
      const response = get(path, { headers: { Accept: '*/*' } });
      assert.equal(response.status, 200, path);
      assert.equal(header(response, 'Content-Type'), 'text/html; charset=windows-1252', path);
    }
  });
});

test('a stylesheet is served with the charset of its @charset rule, and UTF-8 without one; SVG with none', async () => {
  const files = {
    'latin.css': Buffer.from('@charset "ISO-8859-1";\np::after { content: "caf\xe9" }', 'latin1'),
    'big.css': Buffer.concat([Buffer.from('@charset "windows-1252";\n', 'latin1'), Buffer.alloc(300 * 1024, ' ')]),
    'plain.css': 'p { color: red }',
    'spaced.css': ' @charset "iso-8859-1";',
    'wide.css': '@charset "utf-16";',
    'latin.svg': Buffer.from('<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="http://www.w3.org/2000/svg"><text>caf\xe9</text></svg>', 'latin1'),
  };
  await withHandler(files, (get) => {
    assert.equal(header(get('/latin.css'), 'Content-Type'), 'text/css; charset=iso-8859-1');
    assert.equal(header(get('/big.css'), 'Content-Type'), 'text/css; charset=windows-1252', 'a file the cache does not hold too');
    assert.equal(header(get('/plain.css'), 'Content-Type'), 'text/css; charset=utf-8');
    assert.equal(header(get('/spaced.css'), 'Content-Type'), 'text/css; charset=utf-8', 'the rule counts only as the first bytes');
    assert.equal(header(get('/wide.css'), 'Content-Type'), 'text/css; charset=utf-8');
    assert.equal(header(get('/latin.svg'), 'Content-Type'), 'image/svg+xml', 'the XML declaration decides');
  });
});

test('HEAD gets the same status and headers as GET', async () => {
  const big = Buffer.alloc(300 * 1024, 'x');
  await withHandler({ 'a.css': 'body{}'.repeat(400), 'big.bin': big }, (get) => {
    for (const path of ['/a.css', '/big.bin', '/missing']) {
      const headers = { 'accept-encoding': 'gzip' };
      const viaGet = get(path, { headers });
      const viaHead = get(path, { method: 'HEAD', headers });
      assert.equal(viaHead.status, viaGet.status, path);
      assert.deepEqual(viaHead.headers, viaGet.headers, path);
    }
  });
});

test('the handler lists a folder without index: escaped, sorted, folders first, relative links', async () => {
  const files = {
    'list/<img src=x onerror=alert(1)>.html': 'x',
    'list/a&b.txt': 'x',
    'list/100% sure.txt': 'x',
    'list/b.txt': 'x'.repeat(2048),
    'list/file10.txt': 'x',
    'list/file2.txt': 'x',
    'list/zeta/x.txt': 'x',
    'list/Alpha/x.txt': 'x',
    'list/.secret': 'x',
  };
  await withHandler(files, async (_get, _site, answer) => {
    const response = await answer('/list/');
    assert.equal(response.status, 200);
    const page = text(response);
    assert.ok(!page.includes('<img'), 'the name is escaped');
    assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;.html'));
    assert.ok(page.includes('href="./%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.html"'));
    assert.ok(page.includes('href="./a%26b.txt">a&amp;b.txt</a>'));
    assert.ok(page.includes('href="./100%25%20sure.txt">100% sure.txt</a>'));
    assert.ok(page.includes('href="../"'), 'a link to the parent');
    assert.ok(page.includes('2.0 KiB'));
    assert.ok(!page.includes('.secret'), 'dotfiles hidden');
    assert.ok(!/href="\//.test(page), 'no root-absolute link');
    // Folders first; then natural order: symbols, digits, letters, and file2 before file10.
    const names = ['>Alpha/<', '>zeta/<', '>&lt;img', '>100% sure.txt<', '>a&amp;b.txt<', '>b.txt<', '>file2.txt<', '>file10.txt<'];
    const order = names.map((name) => page.indexOf(name));
    assert.ok(!order.includes(-1), `every name is listed: ${order.join(',')}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, `order ${order.join(',')}`);
  });
});

test('the root listing has no parent link, and dotfiles appear with showDotfiles', async () => {
  await withHandler(
    { '.secret': 'x', 'a.txt': 'x' },
    async (_get, _site, answer) => {
      const page = text(await answer('/'));
      assert.ok(!page.includes('href="../"'));
      assert.ok(page.includes('.secret'));
    },
    { showDotfiles: true },
  );
});

test('a folder without index is 404 when listing is off', async () => {
  await withHandler({ 'list/a.txt': 'x' }, (get) => assert.equal(get('/list/').status, 404), { directoryListing: false });
});

test('the handler answers 304 for a matching If-None-Match, including weak and * forms', async () => {
  await withHandler({ 'a.txt': 'hello' }, (get) => {
    const first = get('/a.txt');
    const etag = String(header(first, 'ETag'));
    for (const value of [etag, `W/${etag}`, `"x", ${etag}`, '*']) {
      const response = get('/a.txt', { headers: { 'if-none-match': value } });
      assert.equal(response.status, 304, value);
      assert.equal(response.body, undefined);
      assert.equal(header(response, 'ETag'), etag);
      assert.equal(header(response, 'Cache-Control'), 'no-cache');
      assert.equal(header(response, 'Last-Modified'), header(first, 'Last-Modified'));
    }
    assert.equal(get('/a.txt', { headers: { 'if-none-match': '"other"' } }).status, 200);
  });
});

test('the handler answers 304 for If-Modified-Since only without If-None-Match', async () => {
  await withHandler({ 'a.txt': 'hello' }, (get) => {
    const lastModified = String(header(get('/a.txt'), 'Last-Modified'));
    assert.equal(get('/a.txt', { headers: { 'if-modified-since': lastModified } }).status, 304);
    const past = new Date(Date.parse(lastModified) - 5000).toUTCString();
    assert.equal(get('/a.txt', { headers: { 'if-modified-since': past } }).status, 200);
    const both = { 'if-modified-since': lastModified, 'if-none-match': '"other"' };
    assert.equal(get('/a.txt', { headers: both }).status, 200);
  });
});

test('a file modified in the future is sent with a Last-Modified of now, so a change to it is never answered 304', async () => {
  await withHandler({ 'future.txt': 'version-1' }, (get, site) => {
    const in2030 = new Date(Date.UTC(2030, 0, 1));
    utimesSync(site.path('future.txt'), in2030, in2030);
    const first = get('/future.txt');
    const lastModified = Date.parse(String(header(first, 'Last-Modified')));
    assert.ok(lastModified <= Date.now(), `Last-Modified ${String(header(first, 'Last-Modified'))} is not in the future`);
    // wget -N and curl -z send the file's date they got; the file then changes (its time now).
    writeFileSync(site.path('future.txt'), 'version-2!');
    const changed = get('/future.txt', { headers: { 'if-modified-since': in2030.toUTCString() } });
    assert.equal(changed.status, 200, 'an If-Modified-Since in the future is ignored');
    assert.equal(text(changed), 'version-2!');
  });
});

test('answers that depend on Sec-Fetch-Dest and Accept say so in Vary: error pages and their text, listings, and a large page live reload would rewrite', async () => {
  const big = `<!doctype html><title>big</title>${'<p>line</p>'.repeat(40_000)}`;
  await withHandler(
    { 'folder/a.txt': 'a', 'big.html': big },
    async (get, _site, answer) => {
      const page = { headers: { 'sec-fetch-dest': 'document', accept: 'text/html' } };
      assert.equal(header(get('/missing.txt', page), 'Vary'), 'Sec-Fetch-Dest, Accept', 'the 404 page');
      assert.equal(header(get('/missing.css', { headers: { 'sec-fetch-dest': 'style' } }), 'Vary'), 'Sec-Fetch-Dest, Accept', 'the 404 text');
      assert.equal(header(await answer('/folder/', page), 'Vary'), 'Sec-Fetch-Dest, Accept', 'a listing');
      const script = get('/big.html', { headers: { 'sec-fetch-dest': 'empty' } });
      assert.equal(text(script).length, big.length, 'a fetch() gets the page as it is');
      assert.equal(header(script, 'Vary'), 'Sec-Fetch-Dest, Accept', 'the large page a navigation gets rewritten');
    },
    { htmlRewriter: markerRewriter([]) },
  );
});

test('the handler never serves a cached file stale after a same-size rewrite', async () => {
  await withHandler({ 'a.html': 'version 1' }, (get, site) => {
    const first = get('/a.html');
    assert.equal(text(first), 'version 1');
    writeFileSync(site.path('a.html'), 'version 2');
    const second = get('/a.html');
    assert.equal(text(second), 'version 2');
    assert.notEqual(header(second, 'ETag'), header(first, 'ETag'));
    const revalidated = get('/a.html', { headers: { 'if-none-match': String(header(first, 'ETag')) } });
    assert.equal(revalidated.status, 200, 'the old validator no longer matches');
    for (let i = 0; i < 20; i++) {
      const content = `version ${String.fromCharCode(65 + i)}`;
      writeFileSync(site.path('a.html'), content);
      assert.equal(text(get('/a.html')), content);
    }
  });
});

test('the handler notices a deleted file and a file replaced by a folder', async () => {
  await withHandler({ 'a.txt': 'a', 'b': 'b' }, (get, site) => {
    assert.equal(get('/a.txt').status, 200);
    assert.equal(get('/b').status, 200);
    rmSync(site.path('a.txt'));
    rmSync(site.path('b'));
    site.write('b/index.html', 'folder now');
    assert.equal(get('/a.txt').status, 404);
    assert.equal(get('/b').status, 301);
  });
});

test('a path found missing is shared within a turn of the event loop and looked up again in the next: a file created after a 404 is served', async () => {
  await withHandler({ 'a.txt': 'a' }, async (get, site) => {
    // Requests of one poll phase arrived before it began, so they may share what it found. A
    // turn also ends after 1 ms (MAX_TURN_MS in turn.ts), which a loaded machine can take
    // between the two requests: then that attempt shows nothing, and the next one is tried.
    let shared = 0;
    for (let attempt = 0; attempt < 20 && shared === 0; attempt++) {
      rmSync(site.path('new.txt'), { force: true });
      await new Promise((resolve) => setImmediate(resolve));
      const started = performance.now();
      assert.equal(get('/new.txt').status, 404);
      site.write('new.txt', 'created');
      const status = get('/new.txt').status;
      if (performance.now() - started >= 1) continue;
      assert.equal(status, 404, 'the same turn shares the lookup');
      shared++;
    }
    assert.equal(shared, 1, 'no attempt in 20 had its two requests within 1 ms: the machine is too loaded to show a shared turn');
    await new Promise((resolve) => setImmediate(resolve));
    const later = get('/new.txt');
    assert.equal(later.status, 200);
    assert.equal(text(later), 'created');
    rmSync(site.path('new.txt'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(get('/new.txt').status, 404);
  });
});

test('a cached index.html disappears from / when it is deleted', async () => {
  await withHandler({ 'index.html': 'home', 'a.txt': 'x' }, async (get, site, answer) => {
    assert.equal(text(get('/')), 'home');
    rmSync(site.path('index.html'));
    assert.ok(text(await answer('/')).includes('Index of /'));
  });
});

test('the handler answers ranges with 206, 416 and ignores malformed or multiple ranges', async () => {
  await withHandler({ 'd.txt': '0123456789' }, (get) => {
    const range = (value: string): Response => get('/d.txt', { headers: { range: value } });
    const cases: Array<[string, string, string]> = [
      ['bytes=2-4', '234', 'bytes 2-4/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=5-100', '56789', 'bytes 5-9/10'],
    ];
    for (const [value, body, contentRange] of cases) {
      const response = range(value);
      assert.equal(response.status, 206, value);
      assert.equal(text(response), body, value);
      assert.equal(header(response, 'Content-Range'), contentRange);
    }
    const unsatisfiable = range('bytes=10-');
    assert.equal(unsatisfiable.status, 416);
    assert.equal(header(unsatisfiable, 'Content-Range'), 'bytes */10');
    for (const value of ['bytes=0-1,4-5', 'bytes=x-y', 'lines=1-2', 'bytes=4-2']) {
      assert.equal(range(value).status, 200, value);
      assert.equal(text(range(value)), '0123456789');
    }
    assert.equal(get('/d.txt', { method: 'HEAD', headers: { range: 'bytes=2-4' } }).status, 200, 'HEAD ignores Range');
  });
});

test('If-Range with the current ETag or date honours the range, anything else sends everything', async () => {
  await withHandler({ 'd.txt': '0123456789' }, (get) => {
    const full = get('/d.txt');
    const etag = String(header(full, 'ETag'));
    const date = String(header(full, 'Last-Modified'));
    const withIfRange = (value: string): Response => get('/d.txt', { headers: { range: 'bytes=0-1', 'if-range': value } });
    assert.equal(withIfRange(etag).status, 206);
    assert.equal(withIfRange(date).status, 206);
    assert.equal(withIfRange('"stale"').status, 200);
    assert.equal(withIfRange(`W/${etag}`).status, 200, 'weak tags never match If-Range');
    assert.equal(withIfRange(new Date(Date.parse(date) - 1000).toUTCString()).status, 200);
  });
});

test('the handler compresses text over 1 KiB with brotli or gzip and caches the result', async () => {
  const css = 'body { color: red; }\n'.repeat(200);
  await withHandler({ 'a.css': css, 'small.css': 'b{}', 'p.png': Buffer.alloc(4096, 1) }, (get) => {
    const br = get('/a.css', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(header(br, 'Content-Encoding'), 'br');
    assert.equal(header(br, 'Vary'), 'Accept-Encoding');
    assert.equal(brotliDecompressSync(bodyBytes(br.body)).toString(), css);
    const gzip = get('/a.css', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(header(gzip, 'Content-Encoding'), 'gzip');
    assert.equal(gunzipSync(bodyBytes(gzip.body)).toString(), css);
    const identity = get('/a.css');
    assert.equal(header(identity, 'Content-Encoding'), undefined);
    assert.equal(header(identity, 'Vary'), 'Accept-Encoding');
    const tags = new Set([br, gzip, identity].map((r) => header(r, 'ETag')));
    assert.equal(tags.size, 3, 'each coding has its own validator');
    assert.equal(get('/a.css', { headers: { 'accept-encoding': 'br' } }).body, br.body, 'compressed once');
    const ranged = get('/a.css', { headers: { 'accept-encoding': 'br', range: 'bytes=0-9' } });
    assert.equal(ranged.status, 206);
    assert.equal(header(ranged, 'Content-Encoding'), undefined, 'ranges are of the identity bytes');
    const small = get('/small.css', { headers: { 'accept-encoding': 'br' } });
    assert.equal(header(small, 'Content-Encoding'), undefined);
    assert.equal(header(small, 'Vary'), undefined);
    assert.equal(header(get('/p.png', { headers: { 'accept-encoding': 'br' } }), 'Content-Encoding'), undefined);
  });
});

test('every path to one file shares its cached bytes and compressed variants', async () => {
  const js = 'export const answer = 42;\n'.repeat(200);
  const html = `<p>${'hello '.repeat(300)}</p>`;
  await withHandler({ 'app.js': js, 'docs/index.html': html }, (get, site) => {
    site.symlink('alias.js', 'app.js', 'file');
    const br = { headers: { 'accept-encoding': 'br' } };
    const first = get('/app.js', br);
    assert.equal(header(first, 'Content-Encoding'), 'br');
    for (const spelling of ['/%61pp.js', '/app%2Ejs', '/alias.js']) {
      const response = get(spelling, br);
      assert.equal(response.status, 200, spelling);
      assert.equal(response.body, first.body, `${spelling} is answered with the bytes compressed for /app.js`);
    }
    assert.equal(get('//app.js', br).status, 301, 'a spelling with an empty segment is redirected, not cached');
    const gzip = { headers: { 'accept-encoding': 'gzip' } };
    assert.equal(get('/docs/', gzip).body, get('/docs/index.html', gzip).body, 'a folder and its index file share one version');
  });
});

test('a 304 for a compressed variant matches its own tag', async () => {
  await withHandler({ 'a.js': 'console.log(1);\n'.repeat(200) }, (get) => {
    const headers = { 'accept-encoding': 'gzip' };
    const etag = String(header(get('/a.js', { headers }), 'ETag'));
    const response = get('/a.js', { headers: { ...headers, 'if-none-match': etag } });
    assert.equal(response.status, 304);
    assert.equal(header(response, 'Vary'), 'Accept-Encoding');
  });
});

test('files over the cache limit are answered with a file body, ranges included', async () => {
  const big = Buffer.alloc(512 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  await withHandler({ 'big.bin': big, 'big.html': `<p>${'x'.repeat(400 * 1024)}</p>` }, (get) => {
    const response = get('/big.bin');
    const fileBody = (body: Response['body']): object => ({ ...(body as object), fd: typeof (body as { fd?: unknown }).fd });
    assert.deepEqual(fileBody(response.body), { kind: 'file', fd: 'number', start: 0, end: big.length - 1 });
    assert.ok(bodyBytes(response.body).equals(big));
    assert.equal(header(response, 'Content-Type'), 'application/octet-stream');
    const ranged = get('/big.bin', { headers: { range: 'bytes=1000-1999' } });
    assert.deepEqual(fileBody(ranged.body), { kind: 'file', fd: 'number', start: 1000, end: 1999 });
    assert.ok(bodyBytes(ranged.body).equals(big.subarray(1000, 2000)));
    const etag = String(header(response, 'ETag'));
    assert.equal(get('/big.bin', { headers: { 'if-none-match': etag } }).status, 304);
    const html = get('/big.html', { headers: { 'accept-encoding': 'br' } });
    assert.equal((html.body as { kind?: string }).kind, 'file', 'large files are not compressed');
  });
});

test('an empty file is served with an empty body', async () => {
  await withHandler({ 'empty.txt': '' }, (get) => {
    const response = get('/empty.txt');
    assert.equal(response.status, 200);
    assert.equal(bodyBytes(response.body).length, 0);
  });
});

test('a symlink out of the root is 404 while one inside the root is served', async () => {
  await withHandler({ 'a/b.txt': 'inside' }, (get, site) => {
    writeFileSync(`${site.base}/secret.txt`, 'secret');
    site.symlink('out.txt', `${site.base}/secret.txt`, 'file');
    site.symlink('in.txt', 'a/b.txt', 'file');
    assert.equal(get('/out.txt').status, 404);
    assert.equal(text(get('/in.txt')), 'inside');
  });
});

test('a retargeted symlink is not served from the cache', async () => {
  await withHandler({ 'a.txt': 'A', 'b.txt': 'B' }, (get, site) => {
    site.symlink('link.txt', 'a.txt', 'file');
    assert.equal(text(get('/link.txt')), 'A');
    rmSync(site.path('link.txt'));
    site.symlink('link.txt', 'b.txt', 'file');
    assert.equal(text(get('/link.txt')), 'B');
    rmSync(site.path('link.txt'));
    writeFileSync(`${site.base}/secret.txt`, 'S');
    site.symlink('link.txt', `${site.base}/secret.txt`, 'file');
    assert.equal(get('/link.txt').status, 404);
  });
});

test('a cached file whose folder moves out of the root and is linked back is not served from memory', async () => {
  await withHandler({ 'dir/a.txt': 'A' }, async (get, site) => {
    site.symlink('alias', 'dir', 'dir');
    assert.equal(text(get('/dir/a.txt')), 'A');
    assert.equal(text(get('/alias/a.txt')), 'A', 'a link inside the root is followed');
    // The same file, unchanged, now reached through a link that leaves the root.
    renameSync(site.path('dir'), `${site.base}/moved-out`);
    site.symlink('dir', `${site.base}/moved-out`, 'dir');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(get('/dir/a.txt').status, 404, 'a path that had no link');
    assert.equal(get('/alias/a.txt').status, 404, 'a path that had a link inside the root');
  });
});

/** Appends a marker and records calls, like live reload's injector. */
function markerRewriter(calls: string[]): HtmlRewriter {
  return {
    applies: (request: Request) => request.headers.get('sec-fetch-dest') === 'document',
    rewrite: (html: Buffer, urlPath: string) => {
      calls.push(urlPath);
      return Buffer.concat([html, Buffer.from(`<!--reload ${urlPath}-->`)]);
    },
    etagSuffix: '-lr',
  };
}

test('the HTML rewriter changes documents for navigations only, with its own ETag', async () => {
  const calls: string[] = [];
  const html = `<p>${'hello '.repeat(300)}</p>`;
  await withHandler(
    { 'docs/index.html': html, 'style.css': 'x' },
    (get) => {
      const navigation = { 'sec-fetch-dest': 'document', 'accept-encoding': 'gzip' };
      const rewritten = get('/docs/', { headers: navigation });
      assert.equal(gunzipSync(bodyBytes(rewritten.body)).toString(), `${html}<!--reload /docs/-->`);
      assert.match(String(header(rewritten, 'ETag')), /-lr-gz"$/);
      const plain = get('/docs/', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gunzipSync(bodyBytes(plain.body)).toString(), html);
      assert.doesNotMatch(String(header(plain, 'ETag')), /-lr/);
      get('/docs/', { headers: navigation });
      assert.deepEqual(calls, ['/docs/'], 'rewritten once per file version');
      const ranged = get('/docs/', { headers: { 'sec-fetch-dest': 'document', range: 'bytes=-8' } });
      assert.equal(text(ranged), 'docs/-->', 'ranges apply to the rewritten bytes');
      assert.equal(text(get('/style.css', { headers: navigation })), 'x', 'only HTML is rewritten');
      assert.ok(text(get('/missing', { headers: navigation })).endsWith('<!--reload /missing-->'));
    },
    { htmlRewriter: markerRewriter(calls) },
  );
});

test('the HTML rewriter gets the request path as sent, so relative URLs match what the browser resolves', async () => {
  const calls: string[] = [];
  await withHandler(
    { 'a b/index.html': '<p>x</p>', 'x%2Fy.html': '<p>y</p>' },
    (get) => {
      const navigation = { headers: { 'sec-fetch-dest': 'document' } };
      assert.equal(get('/a%20b/', navigation).status, 200);
      assert.equal(get('/x%252Fy.html', navigation).status, 200);
      assert.equal(get('/a%20b/nothing', navigation).status, 404);
      assert.deepEqual(calls, ['/a%20b/', '/x%252Fy.html', '/a%20b/nothing']);
    },
    { htmlRewriter: markerRewriter(calls) },
  );
});

test('dispose() empties the cache so a new request reads the disk again', async () => {
  const site = createFixtureSite({ 'a.txt': 'a' });
  try {
    const handler = createStaticHandler({ root: site.root, showDotfiles: false, directoryListing: true });
    assert.equal(bodyBytes((handler.handle(fakeRequest('/a.txt')) as Response).body).toString(), 'a');
    handler.dispose();
    site.write('a.txt', 'b');
    assert.equal(bodyBytes((handler.handle(fakeRequest('/a.txt')) as Response).body).toString(), 'b');
  } finally {
    site.remove();
  }
});
