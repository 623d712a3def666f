import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli-args';
import { formatRecord } from '../../src/server/log';
import { startServer } from '../../src/server/server';
import { exchange, get, open, parseResponses, readAll } from './helpers/raw';
import { withServedSite, type ServedSite } from './helpers/serve';
import { waitFor } from './helpers/server';
import { reply, startUpstream, type RawUpstream, type UpstreamScript } from './helpers/upstream';

/** Runs `run` with an upstream answering by `script` and a server proxying `prefix` to it (`base` is the upstream URL's path). */
async function withProxy(
  script: UpstreamScript,
  run: (served: ServedSite, upstream: RawUpstream) => Promise<void>,
  options: { prefix?: string; base?: string; files?: Record<string, string>; proxyTimeout?: number; liveReload?: boolean } = {},
): Promise<void> {
  const upstream = await startUpstream(script);
  try {
    await withServedSite(options.files ?? { 'index.html': '<p>files</p>' }, (served) => run(served, upstream), {
      proxy: { [options.prefix ?? '/api']: `${upstream.url}${options.base ?? ''}` },
      ...(options.proxyTimeout === undefined ? {} : { proxyTimeout: options.proxyTimeout }),
      ...(options.liveReload === undefined ? {} : { liveReload: options.liveReload }),
    });
  } finally {
    await upstream.close();
  }
}

const ok: UpstreamScript = (request, socket) => {
  socket.write(reply(`you asked for ${request.requestLine}`));
};

test('the proxy forwards a prefix on segment boundaries, maps the path onto the upstream URL path and logs the upstream', async () => {
  await withProxy(
    ok,
    async ({ request, records }, upstream) => {
      assert.equal((await request('/api/users/42?x=1')).body.toString(), 'you asked for GET /v1/users/42?x=1 HTTP/1.1');
      assert.equal((await request('/api')).body.toString(), 'you asked for GET /v1 HTTP/1.1');
      // `/apix` is not below `/api`: it is a file path, and there is no such file.
      assert.equal((await request('/apix')).status, 404);
      assert.equal(upstream.requests.length, 2);
      const line = formatRecord(records[0] as (typeof records)[number]);
      assert.match(line, new RegExp(`GET /api/users/42\\?x=1 HTTP/1.1 200 \\d+B [\\d.]+ms - proxy → ${upstream.url.replace(/\./g, '\\.')} [\\d.]+ms$`));
    },
    { base: '/v1/' },
  );
});

test('the proxy rewrites Host, adds X-Forwarded-* and Forwarded and Via, and drops hop-by-hop fields both ways', async () => {
  const script: UpstreamScript = (_request, socket) => {
    socket.write(
      reply('ok', 'Content-Type: text/plain\r\nConnection: keep-alive, X-Secret\r\nX-Secret: hop\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Kept: yes\r\n'),
    );
  };
  await withProxy(script, async ({ request }, upstream) => {
    const response = await request('/api/x', 'X-Forwarded-For: 10.0.0.9\r\nConnection: X-Drop\r\nX-Drop: 1\r\nTE: trailers\r\nKeep-Alive: 1\r\nX-Kept: client\r\n');
    const seen = upstream.requests[0]?.headers ?? new Map<string, string>();
    assert.equal(seen.get('host'), `127.0.0.1:${upstream.port}`);
    assert.equal(seen.get('x-forwarded-for'), '10.0.0.9, 127.0.0.1');
    assert.equal(seen.get('x-forwarded-proto'), 'http');
    assert.equal(seen.get('x-forwarded-host'), '127.0.0.1');
    assert.equal(seen.get('forwarded'), 'for=127.0.0.1;host="127.0.0.1";proto=http');
    assert.equal(seen.get('via'), '1.1 tiny-server');
    assert.equal(seen.get('x-kept'), 'client');
    for (const name of ['x-drop', 'te', 'keep-alive']) assert.equal(seen.has(name), false, `${name} is not forwarded`);
    assert.equal(response.headers.get('x-kept'), 'yes');
    assert.equal(response.headers.get('via'), '1.1 tiny-server');
    assert.equal(response.headers.get('set-cookie'), 'a=1, b=2');
    for (const name of ['x-secret', 'keep-alive']) assert.equal(response.headers.has(name), false, `${name} is not passed back`);
    // Fields the proxy writes itself are hop-by-hop too when the client's Connection names them.
    await request('/api/y', 'Connection: X-Forwarded-For, Via, Forwarded\r\nX-Forwarded-For: 6.6.6.6\r\nVia: 1.0 fake\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Proto: https\r\n');
    const named = upstream.requests[1]?.headers ?? new Map<string, string>();
    assert.equal(named.get('x-forwarded-for'), '127.0.0.1');
    assert.equal(named.get('via'), '1.1 tiny-server');
    assert.equal(named.get('forwarded'), 'for=127.0.0.1;host="127.0.0.1";proto=http');
    assert.equal(named.get('x-forwarded-proto'), 'https', 'not named: kept');
  });
});

