import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { PendingResponse, type DeferringHandler, type Handler, type Request, type Response } from '../../src/server/handler';
import { Listener } from '../../src/server/listener';
import { DEFAULT_LIMITS } from '../../src/server/options';
import { bufferBytes } from './helpers/memory';
import { exchange, get, open, parseResponses, readAll } from './helpers/raw';
import { waitFor, withListener } from './helpers/server';

const echoed = (request: Request): Response => ({
  status: 200,
  headers: { 'Content-Type': 'text/plain; charset=utf-8' },
  body: Buffer.from(`${request.method} ${request.target} ${request.body.toString()}`),
});
const echo: Handler = echoed;

test('pipelined requests in one packet are answered in order', async () => {
  await withListener([echo], async (port) => {
    const requests = ['/a', '/b', '/c', '/d'].map((p) => get(p)).join('') + get('/e', 'Connection: close\r\n');
    const responses = parseResponses(await exchange(port, requests));
    assert.deepEqual(
      responses.map((r) => r.body.toString()),
      ['GET /a ', 'GET /b ', 'GET /c ', 'GET /d ', 'GET /e '],
    );
    assert.equal(responses.at(-1)?.headers.get('connection'), 'close');
  });
});

test('pipelined requests keep their order when an earlier answer is slower', async () => {
  const slowFirst: Handler = async (request) => {
    if (request.path === '/slow') await new Promise((r) => setTimeout(r, 50));
    return echo(request);
  };
  await withListener([slowFirst], async (port) => {
    const responses = parseResponses(await exchange(port, get('/slow') + get('/fast', 'Connection: close\r\n')));
    assert.deepEqual(responses.map((r) => r.body.toString()), ['GET /slow ', 'GET /fast ']);
  });
});

test('answers that come later without a promise (PendingResponse) keep their order, settled at once, later, or after an async handler passed', async () => {
  const passesAsync: Handler = async (request) => {
    await new Promise((r) => setTimeout(r, 5));
    return request.path === '/async' ? echoed(request) : undefined;
  };
  const deferring: DeferringHandler = (request) => {
    const pending = new PendingResponse();
    const answer = echoed(request);
    if (request.path === '/now') pending.settle(answer);
    else setTimeout(() => pending.settle(answer), request.path === '/slow' ? 40 : 1);
    // A second settle is ignored.
    setTimeout(() => pending.settle({ status: 500, headers: {} }), 60);
    return pending;
  };
  await withListener([passesAsync, deferring], async (port, records) => {
    const paths = ['/slow', '/now', '/async', '/later'];
    const responses = parseResponses(await exchange(port, paths.map((p) => get(p)).join('') + get('/last', 'Connection: close\r\n')));
    assert.deepEqual(
      responses.map((r) => `${r.status} ${r.body.toString()}`),
      [...paths, '/last'].map((p) => `200 GET ${p} `),
    );
    assert.deepEqual(records.map((r) => r.status), [200, 200, 200, 200, 200]);
  });
});

test('a streamed body nobody reads, cut off when its connection closes, is no uncaught error: the server answers on', async () => {
  const refuses: Handler = () => ({ status: 403, headers: {}, body: Buffer.from('no\n'), close: true });
  await withListener(
    [refuses],
    async (port, records) => {
      for (let i = 0; i < 2; i++) {
        const socket = await open(port);
        const answer = readAll(socket);
        socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.');
        const [response] = parseResponses(await answer);
        assert.equal(response?.status, 403);
      }
      // A client that leaves in the middle of its body.
      const socket = await open(port);
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.');
      await waitFor(() => records.length === 3, 2000, 'the third answer');
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const [after] = parseResponses(await exchange(port, get('/after', 'Connection: close\r\n')));
      assert.equal(after?.status, 403, 'still answering');
    },
    { streamBodies: true },
  );
});

