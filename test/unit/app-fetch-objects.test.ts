import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { fetchUrl } from '../../src/server/app/lazy-request';
import { bridgeProcesses, folderWith } from './helpers/app';
import { exchange, get, open, parseResponses, type RawResponse } from './helpers/raw';
import { waitFor, withLogged, type LoggedServer } from './helpers/server';

/*
 * The Fetch bridge's own Request and Response (lazy-request.ts, light-response.ts): to the app
 * they must be the standard's objects in every way it can look at them.
 */

const close = 'Connection: close\r\n';

async function request(port: number, raw: string): Promise<RawResponse> {
  const [response] = parseResponses(await exchange(port, raw, 10_000), raw.startsWith('HEAD') ? 1 : 0);
  assert.ok(response, 'a response');
  return response;
}

const json = (response: RawResponse): unknown => JSON.parse(response.body.toString());

const OBJECTS = String.raw`
import { inspect } from 'node:util';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const json = (value) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
const errorName = (make) => { try { make(); return 'none'; } catch (e) { return e.constructor.name; } };
class Created extends Response {
  constructor(value) { super(JSON.stringify(value), { headers: { 'content-type': 'application/json' } }); }
  get status() { return 201; }
}
const routes = {
  facts(request) {
    const rebuilt = new Request(request, { headers: { 'x-agent': 'rebuilt' } });
    return json({
      isRequest: request instanceof Request, tag: Object.prototype.toString.call(request), constructor: request.constructor === Request,
      method: request.method, url: request.url, agent: request.headers.get('x-agent'),
      signal: request.signal instanceof AbortSignal && !request.signal.aborted, body: request.body, bodyUsed: request.bodyUsed,
      cache: request.cache, inspected: inspect(request).includes(request.url),
      rebuilt: [rebuilt instanceof Request, rebuilt.method, rebuilt.url, rebuilt.headers.get('x-agent')],
    });
  },
  async read(request) {
    const copy = request.clone();
    const body = await request.text();
    return json({ body, copy: await copy.text(), used: request.bodyUsed, stream: request.body instanceof ReadableStream });
  },
  async forward(request) {
    if (request.headers.get('x-hop') === 'yes') return json({ hop: true, method: request.method, body: await request.text() });
    request.headers.set('x-hop', 'yes');
    const answer = await fetch(request);
    return new Response(answer.body, { status: answer.status, headers: { 'content-type': 'application/json' } });
  },
  async late(request) {
    await sleep(300);
    console.log('late signal aborted: ' + request.signal.aborted);
    return new Response('late');
  },
  bytes() {
    const bytes = new TextEncoder().encode('0123456789');
    const response = new Response(bytes.subarray(2, 8));
    bytes.fill(120);
    return response;
  },
  arrayBuffer() {
    const buffer = new TextEncoder().encode('array buffer').buffer;
    const response = new Response(buffer);
    new Uint8Array(buffer).fill(33);
    return response;
  },
  text() { return new Response('h\u00e9llo'); },
  big() { return new Response('x'.repeat(3_000_000)); },
  plain() { return new Response('plain', { status: 202, statusText: 'Taken', headers: { 'X-Mixed-Case': '  padded\t', Connection: 'close', 'Keep-Alive': 'timeout=9', 'Set-Cookie': 'a=1' } }); },
  changed() {
    const response = new Response('changed', { headers: { 'x-first': '1' } });
    response.headers.append('set-cookie', 'a=1');
    response.headers.append('set-cookie', 'b=2');
    response.headers.set('x-later', 'yes');
    return response;
  },
  subclass() {
    const probe = new Created({});
    return new Created({
      response: probe instanceof Response, created: probe instanceof Created, plain: new Response('') instanceof Created,
      native: Response.json(1) instanceof Response, ok: probe.ok, type: probe.headers.get('content-type'),
    });
  },
  async readFirst() {
    const response = new Response('read first', { headers: { 'x-read': 'yes' } });
    const text = await response.clone().text();
    return new Response(text + ' / ' + (await new Response('again').text()) + ' / ' + inspect(new Response('x')).includes('status: 200'));
  },
  headersAfterReal(request) {
    void request.cache;
    request.headers.set('x-added', 'after');
    return json({ copy: new Request(request).headers.get('x-added'), clone: request.clone().headers.get('x-added'), seen: request.headers.get('x-added') });
  },
  passthrough(request) { return fetch('http://127.0.0.1:' + new URL(request.url).searchParams.get('port') + '/'); },
  async usedText() { const response = new Response('read already'); await response.text(); return response; },
  async usedStream() { const response = new Response(new Blob(['read already'])); await response.arrayBuffer(); return response; },
  locked() { const response = new Response(new Blob(['being read'])); response.body.getReader(); return response; },
  controlInField() { return new Response('x', { headers: { 'x-ctl': 'a\x01b' } }); },
  controlInPlainField() { return new Response(new Blob(['x']), { headers: new Headers([['x-ctl', 'a\x7fb']]) }); },
  invalid() {
    return json([
      errorName(() => new Response('body', { status: 204 })),
      errorName(() => new Response(null, { status: 99 })),
      errorName(() => new Response('x', { statusText: 'bad\n' })),
      errorName(() => new Response('x', { headers: { 'bad name': 'x' } })),
      errorName(() => new Response('x', { headers: { 'x-split': 'a\nb' } })),
      errorName(() => new Response(null, { status: 204 })),
    ]);
  },
};
export default {
  fetch(request) {
    const name = new URL(request.url).pathname.slice(1);
    return (routes[name] ?? (() => new Response('no route ' + name, { status: 404 })))(request);
  },
};
`;

