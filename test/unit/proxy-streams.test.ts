import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { WebSocket, WebSocketServer } from 'ws';
import { collector, folderWith, sampleRetained, writeBlocks } from './helpers/app';
import { exchange, get, open, parseResponses, readAll } from './helpers/raw';
import { withServedSite } from './helpers/serve';
import { waitFor } from './helpers/server';
import { reply, startPythonHttpServer, startUpstream, type UpstreamScript } from './helpers/upstream';

const TAG = /<script src="[./]*\.tiny-server\/reload\/client\.js\?v=[\w-]+" async><\/script>/;
const PAGE = '<!DOCTYPE html><html><head><title>app</title></head><body><p>from the upstream</p></body></html>';
const NAVIGATION = 'Sec-Fetch-Dest: document\r\nAccept: text/html\r\n';

test('a 48 MB POST is streamed to the upstream with bounded memory in the server', async () => {
  const gc = collector();
  const size = 48 * 1024 * 1024;
  // Half the body: one held whole is all of it or more, one streamed a few MB. The figure also
  // counts garbage V8 has not swept yet, which on a loaded machine has reached 17 MB.
  const limitMb = 24;
  const upstream = createServer((socket) => {
    let received = 0;
    const digest = createHash('sha256');
    readBody(socket, () => undefined, (body) => {
      received += body.length;
      digest.update(body);
      if (received === size) socket.end(reply(digest.copy().digest('hex')));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  try {
    await withServedSite({}, async ({ port }) => {
      // The figure counts what the sampler's collections could not free yet; on a loaded machine
      // V8's background sweeping may lag, so a high one is measured again (up to four uploads).
      // A body held whole would be 48 MB or more in every one.
      const peaks: number[] = [];
      for (let attempt = 0; attempt < 4 && !(peaks.length > 0 && Math.min(...peaks) < limitMb); attempt++) {
        const stopSampling = await sampleRetained(gc);
        const socket = await open(port);
        const answer = readAll(socket, 60_000);
        socket.write(`POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
        const sent = await writeBlocks(socket, size);
        const [response] = parseResponses(await answer);
        const held = await stopSampling();
        assert.equal(response?.body.toString(), sent, 'the upstream got every byte in order');
        peaks.push(held / 1024 / 1024);
      }
      const mb = Math.min(...peaks);
      assert.ok(mb < limitMb, `the server held ${peaks.map((peak) => peak.toFixed(1)).join(', ')} MB at a time for a 48 MB body`);
      process.stdout.write(`# 48 MB upload through the proxy: server retained at most +${mb.toFixed(1)} MB\n`);
    }, { proxy: { '/api': url } });
  } finally {
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});

/** For a raw upstream: skips the request head (`onHead` when it is read), then hands over the body's bytes as they come. */
function readBody(socket: Socket, onHead: () => void, onBody: (body: Buffer) => void): void {
  let head: Buffer | undefined = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (head === undefined) return onBody(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const body = head.subarray(end + 4);
    head = undefined;
    onHead();
    onBody(body);
  });
}

/** An upstream that answers at once, chunked, and echoes each piece of the body as it comes; `size` bytes end it. */
async function startEcho(size: number): Promise<{ url: string; closed: () => number; close: () => Promise<void> }> {
  let closed = 0;
  const upstream = createServer((socket) => {
    let received = 0;
    socket.on('close', () => closed++);
    socket.on('error', () => undefined);
    readBody(
      socket,
      () => socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'),
      (body) => {
        if (body.length > 0) socket.write(Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')]));
        received += body.length;
        if (received === size) socket.write('0\r\n\r\n');
      },
    );
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    closed: () => closed,
    close: () => new Promise<void>((resolve) => upstream.close(() => resolve())),
  };
}

test('an upstream that answers while the upload still arrives (an echo) gets all of it: the client\'s body is read to its end after the answer starts', async () => {
  const size = 8 * 1024 * 1024;
  const echo = await startEcho(size);
  try {
    await withServedSite({}, async ({ port, records }) => {
      const socket = await open(port);
      const answer = readAll(socket, 30_000);
      socket.write(`POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${size}\r\n\r\n`);
      const sent = await writeBlocks(socket, size);
      const [response] = parseResponses(await answer);
      assert.equal(response?.status, 200);
      assert.equal(response?.body.length, size, 'the whole echo came back');
      assert.equal(createHash('sha256').update(response?.body ?? Buffer.alloc(0)).digest('hex'), sent, 'in order');
      // The answer started before its request was complete: the connection closes after it.
      assert.equal(response?.headers.get('connection'), 'close');
      assert.equal(records.at(-1)?.status, 200);
    }, { proxy: { '/api': echo.url } });
  } finally {
    await echo.close();
  }
});

test('a client that ends its side, or sends a bad chunk, in the middle of a body whose answer has started is cut off, and so is the upstream: nothing waits for the rest', async () => {
  const echo = await startEcho(Number.MAX_SAFE_INTEGER);
  try {
    await withServedSite({}, async ({ port }) => {
      const cases = [
        { head: 'Content-Length: 1000000', rest: (socket: Socket) => socket.end() },
        { head: 'Transfer-Encoding: chunked', rest: (socket: Socket) => socket.write('zz\r\n') },
      ];
      for (const [index, { head, rest }] of cases.entries()) {
        const socket = await open(port);
        const answer = readAll(socket, 5000);
        socket.write(`POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}\r\n\r\n`);
        socket.write(head.startsWith('Content-Length') ? 'x'.repeat(1000) : `3e8\r\n${'x'.repeat(1000)}\r\n`);
        // The echo of the first piece: the answer has started.
        await new Promise((resolve) => socket.once('data', resolve));
        rest(socket);
        const bytes = await answer;
        assert.match(bytes.toString('latin1'), /^HTTP\/1\.1 200 /, 'the answer had started');
        await waitFor(() => echo.closed() === index + 1, 3000, 'the upstream connection to be closed');
      }
    }, { proxy: { '/api': echo.url } });
  } finally {
    await echo.close();
  }
});

test('a WebSocket is tunnelled through the proxy: the 101 is relayed, then frames flow both ways', async () => {
  const upstream = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => upstream.once('listening', () => resolve()));
  let upgradePath = '';
  upstream.on('connection', (socket, request) => {
    upgradePath = request.url ?? '';
    socket.send('hello from upstream');
    socket.on('message', (data) => socket.send(`echo: ${String(data)}`));
  });
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  try {
    await withServedSite({}, async ({ port, records }) => {
      const client = new WebSocket(`ws://127.0.0.1:${port}/hmr/socket?token=1`);
      const messages: string[] = [];
      client.on('message', (data) => messages.push(String(data)));
      await new Promise<void>((resolve, reject) => {
        client.once('open', () => resolve());
        client.once('error', reject);
      });
      client.send('ping');
      client.send(Buffer.alloc(200_000, 120).toString());
      await waitFor(() => messages.length === 3, 3000, 'three messages');
      assert.equal(messages[0], 'hello from upstream');
      assert.equal(messages[1], 'echo: ping');
      assert.equal(messages[2]?.length, 'echo: '.length + 200_000);
      assert.equal(upgradePath, '/socket?token=1');
      assert.equal(records[0]?.status, 101);
      const closed = new Promise((resolve) => client.once('close', resolve));
      client.close();
      await closed;
    }, { proxy: { '/hmr': url } });
  } finally {
    for (const socket of upstream.clients) socket.terminate();
    await new Promise((resolve) => upstream.close(resolve));
  }
});

/**
 * A raw upstream for tunnels: reads one request head, then `onHead` owns the socket (a half-close
 * leaves our half open). `open()` counts the connections the proxy has not ended or closed.
 */
async function startTunnelUpstream(onHead: (head: string, socket: Socket, rest: Buffer) => void): Promise<{ url: string; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const live = new Set<Socket>();
  const upstream = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    live.add(socket);
    socket.on('end', () => live.delete(socket));
    socket.on('close', () => {
      sockets.delete(socket);
      live.delete(socket);
    });
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      onHead(buffer.subarray(0, end).toString('latin1'), socket, buffer.subarray(end + 4));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    open: () => live.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        upstream.close(() => resolve());
      }),
  };
}

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n';
const asksToUpgrade = (target: string, version = '1.1'): string => `GET ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n`;

test('what a client sends after asking to upgrade waits for the answer: after a 101 it goes through the tunnel first, after any other answer it is read as the next request; an HTTP/1.0 Upgrade is not forwarded', async () => {
  const heads: string[] = [];
  const upstream = await startTunnelUpstream((head, socket, rest) => {
    heads.push(head);
    if (!/^upgrade: echo$/im.test(head)) return void socket.end(reply('not upgraded'));
    // The 101 comes late, so that the client's second write also arrives before it.
    setTimeout(() => {
      socket.write(SWITCH);
      socket.write(Buffer.concat([Buffer.from('UP:'), rest]));
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    }, 150);
  });
  try {
    await withServedSite({ 'page.html': 'a page', 'next.html': 'the next page' }, async ({ port }) => {
      const socket = await open(port);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.write(`${asksToUpgrade('/api/ws')}EARLY`);
      await new Promise((resolve) => setTimeout(resolve, 30));
      socket.write('-SECOND');
      await waitFor(() => received.includes('-SECOND'), 3000, 'the early bytes echoed');
      assert.match(received, /^HTTP\/1\.1 101 /);
      assert.equal(received.slice(received.indexOf('\r\n\r\n') + 4), 'UP:EARLY-SECOND');
      socket.write('LATER');
      await waitFor(() => received.endsWith('LATER'), 3000, 'later bytes echoed');
      socket.destroy();

      // A file answers an Upgrade with 200: the request behind it, in the same write, is answered too.
      const [page, next] = parseResponses(await exchange(port, `${asksToUpgrade('/page.html')}${get('/next.html', 'Connection: close\r\n')}`));
      assert.equal(page?.status, 200);
      assert.equal(next?.body.toString(), 'the next page');

      // HTTP/1.0 has no Upgrade (RFC 9110 section 7.8): the upstream gets a plain request.
      const [plain] = parseResponses(await exchange(port, asksToUpgrade('/api/old', '1.0')));
      assert.equal(plain?.body.toString(), 'not upgraded');
      assert.doesNotMatch(heads.at(-1) ?? '', /^upgrade:/im);
    }, { proxy: { '/api': upstream.url } });
  } finally {
    await upstream.close();
  }
});

test('a 101 that names no protocol, or one the client did not offer, is a 502 and no tunnel', async () => {
  const upstream = await startTunnelUpstream((head, socket) => {
    const upgrade = head.startsWith('GET /none ') ? 'Upgrade: \r\n' : head.startsWith('GET /other ') ? 'Upgrade: h2c\r\n' : 'Upgrade: ECHO\r\n';
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${upgrade}Connection: Upgrade\r\n\r\nFROM-UPSTREAM`);
  });
  try {
    await withServedSite({}, async ({ port }) => {
      for (const target of ['/api/none', '/api/other']) {
        const [answer] = parseResponses(await exchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: echo\r\nConnection: Upgrade, close\r\n\r\n`));
        assert.equal(answer?.status, 502, target);
        assert.doesNotMatch(answer?.body.toString() ?? '', /FROM-UPSTREAM/, target);
      }
      // The protocol the client offered, in another case, is a switch.
      const socket = await open(port);
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.write(asksToUpgrade('/api/same'));
      await waitFor(() => received.endsWith('FROM-UPSTREAM'), 3000, 'the tunnel');
      assert.match(received, /^HTTP\/1\.1 101 /);
      socket.destroy();
    }, { proxy: { '/api': upstream.url } });
  } finally {
    await upstream.close();
  }
});

