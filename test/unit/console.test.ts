import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli-args';
import { formatConsoleEntry, relativeFile, type ConsoleEntry } from '../../src/server/reload';
import type { ServerOptions } from '../../src/server/options';
import { createFixtureSite } from './helpers/fixture-site';
import { exchange, parseResponses, type RawResponse } from './helpers/raw';
import { withLogged } from './helpers/server';

const SAME_ORIGIN = 'Sec-Fetch-Site: same-origin\r\n';

function post(body: string | Buffer, extra = SAME_ORIGIN, path = '/.tiny-server/console'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n${extra}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}

async function send(port: number, request: Buffer | string): Promise<RawResponse> {
  const [response] = parseResponses(await exchange(port, request));
  assert.ok(response, 'a response');
  return response;
}

/** Runs `run` against a live-reload server of a small site that collects console entries. */
async function withConsole(run: (port: number, entries: ConsoleEntry[], root: string) => Promise<void>, options: Partial<ServerOptions> = {}): Promise<void> {
  const site = createFixtureSite({ 'index.html': '<p>home', 'sub/index.htm': '<p>sub', 'js/app.js': '1' });
  const entries: ConsoleEntry[] = [];
  try {
    await withLogged({ root: site.root, liveReload: true, onConsole: (entry) => entries.push(entry), ...options }, ({ server }) => run(server.port, entries, site.root));
  } finally {
    site.remove();
  }
}

const BATCH = JSON.stringify({
  entries: [
    { kind: 'log', page: '/', text: 'hello', source: { path: '/', line: 3, column: 5 } },
    { kind: 'warn', page: '/sub/', text: 'careful', source: { path: '/sub/', line: 1, column: 2 } },
    { kind: 'error', page: '/', text: 'in a script', source: { path: '/js/app.js', line: 7, column: 9 } },
    { kind: 'debug', page: '/', text: 'escaping', source: { path: '/../../etc/passwd', line: 1, column: 1 } },
    { kind: 'info', page: '/', text: 'from elsewhere', source: { url: 'https://cdn.test/lib.js', line: 2, column: 3 } },
  ],
});

test('the console endpoint accepts a same-origin batch and names each source as a file below the root', async () => {
  await withConsole(async (port, entries, root) => {
    const response = await send(port, post(BATCH));
    assert.equal(response.status, 204);
    assert.deepEqual(entries, [
      { level: 'info', kind: 'log', page: '/', text: 'hello', source: { file: `${root}/index.html`, line: 3, column: 5 } },
      { level: 'warn', kind: 'warn', page: '/sub/', text: 'careful', source: { file: `${root}/sub/index.htm`, line: 1, column: 2 } },
      { level: 'error', kind: 'error', page: '/', text: 'in a script', source: { file: `${root}/js/app.js`, line: 7, column: 9 } },
      // A path that leaves the root is never turned into a file name.
      { level: 'debug', kind: 'debug', page: '/', text: 'escaping', source: { url: '/../../etc/passwd', line: 1, column: 1 } },
      { level: 'info', kind: 'info', page: '/', text: 'from elsewhere', source: { url: 'https://cdn.test/lib.js', line: 2, column: 3 } },
    ]);
  });
});

test('an entry whose source is too long to show (a data: URL) is kept without it; the rest of the batch is logged', async () => {
  await withConsole(async (port, entries) => {
    const batch = JSON.stringify({
      entries: [
        { kind: 'log', page: '/', text: 'before' },
        { kind: 'error', page: '/', text: 'thrown in a data: script', source: { url: `data:text/javascript,${'x'.repeat(3000)}`, line: 1, column: 1 } },
        { kind: 'warn', page: '/', text: 'after', source: { path: `/${'p'.repeat(3000)}.js`, line: 1, column: 1 } },
      ],
    });
    assert.equal((await send(port, post(batch))).status, 204);
    assert.deepEqual(
      entries.map((entry) => [entry.text, entry.source]),
      [['before', undefined], ['thrown in a data: script', undefined], ['after', undefined]],
    );
  });
});