async function withObjects(run: (logged: LoggedServer, lines: string[]) => Promise<void>): Promise<void> {
  const folder = folderWith({ 'objects.mjs': OBJECTS });
  const lines: string[] = [];
  try {
    await withLogged({ root: folder.dir, app: 'objects.mjs', appLog: (line) => lines.push(line) }, (logged) => run(logged, lines));
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Node bridge process is left behind');
  } finally {
    folder.remove();
  }
}

test('the app\'s Request is a Request: instanceof, method, URL, fields, signal, inspect, and new Request(request) builds a real one', async () => {
  await withObjects(async ({ server }) => {
    const port = server.port;
    const facts = json(await request(port, `GET /facts?q=1 HTTP/1.1\r\nHost: LocalHost:${port}\r\nX-Agent: test\r\n${close}\r\n`));
    assert.deepEqual(facts, {
      isRequest: true, tag: '[object Request]', constructor: true, method: 'GET', url: `http://localhost:${port}/facts?q=1`, agent: 'test',
      signal: true, body: null, bodyUsed: false, cache: 'default', inspected: true,
      rebuilt: [true, 'GET', `http://localhost:${port}/facts?q=1`, 'rebuilt'],
    });
  });
});

test('the app\'s Request body can be read, cloned and forwarded with fetch(request), with the fields the app changed', async () => {
  await withObjects(async ({ server }) => {
    const port = server.port;
    const body = 'a body '.repeat(1000);
    const post = (path: string): string => `POST /${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${body.length}\r\n${close}\r\n${body}`;
    assert.deepEqual(json(await request(port, post('read'))), { body, copy: body, used: true, stream: true });
    const forwarded = await request(port, post('forward'));
    assert.equal(forwarded.status, 200, forwarded.body.toString());
    assert.deepEqual(json(forwarded), { hop: true, method: 'POST', body });
  });
});

test('request.signal read after the client left is already aborted', async () => {
  await withObjects(async ({ server }, lines) => {
    assert.equal((await request(server.port, get('/text', close))).status, 200, 'the app has started');
    const socket = await open(server.port);
    socket.write(get('/late'));
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await waitFor(() => lines.some((l) => l.includes('late signal aborted')), 5000, 'the app to read its signal');
    assert.ok(lines.some((l) => l.includes('stdout: late signal aborted: true')), JSON.stringify(lines));
  });
});

test('a Response of bytes, an ArrayBuffer or a string sends what it held when made, with the standard\'s Content-Type; a HEAD gets its length', async () => {
  await withObjects(async ({ server }) => {
    const port = server.port;
    const bytes = await request(port, get('/bytes', close));
    assert.equal(bytes.body.toString(), '234567', 'the bytes as they were when the Response was made');
    assert.equal(bytes.headers.get('content-type'), undefined, 'bytes have no type');
    assert.equal((await request(port, get('/arrayBuffer', close))).body.toString(), 'array buffer');
    const text = await request(port, get('/text', close));
    assert.equal(text.body.toString(), 'h\u00e9llo');
    assert.equal(text.headers.get('content-type'), 'text/plain;charset=UTF-8');
    const head = await request(port, `HEAD /text HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`);
    assert.equal(head.headers.get('content-length'), '6');
    assert.equal(head.body.length, 0);
    const big = await request(port, get('/big', close));
    assert.equal(big.body.length, 3_000_000, 'a body larger than the credit window arrives whole');
    assert.ok(big.body.every((byte) => byte === 120));
  });
});