test('Via names the protocol version each message came in: 1.0 from an HTTP/1.0 client, and from an HTTP/1.0 upstream', async () => {
  const script: UpstreamScript = (_request, socket) => {
    socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
  };
  await withProxy(script, async ({ port }, upstream) => {
    const [response] = parseResponses(await exchange(port, 'GET /api/old HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n'));
    assert.equal(response?.body.toString(), 'ok');
    assert.equal(upstream.requests[0]?.headers.get('via'), '1.0 tiny-server');
    assert.equal(response?.headers.get('via'), '1.0 tiny-server');
  });
});

test('the upstream\'s fields are relayed as lines of their own, names as sent, with one Date (the proxy\'s) and the length of the body sent', async () => {
  const fields = 'content-type: text/plain\r\nDate: Mon, 01 Jan 1990 00:00:00 GMT\r\nSet-Cookie: a=1\r\nX-Custom-Case: kept\r\nSet-Cookie: b=2\r\n';
  await withProxy((_request, socket) => void socket.write(reply('relayed', fields)), async ({ port }) => {
    const head = (await exchange(port, get('/api/x', 'Connection: close\r\n'))).toString('latin1').split('\r\n\r\n')[0] ?? '';
    const lines = head.split('\r\n');
    assert.equal(lines.filter((line) => /^date:/i.test(line)).length, 1, 'one Date');
    assert.ok(!head.includes('1990'), 'the Date is the proxy\'s own');
    assert.deepEqual(lines.filter((line) => line.startsWith('Set-Cookie: ')), ['Set-Cookie: a=1', 'Set-Cookie: b=2']);
    assert.ok(lines.includes('content-type: text/plain') && lines.includes('X-Custom-Case: kept'), head);
    assert.deepEqual(lines.filter((line) => /^content-length:/i.test(line)), ['Content-Length: 7']);
  });
});

test('proxyKeepHost sends the browser Host upstream', async () => {
  const upstream = await startUpstream(ok);
  try {
    await withServedSite({}, async ({ request }) => {
      await request('/api/');
      assert.equal(upstream.requests[0]?.headers.get('host'), '127.0.0.1');
    }, { proxy: { '/api': upstream.url }, proxyKeepHost: true });
  } finally {
    await upstream.close();
  }
});

