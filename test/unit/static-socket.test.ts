import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { ServerOptions } from '../../src/server/options';
import { exchange, parseResponses, type RawResponse } from './helpers/raw';
import { withServedSite, type ServedSite } from './helpers/serve';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT';

/**
 * Serves a fixture site on a real socket with a secret next to the root and a `site-evil`
 * sibling folder, both outside the root.
 */
function withServer(
  files: Record<string, string | Buffer>,
  run: (served: ServedSite) => Promise<void>,
  options: Partial<ServerOptions> = {},
): Promise<void> {
  return withServedSite(
    files,
    (served) => {
      writeFileSync(join(served.site.base, 'secret.txt'), SECRET);
      mkdirSync(`${served.site.root}-evil`);
      writeFileSync(join(`${served.site.root}-evil`, 'x.txt'), SECRET);
      return run(served);
    },
    options,
  );
}

const SITE = {
  'index.html': '<h1>home</h1>',
  'a/b.txt': 'b',
  'a/.hidden/x': 'hidden',
  '.env': 'SECRET=1',
  '.git/config': '[core]',
};

test('traversal attempts over TCP never leave the root', async () => {
  await withServer(SITE, async ({ request, site }) => {
    site.symlink('out.txt', join(site.base, 'secret.txt'), 'file');
    site.symlink('outdir', site.base, 'dir');
    const targets = [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e%2fsecret.txt',
      '/a/..%5c..%5csecret.txt',
      '/..\\secret.txt',
      '/%00',
      '/a/%00/b.txt',
      '/../site-evil/x.txt',
      '/%2e%2e/site-evil/x.txt',
      '/out.txt',
      '/outdir/secret.txt',
      '/.git/config',
      '/.env',
      '/a/.hidden/x',
      '/a/%2ehidden/x',
    ];
    for (const target of targets) {
      const response = await request(target);
      assert.ok(response.status === 400 || response.status === 404, `${target} answered ${response.status}`);
      assert.ok(!response.body.toString().includes(SECRET), `${target} leaked the secret`);
      assert.ok(!response.body.toString().includes(site.base), `${target} showed a file-system path`);
    }
  });
});

test('a symlink that stays inside the root is served over TCP', async () => {
  await withServer(SITE, async ({ request, site }) => {
    site.symlink('link.txt', 'a/b.txt', 'file');
    const response = await request('/link.txt');
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'b');
  });
});

test('the log gets the absolute path of a missing file while the page does not', async () => {
  await withServer(SITE, async ({ request, records, site }) => {
    const response = await request('/missing.html', 'Sec-Fetch-Dest: document\r\n');
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(!response.body.toString().includes(site.root));
    const record = records.find((r) => r.target === '/missing.html');
    assert.equal(record?.reason, `no file at ${site.path('missing.html')}`);
  });
});

test('ranges over TCP: each form, 416, malformed ignored, If-Range', async () => {
  await withServer({ 'd.txt': '0123456789' }, async ({ request }) => {
    const cases: Array<[string, string, string]> = [
      ['bytes=2-4', '234', 'bytes 2-4/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await request('/d.txt', `Range: ${range}\r\n`);
      assert.equal(response.status, 206, range);
      assert.equal(response.body.toString(), body);
      assert.equal(response.headers.get('content-range'), contentRange);
      assert.equal(response.headers.get('content-length'), String(body.length));
    }
    const unsatisfiable = await request('/d.txt', 'Range: bytes=20-30\r\n');
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers.get('content-range'), 'bytes */10');
    for (const range of ['bytes=0-1,3-4', 'bytes=abc', 'pages=1-2']) {
      const response = await request('/d.txt', `Range: ${range}\r\n`);
      assert.equal(response.status, 200, range);
      assert.equal(response.body.toString(), '0123456789');
    }
    const etag = (await request('/d.txt')).headers.get('etag') ?? '';
    assert.equal((await request('/d.txt', `Range: bytes=0-0\r\nIf-Range: ${etag}\r\n`)).status, 206);
    assert.equal((await request('/d.txt', 'Range: bytes=0-0\r\nIf-Range: "old"\r\n')).status, 200);
  });
});