test('a Response\'s fields: a plain object is trimmed and lower-cased, hop-by-hop fields dropped, changes through headers kept, each Set-Cookie whole', async () => {
  await withObjects(async ({ server }) => {
    const port = server.port;
    const raw = (await exchange(port, get('/plain', close), 10_000)).toString('latin1');
    assert.match(raw, /^HTTP\/1\.1 202 /);
    assert.match(raw, /\r\nx-mixed-case: padded\r\n/);
    assert.match(raw, /\r\nset-cookie: a=1\r\n/);
    assert.equal(raw.match(/^connection: /gim)?.length, 1, 'only the server\'s own Connection field');
    assert.doesNotMatch(raw, /keep-alive/i, 'no Keep-Alive field from the app');
    const changed = (await exchange(port, get('/changed', close), 10_000)).toString('latin1');
    assert.deepEqual(changed.match(/^(x-first|x-later|set-cookie): .*$/gim), ['x-first: 1', 'x-later: yes', 'set-cookie: a=1', 'set-cookie: b=2']);
    assert.match(changed, /changed$/);
  });
});

test('a subclass of Response is sent through its own getters; instanceof holds for it, for the app\'s Responses and for undici\'s', async () => {
  await withObjects(async ({ server }) => {
    const created = await request(server.port, get('/subclass', close));
    assert.equal(created.status, 201, 'the subclass\'s own status getter');
    assert.deepEqual(json(created), { response: true, created: true, plain: false, native: true, ok: true, type: 'application/json' });
  });
});

test('a Response the app read or cloned still sends its body; invalid statuses and fields throw in the app as undici\'s do', async () => {
  await withObjects(async ({ server }) => {
    assert.equal((await request(server.port, get('/readFirst', close))).body.toString(), 'read first / again / true');
    assert.deepEqual(json(await request(server.port, get('/invalid', close))), ['TypeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError', 'none']);
  });
});

test('a field set after the real Request was built (a getter it delegates, a log of it) reaches new Request(request) and clone()', async () => {
  await withObjects(async ({ server }) => {
    assert.deepEqual(json(await request(server.port, get('/headersAfterReal', close))), { copy: 'after', clone: 'after', seen: 'after' });
  });
});

test('an app that returns fetch(upstream) of a gzip answer sends the body fetch() decoded, without the Content-Encoding and Content-Length of the encoded one', async () => {
  const text = 'decoded by fetch\n'.repeat(400);
  const encoded = gzipSync(text);
  const upstream = createServer((socket) => {
    socket.once('data', () => socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: ${encoded.length}\r\nX-Upstream: yes\r\nConnection: close\r\n\r\n`), encoded])));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  try {
    await withObjects(async ({ server }) => {
      const answer = await request(server.port, get(`/passthrough?port=${(upstream.address() as AddressInfo).port}`, close));
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('content-encoding'), undefined);
      assert.equal(answer.headers.get('x-upstream'), 'yes');
      assert.equal(answer.body.toString(), text, 'the whole body, decoded');
    });
  } finally {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});

test('a Response whose body the app already read, or is reading, is a 500 saying so, not an empty 200; a field with a control character is a 502, not sent', async () => {
  await withObjects(async ({ server }) => {
    for (const route of ['/usedText', '/usedStream', '/locked']) {
      const answer = await request(server.port, get(route, close));
      assert.equal(answer.status, 500, route);
      assert.match(answer.body.toString(), /whose body was already read, or is being read/, route);
    }
    for (const route of ['/controlInField', '/controlInPlainField']) {
      const answer = await request(server.port, get(route, close));
      assert.equal(answer.status, 502, route);
      assert.equal(answer.headers.get('x-ctl'), undefined, route);
    }
    assert.equal((await request(server.port, get('/readFirst', close))).status, 200, 'the next request is answered');
  });
});

test('fetchUrl() gives the URL new URL() would, also for targets it does not pass through as they are, with raw bytes encoded as bytes, and none for a Host with a path or credentials', () => {
  const targets = [
    '/', '/a/b?c=d&e', '/with%20space?q=%zz', '/a/./b', '/a/../b', '/a/%2e%2E/b', '/a/.well-known/x', '/..', '/a/b/.', '/x?/../y',
    '/sp ace', '/q?it\'s', '/p\'s', '/back\\slash', '/{braces}', '/caf\u00e9', '/x?y=\u00e9', '//double', '/a?b?c', '/tilde~_-.!$&()*+,;=:@',
  ];
  // A target is latin-1 text, a character per byte received: a byte above 0x7f is that byte
  // percent-encoded (`\u00e9` is the byte E9, %E9), never the UTF-8 of its character.
  const asBytes = (target: string): string => target.replace(/[\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  for (const host of ['localhost:8080', 'LOCALHOST', 'example.com:80', '127.0.0.1:5500', '[::1]:3000', '0x7f.1']) {
    for (const target of targets) assert.equal(fetchUrl(host, target), new URL(`http://${host}${asBytes(target)}`).href, `${host} ${target}`);
  }
  assert.equal(fetchUrl('h', '/x?y=\u00c3\u00a9'), 'http://h/x?y=%C3%A9', 'UTF-8 bytes sent raw');
  for (const host of ['user@localhost', 'localhost/path', 'a b', 'localhost:99999', '']) assert.equal(fetchUrl(host, '/'), undefined, host);
});
