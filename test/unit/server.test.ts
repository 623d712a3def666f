import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RequestLogRecord } from '../../src/server/log';
import { startServer, type TinyServer } from '../../src/server/server';
import { exchange, get, open, parseResponses, readAll } from './helpers/raw';
import { waitFor, withLogged } from './helpers/server';

async function withServer(run: (server: TinyServer, root: string, records: RequestLogRecord[]) => Promise<void>, allowedHosts: string[] = []): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tiny-server-'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title><p>home</p>');
  try {
    await withLogged({ root, allowedHosts }, ({ server, records }) => run(server, root, records));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function statusOf(port: number, raw: string | Buffer): Promise<number> {
  const responses = parseResponses(await exchange(port, raw));
  return responses[0]?.status ?? 0;
}

const BAD_REQUESTS: ReadonlyArray<readonly [string, string | Buffer, number]> = [
  ['a target over 8 KiB', `GET /${'a'.repeat(9000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, 414],
  ['a header section over 16 KiB', `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(17000)}\r\n\r\n`, 431],
  ['a body over the limit', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n', 413],
  ['both Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['differing Content-Length values', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400],
  ['a malformed Content-Length', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3a\r\n\r\nabc', 400],
  ['a transfer coding other than chunked', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
  ['chunked after a coding not implemented', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ['a coding after chunked', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400],
  ['a Host with a port that is no number', 'GET / HTTP/1.1\r\nHost: localhost:abc\r\n\r\n', 400],
  ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@localhost\r\n\r\n', 400],
  ['a Host naming two hosts', 'GET / HTTP/1.1\r\nHost: localhost, evil.example\r\n\r\n', 400],
  ['a Host with text after an IP literal', 'GET / HTTP/1.1\r\nHost: [::1]junk\r\n\r\n', 400],
  ['an absolute-form target with userinfo', 'GET http://user@127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
  ['a target with a fragment', 'GET /page.html#top HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
  ['an absolute-form target with a fragment', 'GET http://127.0.0.1/x?a#b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
  ['an absolute-form target with an empty host', 'GET http://:80/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 400],
  // A server of files streams bodies (FILES_LIMITS): the request is answered at its head, and its
  // body, which no handler reads, is never parsed; the connection closes instead.
  ['a body no file handler reads, with a bad chunk size', 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 405],
  ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n', 400],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\r\n b\r\n\r\n', 400],
  ['a control character in a value', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x01b\r\n\r\n', 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['an unparseable request line', 'GARBAGE\r\n\r\n', 400],
  ['an unsupported version', 'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n', 505],
];

for (const [what, raw, status] of BAD_REQUESTS) {
  test(`the server answers ${status} and closes for ${what}`, async () => {
    await withServer(async (server, _root, records) => {
      const data = await exchange(server.port, raw);
      const [response] = parseResponses(data);
      assert.equal(response?.status, status, data.toString('latin1').slice(0, 200));
      assert.equal(response?.headers.get('connection'), 'close');
      await waitFor(() => records.length > 0);
      assert.equal(records[0]?.status, status);
      assert.ok((records[0]?.reason ?? '').length > 0, 'the log says why');
    });
  });
}

test('a server of files answers a request with a body at its head: a refused Host gets 403 before the body has come, and none of it is held', async () => {
  await withServer(async (server) => {
    const sockets = await Promise.all(Array.from({ length: 8 }, () => open(server.port)));
    try {
      const answers = sockets.map((socket) => {
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        socket.write(`GET /index.html HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 1048576\r\n\r\n`);
        // Most of the body, never the last byte: held whole, no answer could come.
        socket.write(Buffer.alloc(512 * 1024, 0x61));
        return () => received;
      });
      await waitFor(() => answers.every((answer) => answer().startsWith('HTTP/1.1 403 ')), 5000, 'a 403 on every connection while its body is unfinished');
      assert.ok(answers.every((answer) => /\r\nConnection: close\r\n/i.test(answer())), 'the connections close: their bodies are not read on');
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

test('a small body no file handler reads is read and dropped: the connection stays open and a pipelined request behind it is answered, also when the body comes after the answer', async () => {
  await withServer(async (server) => {
    const pipelined = parseResponses(await exchange(server.port, `POST /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc${get('/index.html', 'Connection: close\r\n')}`));
    assert.deepEqual(pipelined.map((response) => response.status), [405, 200]);
    assert.equal(pipelined[0]?.headers.get('connection'), undefined, 'kept alive');

    const socket = await open(server.port);
    const answer = readAll(socket, 5000);
    socket.write('POST /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nab');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.write(`cde${get('/index.html', 'Connection: close\r\n')}`);
    assert.deepEqual(parseResponses(await answer).map((response) => response.status), [405, 200]);
  });
});

test('a later HTTP/1.x is answered as HTTP/1.1 (RFC 9110 section 2.5), and well-formed Host values pass the parser', async () => {
  await withServer(async (server) => {
    const [later] = parseResponses(await exchange(server.port, 'GET / HTTP/1.2\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    assert.equal(later?.status, 200);
    for (const host of ['127.0.0.1', '127.0.0.1:1', 'localhost:', '[::1]', '[::1]:8000', 'app.localhost:80']) {
      assert.equal(await statusOf(server.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), 200, host);
    }
    assert.equal(await statusOf(server.port, 'FOO / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 501);
  });
});

test('a request for another host name is refused (DNS rebinding) unless allowed', async () => {
  await withServer(async (server) => {
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'), 403);
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n'), 200);
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n'), 200);
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n'), 200);
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: dev.test:8000\r\nConnection: close\r\n\r\n'), 200);
    // The check remembers the last allowed Host; a different one right after is still checked.
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'), 403);
  }, ['dev.test']);
});

test('an empty Host field is refused, also as the first request a server sees', async () => {
  await withServer(async (server) => {
    const empty = 'GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n';
    assert.equal(await statusOf(server.port, empty), 403);
    assert.equal(await statusOf(server.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 200);
    assert.equal(await statusOf(server.port, empty), 403);
  });
});

test('an absolute-form target names the host and its Host field is ignored (RFC 9112 section 3.2.2)', async () => {
  await withServer(async (server) => {
    const get = (target: string, host: string): Promise<number> =>
      statusOf(server.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.equal(await get(`http://127.0.0.1:${server.port}/`, 'evil.example'), 200);
    assert.equal(await get('http://localhost/?q=1', 'evil.example'), 200);
    assert.equal(await get('http://evil.example/', '127.0.0.1'), 403);
    // userinfo in the target is refused before any host is chosen (RFC 9110 section 4.2.4).
    assert.equal(await get('http://127.0.0.1@evil.example:80/', '127.0.0.1'), 400);
    assert.equal(await get('https://[::1]:8443/', 'evil.example'), 200);
  });
});