test('a tunnel passes on everything an upstream sent before it closed, to a client that reads late; a half-closed tunnel that goes silent is closed after proxyTimeout', async () => {
  // More than the kernel's socket buffers hold: the last of it waits in the tunnel's own.
  const size = 8 * 1024 * 1024;
  const upstream = await startTunnelUpstream((head, socket) => {
    socket.write(SWITCH);
    // All of it, then the socket closed as most servers do: the kernel still sends what is queued, then the FIN.
    if (head.startsWith('GET /burst ')) socket.end(Buffer.alloc(size, 0x61), () => socket.destroy());
    // `/silent` sends nothing more and never ends its half.
  });
  try {
    await withServedSite({}, async ({ port }) => {
      const socket = await open(port);
      socket.write(asksToUpgrade('/api/burst'));
      socket.pause();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const reading = readAll(socket, 10_000);
      socket.resume();
      const answer = await reading;
      const body = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
      assert.equal(body.length, size, 'every byte before the end');

      const silent = await open(port);
      let head = '';
      silent.on('data', (chunk: Buffer) => (head += chunk.toString('latin1')));
      silent.write(asksToUpgrade('/api/silent'));
      await waitFor(() => head.includes('\r\n\r\n'), 3000, 'the 101');
      let closed = false;
      silent.once('close', () => (closed = true));
      silent.end();
      await waitFor(() => closed, 4000, 'the server to close the half-closed tunnel');
      await waitFor(() => upstream.open() === 0, 3000, 'the upstream connections ended');
    }, { proxy: { '/api': upstream.url }, proxyTimeout: 1 });
  } finally {
    await upstream.close();
  }
});

