import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bridgeProcesses, folderWith, PYTHON, requirePython } from './helpers/app';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, parseResponses, type RawResponse } from './helpers/raw';
import { waitFor, withLogged, type LoggedServer } from './helpers/server';

/** A tutorial's first app, and small apps for each way an app can go wrong, routed by path. */
const APPS = String.raw`
import json, os, sys, time

def tutorial(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8')])
    return [b'Hello, ', b'WSGI!\n']

def environ_json(environ, start_response):
    keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'CONTENT_TYPE', 'CONTENT_LENGTH',
            'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'HTTP_HOST', 'HTTP_X_TWICE',
            'HTTP_X_DASHED', 'wsgi.url_scheme', 'wsgi.multithread', 'wsgi.multiprocess', 'wsgi.run_once',
            'wsgi.input_terminated']
    out = {k: environ.get(k) for k in keys}
    out['wsgi.version'] = list(environ['wsgi.version'])
    out['body'] = environ['wsgi.input'].read().decode('latin-1')
    out['file_wrapper'] = callable(environ.get('wsgi.file_wrapper'))
    environ['wsgi.errors'].write('environ was asked for\n')
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]

def raise_before(environ, start_response):
    raise ValueError('broken <before> start_response')

def raise_after(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'partial'
    time.sleep(0.2)
    raise RuntimeError('broken after the first chunk')

def returns_str(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['text, not bytes']

def not_iterable(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return 42

def hop_by_hop(environ, start_response):
    start_response('200 OK', [('Connection', 'close')])
    return [b'x']

def slow(environ, start_response):
    time.sleep(3)
    start_response('200 OK', [])
    return [b'late']

def crash(environ, start_response):
    os._exit(7)

class Closing:
    def __init__(self, marker):
        self.marker = marker
    def __iter__(self):
        for i in range(100000):
            yield b'chunk %d\n' % i
            time.sleep(0.01)
    def close(self):
        with open(self.marker, 'w') as f:
            f.write('closed')

def endless(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Closing(environ['QUERY_STRING'])

ROUTES = {name: value for name, value in globals().items() if callable(value) and not isinstance(value, type)}

def app(environ, start_response):
    name = environ['PATH_INFO'].strip('/').split('/')[0] or 'tutorial'
    return ROUTES.get(name, tutorial)(environ, start_response)
`;

function site(): { dir: string; remove: () => void } {
  return folderWith({ 'apps.py': APPS, 'index.html': '<!doctype html><p>static home</p>', 'static.txt': 'a file' });
}

async function request(port: number, raw: string): Promise<RawResponse> {
  const [response] = parseResponses(await exchange(port, raw, 10_000), raw.startsWith('HEAD') ? 1 : 0);
  assert.ok(response, 'a response');
  return response;
}

const close = 'Connection: close\r\n';

test('a tutorial app runs with --app module:callable from the CLI; files answer first; Ctrl-C leaves no Python process', async () => {
  requirePython();
  const folder = folderWith({
    'tutorial.py': "def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'Hello, ', b'world!']\n",
    'page.html': '<p>a file</p>',
  });
  const running = runCli([folder.dir, '--port', '0', '--no-reload', '--app', 'tutorial:app', '--python', PYTHON]);
  try {
    const port = Number(/:(\d+)\/$/.exec(await waitForLine(running, /^Serving /))?.[1]);
    await waitForLine(running, /app: tutorial:app started in \d+ ms/, 10_000);
    const hello = await request(port, get('/anything/at/all', close));
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'Hello, world!');
    assert.equal(hello.headers.get('content-type'), 'text/plain');
    const file = await request(port, get('/page.html', close));
    assert.equal(file.body.toString(), '<p>a file</p>');
    const source = await request(port, get('/tutorial.py', close));
    assert.equal(source.body.toString(), 'Hello, world!', 'the app answers for its own source file');
    assert.equal(bridgeProcesses(folder.dir).length, 1, 'one bridge process runs');
    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0);
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    running.child.kill('SIGKILL');
    folder.remove();
  }
});