test('a redirect to the upstream address below the route\'s base path is rewritten to the proxy, others are left alone', async () => {
  const script: UpstreamScript = (request, socket) => {
    const upstream = `http://127.0.0.1:${(socket.localPort ?? 0).toString()}`;
    const to = /GET \/v1\/(\w+)/.exec(request.requestLine)?.[1] ?? '';
    const locations: Record<string, string> = {
      account: `${upstream}/v1/login?next=%2F`,
      base: `${upstream}/v1?x=1`,
      elsewhere: 'https://example.com/x',
      // The upstream's own paths that this route does not reach: rewritten, they would name files here.
      outside: `${upstream}/other/x`,
      origin: upstream,
      sibling: `${upstream}/v10/x`,
    };
    socket.write(reply('', `Location: ${locations[to] ?? ''}\r\n`, '302 Found'));
  };
  await withProxy(
    script,
    async ({ request }, upstream) => {
      const location = async (path: string): Promise<string | undefined> => (await request(path)).headers.get('location');
      assert.equal(await location('/api/account'), 'http://127.0.0.1/api/login?next=%2F');
      assert.equal(await location('/api/base'), 'http://127.0.0.1/api?x=1');
      assert.equal(await location('/api/elsewhere'), 'https://example.com/x');
      assert.equal(await location('/api/outside'), `${upstream.url}/other/x`);
      assert.equal(await location('/api/origin'), upstream.url);
      assert.equal(await location('/api/sibling'), `${upstream.url}/v10/x`);
    },
    { base: '/v1' },
  );
});

test('with the whole site proxied, a redirect anywhere on the upstream comes back to this server', async () => {
  const script: UpstreamScript = (request, socket) => {
    const upstream = `http://127.0.0.1:${(socket.localPort ?? 0).toString()}`;
    socket.write(reply('', `Location: ${request.requestLine.includes('/bare') ? upstream : `${upstream}/login`}\r\n`, '302 Found'));
  };
  await withProxy(
    script,
    async ({ request }) => {
      assert.equal((await request('/account')).headers.get('location'), 'http://127.0.0.1/login');
      assert.equal((await request('/bare')).headers.get('location'), 'http://127.0.0.1/');
    },
    { prefix: '/' },
  );
});

