import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { Handler } from '../../src/server/handler';
import { Listener } from '../../src/server/listener';
import { DEFAULT_LIMITS } from '../../src/server/options';
import { ChangeBatcher, createLiveReload, toUrlPaths, type LiveReload } from '../../src/server/reload';
import { refusalReason } from '../../src/server/reload/sse';
import { fakeRequest } from './helpers/fixture-site';
import { exchange, get, open, parseResponses } from './helpers/raw';

const CLIENT = join(__dirname, '..', '..', '..', 'media', 'reload-client.js');
const EVENTS = '/.tiny-server/reload/events';
const SAME_ORIGIN = 'Sec-Fetch-Site: same-origin\r\n';

async function withReload(
  run: (port: number, reload: LiveReload, root: string) => Promise<void>,
  limits: Partial<typeof DEFAULT_LIMITS> = {},
): Promise<void> {
  const root = join('/srv', 'site');
  const reload = createLiveReload({ roots: [root], clientScriptPath: CLIENT });
  const notFound: Handler = () => ({ status: 404, headers: {}, body: Buffer.from('no\n') });
  const result = await Listener.listen({
    host: '127.0.0.1',
    port: 0,
    portAttempts: 0,
    limits: { ...DEFAULT_LIMITS, ...limits },
    handlers: [reload.handler, notFound],
    log: () => undefined,
  });
  assert.ok(result.ok, 'listener started');
  try {
    await run(result.listener.port, reload, root);
  } finally {
    reload.dispose();
    await result.listener.close();
  }
}

/** Reads an event stream off a raw socket: the response head, then `data:` events as they come. */
class EventReader {
  private raw = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, extra = SAME_ORIGIN, method = 'GET'): Promise<EventReader> {
    const socket = await open(port);
    const reader = new EventReader(socket);
    socket.write(`${method} ${EVENTS} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`);
    return reader;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `ready()` holds, rejecting after `timeoutMs`. */
  async until<T>(ready: () => T | undefined, what: string, timeoutMs = 2000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.closed) throw new Error(`Stream closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; got ${JSON.stringify(this.raw.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  head(): { status: number; headers: Map<string, string> } | undefined {
    const end = this.raw.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.raw.subarray(0, end).toString('latin1').split('\r\n');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status: Number(lines[0]?.split(' ')[1]), headers };
  }

  /** The chunked body decoded so far, and whether its last chunk has arrived. */
  body(): { text: string; ended: boolean } {
    const headEnd = this.raw.indexOf('\r\n\r\n');
    let offset = headEnd < 0 ? -1 : headEnd + 4;
    let text = '';
    while (offset >= 0) {
      const lineEnd = this.raw.indexOf('\r\n', offset);
      if (lineEnd < 0) break;
      const size = parseInt(this.raw.subarray(offset, lineEnd).toString('latin1'), 16);
      if (size === 0) return { text, ended: true };
      if (this.raw.length < lineEnd + 2 + size + 2) break;
      text += this.raw.subarray(lineEnd + 2, lineEnd + 2 + size).toString();
      offset = lineEnd + 2 + size + 2;
    }
    return { text, ended: false };
  }

  /** Every complete `data:` event so far, parsed. */
  events(): Array<Record<string, unknown>> {
    const frames = this.body().text.split('\n\n').slice(0, -1);
    return frames
      .flatMap((frame) => frame.split('\n').filter((line) => line.startsWith('data: ')))
      .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
  }

  nthEvent(n: number, timeoutMs = 2000): Promise<Record<string, unknown>> {
    return this.until(() => this.events()[n], `event ${n}`, timeoutMs);
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
      assert.deepEqual(change, { type: 'change', paths: expected });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(reader.events().length, 2, 'no second event for the same burst');
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
        assert.deepEqual(await reader.nthEvent(1), { type: 'change', paths: ['/a.css'] });
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
      for (const reader of readers) assert.deepEqual(await reader.nthEvent(1), { type: 'change', paths: ['/index.html'] });
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
      assert.deepEqual(await reader.nthEvent(1), { type: 'change', paths: ['/a.css'] });
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

test('the handler leaves other paths to the next handler', async () => {
  const reload = createLiveReload({ roots: ['/srv/site'], clientScriptPath: CLIENT });
  try {
    assert.equal(await reload.handler(fakeRequest('/.tiny-server/reload/other')), undefined);
    assert.equal(await reload.handler(fakeRequest('/index.html')), undefined);
    assert.equal((await reload.handler(fakeRequest('/.tiny-server/reload/client.js?v=1')))?.status, 200);
  } finally {
    reload.dispose();
  }
});

test('a missing client script is answered with 500 and a reason', async () => {
  const reload = createLiveReload({ roots: ['/srv/site'], clientScriptPath: '/nonexistent/reload-client.js' });
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
    ]),
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
