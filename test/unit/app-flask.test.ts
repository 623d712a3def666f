import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bridgeProcesses, collector, folderWith, PYTHON, requirePython, sampleRetained, writeBlocks } from './helpers/app';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, open, parseResponses, readAll, type RawResponse } from './helpers/raw';
import { withLogged } from './helpers/server';

/** A Flask app as a tutorial writes it; the tests run it unchanged. */
const FLASK_APP = String.raw`
import hashlib, resource, time
from flask import Flask, Response, redirect, render_template, request, url_for

app = Flask(__name__)

@app.get('/')
def home():
    return render_template('home.html', name=request.cookies.get('name', 'stranger'))

@app.post('/greet')
def greet():
    response = redirect(url_for('home'))
    response.set_cookie('name', request.form['name'])
    return response

@app.get('/stream')
def stream():
    def lines():
        yield 'first\n'
        time.sleep(1)
        yield 'second\n'
    return Response(lines(), mimetype='text/plain')

@app.get('/memory')
def memory():
    return {'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}

@app.post('/upload')
def upload():
    upload = request.files['file']
    digest, size = hashlib.sha256(), 0
    while chunk := upload.stream.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return {'name': upload.filename, 'size': size, 'sha256': digest.hexdigest(),
            'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
`;

const close = 'Connection: close\r\n';

async function request(port: number, raw: string | Buffer): Promise<RawResponse> {
  const [response] = parseResponses(await exchange(port, raw, 20_000));
  assert.ok(response, 'a response');
  return response;
}

async function withFlask(run: (port: number, dir: string) => Promise<void>, reload = false): Promise<void> {
  requirePython(['flask']);
  const folder = folderWith({
    'app.py': FLASK_APP,
    'templates/home.html': '<!doctype html><title>home</title><h1>Hello, {{ name }}</h1>',
    'static/site.css': 'h1 { color: teal }',
  });
  const running = runCli([folder.dir, '--port', '0', ...(reload ? [] : ['--no-reload']), '--quiet', '--app', 'app:app', '--python', PYTHON]);
  try {
    const port = Number(/:(\d+)\/$/.exec(await waitForLine(running, /^Serving /))?.[1]);
    await waitForLine(running, /app: app:app started in \d+ ms/, 15_000);
    await run(port, folder.dir);
    running.child.kill('SIGTERM');
    assert.equal(await running.exited, 0);
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    running.child.kill('SIGKILL');
    folder.remove();
  }
}

test('a Flask app runs unchanged: a template, a form POST that redirects and sets a cookie, the cookie sent back, a static file', async () => {
  await withFlask(async (port) => {
    const home = await request(port, get('/', close));
    assert.equal(home.status, 200);
    assert.match(home.body.toString(), /<h1>Hello, stranger<\/h1>/);
    const form = 'name=Ada+Lovelace';
    const posted = await request(
      port,
      `POST /greet HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n${close}\r\n${form}`,
    );
    assert.equal(posted.status, 302);
    assert.equal(posted.headers.get('location'), '/');
    const cookie = posted.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^name="?Ada Lovelace"?; Path=\//);
    const back = await request(port, get('/', `Cookie: ${cookie.split(';')[0]}\r\n${close}`));
    assert.match(back.body.toString(), /<h1>Hello, Ada Lovelace<\/h1>/);
    assert.equal((await request(port, get('/static/site.css', close))).body.toString(), 'h1 { color: teal }');
  });
});

test('a Flask streamed response reaches the client chunk by chunk, before the app has finished', async () => {
  await withFlask(async (port) => {
    const socket = await open(port);
    const started = Date.now();
    let firstAt = 0;
    socket.on('data', (chunk: Buffer) => {
      if (firstAt === 0 && chunk.toString('latin1').includes('first')) firstAt = Date.now();
    });
    const all = readAll(socket, 10_000);
    socket.write(get('/stream', close));
    const [response] = parseResponses(await all);
    const total = Date.now() - started;
    assert.equal(response?.headers.get('transfer-encoding'), 'chunked');
    assert.equal(response?.body.toString(), 'first\nsecond\n');
    assert.ok(total >= 1000, `the app sleeps 1 s between its lines (took ${total} ms)`);
    assert.ok(firstAt - started < total - 500, `the first line came ${firstAt - started} ms in, the end ${total} ms in`);
  });
});

test('saving a Flask template restarts the app (Flask caches templates), and the page shows the change', async () => {
  await withFlask(async (port, dir) => {
    assert.match((await request(port, get('/', close))).body.toString(), /<h1>Hello, stranger<\/h1>/);
    writeFileSync(join(dir, 'templates', 'home.html'), '<!doctype html><title>home</title><h1>Welcome, {{ name }}</h1>');
    const started = Date.now();
    let body = '';
    while (!body.includes('Welcome') && Date.now() - started < 15_000) {
      await new Promise((r) => setTimeout(r, 200));
      body = (await request(port, get('/', close))).body.toString();
    }
    assert.match(body, /<h1>Welcome, stranger<\/h1>/);
  }, true);
});

test('a 20 MB multipart upload reaches Flask whole, with bounded memory in the server and in the app', async () => {
  requirePython(['flask']);
  const gc = collector();
  const folder = folderWith({ 'app.py': FLASK_APP, 'templates/home.html': '' });
  try {
    await withLogged({ root: folder.dir, app: 'app:app', python: PYTHON }, async ({ server }) => {
      const port = server.port;
      const appBefore = (JSON.parse((await request(port, get('/memory', close))).body.toString()) as { maxrss_kb: number }).maxrss_kb;
      const size = 20 * 1024 * 1024;
      const boundary = '----tiny-server-boundary';
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      const tail = `\r\n--${boundary}--\r\n`;
      const stopSampling = await sampleRetained(gc);
      const socket = await open(port);
      const answer = readAll(socket, 60_000);
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: ${head.length + size + tail.length}\r\n${close}\r\n${head}`,
      );
      const sha256 = await writeBlocks(socket, size);
      socket.write(tail);
      const [response] = parseResponses(await answer);
      const peak = await stopSampling();
      assert.equal(response?.status, 200, response?.body.toString());
      const result = JSON.parse(response?.body.toString() ?? '{}') as { name: string; size: number; sha256: string; maxrss_kb: number };
      assert.equal(result.name, 'big.bin');
      assert.equal(result.size, size);
      assert.equal(result.sha256, sha256);
      const serverMb = peak / 1024 / 1024;
      const appMb = (result.maxrss_kb - appBefore) / 1024;
      // A body read whole would hold 20 MB (twice that while concatenated); a window is 256 KiB.
      assert.ok(serverMb < 10, `the server held ${serverMb.toFixed(1)} MB at a time for a 20 MB body`);
      assert.ok(appMb < 8, `the app's peak memory grew by ${appMb.toFixed(1)} MB for a 20 MB body`);
      process.stdout.write(`# 20 MB upload: server retained at most +${serverMb.toFixed(1)} MB, app peak RSS +${appMb.toFixed(1)} MB\n`);
    });
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    folder.remove();
  }
});