test('proxied HTML pages get the live-reload client: decoded from gzip, sent as identity, and HEAD has the same fields; never a fetch() or a 304', async () => {
  const script: UpstreamScript = (request, socket) => {
    if (request.headers.has('if-none-match')) return void socket.write('HTTP/1.1 304 Not Modified\r\nETag: "p1"\r\n\r\n');
    const gzip = (request.headers.get('accept-encoding') ?? '').includes('gzip');
    const fields = `Content-Type: text/html; charset=utf-8\r\nETag: "p1"\r\n${gzip ? 'Content-Encoding: gzip\r\n' : ''}`;
    socket.write(reply(gzip ? gzipSync(PAGE) : Buffer.from(PAGE), fields));
  };
  const upstream = await startUpstream(script);
  try {
    await withServedSite({}, async ({ request }) => {
      const page = await request('/', `${NAVIGATION}Accept-Encoding: gzip, deflate, br, zstd\r\n`);
      assert.equal(upstream.requests[0]?.headers.get('accept-encoding'), 'gzip, deflate, br', 'only codings the proxy can decode are offered');
      assert.match(page.body.toString(), TAG);
      assert.match(page.body.toString(), /from the upstream/);
      assert.equal(page.headers.has('content-encoding'), false);
      assert.equal(page.headers.has('etag'), false);
      assert.equal(Number(page.headers.get('content-length')), page.body.length);
      const fetched = await request('/', 'Sec-Fetch-Dest: empty\r\nAccept-Encoding: gzip\r\n');
      assert.equal(fetched.headers.get('content-encoding'), 'gzip');
      assert.deepEqual(fetched.body, gzipSync(PAGE));
      const notModified = await request('/', `${NAVIGATION}If-None-Match: "p1"\r\n`);
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body.length, 0);
      // HEAD has the fields its GET has (RFC 9110 section 9.3.2): the rewritten page's length, no coding, no validator.
      const head = await request('/', `${NAVIGATION}Accept-Encoding: gzip\r\n`, 'HEAD');
      assert.equal(head.body.length, 0);
      assert.equal(Number(head.headers.get('content-length')), page.body.length);
      assert.equal(head.headers.has('content-encoding'), false);
      assert.equal(head.headers.has('etag'), false);
      assert.match(upstream.requests.at(-1)?.requestLine ?? '', /^GET \//, 'asked upstream as the GET it stands for');
    }, { proxy: { '/': upstream.url }, liveReload: true });
  } finally {
    await upstream.close();
  }
});