test('a proxied path with dot segments, literal or percent-encoded, is a 400 and never reaches the upstream', async () => {
  await withProxy(ok, async ({ port }, upstream) => {
    for (const target of ['/api/../secret', '/api/%2e%2e/%2E%2E/etc/passwd', '/api/./x', '/api/x/.%2E', '/api/..']) {
      const [response] = parseResponses(await exchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      assert.equal(response?.status, 400, target);
      assert.match(response?.body.toString() ?? '', /dot segments/, target);
    }
    // Dots inside a name are no segment of their own.
    const [dotted] = parseResponses(await exchange(port, 'GET /api/v1.2/..x/.well-known HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    assert.equal(dotted?.body.toString(), 'you asked for GET /v1/v1.2/..x/.well-known HTTP/1.1');
    assert.equal(upstream.requests.length, 1);
  }, { base: '/v1' });
});

test('an absolute-form target or a Host naming another server never chooses the upstream', async () => {
  await withProxy(ok, async ({ port }, upstream) => {
    const raw = 'GET http://127.0.0.1:1/api/x HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\r\n';
    const [response] = parseResponses(await exchange(port, raw));
    assert.equal(response?.status, 200);
    assert.equal(upstream.requests[0]?.requestLine, 'GET /x HTTP/1.1');
    // A Host that is not this server's is refused by the host check before the proxy sees it.
    const [refused] = parseResponses(await exchange(port, 'GET /api/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'));
    assert.equal(refused?.status, 403);
    assert.equal(upstream.requests.length, 1);
  });
});

test('keep-alive connections to the upstream are pooled and reused', async () => {
  await withProxy(ok, async ({ request }, upstream) => {
    for (let i = 0; i < 5; i++) assert.equal((await request(`/api/${i}`)).status, 200);
    assert.equal(upstream.connections, 1);
  });
});

test('an upstream that refuses the connection gives a 502 page naming it, with the hint', async () => {
  const upstream = await startUpstream(ok);
  await upstream.close();
  await withServedSite({}, async ({ request, records }) => {
    const response = await request('/api/x', 'Accept: text/html\r\n');
    assert.equal(response.status, 502);
    assert.match(response.body.toString(), new RegExp(`127\\.0\\.0\\.1:${upstream.port}`));
    assert.match(response.body.toString(), /Is your API running\?/);
    assert.match(records[0]?.reason ?? '', /proxy → http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
  }, { proxy: { '/api': upstream.url } });
});

test('an upstream slower than proxyTimeout gives 504, and its connection is closed', async () => {
  await withProxy(
    () => undefined,
    async ({ request }, upstream) => {
      const started = Date.now();
      const response = await request('/api/slow');
      assert.equal(response.status, 504);
      assert.ok(Date.now() - started >= 900, 'waited for the timeout');
      await waitFor(() => upstream.closed === 1, 2000, 'the upstream connection to close');
    },
    { proxyTimeout: 1 },
  );
});

test('a client that pauses mid-upload for longer than proxyTimeout is waited for: the upload is its pace, not the upstream\'s silence', async () => {
  const script: UpstreamScript = (request, socket) => {
    socket.write(reply(`got ${request.body.toString()}`));
  };
  await withProxy(
    script,
    async ({ port }) => {
      for (const [framing, first, rest] of [
        ['Content-Length: 10\r\n', 'hello', 'world'],
        ['Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n', '5\r\nworld\r\n0\r\n\r\n'],
      ] as const) {
        const socket = await open(port);
        const answer = readAll(socket, 10_000);
        socket.write(`POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n${framing}Connection: close\r\n\r\n${first}`);
        await new Promise((resolve) => setTimeout(resolve, 1600));
        socket.write(rest);
        const [response] = parseResponses(await answer);
        assert.equal(response?.status, 200, framing);
        assert.equal(response?.body.toString(), 'got helloworld', framing);
      }
    },
    { proxyTimeout: 1 },
  );
});

test('an upstream that stops in the middle of a body held whole gives 504 after proxyTimeout of silence, and its connection is closed', async () => {
  const script: UpstreamScript = (_request, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nten bytes.');
  };
  await withProxy(
    script,
    async ({ request, records }, upstream) => {
      const started = Date.now();
      const response = await request('/api/stalls');
      assert.equal(response.status, 504);
      assert.ok(Date.now() - started >= 900, 'waited for the timeout');
      assert.match(records.at(-1)?.reason ?? '', /the body stopped arriving for 1 s/);
      await waitFor(() => upstream.closed === 1, 2000, 'the upstream connection to close');
    },
    { proxyTimeout: 1 },
  );
});

test('an upload slower than proxyTimeout is not the upstream\'s silence: it goes through, and the answer comes after it', async () => {
  await withProxy(
    (request, socket) => {
      socket.write(reply(`got ${request.body.length} bytes`));
    },
    async ({ port }) => {
      const socket = await open(port);
      const answer = readAll(socket, 10_000);
      socket.write('POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\nConnection: close\r\n\r\n');
      // Six bytes over about 2.4 s, with proxyTimeout 1 s.
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        socket.write('x');
      }
      const [response] = parseResponses(await answer);
      assert.equal(response?.status, 200);
      assert.equal(response?.body.toString(), 'got 6 bytes');
    },
    { proxyTimeout: 1 },
  );
});

test('a smuggling-shaped or malformed upstream response gives 502, and the next request goes on a fresh connection', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.requestLine.includes('/smuggle')) {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nevil!\n');
    } else if (request.requestLine.includes('/garbage')) {
      socket.write('HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n');
    } else {
      socket.write(reply('fine'));
    }
  };
  await withProxy(script, async ({ request, records }, upstream) => {
    const smuggled = await request('/api/smuggle');
    assert.equal(smuggled.status, 502);
    assert.match(records[0]?.reason ?? '', /transfer-encoding-with-content-length/);
    const next = await request('/api/next');
    assert.equal(next.body.toString(), 'fine');
    assert.equal(upstream.requests.at(-1)?.connection, 2, 'a new upstream connection');
    assert.equal((await request('/api/garbage')).status, 502);
    assert.equal((await request('/api/again')).body.toString(), 'fine');
    assert.equal(upstream.requests.at(-1)?.connection, 3);
  });
});

