import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Handler } from '../../src/server/handler';
import { Listener } from '../../src/server/listener';
import type { RequestLogRecord } from '../../src/server/log';
import { DEFAULT_LIMITS } from '../../src/server/options';
import { ChangeBatcher, createLiveReload, MAX_EVENT_PATHS, toUrlPaths, type LiveReload } from '../../src/server/reload';
import { refusalReason } from '../../src/server/reload/sse';
import { EVENTS, EventReader } from './helpers/event-reader';
import { fakeRequest } from './helpers/fixture-site';
import { bufferBytes } from './helpers/memory';
import { exchange, get, parseResponses } from './helpers/raw';
import { withListener } from './helpers/server';

const CLIENT = join(__dirname, '..', '..', '..', 'media', 'reload-client.js');

/** The listener under test and what it logged. */
interface Served {
  readonly listener: Listener;
  readonly records: RequestLogRecord[];
}

async function withReload(
  run: (port: number, reload: LiveReload, root: string, served: Served) => Promise<void>,
  limits: Partial<typeof DEFAULT_LIMITS> = {},
  showDotfiles = false,
): Promise<void> {
  const root = join('/srv', 'site');
  const reload = createLiveReload({ roots: [root], clientScriptPath: CLIENT, showDotfiles });
  const notFound: Handler = () => ({ status: 404, headers: {}, body: Buffer.from('no\n') });
  try {
    await withListener([reload.handler, notFound], (port, records, listener) => run(port, reload, root, { listener, records }), limits);
  } finally {
    reload.dispose();
  }
}

test('the event stream opens with a retry interval and a hello event, chunked and uncached', async () => {
  await withReload(async (port) => {
    const reader = await EventReader.open(port);
    try {
      const head = await reader.until(() => reader.head(), 'response head');
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-type'), 'text/event-stream');
      assert.equal(head.headers.get('cache-control'), 'no-cache, no-transform');
      assert.equal(head.headers.get('transfer-encoding'), 'chunked');
      assert.equal(head.headers.get('x-content-type-options'), 'nosniff', 'the stream is ours: never sniffed');
      const hello = await reader.nthEvent(0);
      assert.equal(hello.type, 'hello');
      assert.match(String(hello.id), /^[\w-]{8,}$/);
      assert.match(reader.body().text, /^retry: \d+\n/);
    } finally {
      reader.socket.destroy();
    }
  });
});

test('notifyChanged() sends one change event for a burst, with URL paths from the root', async () => {
  await withReload(async (port, reload, root) => {
    const reader = await EventReader.open(port);
    try {
      await reader.nthEvent(0);
      const started = Date.now();
      for (let i = 0; i < 50; i++) reload.notifyChanged([join(root, 'css', `f${i % 10}.css`)]);
      reload.notifyChanged([join(root, 'a b', 'é#?.html'), join(root, '..', 'outside.html'), '/elsewhere/x.css']);
      const change = await reader.nthEvent(1);
      assert.ok(Date.now() - started < 300, `event came ${Date.now() - started} ms after the burst`);
      const expected = Array.from({ length: 10 }, (_, i) => `/css/f${i}.css`).concat('/a%20b/%C3%A9%23%3F.html');
      assert.deepEqual(change, { type: 'change', seq: 1, paths: expected });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(reader.events().length, 2, 'no second event for the same burst');
    } finally {
      reader.socket.destroy();
    }
  });
});