test('a proxied UTF-16 page whose charset only its Content-Type names gets the live-reload client in UTF-16', async () => {
  const upstream = await startUpstream((_request, socket) => {
    socket.write(reply(Buffer.from(PAGE, 'utf16le'), 'Content-Type: text/html; charset=utf-16le\r\n'));
  });
  try {
    await withServedSite({}, async ({ request }) => {
      const page = await request('/', NAVIGATION);
      assert.equal(page.body.length % 2, 0);
      const text = page.body.toString('utf16le');
      assert.match(text, TAG);
      assert.match(text, /<p>from the upstream<\/p><\/body><\/html>$/);
    }, { proxy: { '/': upstream.url }, liveReload: true });
  } finally {
    await upstream.close();
  }
});

test('a proxied page names what decides the tag in Vary, also in its HEAD and 304; one marked no-transform, or asked for so, passes untouched; other answers keep their Vary', async () => {
  const upstream = await startUpstream((request, socket) => {
    const fields: Record<string, string> = {
      '/page': 'Content-Type: text/html\r\nVary: Accept-Encoding\r\nCache-Control: max-age=60\r\n',
      '/any': 'Content-Type: text/html\r\nVary: *\r\n',
      '/kept': 'Content-Type: text/html\r\nVary: accept-encoding\r\nCache-Control: public, no-transform\r\n',
      '/data': 'Content-Type: application/json\r\nVary: Origin\r\n',
    };
    if (request.headers.has('if-none-match')) return void socket.write('HTTP/1.1 304 Not Modified\r\nETag: "p1"\r\nVary: Accept-Encoding\r\n\r\n');
    socket.write(reply(Buffer.from(request.requestLine.startsWith('GET /data') ? '{}' : PAGE), fields[request.requestLine.split(' ')[1] ?? ''] ?? ''));
  });
  try {
    await withServedSite({}, async ({ request }) => {
      const page = await request('/page', NAVIGATION);
      assert.match(page.body.toString(), TAG);
      assert.equal(page.headers.get('vary'), 'Accept-Encoding, Sec-Fetch-Dest, Accept');
      const fetched = await request('/page', 'Sec-Fetch-Dest: empty\r\n');
      assert.equal(fetched.body.toString(), PAGE);
      assert.equal(fetched.headers.get('vary'), 'Accept-Encoding, Sec-Fetch-Dest, Accept', 'the same Vary on both variants');
      // A cache takes a 304's Vary over the stored one's: it names the same fields as the 200.
      const notModified = await request('/page', 'Sec-Fetch-Dest: empty\r\nIf-None-Match: "p1"\r\n');
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.get('vary'), 'Accept-Encoding, Sec-Fetch-Dest, Accept');
      const head = await request('/page', NAVIGATION, 'HEAD');
      assert.equal(head.headers.get('vary'), 'Accept-Encoding, Sec-Fetch-Dest, Accept');
      const asked = await request('/page', `${NAVIGATION}Cache-Control: no-transform\r\n`);
      assert.equal(asked.body.toString(), PAGE, 'a request with no-transform gets the page untouched');
      assert.equal((await request('/any', NAVIGATION)).headers.get('vary'), '*');
      const kept = await request('/kept', NAVIGATION);
      assert.equal(kept.body.toString(), PAGE, 'an answer with no-transform is not changed');
      assert.equal(kept.headers.get('vary'), 'accept-encoding');
      assert.equal((await request('/data', NAVIGATION)).headers.get('vary'), 'Origin');
    }, { proxy: { '/': upstream.url }, liveReload: true });
  } finally {
    await upstream.close();
  }
});