test('a streamed body its client stops sending is cut off after the header timeout: its reader gets an error instead of waiting forever', async () => {
  const reads: Handler = (request) =>
    new Promise((resolve) => {
      let length = 0;
      const body = request.bodyStream;
      if (body === undefined) return resolve({ status: 500, headers: {} });
      body.on('data', (chunk: Buffer) => (length += chunk.length));
      body.on('end', () => resolve({ status: 200, headers: {}, body: Buffer.from(`${length} bytes\n`) }));
      body.on('error', (error) => resolve({ status: 400, headers: {}, body: Buffer.from(`${error.message}\n`), close: true }));
    });
  await withListener(
    [reads],
    async (port) => {
      // One that keeps sending, if slowly, is read whole.
      const steady = await open(port);
      const whole = readAll(steady);
      steady.write('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n');
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        steady.write('x');
      }
      assert.equal(parseResponses(await whole)[0]?.body.toString(), '4 bytes\n');
      const stalled = await open(port);
      const started = Date.now();
      const cut = readAll(stalled);
      stalled.write('POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.');
      const [response] = parseResponses(await cut);
      assert.equal(response?.status, 400);
      assert.match(response?.body.toString() ?? '', /the client sent no more of its body for 1 s/);
      assert.ok(Date.now() - started < 4000);
    },
    { streamBodies: true, headersTimeoutMs: 1000 },
  );
});

test('a streamed body cut off while its request waits behind a slow one gets 400 at its turn, not a handler that waits forever', async () => {
  const handler: Handler = (request) =>
    new Promise((resolve) => {
      if (request.path === '/slow') return void setTimeout(() => resolve({ status: 200, headers: {}, body: Buffer.from('slow\n') }), 2500);
      const body = request.bodyStream;
      if (body === undefined) return resolve({ status: 500, headers: {} });
      body.resume();
      body.on('end', () => resolve({ status: 200, headers: {}, body: Buffer.from('whole\n') }));
      body.on('error', (error) => resolve({ status: 400, headers: {}, body: Buffer.from(`${error.message}\n`), close: true }));
    });
  await withListener(
    [handler],
    async (port) => {
      const socket = await open(port);
      const answers = readAll(socket, 8000);
      socket.write(get('/slow') + 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.');
      const responses = parseResponses(await answers);
      assert.deepEqual(responses.map((r) => r.status), [200, 400]);
      assert.match(responses[1]?.body.toString() ?? '', /cut off: the client sent no more of its body for 1 s/);
    },
    { streamBodies: true, headersTimeoutMs: 1000 },
  );
});

const asksToUpgrade = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n`;

test('what follows a request that asks to upgrade is parsed once it is answered without a 101, also a request still arriving; a 101 given at once gets the bytes of the same read', async () => {
  const handler: Handler = (request) => {
    if (request.path === '/switch') {
      return { status: 101, headers: { Upgrade: 'echo', Connection: 'Upgrade' }, upgrade: (socket, early) => socket?.end(`early:${early?.toString() ?? ''}`) };
    }
    // Answered later, without asking to learn of the client's leaving: its socket waits paused.
    return new Promise((resolve) => setTimeout(() => resolve(echoed(request)), 50));
  };
  await withListener([handler], async (port) => {
    const socket = await open(port);
    const answers = readAll(socket, 3000);
    socket.write(`${asksToUpgrade('/a')}GET /b HTTP/1.1\r\nHo`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.write('st: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(parseResponses(await answers).map((r) => r.body.toString()), ['GET /a ', 'GET /b ']);

    const switched = (await exchange(port, `${asksToUpgrade('/switch')}EARLY`, 3000)).toString('latin1');
    assert.match(switched, /^HTTP\/1\.1 101 /);
    assert.equal(switched.slice(switched.indexOf('\r\n\r\n') + 4), 'early:EARLY');
  });
});

test('a client whose upload the handler does not read is held back while the answer streams: the stream does not make the connection read on', async () => {
  const handler: Handler = () => {
    const stream = new PassThrough();
    const timer = setInterval(() => stream.write('tick\n'), 50);
    stream.on('close', () => clearInterval(timer));
    return { status: 200, headers: {}, body: { kind: 'stream', stream } };
  };
  await withListener(
    [handler],
    async (port) => {
      const socket = await open(port);
      socket.on('data', () => undefined);
      socket.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${512 * 1024 * 1024}\r\n\r\n`);
      const block = Buffer.alloc(1024 * 1024, 0x61);
      let sent = 0;
      const deadline = Date.now() + 1500;
      // Written only as the socket drains: what the server does not read stops the client.
      while (Date.now() < deadline && sent < 256 * 1024 * 1024) {
        sent += block.length;
        if (socket.write(block)) continue;
        const drained = await Promise.race([new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500))]);
        if (!drained) break;
      }
      socket.destroy();
      // Unread, the body fills the socket buffers and a window of the server's, then the client waits.
      assert.ok(sent < 64 * 1024 * 1024, `the client got ${sent / 1024 / 1024} MiB in`);
    },
    { streamBodies: true, maxBodyBytes: 1024 * 1024 * 1024 },
  );
});