test('bytes an upstream sends after a complete response make its connection be dropped, not pooled: the next request goes on a fresh one', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.requestLine.includes('/extra')) socket.write(Buffer.concat([reply('ok'), Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!')]));
    else socket.write(reply('fine'));
  };
  await withProxy(script, async ({ request }, upstream) => {
    const first = await request('/api/extra');
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), 'ok');
    for (let i = 0; i < 2; i++) {
      const next = await request(`/api/next${i}`);
      assert.equal(next.status, 200);
      assert.equal(next.body.toString(), 'fine');
    }
    assert.equal(upstream.requests.at(-2)?.connection, 2, 'the request after the extra bytes went on a new upstream connection');
    assert.equal(upstream.requests.at(-1)?.connection, 2, 'which is pooled');
  });
});

test('a pipelined request answered within the upstream read that ended the one before it never gets the bytes that followed in that read', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.requestLine.includes('/first')) socket.write(Buffer.concat([reply('first'), Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil')]));
    else socket.write(reply('second'));
  };
  await withProxy(script, async ({ port }) => {
    const responses = parseResponses(await exchange(port, get('/api/first') + get('/api/second', 'Connection: close\r\n')));
    assert.deepEqual(responses.map((r) => `${r.status} ${r.body.toString()}`), ['200 first', '200 second']);
  });
});

test('an upstream that closes in the middle of a body cuts the client connection instead of hanging', async () => {
  const script: UpstreamScript = (_request, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
    socket.write(Buffer.alloc(70_000, 97));
    setTimeout(() => socket.destroy(), 50);
  };
  await withProxy(script, async ({ port }) => {
    const bytes = await exchange(port, get('/api/cut'), 5000);
    const text = bytes.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /Content-Length: 100000\r\n/);
    assert.ok(bytes.length < 100_000, 'the body stops short: the client can tell it is cut');
  });
});

test('chunked responses with trailers and interim 1xx responses pass through', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.requestLine.includes('/interim')) socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n');
  };
  await withProxy(script, async ({ request }) => {
    for (const path of ['/api/chunked', '/api/interim']) {
      const response = await request(path);
      assert.equal(response.status, 200, path);
      assert.equal(response.body.toString(), 'hello world', path);
      assert.equal(response.headers.has('trailer'), false);
    }
  });
});

test('request bodies go upstream with Content-Length or chunked, any method', async () => {
  const script: UpstreamScript = (request, socket) => {
    const framing = request.headers.has('content-length') ? `length ${request.headers.get('content-length')}` : (request.headers.get('transfer-encoding') ?? 'none');
    socket.write(reply(`${request.requestLine.split(' ')[0]} ${framing} ${request.body.toString()}`));
  };
  await withProxy(script, async ({ port }) => {
    const post = parseResponses(await exchange(port, 'POST /api/form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 7\r\nConnection: close\r\n\r\na=1&b=2'));
    assert.equal(post[0]?.body.toString(), 'POST length 7 a=1&b=2');
    const chunked = 'PATCH /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n';
    assert.equal(parseResponses(await exchange(port, chunked))[0]?.body.toString(), 'PATCH chunked abcde');
    const empty = 'DELETE /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
    assert.equal(parseResponses(await exchange(port, empty))[0]?.body.toString(), 'DELETE none ');
  });
});

test('a client that goes away mid-response makes the proxy destroy its upstream connection', async () => {
  let upstreamSocketClosed = false;
  const script: UpstreamScript = (_request, socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: one\n\n');
    socket.once('close', () => (upstreamSocketClosed = true));
  };
  await withProxy(script, async ({ port }) => {
    const socket = await open(port);
    socket.write(get('/api/events'));
    // SSE passes through unbuffered: the first event arrives while the upstream keeps the stream open.
    const first = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('data: one')) resolve(text);
      });
    });
    assert.match(first, /content-type: text\/event-stream/i);
    assert.equal(upstreamSocketClosed, false);
    socket.destroy();
    await waitFor(() => upstreamSocketClosed, 3000, 'the upstream connection to close');
  });
});