test('bytes read from the upstream into the shared read buffer arrive intact: a large body to a client that reads late, a page held in pieces', async () => {
  // Larger than what the kernel buffers on loopback, so the proxy's writes to the client queue up.
  const big = randomBytes(32 * 1024 * 1024);
  const pieces = ['<!DOCTYPE html><html><head><title>pieces</title></head><body>', '<p>the second piece</p>', '<p>the third piece</p></body></html>'];
  const script: UpstreamScript = async (request, socket) => {
    if (request.requestLine.startsWith('GET /big ')) {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(big);
      return;
    }
    // A chunked page is held until complete (for live reload), over several reads.
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (const piece of pieces) {
      socket.write(`${Buffer.byteLength(piece).toString(16)}\r\n${piece}\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.write('0\r\n\r\n');
  };
  const upstream = await startUpstream(script);
  try {
    await withServedSite({}, async ({ port, request }) => {
      const socket = await open(port);
      socket.pause();
      socket.write(get('/big', 'Connection: close\r\n'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const answer = readAll(socket, 30_000);
      socket.resume();
      const [response] = parseResponses(await answer);
      assert.equal(response?.body.length, big.length);
      assert.ok(response.body.equals(big), 'the streamed body is byte for byte what the upstream sent');
      const page = await request('/page', NAVIGATION);
      assert.match(page.body.toString(), TAG);
      assert.equal(page.body.toString().replace(TAG, ''), pieces.join(''));
    }, { proxy: { '/': upstream.url }, liveReload: true });
  } finally {
    await upstream.close();
  }
});

test('the proxy in front of python3 -m http.server serves its files and listings, with live reload on its pages', async () => {
  const folder = folderWith({ 'hello.txt': 'hello from python\n', 'docs/page.html': PAGE });
  try {
    const python = await startPythonHttpServer(folder.dir);
    const pyPort = python.port;
    await withServedSite({}, async ({ request, records }) => {
      const file = await request('/py/hello.txt');
      assert.equal(file.status, 200);
      assert.equal(file.body.toString(), 'hello from python\n');
      const page = await request('/py/docs/page.html', NAVIGATION);
      assert.match(page.body.toString(), TAG);
      // http.server redirects a folder without its slash to the slash form, as a relative path.
      const folderRedirect = await request('/py/docs');
      assert.equal(folderRedirect.status, 301);
      assert.match(records[0]?.reason ?? '', new RegExp(`proxy → http://127\\.0\\.0\\.1:${pyPort} `));
    }, { proxy: { '/py': python.url }, liveReload: true }).finally(() => python.stop());
  } finally {
    folder.remove();
  }
});