/** Runs `run` with a server that runs apps.py's `app`, then checks that no bridge process is left. */
async function withApp(options: { timeout?: number; mount?: string }, run: (logged: LoggedServer, lines: string[], dir: string) => Promise<void>): Promise<void> {
  requirePython();
  const folder = site();
  const lines: string[] = [];
  try {
    await withLogged(
      {
        root: folder.dir,
        app: 'apps:app',
        python: PYTHON,
        appTimeout: options.timeout ?? 30,
        appMount: options.mount ?? '/',
        appLog: (line) => lines.push(line),
      },
      (logged) => run(logged, lines, folder.dir),
    );
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    folder.remove();
  }
}

test('the environ follows PEP 3333: latin-1 PATH_INFO, joined fields, fields with _ dropped, a streamed chunked body', async () => {
  await withApp({}, async ({ server }, lines) => {
    const body = 'a=1&b=' + 'x'.repeat(300_000);
    const chunked = `${(body.length).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const response = await request(
      server.port,
      `POST /environ_json/caf%C3%A9%20x?q=1&r=%20 HTTP/1.1\r\nHost: localhost:${server.port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `X-Twice: one\r\nX-Twice: two\r\nX-Dashed: real\r\nX_Dashed: forged\r\nTransfer-Encoding: chunked\r\n${close}\r\n${chunked}`,
    );
    assert.equal(response.status, 200, response.body.toString());
    const environ = JSON.parse(response.body.toString()) as Record<string, unknown>;
    assert.equal(environ.REQUEST_METHOD, 'POST');
    assert.equal(environ.SCRIPT_NAME, '');
    assert.equal(environ.PATH_INFO, '/environ_json/caf\u00c3\u00a9 x', 'UTF-8 bytes carried as latin-1 text');
    assert.equal(environ.QUERY_STRING, 'q=1&r=%20');
    assert.equal(environ.CONTENT_TYPE, 'application/x-www-form-urlencoded');
    assert.equal(environ.CONTENT_LENGTH, null, 'a chunked body has no length; input_terminated says to read to the end');
    assert.equal(environ['wsgi.input_terminated'], true);
    assert.equal(environ.SERVER_NAME, '127.0.0.1');
    assert.equal(environ.SERVER_PORT, String(server.port));
    assert.equal(environ.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(environ.REMOTE_ADDR, '127.0.0.1');
    assert.equal(environ.HTTP_HOST, `localhost:${server.port}`);
    assert.equal(environ.HTTP_X_TWICE, 'one, two');
    assert.equal(environ.HTTP_X_DASHED, 'real', 'X_Dashed cannot pose as X-Dashed');
    assert.deepEqual(environ['wsgi.version'], [1, 0]);
    assert.equal(environ['wsgi.url_scheme'], 'http');
    assert.equal(environ['wsgi.multithread'], true);
    assert.equal(environ['wsgi.multiprocess'], false);
    assert.equal(environ['wsgi.run_once'], false);
    assert.equal(environ.file_wrapper, true);
    assert.equal(environ.body, body);
    await waitFor(() => lines.some((l) => l.includes('wsgi.errors: environ was asked for')), 3000, 'the wsgi.errors line');
  });
});

test('a mounted app gets only its prefix, as SCRIPT_NAME, and a file still answers first', async () => {
  await withApp({ mount: '/api/' }, async ({ server }) => {
    const response = await request(server.port, get('/api/environ_json/x?y', close));
    const environ = JSON.parse(response.body.toString()) as Record<string, unknown>;
    assert.equal(environ.SCRIPT_NAME, '/api');
    assert.equal(environ.PATH_INFO, '/environ_json/x');
    assert.equal((await request(server.port, get('/elsewhere', close))).status, 404, 'outside the mount: the static 404');
    assert.equal((await request(server.port, get('/static.txt', close))).body.toString(), 'a file');
  });
});