test('one bad client does not affect another on the same server', async () => {
  await withServer(async (server) => {
    const good = await open(server.port);
    const goodDone = readAll(good);
    good.write(get('/'));
    const bad = await exchange(server.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: \x00\r\n\r\n');
    assert.equal(parseResponses(bad)[0]?.status, 400);
    good.write(get('/', 'Connection: close\r\n'));
    const responses = parseResponses(await goodDone);
    assert.deepEqual(responses.map((r) => r.status), [200, 200]);
  });
});

test('a large file is streamed with bounded memory', async () => {
  await withServer(async (server, root) => {
    const size = 200 * 1024 * 1024;
    await new Promise<void>((done, fail) => {
      const out = createWriteStream(join(root, 'big.bin'));
      const block = Buffer.alloc(1024 * 1024, 7);
      let written = 0;
      const more = (): void => {
        while (written < size) {
          written += block.length;
          if (!out.write(block)) return void out.once('drain', more);
        }
        out.end(done);
      };
      out.on('error', fail);
      more();
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    const socket = await open(server.port, 10000);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    });
    const closed = new Promise((done) => socket.once('close', done));
    socket.write(get('/big.bin', 'Connection: close\r\n'));
    await closed;
    assert.ok(received > size, `received ${received} bytes`);
    const growth = (peak - before) / 1024 / 1024;
    assert.ok(growth < 64, `memory grew by ${growth.toFixed(1)} MiB while streaming 200 MiB`);
  });
});

test('a client that stops reading a large file pauses the stream instead of buffering it', async () => {
  await withServer(async (server, root) => {
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(64 * 1024 * 1024, 1));
    const socket = await open(server.port);
    socket.pause();
    socket.write(get('/big.bin'));
    const before = process.memoryUsage().rss;
    await new Promise((r) => setTimeout(r, 500));
    const growth = (process.memoryUsage().rss - before) / 1024 / 1024;
    assert.ok(growth < 32, `memory grew by ${growth.toFixed(1)} MiB for a client that does not read`);
    // Positive control: the paused stream resumes and delivers the whole file once the client reads.
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await waitFor(() => received >= 64 * 1024 * 1024, 10_000, 'the whole file after the client resumed');
    socket.destroy();
  });
});

test('close() frees the port and ends open connections at once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tiny-server-'));
  try {
    const result = await startServer({ root, port: 0, liveReload: false });
    assert.ok(result.ok);
    const { port } = result.server;
    const idle = await open(port);
    const closed = readAll(idle);
    await result.server.close();
    await closed;
    await assert.rejects(open(port, 1000));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('startServer() reports a missing root as a value', async () => {
  const result = await startServer({ root: join(tmpdir(), 'no-such-tiny-root'), port: 0 });
  assert.ok(!result.ok);
  assert.equal(result.error.code, 'root-missing');
  assert.match(result.error.message, /does not exist/);
});