test('keep-alive serves several requests on one connection and HTTP/1.0 closes by default', async () => {
  await withListener([echo], async (port) => {
    const socket = await open(port);
    const replies: string[] = [];
    socket.on('data', (chunk: Buffer) => replies.push(chunk.toString('latin1')));
    for (const path of ['/1', '/2']) {
      const before = replies.length;
      socket.write(get(path));
      await waitFor(() => replies.length > before);
    }
    assert.ok(!socket.destroyed, 'HTTP/1.1 connection stays open');
    socket.destroy();

    const old = parseResponses(await exchange(port, 'GET /old HTTP/1.0\r\n\r\n'));
    assert.equal(old[0]?.headers.get('connection'), 'close');
    const both = parseResponses(
      await exchange(port, 'GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n'),
    );
    assert.equal(both[0]?.headers.get('connection'), 'keep-alive');
    assert.equal(both.length, 2);
  });
});

test('Expect: 100-continue gets an interim response before the body is sent', async () => {
  await withListener([echo], async (port) => {
    const socket = await open(port);
    const done = readAll(socket);
    socket.write('POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
    const interim = await new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
    assert.match(interim, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('hello');
    const all = (await done).toString('latin1');
    assert.match(all, /POST \/up hello$/);
  });
});

test('HEAD answers the headers of GET without a body', async () => {
  await withListener([echo], async (port) => {
    const data = await exchange(port, 'HEAD /h HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    const [response] = parseResponses(data, 1);
    assert.equal(response?.headers.get('content-length'), String('HEAD /h '.length));
    assert.equal(response?.body.length, 0);
    assert.ok(data.toString('latin1').endsWith('\r\n\r\n'));
  });
});

test('a stream body without length is sent chunked and logged when it ends', async () => {
  const streaming: Handler = () => {
    const stream = new PassThrough();
    setTimeout(() => stream.write('one '), 5);
    setTimeout(() => stream.end('two'), 20);
    return { status: 200, headers: { 'Content-Type': 'text/plain' }, body: { kind: 'stream', stream } };
  };
  await withListener([streaming], async (port, records) => {
    const [response] = parseResponses(await exchange(port, get('/s', 'Connection: close\r\n')));
    assert.equal(response?.headers.get('transfer-encoding'), 'chunked');
    assert.equal(response?.body.toString(), 'one two');
    await waitFor(() => records.length === 1);
    assert.equal(records[0]?.status, 200);
  });
});

test('a handler that throws gives 500 and the log says why', async () => {
  const broken: Handler = () => {
    throw new Error('disk on fire');
  };
  await withListener([broken], async (port, records) => {
    const [response] = parseResponses(await exchange(port, get('/x')));
    assert.equal(response?.status, 500);
    assert.doesNotMatch(response?.body.toString() ?? '', /disk on fire/);
    await waitFor(() => records.length === 1);
    assert.match(records[0]?.reason ?? '', /disk on fire/);
  });
});

test('every request produces one log record with method, target, status and bytes', async () => {
  await withListener([echo], async (port, records) => {
    const data = await exchange(port, get('/one') + get('/two', 'Connection: close\r\n'));
    await waitFor(() => records.length === 2);
    assert.deepEqual(records.map((r) => [r.method, r.target, r.version, r.status]), [
      ['GET', '/one', '1.1', 200],
      ['GET', '/two', '1.1', 200],
    ]);
    assert.equal(records.reduce((n, r) => n + r.bytes, 0), data.length);
    assert.match(records[0]?.client ?? '', /^127\.0\.0\.1:\d+$/);
  });
});

test('a client that sends headers too slowly gets 408 and is disconnected', async () => {
  await withListener(
    [echo],
    async (port) => {
      const socket = await open(port);
      const done = readAll(socket, 5000);
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const timer = setInterval(() => socket.write('X-Slow: 1\r\n'), 200);
      try {
        const [response] = parseResponses(await done);
        assert.equal(response?.status, 408);
      } finally {
        clearInterval(timer);
      }
    },
    { headersTimeoutMs: 1000 },
  );
});

test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
  await withListener(
    [echo],
    async (port) => {
      const socket = await open(port);
      const done = readAll(socket, 5000);
      socket.write(get('/'));
      const started = Date.now();
      await done;
      assert.ok(Date.now() - started >= 900, 'not closed before the timeout');
    },
    { keepAliveTimeoutMs: 1000 },
  );
});

test('connections beyond the cap get 503 while the others keep working', async () => {
  await withListener(
    [echo],
    async (port, _records, listener) => {
      const first = await open(port);
      const second = await open(port);
      await waitFor(() => listener.connectionCount === 2);
      const refused = (await exchange(port, get('/'))).toString('latin1');
      assert.match(refused, /^HTTP\/1\.1 503 /);
      const done = readAll(first);
      first.write(get('/ok', 'Connection: close\r\n'));
      assert.equal(parseResponses(await done)[0]?.status, 200);
      second.destroy();
    },
    { maxConnections: 2 },
  );
});

test('refused connections still draining their 503 are bounded by maxRefusing; past it a socket is closed at once', async () => {
  await withListener(
    [echo],
    async (port, _records, listener) => {
      const held = await open(port);
      await waitFor(() => listener.connectionCount === 1);
      // A refused client that keeps its socket open holds it for the linger time.
      const lingering = await open(port);
      const first = await new Promise<string>((resolve) => lingering.once('data', (c: Buffer) => resolve(c.toString('latin1'))));
      assert.match(first, /^HTTP\/1\.1 503 /);
      const flooded = (await exchange(port, get('/'))).toString('latin1');
      assert.equal(flooded, '', 'closed without an answer while maxRefusing are draining');
      // Positive control: once the draining one is gone, the next is refused with a 503 again.
      lingering.destroy();
      await new Promise((r) => setTimeout(r, 100));
      assert.match((await exchange(port, get('/'))).toString('latin1'), /^HTTP\/1\.1 503 /);
      held.destroy();
    },
    { maxConnections: 1, maxRefusing: 1, lingerMs: 10_000 },
  );
});

test('close() destroys open connections and frees the port at once', async () => {
  const result = await Listener.listen({ host: '127.0.0.1', port: 0, portAttempts: 0, limits: DEFAULT_LIMITS, handlers: [echo], log: () => undefined });
  assert.ok(result.ok);
  const port = result.listener.port;
  const socket = await open(port);
  const closed = readAll(socket);
  const started = Date.now();
  await result.listener.close();
  await closed;
  assert.ok(Date.now() - started < 1000);
  await assert.rejects(open(port, 1000));
});

test('a taken port moves to the next free one', async () => {
  await withListener([echo], async (port) => {
    const next = await Listener.listen({ host: '127.0.0.1', port, portAttempts: 5, limits: DEFAULT_LIMITS, handlers: [echo], log: () => undefined });
    assert.ok(next.ok);
    try {
      assert.ok(next.listener.port > port && next.listener.port <= port + 5);
    } finally {
      await next.listener.close();
    }
    const none = await Listener.listen({ host: '127.0.0.1', port, portAttempts: 0, limits: DEFAULT_LIMITS, handlers: [echo], log: () => undefined });
    assert.ok(!none.ok);
    assert.equal(none.error.code, 'no-free-port');
  });
});

test('the port search stops at 65535, and its message counts only the ports tried', async () => {
  const taken = await Promise.all([65534, 65535].map((port) => holdPort(port)));
  try {
    const none = await Listener.listen({ host: '127.0.0.1', port: 65534, portAttempts: 10, limits: DEFAULT_LIMITS, handlers: [echo], log: () => undefined });
    assert.ok(!none.ok);
    assert.equal(none.error.code, 'no-free-port');
    assert.equal(none.error.message, 'Ports 65534 and 65535 on 127.0.0.1 are in use');
    const last = await Listener.listen({ host: '127.0.0.1', port: 65535, portAttempts: 10, limits: DEFAULT_LIMITS, handlers: [echo], log: () => undefined });
    assert.ok(!last.ok);
    assert.equal(last.error.message, 'Port 65535 on 127.0.0.1 is in use');
  } finally {
    await Promise.all(taken.map((server) => new Promise((done) => server.close(done))));
  }
});

/** A plain server on `port` of 127.0.0.1, so that the port is in use; fails clearly when something else holds it. */
function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(new Error(`this test needs port ${port} of 127.0.0.1 free: ${error.message}`)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('many concurrent clients are all answered', async () => {
  await withListener([echo], async (port) => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => exchange(port, get(`/c${i}`, 'Connection: close\r\n'))),
    );
    replies.forEach((data, i) => assert.equal(parseResponses(data)[0]?.body.toString(), `GET /c${i} `));
  });
});