test('changes to dotfiles and inside dot-folders are not announced, their names neither, unless dotfiles are served', async () => {
  const hidden = (root: string): string[] => [join(root, '.env'), join(root, 'sub', '.hidden', 'token'), join(root, '.git', 'index')];
  await withReload(async (port, reload, root) => {
    reload.notifyChanged(hidden(root), true);
    reload.notifyChanged([...hidden(root), join(root, 'a.css'), join(root, 'x.y', 'page.html')], true);
    const reader = await EventReader.open(port);
    try {
      const hello = await reader.nthEvent(0);
      assert.deepEqual(hello.recent, [{ type: 'change', seq: 1, paths: ['/a.css', '/x.y/page.html'], typing: true }], 'only the visible files, in one event');
      assert.doesNotMatch(reader.body().text, /env|hidden|git/);
    } finally {
      reader.socket.destroy();
    }
  });
  await withReload(async (port, reload, root) => {
    reload.notifyChanged(hidden(root), true);
    const reader = await EventReader.open(port);
    try {
      assert.deepEqual((await reader.nthEvent(0)).recent, [{ type: 'change', seq: 1, paths: ['/.env', '/sub/.hidden/token', '/.git/index'], typing: true }]);
    } finally {
      reader.socket.destroy();
    }
  }, {}, true);
});

test('a burst of more paths than an event names is sent as /, so events and hellos stay small', async () => {
  await withReload(async (port, reload, root) => {
    reload.notifyChanged(Array.from({ length: MAX_EVENT_PATHS + 1 }, (_, i) => join(root, 'build', `chunk-${i}.js`)), true);
    reload.notifyChanged(Array.from({ length: MAX_EVENT_PATHS }, (_, i) => join(root, 'small', `f${i}.css`)), true);
    const reader = await EventReader.open(port);
    try {
      const hello = await reader.nthEvent(0);
      const recent = hello.recent as Array<{ paths: string[] }>;
      assert.deepEqual(recent[0]?.paths, ['/']);
      assert.equal(recent[1]?.paths.length, MAX_EVENT_PATHS, 'a burst at the limit is named path by path');
    } finally {
      reader.socket.destroy();
    }
  });
});

test('a stream opened after changes hears the recent ones in its hello, numbered', async () => {
  await withReload(async (port, reload, root) => {
    reload.notifyChanged([join(root, 'a.css')], true);
    reload.notifyChanged([join(root, 'index.html')], true);
    const reader = await EventReader.open(port);
    try {
      const hello = await reader.nthEvent(0);
      assert.deepEqual(hello.recent, [
        { type: 'change', seq: 1, paths: ['/a.css'], typing: true },
        { type: 'change', seq: 2, paths: ['/index.html'], typing: true },
      ]);
      reload.notifyChanged([join(root, 'b.css')], true);
      assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 3, paths: ['/b.css'], typing: true });
      // A change that did not wait for a pause in typing (a save) has no such mark, nor has a burst that mixes the two.
      reload.notifyChanged([join(root, 'c.css')]);
      assert.deepEqual(await reader.nthEvent(2), { type: 'change', seq: 4, paths: ['/c.css'] });
      reload.notifyChanged([join(root, 'd.css')]);
      reload.notifyChanged([join(root, 'e.css')], true);
      assert.deepEqual(await reader.nthEvent(3), { type: 'change', seq: 5, paths: ['/d.css', '/e.css'] });
    } finally {
      reader.socket.destroy();
    }
  });
});

test('an idle stream outlives the keep-alive and header timeouts', async () => {
  await withReload(
    async (port, reload, root) => {
      const reader = await EventReader.open(port);
      try {
        await reader.nthEvent(0);
        await new Promise((r) => setTimeout(r, 600));
        reload.notifyChanged([join(root, 'a.css')]);
        assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 1, paths: ['/a.css'] });
      } finally {
        reader.socket.destroy();
      }
    },
    { keepAliveTimeoutMs: 150, headersTimeoutMs: 150 },
  );
});

test('every open stream receives each change', async () => {
  await withReload(async (port, reload, root) => {
    const readers = await Promise.all([1, 2, 3].map(() => EventReader.open(port)));
    try {
      await Promise.all(readers.map((r) => r.nthEvent(0)));
      reload.notifyChanged([join(root, 'index.html')]);
      for (const reader of readers) assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 1, paths: ['/index.html'] });
    } finally {
      for (const reader of readers) reader.socket.destroy();
    }
  });
});