test('the console endpoint refuses other origins (403), other methods (405), bad bodies (400) and big ones (413)', async () => {
  await withConsole(async (port, entries) => {
    assert.equal((await send(port, post(BATCH, 'Sec-Fetch-Site: cross-site\r\n'))).status, 403);
    assert.equal((await send(port, post(BATCH, 'Sec-Fetch-Site: same-site\r\n'))).status, 403);
    assert.equal((await send(port, post(BATCH, 'Origin: http://evil.test\r\n'))).status, 403);
    assert.equal((await send(port, `GET /.tiny-server/console HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).status, 405);
    assert.equal((await send(port, post('{"entries": [1, 2'))).status, 400);
    assert.equal((await send(port, post('{"lines": []}'))).status, 400);
    assert.equal((await send(port, post('{"entries": [{"kind": "shout", "page": "/", "text": "x"}]}'))).status, 400);
    assert.equal((await send(port, post('{"entries": [{"kind": "log", "page": "/", "text": "x", "source": {"line": -1, "column": 1, "path": "/"}}]}'))).status, 400);
    const big = JSON.stringify({ entries: [{ kind: 'log', page: '/', text: 'x'.repeat(300 * 1024) }] });
    assert.equal((await send(port, post(big))).status, 413);
    assert.deepEqual(entries, [], 'nothing refused was delivered');
    // Positive control: the same connection details with a good batch and the page's origin.
    assert.equal((await send(port, post(BATCH, 'Origin: http://127.0.0.1\r\n'))).status, 204);
    assert.equal(entries.length, 5);
  });
});

test('the console endpoint reads a streamed body too (while an app runs) and refuses a big one', async () => {
  await withConsole(
    async (port, entries) => {
      assert.equal((await send(port, post(BATCH))).status, 204);
      assert.equal(entries.length, 5);
      const big = JSON.stringify({ entries: [{ kind: 'log', page: '/', text: 'x'.repeat(300 * 1024) }] });
      assert.equal((await send(port, post(big))).status, 413);
    },
    { limits: { streamBodies: true } },
  );
});

test('without onConsole, or with forwardConsole off, there is no console endpoint and pages get the plain tag', async () => {
  const site = createFixtureSite({ 'index.html': '<head></head><p>home' });
  const page = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Dest: document\r\nConnection: close\r\n\r\n';
  try {
    for (const options of [{}, { forwardConsole: false, onConsole: () => undefined }]) {
      await withLogged({ root: site.root, liveReload: true, ...options }, async ({ server }) => {
        // The static handler answers instead: POST is not a method for files.
        assert.equal((await send(server.port, post(BATCH))).status, 405);
        assert.match((await send(server.port, page)).body.toString(), /client\.js\?v=[\w-]+" async data-etag="[^"]+"><\/script>/);
      });
    }
    // Positive control: with onConsole the tag asks for forwarding.
    await withLogged({ root: site.root, liveReload: true, onConsole: () => undefined }, async ({ server }) => {
      assert.match((await send(server.port, page)).body.toString(), /client\.js\?v=[\w-]+" data-console data-etag="[^"]+"><\/script>/);
    });
  } finally {
    site.remove();
  }
});

test('formatConsoleEntry() writes one readable line per entry, escaping controls and indenting further lines', () => {
  const entry: ConsoleEntry = { level: 'error', kind: 'uncaught', page: '/a b.html', text: 'Uncaught Error: \u001b[2Jboom\n    at f (a b.html:3:9)', source: { file: '/srv/site/a b.html', line: 3, column: 9 } };
  assert.equal(formatConsoleEntry(entry, (file) => relativeFile('/srv/site', file)), '/a b.html uncaught error: Uncaught Error: \\x1b[2Jboom (a b.html:3:9)\n        at f (a b.html:3:9)');
  const log: ConsoleEntry = { level: 'info', kind: 'log', page: '/', text: 'hi', source: { url: 'https://cdn.test/x.js', line: 1, column: 2 } };
  assert.equal(formatConsoleEntry(log, (file) => file), '/ console.log: hi (https://cdn.test/x.js:1:2)');
  assert.equal(formatConsoleEntry({ level: 'warn', kind: 'dropped', page: '', text: 'Dropped 5 console lines' }, (f) => f), 'Dropped 5 console lines');
});

test('parseArgs() turns console forwarding off with --no-console', () => {
  const parsed = parseArgs(['--no-console'], '/srv');
  assert.ok(parsed.kind === 'run');
  assert.equal(parsed.settings.forwardConsole, false);
  const plain = parseArgs([], '/srv');
  assert.ok(plain.kind === 'run' && plain.settings.forwardConsole);
});

test('a source path through a file (index.html/) keeps its URL and the rest of the batch is logged', async () => {
  await withConsole(async (port, entries) => {
    const batch = JSON.stringify({
      entries: [
        { kind: 'log', page: '/', text: 'odd source', source: { path: '/index.html/', line: 1, column: 1 } },
        { kind: 'log', page: '/', text: 'next line', source: { path: '/', line: 2, column: 1 } },
      ],
    });
    assert.equal((await send(port, post(batch))).status, 204);
    assert.deepEqual(entries.map((e) => e.text), ['odd source', 'next line']);
    assert.deepEqual(entries[0]?.source, { url: '/index.html/', line: 1, column: 1 });
  });
});