test('conditional requests over TCP answer 304 both ways, without a body', async () => {
  await withServer({ 'a.txt': 'hello' }, async ({ request }) => {
    const first = await request('/a.txt');
    const etag = first.headers.get('etag') ?? '';
    const lastModified = first.headers.get('last-modified') ?? '';
    for (const extra of [`If-None-Match: ${etag}\r\n`, `If-Modified-Since: ${lastModified}\r\n`]) {
      const response = await request('/a.txt', extra);
      assert.equal(response.status, 304, extra);
      assert.equal(response.body.length, 0);
      assert.equal(response.headers.get('etag'), etag);
      assert.equal(response.headers.get('last-modified'), lastModified);
      assert.equal(response.headers.get('cache-control'), 'no-cache');
    }
  });
});

test('If-Match and If-Unmodified-Since that fail get 412 over TCP, before any 304 or range; a pipelined request after it is answered', async () => {
  await withServer({ 'a.txt': 'hello', 'empty.txt': '', 'big.js': 'let x = 1;\n'.repeat(200) }, async ({ request, port }) => {
    const first = await request('/a.txt');
    const etag = first.headers.get('etag') ?? '';
    for (const extra of ['If-Match: "nope"\r\n', `If-Match: W/${etag}\r\n`, 'If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n', `If-Match: "nope"\r\nIf-None-Match: ${etag}\r\nRange: bytes=0-1\r\n`]) {
      const response = await request('/a.txt', extra);
      assert.equal(response.status, 412, extra);
      assert.equal(response.body.length, 0);
    }
    const compressed = await request('/big.js', 'Accept-Encoding: gzip\r\nIf-Match: "nope"\r\n');
    assert.equal(compressed.status, 412);
    assert.equal(compressed.headers.get('vary'), 'Accept-Encoding', 'the Vary of the 200 it stands for');
    const kept = await request('/a.txt', `If-Match: ${etag}\r\nRange: bytes=0-1\r\n`);
    assert.equal(kept.status, 206);
    assert.equal(kept.body.toString(), 'he');
    assert.equal((await request('/a.txt', 'If-Match: *\r\n')).status, 200);
    assert.equal((await request('/a.txt', 'If-Modified-Since: 2099\r\n')).status, 200, 'not an HTTP-date: ignored');
    const empty = await request('/empty.txt', 'Range: bytes=-5\r\n');
    assert.equal(empty.status, 200, 'a suffix range of an empty file gets the empty whole');
    assert.equal(empty.headers.get('content-length'), '0');
    const raw = 'GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Match: "nope"\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    const [failed, next] = parseResponses(await exchange(port, raw));
    assert.equal(failed?.status, 412);
    assert.equal(next?.status, 200);
    assert.equal(next?.body.toString(), 'hello');
  });
});

test('an edited file is never served stale, even when the size stays the same', async () => {
  await withServer({ 'page.html': '<p>one</p>' }, async ({ request, site }) => {
    const first = await request('/page.html');
    assert.equal(first.body.toString(), '<p>one</p>');
    writeFileSync(site.path('page.html'), '<p>two</p>');
    const second = await request('/page.html');
    assert.equal(second.body.toString(), '<p>two</p>');
    const revalidated = await request('/page.html', `If-None-Match: ${first.headers.get('etag') ?? ''}\r\n`);
    assert.equal(revalidated.status, 200);
    assert.equal(revalidated.body.toString(), '<p>two</p>');
  });
});

test('HEAD over TCP has the same headers as GET and no body', async () => {
  await withServer({ 'a.css': 'b{}'.repeat(1000) }, async ({ request }) => {
    const extra = 'Accept-Encoding: gzip\r\n';
    const viaGet = await request('/a.css', extra);
    const viaHead = await request('/a.css', extra, 'HEAD');
    assert.equal(viaHead.status, 200);
    assert.equal(viaHead.body.length, 0);
    const withoutDate = (r: RawResponse): Array<[string, string]> => [...r.headers].filter(([name]) => name !== 'date');
    assert.deepEqual(withoutDate(viaHead), withoutDate(viaGet));
  });
});