test('a client that leaves before the upstream answers makes the proxy abort the upstream request and close that connection', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (!request.requestLine.includes('/slow')) socket.write(reply('fine'));
  };
  await withProxy(script, async ({ port, request, records }, upstream) => {
    const client = await open(port);
    client.write(get('/api/slow'));
    await waitFor(() => upstream.requests.length === 1, 2000, 'the upstream to get the request');
    assert.equal(upstream.closed, 0);
    client.destroy();
    // Well before proxyTimeout (30 s): the proxy learns that the client left, and stops waiting.
    await waitFor(() => upstream.closed === 1, 2000, 'the upstream connection to close');
    await waitFor(() => records.length === 1, 2000, 'the log line');
    assert.equal(records[0]?.status, 499);
    assert.match(records[0]?.reason ?? '', /client closed the connection/);
    // The aborted connection was not pooled: the next request opens another.
    assert.equal((await request('/api/next')).body.toString(), 'fine');
    assert.equal(upstream.requests.at(-1)?.connection, 2);
  });
});

test('--proxy is repeatable and checked; the proxy setting is validated when the server starts', async () => {
  const parsed = parseArgs(['--proxy', '/api=http://127.0.0.1:3000', '--proxy=/=http://localhost:8080/app', '--proxy-timeout', '5', '--proxy-keep-host'], '/srv');
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  assert.deepEqual(parsed.settings.proxy, { '/api': 'http://127.0.0.1:3000', '/': 'http://localhost:8080/app' });
  assert.equal(parsed.settings.proxyTimeout, 5);
  assert.equal(parsed.settings.proxyKeepHost, true);
  const https = parseArgs(['--proxy', '/api=https://127.0.0.1:3000']);
  assert.equal(https.kind, 'error');
  assert.match(https.kind === 'error' ? https.message : '', /https upstreams are not supported/);
  assert.equal(parseArgs(['--proxy', 'api=http://x']).kind, 'error');
  assert.match(parseArgs(['--proxy', '/api=nonsense']).kind === 'error' ? 'error' : '', /error/);
  const started = await startServer({ root: '.', port: 0, proxy: { '/api': 'ftp://127.0.0.1' } });
  assert.deepEqual(started.ok ? undefined : started.error.code, 'proxy-invalid');
});

test('a Content-Length sent twice (equal, as the parser accepts) goes upstream as one number, not as "5, 5"', async () => {
  const script: UpstreamScript = (request, socket) => {
    socket.write(reply(`length ${request.headers.get('content-length')} body ${request.body.toString()}`));
  };
  await withProxy(script, async ({ port }) => {
    const raw = 'POST /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
    assert.equal(parseResponses(await exchange(port, raw))[0]?.body.toString(), 'length 5 body hello');
  });
});

test('an upstream that ends a reused keep-alive connection (FIN) as the request goes out: the request is sent again on a new one', async () => {
  const script: UpstreamScript = (request, socket) => {
    const onThisConnection = upstreamRequests.filter((r) => r.connection === request.connection).length;
    // The first connection answers once, then closes its side when the next request arrives.
    if (request.connection === 1 && onThisConnection === 2) socket.end();
    else socket.write(reply('ok'));
  };
  let upstreamRequests: RawUpstream['requests'] = [];
  await withProxy(script, async ({ request }, upstream) => {
    upstreamRequests = upstream.requests;
    assert.equal((await request('/api/first')).status, 200);
    const second = await request('/api/second');
    assert.equal(second.status, 200, second.body.toString());
    assert.equal(upstream.connections, 2, 'the retry went on a new connection');
  });
});

test('a GET or PUT declared empty (Content-Length: 0) on a reused connection the upstream ends is sent again too', async () => {
  const script: UpstreamScript = (request, socket) => {
    const onThisConnection = upstreamRequests.filter((r) => r.connection === request.connection).length;
    // Each connection answers once, then closes its side when the next request arrives.
    if (onThisConnection === 2) socket.end();
    else socket.write(reply('ok'));
  };
  let upstreamRequests: RawUpstream['requests'] = [];
  await withProxy(script, async ({ request }, upstream) => {
    upstreamRequests = upstream.requests;
    assert.equal((await request('/api/first')).status, 200);
    const get = await request('/api/second', 'Content-Length: 0\r\n');
    assert.equal(get.status, 200, get.body.toString());
    const put = await request('/api/third', 'Content-Length: 0\r\n', 'PUT');
    assert.equal(put.status, 200, put.body.toString());
    assert.equal(upstream.connections, 3, 'each retry went on a new connection');
    assert.equal(upstream.requests.at(-1)?.headers.get('content-length'), '0');
  });
});