test('a change to nothing under the root sends no event', async () => {
  await withReload(async (port, reload, root) => {
    const reader = await EventReader.open(port);
    try {
      await reader.nthEvent(0);
      reload.notifyChanged(['/srv/site-evil/a.html', '/srv/x.css']);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(reader.events().length, 1);
      // Positive control: the same stream does carry a change under the root, and only that one.
      reload.notifyChanged(['/srv/site-evil/b.html', join(root, 'a.css')]);
      assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 1, paths: ['/a.css'] });
    } finally {
      reader.socket.destroy();
    }
  });
});

test('dispose() ends every stream with the last chunk', async () => {
  await withReload(async (port, reload) => {
    const reader = await EventReader.open(port);
    try {
      await reader.nthEvent(0);
      reload.dispose();
      await reader.until(() => (reader.body().ended ? true : undefined), 'the last chunk');
    } finally {
      reader.socket.destroy();
    }
  });
});

test('the event stream refuses cross-origin pages and other methods', async () => {
  await withReload(async (port) => {
    const ask = async (extra: string, method = 'GET') => {
      const request = `${method} ${EVENTS} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${extra}\r\n`;
      return parseResponses(await exchange(port, request))[0]?.status;
    };
    assert.equal(await ask('Sec-Fetch-Site: cross-site\r\n'), 403);
    assert.equal(await ask('Sec-Fetch-Site: same-site\r\nOrigin: http://localhost:3000\r\n'), 403);
    assert.equal(await ask('Origin: https://evil.example\r\n'), 403);
    assert.equal(await ask('Origin: null\r\n'), 403);
    assert.equal(await ask('', 'POST'), 405);
  });
});