test('a cached file answers every connection form with its own framing, also when sent again', async () => {
  const small = '<p>small</p>';
  const large = 'x'.repeat(20_000);
  await withServer({ 'small.html': small, 'large.txt': large }, async ({ port, request }) => {
    for (const [path, body] of [['/small.html', small], ['/large.txt', large]] as const) {
      // Each form needs a different head; the second round comes from the stored bytes.
      for (let round = 0; round < 2; round++) {
        const pipelined =
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n` +
          `GET ${path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n` +
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
        const responses = parseResponses(await exchange(port, pipelined));
        assert.equal(responses.length, 3, path);
        for (const r of responses) {
          assert.equal(r.status, 200);
          assert.equal(r.body.toString(), body);
          assert.equal(r.headers.get('content-length'), String(body.length));
        }
        assert.deepEqual(responses.map((r) => r.headers.get('connection')), [undefined, 'keep-alive', 'close']);
        const head = await request(path, '', 'HEAD');
        assert.equal(head.headers.get('content-length'), String(body.length));
        assert.equal(head.body.length, 0);
      }
    }
  });
});

test('a cached file served in a new second carries the new Date', async () => {
  await withServer({ 'page.html': '<p>one</p>' }, async ({ request }) => {
    const first = await request('/page.html');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await request('/page.html');
    assert.notEqual(second.headers.get('date'), first.headers.get('date'));
  });
});

test('folders over TCP: index.htm fallback, redirect without slash, escaped listing', async () => {
  const files = {
    'old/index.htm': 'htm',
    'list/<img src=x onerror=alert(1)>.html': 'x',
    'list/a&b.txt': 'x',
    'list/100% sure.txt': 'x',
  };
  await withServer(files, async ({ request }) => {
    assert.equal((await request('/old/')).body.toString(), 'htm');
    const redirect = await request('/old?x=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), 'old/?x=1');
    const listing = (await request('/list/')).body.toString();
    assert.ok(!listing.includes('<img'));
    assert.ok(listing.includes('&lt;img src=x onerror=alert(1)&gt;.html'));
    assert.ok(listing.includes('href="./a%26b.txt"'));
    assert.ok(listing.includes('href="./100%25%20sure.txt"'));
    assert.equal((await request('/list/100%25%20sure.txt')).body.toString(), 'x');
  });
});

test('a path with empty or . segments is redirected to its one spelling, keeping the query', async () => {
  await withServer({ 'app.js': 'app', 'sub/file.txt': 'file', 'sub/index.html': 'index' }, async ({ request }) => {
    const cases: Array<[target: string, location: string, lands: string]> = [
      ['//app.js', '../app.js', '/app.js'],
      ['/./app.js?v=1', '../app.js?v=1', '/app.js?v=1'],
      ['/%2e/app.js', '../app.js', '/app.js'],
      ['/sub//file.txt', '../../sub/file.txt', '/sub/file.txt'],
      ['/sub/./file.txt', '../../sub/file.txt', '/sub/file.txt'],
      ['/sub/.', '../sub/', '/sub/'],
      ['/sub/./', '../../sub/', '/sub/'],
      ['//', '../', '/'],
      ['/.', './', '/'],
    ];
    for (const [target, location, lands] of cases) {
      const response = await request(target);
      assert.equal(response.status, 301, target);
      assert.equal(response.headers.get('location'), location, target);
      // Resolved against the path as sent, by the rules of RFC 3986 section 5.2 (here WHATWG URL).
      const landed = new URL(location, `http://127.0.0.1${target}`);
      assert.equal(landed.pathname + landed.search, lands, target);
      assert.equal((await request(lands)).status, 200, lands);
    }
    assert.equal((await request('/sub/../app.js')).status, 400, 'a .. segment stays refused');
  });
});

test('an encoded slash or backslash in a path is refused with 400, never decoded into a separator', async () => {
  await withServer({ 'sub/file.txt': 'file' }, async ({ request, records }) => {
    assert.equal((await request('/sub/file.txt')).body.toString(), 'file');
    for (const target of ['/sub%2ffile.txt', '/sub%2Ffile.txt', '/sub%5cfile.txt', '/sub%5Cfile.txt']) {
      const response = await request(target);
      assert.equal(response.status, 400, target);
      assert.ok(!response.body.toString().includes('file.txt'), `${target} shows no file`);
    }
    const reasons = records.filter((record) => record.status === 400).map((record) => record.reason);
    assert.deepEqual(reasons, [
      'path contains an encoded slash (%2F)',
      'path contains an encoded slash (%2F)',
      'path contains a backslash',
      'path contains a backslash',
    ]);
  });
});

test('other methods over TCP get 405 with Allow', async () => {
  await withServer(SITE, async ({ request }) => {
    const response = await request('/index.html', 'Content-Length: 0\r\n', 'DELETE');
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD');
  });
});

test('gzip and brotli bodies over TCP decode to the file', async () => {
  const js = 'export const answer = 42;\n'.repeat(300);
  await withServer({ 'app.js': js }, async ({ request }) => {
    const br = await request('/app.js', 'Accept-Encoding: gzip, br\r\n');
    assert.equal(br.headers.get('content-encoding'), 'br');
    assert.equal(br.headers.get('vary'), 'Accept-Encoding');
    assert.equal(brotliDecompressSync(br.body).toString(), js);
    const gzip = await request('/app.js', 'Accept-Encoding: gzip\r\n');
    assert.equal(gzip.headers.get('content-encoding'), 'gzip');
    assert.equal(gunzipSync(gzip.body).toString(), js);
    assert.ok(gzip.body.length < js.length / 5);
  });
});

test('a 50 MiB file is streamed whole and byte for byte', async () => {
  const size = 50 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7) % 256;
  const expected = createHash('sha256');
  await withServer({}, async ({ request, site }) => {
    const fd = openSync(site.path('big.bin'), 'w');
    try {
      for (let written = 0; written < size; written += chunk.length) {
        chunk[0] = written / chunk.length;
        writeSync(fd, chunk);
        expected.update(chunk);
      }
    } finally {
      closeSync(fd);
    }
    const response = await request('/big.bin', 'Accept-Encoding: gzip, br\r\n');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(size));
    assert.equal(response.headers.get('content-encoding'), undefined);
    assert.equal(response.body.length, size);
    assert.equal(createHash('sha256').update(response.body).digest('hex'), expected.digest('hex'));
    const tail = await request('/big.bin', 'Range: bytes=-5\r\n');
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes ${size - 5}-${size - 1}/${size}`);
  });
});

test('with live reload, a page names what decides whether it gets the client in Vary: on a navigation, a fetch(), HEAD and 304; other files and a server without it do not', async () => {
  const big = `<!doctype html><html><head><title>t</title></head><body>${'<p>compressible text</p>'.repeat(200)}</body></html>`;
  const files = { 'page.html': '<!doctype html><p>small page</p>', 'big.html': big, 'site.css': 'p { color: red; }' };
  const navigation = 'Sec-Fetch-Dest: document\r\nAccept: text/html\r\n';
  await withServedSite(files, async ({ request }) => {
    const page = await request('/page.html', navigation);
    assert.match(page.body.toString(), /\.tiny-server\/reload/, 'the navigation got the client');
    assert.equal(page.headers.get('vary'), 'Sec-Fetch-Dest, Accept');
    const fetched = await request('/page.html', 'Sec-Fetch-Dest: empty\r\nAccept: */*\r\n');
    assert.doesNotMatch(fetched.body.toString(), /\.tiny-server\/reload/);
    assert.equal(fetched.headers.get('vary'), 'Sec-Fetch-Dest, Accept', 'the same Vary on both variants');
    assert.equal((await request('/page.html', navigation, 'HEAD')).headers.get('vary'), 'Sec-Fetch-Dest, Accept');
    const notModified = await request('/page.html', `${navigation}If-None-Match: ${page.headers.get('etag') ?? ''}\r\n`);
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('vary'), 'Sec-Fetch-Dest, Accept');
    assert.equal((await request('/big.html', `${navigation}Accept-Encoding: br\r\n`)).headers.get('vary'), 'Sec-Fetch-Dest, Accept, Accept-Encoding');
    assert.equal((await request('/site.css')).headers.get('vary'), undefined);
  }, { liveReload: true });
  await withServedSite(files, async ({ request }) => {
    assert.equal((await request('/page.html', navigation)).headers.get('vary'), undefined);
  });
});