test('requests pipelined after Connection: close are not processed', async () => {
  const seen: string[] = [];
  const recording: Handler = (request) => {
    seen.push(request.path);
    return echo(request);
  };
  await withListener([recording], async (port) => {
    const responses = parseResponses(await exchange(port, get('/first', 'Connection: close\r\n') + get('/second')));
    assert.deepEqual(responses.map((r) => r.body.toString()), ['GET /first ']);
    assert.deepEqual(seen, ['/first']);
  });
});

test('a large buffered response outlives the keep-alive timeout while the client reads slowly', async () => {
  const big = Buffer.alloc(8 * 1024 * 1024, 97);
  const handler: Handler = () => ({ status: 200, headers: {}, body: big });
  await withListener(
    [handler],
    async (port) => {
      const socket = await open(port);
      socket.pause();
      socket.write(get('/big', 'Connection: close\r\n'));
      await new Promise((r) => setTimeout(r, 2500));
      const done = readAll(socket, 10000);
      socket.resume();
      const [response] = parseResponses(await done);
      assert.equal(response?.body.length, big.length);
    },
    { keepAliveTimeoutMs: 500 },
  );
});

test('a large buffer body is sent in slices, whole, and the connection stays usable', async () => {
  const big = Buffer.alloc(9 * 1024 * 1024 + 5);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const handler: Handler = () => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: big });
  await withListener([handler], async (port, records) => {
    // Two pipelined GETs: the sliced body must not swallow or delay the answer that follows.
    const responses = parseResponses(await exchange(port, get('/a') + get('/b', 'Connection: close\r\n'), 10000));
    assert.equal(responses.length, 2);
    for (const response of responses) {
      assert.equal(response.headers.get('content-length'), String(big.length));
      assert.ok(response.body.equals(big), 'body byte for byte');
    }
    const [head] = parseResponses(await exchange(port, 'HEAD /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 1);
    assert.equal(head?.headers.get('content-length'), String(big.length));
    assert.equal(head?.body.length, 0);
    assert.deepEqual(records.map((r) => r.status), [200, 200, 200]);
    assert.ok((records[0]?.bytes ?? 0) > big.length, 'bytes logged with the head');
  });
});