test('requests pipelined behind an event stream are neither read into memory nor answered', async () => {
  await withReload(async (port, reload, _root, { listener, records }) => {
    const reader = await EventReader.open(port);
    const body = Buffer.alloc(1024 * 1024, 120);
    const count = 80;
    try {
      await reader.nthEvent(0);
      const head = (i: number) => `POST /p${i} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${body.length}\r\n\r\n`;
      for (let i = 0; i < count; i++) {
        reader.socket.write(head(i));
        reader.socket.write(body);
      }
      // Measured once the client has queued all it sends (it holds one 1 MiB buffer).
      const before = await bufferBytes();
      let grown = 0;
      let held = 0;
      // Sampled until the client's bytes have all left, or for 10 s when they pile up.
      for (let started = Date.now(); reader.socket.writableLength > 0 && Date.now() - started < 10_000; ) {
        await new Promise((r) => setTimeout(r, 100));
        grown = Math.max(grown, (await bufferBytes()) - before);
        held = Math.max(held, listener.heldBytes);
      }
      // Queued, 64 of them would stay (67 MiB); read and discarded, they are garbage, collected
      // late under load (up to 20 MiB seen on a busy machine). Half the queued size tells them apart.
      assert.ok(grown < 32 * 1024 * 1024, `buffers grew by ${(grown / 1048576).toFixed(1)} MiB while ${count} MiB were sent`);
      assert.equal(held, 0, 'no request behind the stream is held');
      assert.equal(reader.socket.writableLength, 0, 'what the client sent was read (and discarded), not left to pile up');
      // Positive control: the same request on a connection of its own is answered.
      const alone = parseResponses(await exchange(port, Buffer.concat([Buffer.from(head(0).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')), body])));
      assert.equal(alone[0]?.status, 404);
      // The stream's end ends the connection; nothing behind it was answered.
      reload.dispose();
      await reader.until(() => (reader.closed ? true : undefined), 'the connection to close');
      assert.ok(reader.body().ended, 'the stream ended with its last chunk');
      assert.equal(reader.head()?.headers.get('connection'), 'close');
      assert.equal(reader.rawText().match(/HTTP\/1\.1 \d{3} /g)?.length, 1, 'one response on the connection');
      assert.deepEqual(records.map((r) => r.target), ['/p0', EVENTS]);
    } finally {
      reader.socket.destroy();
    }
  });
});

test('event streams beyond maxEventStreams get 503 until one closes', async () => {
  await withReload(
    async (port, _reload, _root, { records }) => {
      const open = await Promise.all([1, 2].map(() => EventReader.open(port)));
      const extra = await EventReader.open(port);
      try {
        await Promise.all(open.map((r) => r.nthEvent(0)));
        await extra.until(() => (extra.closed ? true : undefined), 'the refused stream to close');
        assert.equal(extra.head()?.status, 503);
        assert.match(extra.rawText(), /Too many event streams/);
        assert.match(records.find((r) => r.status === 503)?.reason ?? '', /event streams at their limit of 2/);
        // The slot of a closed stream is free again: the client's retry gets through.
        open[0]?.socket.destroy();
        await new Promise((r) => setTimeout(r, 100));
        const retry = await EventReader.open(port);
        try {
          assert.equal((await retry.nthEvent(0)).type, 'hello');
        } finally {
          retry.socket.destroy();
        }
      } finally {
        for (const reader of [...open, extra]) reader.socket.destroy();
      }
    },
    { maxEventStreams: 2 },
  );
});

test('an event-stream client that half-closes is closed and logged at once; an open one stays', async () => {
  await withReload(async (port, reload, root, { records }) => {
    const leaving = await EventReader.open(port);
    const staying = await EventReader.open(port);
    try {
      await Promise.all([leaving.nthEvent(0), staying.nthEvent(0)]);
      const started = Date.now();
      leaving.socket.end();
      await leaving.until(() => (leaving.closed ? true : undefined), 'the server to close the half-closed stream', 1000);
      assert.ok(Date.now() - started < 1000);
      // Logged as it closed (the record is written before the client can see the close).
      assert.equal(records[0]?.target, EVENTS);
      // Positive control: after the same wait the other stream is open and still gets events.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(staying.closed, false);
      reload.notifyChanged([join(root, 'a.css')]);
      assert.deepEqual(await staying.nthEvent(1), { type: 'change', seq: 1, paths: ['/a.css'] });
      assert.equal(records.length, 1);
    } finally {
      leaving.socket.destroy();
      staying.socket.destroy();
    }
  });
});

test('refusalReason() trusts Fetch Metadata, then a matching or loopback Origin', () => {
  const reason = (headers: Record<string, string>) => refusalReason(fakeRequest(EVENTS, { headers: { Host: 'example.test:8000', ...headers } }));
  assert.equal(reason({}), undefined);
  assert.equal(reason({ 'Sec-Fetch-Site': 'same-origin' }), undefined);
  // Behind code-server the page and the stream share the proxy's origin, whatever Host says.
  assert.equal(reason({ 'Sec-Fetch-Site': 'same-origin', Origin: 'https://code.example.com' }), undefined);
  assert.equal(reason({ 'Sec-Fetch-Site': 'none' }), undefined);
  assert.match(reason({ 'Sec-Fetch-Site': 'cross-site' }) ?? '', /cross-site/);
  assert.equal(reason({ Origin: 'http://example.test:8000' }), undefined);
  assert.equal(reason({ Origin: 'http://proxy.test', 'X-Forwarded-Host': 'proxy.test' }), undefined);
  assert.equal(reason({ Origin: 'http://localhost:9000' }), undefined);
  assert.equal(reason({ Origin: 'http://127.0.0.1:9000' }), undefined);
  assert.equal(reason({ Origin: 'http://[::1]:9000' }), undefined);
  assert.match(reason({ Origin: 'http://example.test:8001' }) ?? '', /refused origin/);
  assert.match(reason({ Origin: 'http://localhost.evil.test' }) ?? '', /refused origin/);
});

test('the client script is served from memory with an entity tag', async () => {
  await withReload(async (port) => {
    const first = parseResponses(await exchange(port, get('/.tiny-server/reload/client.js', 'Connection: close\r\n')))[0];
    assert.equal(first?.status, 200);
    assert.equal(first?.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(first?.headers.get('x-content-type-options'), 'nosniff');
    assert.match(first?.body.toString() ?? '', /EventSource/);
    const etag = first?.headers.get('etag') ?? '';
    const again = get('/.tiny-server/reload/client.js', `If-None-Match: ${etag}\r\nConnection: close\r\n`);
    assert.equal(parseResponses(await exchange(port, again))[0]?.status, 304);
  });
});

test('the client is cached for good under its version and revalidated under any other URL', async () => {
  const reload = createLiveReload({ roots: ['/srv/site'], clientScriptPath: CLIENT, showDotfiles: false });
  try {
    const html = reload.rewriter.rewrite(Buffer.from('<head></head>'), '/index.html').toString();
    const query = /client\.js\?(v=[\w-]+)"/.exec(html)?.[1];
    assert.ok(query !== undefined, html);
    const cacheControl = async (path: string) => (await reload.handler(fakeRequest(path)))?.headers['Cache-Control'];
    assert.equal(await cacheControl(`/.tiny-server/reload/client.js?${query}`), 'public, max-age=31536000, immutable');
    assert.equal(await cacheControl('/.tiny-server/reload/client.js'), 'no-cache');
    assert.equal(await cacheControl('/.tiny-server/reload/client.js?v=old'), 'no-cache');
    // The version is part of the pages' entity tags, so a cached page with an old client URL is not confirmed.
    assert.match(reload.rewriter.etagSuffix, new RegExp(`-${query.slice(2)}$`));
  } finally {
    reload.dispose();
  }
});

test('the handler leaves other paths to the next handler', async () => {
  const reload = createLiveReload({ roots: ['/srv/site'], clientScriptPath: CLIENT, showDotfiles: false });
  try {
    assert.equal(await reload.handler(fakeRequest('/.tiny-server/reload/other')), undefined);
    assert.equal(await reload.handler(fakeRequest('/index.html')), undefined);
    assert.equal((await reload.handler(fakeRequest('/.tiny-server/reload/client.js?v=1')))?.status, 200);
  } finally {
    reload.dispose();
  }
});

test('a missing client script is answered with 500 and a reason', async () => {
  const reload = createLiveReload({ roots: ['/srv/site'], clientScriptPath: '/nonexistent/reload-client.js', showDotfiles: false });
  try {
    const response = await reload.handler(fakeRequest('/.tiny-server/reload/client.js'));
    assert.equal(response?.status, 500);
    assert.match(response?.reason ?? '', /Cannot read the live reload client \/nonexistent/);
  } finally {
    reload.dispose();
  }
});

test('toUrlPaths() encodes names as a browser requests them and drops paths outside the root', () => {
  const root = join('/srv', 'site');
  assert.deepEqual(
    toUrlPaths([root], [
      root,
      join(root, 'index.html'),
      join(root, 'index.html'),
      join(root, 'a b', "(x)!'~&=+$,;@:.css"),
      join(root, '100%', 'q?#`{}"<>\\.js'),
      join(root, '日本', 'é.png'),
      join(root, '..foo'),
      join(root, '..', 'site-evil', 'x'),
      '/elsewhere',
    ], true),
    ['/', '/index.html', "/a%20b/(x)!'~&=+$,;@:.css", '/100%25/q%3F%23%60%7B%7D%22%3C%3E%5C.js', '/%E6%97%A5%E6%9C%AC/%C3%A9.png', '/..foo'],
  );
});

test('ChangeBatcher fires once after a quiet window and at most after the longest wait', async () => {
  const flushes: Array<{ at: number; paths: string[] }> = [];
  const started = Date.now();
  const batcher = new ChangeBatcher((paths) => flushes.push({ at: Date.now() - started, paths }), 40, 150);
  try {
    // A steady stream every 10 ms never goes quiet; the longest wait still flushes it.
    await new Promise<void>((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        batcher.add([`/f${n++}`]);
        if (n === 40) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });
    await new Promise((r) => setTimeout(r, 120));
    assert.ok(flushes.length >= 2, `a steady stream flushed ${flushes.length} times`);
    assert.ok((flushes[0]?.at ?? 0) < 300, `first flush after ${flushes[0]?.at} ms`);
    assert.equal(flushes.flatMap((f) => f.paths).length, 40, 'every path flushed exactly once');
  } finally {
    batcher.dispose();
  }
});