test('a connection whose upstream sent a 204 with Content-Length is not reused: bytes it sends later never answer another request', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.requestLine.startsWith('GET /empty ')) {
      socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\n');
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED'), 100);
    } else setTimeout(() => socket.write(reply('mine')), 300);
  };
  await withProxy(script, async ({ request }, upstream) => {
    assert.equal((await request('/api/empty')).status, 204);
    const next = await request('/api/next');
    assert.equal(next.body.toString(), 'mine');
    assert.equal(upstream.connections, 2, 'the second request went on a new connection');
  });
});

test('a 204 with Content-Length: 0 keeps its upstream connection for the next request', async () => {
  const script: UpstreamScript = (request, socket) => {
    socket.write(request.requestLine.startsWith('GET /empty ') ? 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n' : reply('next'));
  };
  await withProxy(script, async ({ request }, upstream) => {
    assert.equal((await request('/api/empty')).status, 204);
    assert.equal((await request('/api/next')).body.toString(), 'next');
    assert.equal(upstream.connections, 1);
  });
});

test('a POST on a reused connection that the upstream closes without answering is not sent again: it may have been acted on, so the client gets 502', async () => {
  const script: UpstreamScript = (request, socket) => {
    // The first connection answers its first request, then takes the next one and closes.
    if (request.connection === 1 && upstreamRequests.filter((r) => r.connection === 1).length === 2) socket.destroy();
    else socket.write(reply('ok'));
  };
  let upstreamRequests: RawUpstream['requests'] = [];
  await withProxy(script, async ({ request, records }, upstream) => {
    upstreamRequests = upstream.requests;
    assert.equal((await request('/api/warm')).status, 200);
    const charged = await request('/api/charge?amount=100', '', 'POST');
    assert.equal(charged.status, 502);
    assert.deepEqual(upstream.requests.map((r) => `${r.connection} ${r.requestLine}`), ['1 GET /warm HTTP/1.1', '1 POST /charge?amount=100 HTTP/1.1']);
    assert.match(records.at(-1)?.reason ?? '', /proxy → .*(closed|reset|ECONNRESET)/);
  });
});

test('CONNECT under a proxied prefix is refused with 501 and never reaches the upstream', async () => {
  await withProxy(ok, async ({ port, records }, upstream) => {
    const [response] = parseResponses(await exchange(port, 'CONNECT /api/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    assert.equal(response?.status, 501);
    assert.match(response?.body.toString() ?? '', /CONNECT is not supported/);
    assert.equal(upstream.requests.length, 0);
    assert.equal(records.at(-1)?.status, 501);
  });
});

test('HEAD through the proxy keeps the framing its GET would have: the length, else chunked, never Content-Length 0', async () => {
  const script: UpstreamScript = (request, socket) => {
    const chunked = request.requestLine.includes('/chunked');
    if (request.requestLine.startsWith('HEAD')) {
      socket.write(`HTTP/1.1 200 OK\r\n${chunked ? 'Transfer-Encoding: chunked' : 'Content-Length: 5'}\r\n\r\n`);
    } else socket.write(reply('hello'));
  };
  await withProxy(script, async ({ request }) => {
    const chunked = await request('/api/chunked', '', 'HEAD');
    assert.equal(chunked.headers.get('content-length'), undefined);
    assert.equal(chunked.headers.get('transfer-encoding'), 'chunked');
    const sized = await request('/api/sized', '', 'HEAD');
    assert.equal(sized.headers.get('content-length'), '5');
  });
});