test('a file that is shorter than its promised length ends the connection instead of hanging', async () => {
  const { mkdtempSync, openSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'tiny-short-'));
  const path = join(dir, 'short.bin');
  writeFileSync(path, Buffer.alloc(1000, 1));
  const shrunk: Handler = () => ({ status: 200, headers: {}, body: { kind: 'file', fd: openSync(path, 'r'), start: 0, end: 4999 } });
  try {
    await withListener([shrunk], async (port, records) => {
      const data = await exchange(port, get('/short') + get('/next'));
      assert.match(data.toString('latin1'), /Content-Length: 5000/);
      assert.ok(data.length < 5000, 'the connection closed without the missing bytes');
      await waitFor(() => records.length === 1);
      assert.match(records[0]?.reason ?? '', /1000 of 5000/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an HTTP/1.0 stream without a length is close-delimited and ends the connection', async () => {
  const streaming: Handler = (request) => {
    if (request.path !== '/s') return echo(request);
    const stream = new PassThrough();
    setTimeout(() => stream.end('all of it'), 10);
    return { status: 200, headers: {}, body: { kind: 'stream', stream } };
  };
  await withListener([streaming], async (port) => {
    const data = await exchange(port, 'GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /after HTTP/1.0\r\n\r\n');
    const text = data.toString('latin1');
    assert.match(text, /Connection: close\r\n\r\nall of it$/);
    assert.doesNotMatch(text, /after/);
  });
});

test('pipelined answers wait while the client does not read (no unbounded buffering)', async () => {
  const big = Buffer.alloc(4 * 1024 * 1024, 98);
  let answered = 0;
  const handler: Handler = () => {
    answered++;
    return { status: 200, headers: {}, body: big };
  };
  await withListener([handler], async (port) => {
    const socket = await open(port);
    socket.pause();
    socket.write(Array.from({ length: 20 }, () => get('/big')).join(''));
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(answered <= 3, `answered ${answered} of 20 while the client read nothing`);
    // Positive control: once the client reads, every answer comes.
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await waitFor(() => answered === 20 && received >= 20 * big.length, 20_000, 'all 20 answers after the client read');
    socket.destroy();
  });
});

test('bodies pipelined behind a slow answer are held up to maxQueuedBytes, the rest waits in the socket', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const handler: Handler = async (request) => {
    if (request.path === '/slow') await gate;
    return { status: 200, headers: {}, body: Buffer.from(`${request.path} ${request.body.length}`) };
  };
  const body = Buffer.alloc(1024 * 1024, 120);
  const count = 40;
  await withListener(
    [handler],
    async (port, records, listener) => {
      const socket = await open(port);
      const done = readAll(socket, 20000);
      const before = await bufferBytes();
      socket.write(get('/slow'));
      // The same body buffer each time: the client itself holds 1 MiB however much it queues.
      for (let i = 0; i < count; i++) {
        socket.write(`POST /p${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`);
        socket.write(body);
      }
      let held = 0;
      let grown = 0;
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 100));
        held = Math.max(held, listener.heldBytes);
        grown = Math.max(grown, (await bufferBytes()) - before);
      }
      assert.ok(grown < 8 * 1024 * 1024, `buffers grew by ${(grown / 1048576).toFixed(1)} MiB while ${count} MiB were sent`);
      // One socket read (64 KiB) may land past the cap before reading pauses.
      assert.ok(held <= 256 * 1024 + 64 * 1024, `held ${held} bytes of queued bodies`);
      assert.equal(records.length, 0, 'nothing answered while /slow waits');
      // Positive control: the bodies were sent and are read, whole and in order, as the queue drains.
      release();
      const responses = parseResponses(await done);
      assert.deepEqual(
        responses.map((r) => r.body.toString()),
        ['/slow 0', ...Array.from({ length: count }, (_, i) => `/p${i} ${body.length}`)],
      );
    },
    { maxQueuedBytes: 256 * 1024, maxBodyBytes: 2 * 1024 * 1024 },
  );
});
