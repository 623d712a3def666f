import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { watchTree } from '../../src/server/reload';
import { bridgeProcesses, collector, folderWith, processesMentioning, PYTHON, requirePython, retained } from './helpers/app';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, open, parseResponses, readAll, type RawResponse } from './helpers/raw';
import { waitFor, withLogged, type LoggedServer } from './helpers/server';

/** A tutorial's first app, and small apps for each way an app can go wrong, routed by path. */
const APPS = String.raw`
import json, os, sys, time

def tutorial(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8')])
    return [b'Hello, ', b'WSGI!\n']

def environ_json(environ, start_response):
    keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'CONTENT_TYPE', 'CONTENT_LENGTH',
            'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'HTTP_HOST', 'HTTP_X_TWICE', 'HTTP_X_QUOTED',
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

def ignore_body(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'did not read it']

def exc_info(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    try:
        raise KeyError('missing')
    except KeyError:
        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'replaced by the error handler']

def write_callable(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'written, ')
    return [b'', b'then returned']

def no_content(environ, start_response):
    start_response('204 No Content', [('X-Kept', 'yes')])
    return [b'dropped']

def file_wrapper(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return environ['wsgi.file_wrapper'](open(__file__, 'rb'), 4096)

def download(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    block = b'z' * 65536
    for i in range(int(environ['QUERY_STRING'])):
        yield block

def odd_names(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Constructor', 'c'), ('toString', 't'),
                              ('__proto__', 'p'), ('X-Case', 'a'), ('x-case', 'b'), ('X-CASE', 'c'),
                              ('Set-Cookie', 'a=1'), ('set-cookie', 'b=2')])
    return [b'odd names']

def big_head(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'v' * 1000000)])
    return [b'b' * 60000]

def too_big_head(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'v' * 1100000)])
    return [b'never sent']

def huge_error(environ, start_response):
    raise ValueError('\U0001F600' * 70000)

def crash(environ, start_response):
    os._exit(7)

def huge_log(environ, start_response):
    # 4-byte characters, so a cut by bytes alone would split one.
    environ['wsgi.errors'].write('payload: ' + '\U0001F600' * 300000 + '\n')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'logged']

def record(environ, start_response):
    with open(environ['QUERY_STRING'], 'w') as f:
        f.write(environ['REQUEST_METHOD'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'recorded']

class Weird(Exception):
    def __str__(self):
        return 1 / 0

def weird_error(environ, start_response):
    raise Weird()

def list_headers(environ, start_response):
    start_response('200 OK', [['Content-Type', 'text/plain'], ('X-Tuple', 'yes'), ['X-List', 'yes']])
    return [b'lists are pairs too']

def three_item_header(environ, start_response):
    start_response('200 OK', [['Content-Type', 'text/plain', 'extra']])
    return [b'never sent']

def str_header(environ, start_response):
    start_response('200 OK', ['ab'])
    return [b'never sent']

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
    '__pycache__/tutorial.cpython-311.pyc': 'compiled',
    'lib/helper.PYC': 'compiled',
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
    for (const path of ['/__pycache__/tutorial.cpython-311.pyc', '/lib/helper.PYC', '/tutorial%2Epy', '/__pycache__/']) {
      assert.equal((await request(port, get(path, close))).body.toString(), 'Hello, world!', `${path} is not served as a file`);
    }
    assert.equal(bridgeProcesses(folder.dir).length, 1, 'one bridge process runs');
    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0);
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    running.child.kill('SIGKILL');
    folder.remove();
  }
});

test('a server killed with SIGKILL leaves no Python process: the bridge exits when its pipe closes', async () => {
  requirePython();
  const folder = site();
  const running = runCli([folder.dir, '--port', '0', '--no-reload', '--app', 'apps:app', '--python', PYTHON]);
  try {
    await waitForLine(running, /app: apps:app started in \d+ ms/, 10_000);
    assert.equal(bridgeProcesses(folder.dir).length, 1);
    running.child.kill('SIGKILL');
    await running.exited;
    await waitFor(() => bridgeProcesses(folder.dir).length === 0, 5000, 'the bridge to exit');
  } finally {
    running.child.kill('SIGKILL');
    folder.remove();
  }
});

/**
 * An app that starts a helper program, one that ignores SIGTERM, a multiprocessing worker (which
 * Python's own atexit hook joins), a multiprocessing pool and a forked child, and whose atexit
 * handler, registered first so that it runs last, appends its pid to `saved`. It answers "<its
 * pid> <the helper's pid>".
 */
function spawningApp(tag: string, saved: string): string {
  return [
    'import atexit, os, subprocess, sys, time',
    'def save():',
    `    with open(${JSON.stringify(saved)}, 'a') as out:`,
    "        out.write('%d\\n' % os.getpid())",
    'atexit.register(save)',
    'import multiprocessing',
    'worker = multiprocessing.Process(target=time.sleep, args=(120,))',
    'worker.start()',
    "pool = multiprocessing.get_context('fork').Pool(2)",
    'pool.map(abs, range(4))',
    `helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', ${JSON.stringify(tag)}])`,
    // One that ignores SIGTERM: only a SIGKILL ends it.
    `stubborn = subprocess.Popen([sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)', ${JSON.stringify(tag)}])`,
    'if os.fork() == 0:',
    '    time.sleep(120)',
    '    os._exit(0)',
    'def app(environ, start_response):',
    "    start_response('200 OK', [('Content-Type', 'text/plain')])",
    "    return [('%d %d' % (os.getpid(), helper.pid)).encode()]",
    '',
  ].join('\n');
}

/** What a test of spawningApp run by the CLI gets. */
interface SpawningRun {
  readonly running: ReturnType<typeof runCli>;
  readonly port: number;
  readonly dir: string;
  /** The file the app's atexit handler appends its pid to. */
  readonly saved: string;
  /** Pids of the programs the app started (see spawningApp). */
  readonly helpers: () => number[];
}

/** Runs spawningApp from the CLI, started and answering, then kills whatever of it is left. */
async function withSpawningCli(run: (spawned: SpawningRun) => Promise<void>): Promise<void> {
  requirePython();
  const tag = `tiny-helper-${process.pid}-${Date.now()}`;
  const folder = folderWith({});
  const saved = `${folder.dir}-saved`;
  writeFileSync(join(folder.dir, 'spawner.py'), spawningApp(tag, saved));
  const helpers = (): number[] => processesMentioning(tag);
  const running = runCli([folder.dir, '--port', '0', '--no-reload', '--app', 'spawner:app', '--python', PYTHON]);
  try {
    const port = Number(/:(\d+)\/$/.exec(await waitForLine(running, /^Serving /))?.[1]);
    await waitForLine(running, /app: spawner:app started in \d+ ms/, 10_000);
    await run({ running, port, dir: folder.dir, saved, helpers });
  } finally {
    running.child.kill('SIGKILL');
    for (const pid of [...helpers(), ...bridgeProcesses(folder.dir)]) process.kill(pid, 'SIGKILL');
    folder.remove();
    rmSync(saved, { force: true });
  }
}

test('what an app starts ends with its process: a replaced app and Ctrl-C leave no helper, worker or fork behind, and the app\'s atexit handlers run in the app\'s process only', async () => {
  await withSpawningCli(async ({ running, port, dir, saved, helpers }) => {
    const [first, firstHelper] = (await request(port, get('/', close))).body.toString().split(' ').map(Number);
    assert.ok(helpers().includes(firstHelper as number), 'the app started its helper');
    assert.equal(helpers().length, 2, 'and the one that ignores SIGTERM');
    assert.equal(bridgeProcesses(dir).length, 5, 'the bridge, its multiprocessing worker, its pool of 2 and its fork');
    // Saving the app replaces its process; what the old one started goes with it.
    writeFileSync(join(dir, 'spawner.py'), `${readFileSync(join(dir, 'spawner.py'), 'utf8')}# saved\n`);
    await waitForLine(running, /app: spawner:app restarted in \d+ ms/, 10_000);
    await waitFor(() => !helpers().includes(firstHelper as number), 5000, "the replaced app's helper to end");
    await waitFor(() => helpers().length === 2 && bridgeProcesses(dir).length === 5, 5000, "the replaced app's other processes to end");
    const [second] = (await request(port, get('/', close))).body.toString().split(' ').map(Number);
    // Ctrl-C twice, as a person does when a stop takes a moment: the stop goes on, not cut short.
    running.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 100));
    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0);
    await waitFor(() => helpers().length === 0 && bridgeProcesses(dir).length === 0, 5000, 'no process of the app to be left');
    // Each app process ran its handler last, after multiprocessing's own hook had joined the
    // worker, which the group's SIGTERM ended; no fork ran it.
    assert.equal(readFileSync(saved, 'utf8'), `${first}\n${second}\n`);
  });
});

test('a server killed with SIGKILL leaves nothing of the app behind: the bridge ends what the app started when its pipe closes, and runs its atexit handlers', async () => {
  await withSpawningCli(async ({ running, port, dir, saved, helpers }) => {
    const [pid] = (await request(port, get('/', close))).body.toString().split(' ').map(Number);
    running.child.kill('SIGKILL');
    await running.exited;
    await waitFor(() => helpers().length === 0 && bridgeProcesses(dir).length === 0, 6000, 'no process of the app to be left');
    assert.equal(readFileSync(saved, 'utf8'), `${pid}\n`);
  });
});

test('an interpreter started through a launcher that stays its parent (a virtual environment\'s python on Windows, a shell script) keeps its app running', async () => {
  requirePython();
  const folder = folderWith({ 'pid.py': "import os\ndef app(environ, start_response):\n    start_response('200 OK', [])\n    return [str(os.getpid()).encode()]\n" });
  const launcher = `${folder.dir}-python.sh`;
  // No exec: the shell stays the interpreter's parent, between it and the server.
  writeFileSync(launcher, `#!/bin/sh\n${PYTHON} "$@"\nexit $?\n`, { mode: 0o755 });
  const lines: string[] = [];
  try {
    await withLogged({ root: folder.dir, app: 'pid:app', python: launcher, appLog: (line) => lines.push(line) }, async ({ server }) => {
      await waitFor(() => lines.some((l) => /pid:app started in/.test(l)), 15_000, 'the app to start');
      const first = (await request(server.port, get('/', close))).body.toString();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.equal((await request(server.port, get('/', close))).body.toString(), first, 'the same process answers');
      assert.equal(lines.some((l) => /restarted|stopped/.test(l)), false, JSON.stringify(lines));
    });
  } finally {
    rmSync(launcher, { force: true });
    folder.remove();
  }
});

test('a bridge whose app never finishes loading ends when the server is killed, though nothing reads its pipe yet', async () => {
  requirePython();
  const folder = folderWith({ 'hangs.py': 'import threading\nthreading.Event().wait()\n' });
  const running = runCli([folder.dir, '--port', '0', '--no-reload', '--app', 'hangs:app', '--python', PYTHON]);
  try {
    await waitForLine(running, /^Serving /);
    await waitFor(() => bridgeProcesses(folder.dir).length === 1, 10_000, 'the bridge to start');
    running.child.kill('SIGKILL');
    await running.exited;
    await waitFor(() => bridgeProcesses(folder.dir).length === 0, 6000, 'the bridge to end');
  } finally {
    for (const pid of bridgeProcesses(folder.dir)) process.kill(pid, 'SIGKILL');
    folder.remove();
  }
});

/** Runs `run` with a server that runs apps.py's `app`, then checks that no bridge process is left. */
async function withApp(options: { timeout?: number; mount?: string; threads?: number }, run: (logged: LoggedServer, lines: string[], dir: string) => Promise<void>): Promise<void> {
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
        ...(options.threads === undefined ? {} : { appThreads: options.threads }),
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
        `X-Twice: one\r\nX-Twice: two\r\nX-Quoted: say "hi" \\ back\r\nX-Dashed: real\r\nX_Dashed: forged\r\nTransfer-Encoding: chunked\r\n${close}\r\n${chunked}`,
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
    assert.equal(environ.HTTP_X_QUOTED, 'say "hi" \\ back', 'quotes and backslashes survive the REQUEST frame\'s JSON');
    assert.equal(environ.HTTP_X_DASHED, 'real', 'X_Dashed cannot pose as X-Dashed');
    assert.deepEqual(environ['wsgi.version'], [1, 0]);
    assert.equal(environ['wsgi.url_scheme'], 'http');
    assert.equal(environ['wsgi.multithread'], true);
    assert.equal(environ['wsgi.multiprocess'], false);
    assert.equal(environ['wsgi.run_once'], false);
    assert.equal(environ.file_wrapper, true);
    assert.equal(environ.body, body);
    await waitFor(() => lines.some((l) => l.includes('wsgi.errors: environ was asked for')), 3000, 'the wsgi.errors line');

    // Equal Content-Length values, repeated or as a list, are one number (RFC 3875: CONTENT_LENGTH is digits).
    for (const fields of ['Content-Length: 3\r\nContent-Length: 3\r\n', 'Content-Length: 3, 3\r\n']) {
      const twice = await request(server.port, `POST /environ_json HTTP/1.1\r\nHost: 127.0.0.1\r\n${fields}${close}\r\nabc`);
      const seen = JSON.parse(twice.body.toString()) as Record<string, unknown>;
      assert.equal(seen.CONTENT_LENGTH, '3', fields);
      assert.equal(seen.body, 'abc');
    }
  });
});

test('a mounted app gets only its prefix, as SCRIPT_NAME, and a file still answers first', async () => {
  await withApp({ mount: '/api/' }, async ({ server }) => {
    const response = await request(server.port, get('/api/environ_json/x?y', close));
    const environ = JSON.parse(response.body.toString()) as Record<string, unknown>;
    assert.equal(environ.SCRIPT_NAME, '/api');
    assert.equal(environ.PATH_INFO, '/environ_json/x');
    assert.equal((await request(server.port, get('/elsewhere', close))).status, 404, 'outside the mount: the static 404');
    // A browser's navigation below the mount, which a 404 page would answer outside it, reaches the app.
    const navigation = await request(server.port, get('/api/tutorial', `Accept: text/html\r\nSec-Fetch-Dest: document\r\n${close}`));
    assert.equal(navigation.body.toString(), 'Hello, WSGI!\n');
    assert.equal((await request(server.port, get('/static.txt', close))).body.toString(), 'a file');
  });
});

test('response fields named like an object\'s own properties, repeated in another case, or nearly a megabyte long reach the client as sent', async () => {
  await withApp({}, async ({ server }) => {
    const response = await request(server.port, get('/odd_names', close));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), 'odd names');
    assert.equal(response.headers.get('constructor'), 'c');
    assert.equal(response.headers.get('tostring'), 't');
    assert.equal(response.headers.get('__proto__'), 'p');
    assert.equal(response.headers.get('x-case'), 'a, b, c');
    assert.equal(response.headers.get('set-cookie'), 'a=1, b=2');
    // A head too large to share a frame with its body comes in START, the body after it.
    const big = await request(server.port, get('/big_head', close));
    assert.equal(big.status, 200);
    assert.equal(big.headers.get('x-big')?.length, 1_000_000);
    assert.equal(big.body.length, 60_000);
  });
});

test('a response head or an error message too large for one frame is a 500 for that request; the app process and its other requests go on', async () => {
  await withApp({}, async ({ server, records }) => {
    const tutorial = await request(server.port, get('/tutorial', close));
    assert.equal(tutorial.status, 200);
    for (const path of ['/too_big_head', '/huge_error']) {
      assert.equal((await request(server.port, get(path, close))).status, 500, path);
      assert.match((await recordFor(records, path)).reason ?? '', /app error: ValueError/, path);
    }
    await stillAnswers(server.port);
    assert.ok(!records.some((r) => /stopped|broke the protocol/.test(r.reason ?? '')), 'the app process was not stopped');
  });
});

test('a wsgi.errors write or an import error too large for one frame is logged clipped, saying so; the app process and its other requests go on', async () => {
  await withApp({}, async ({ server }, lines, dir) => {
    await stillAnswers(server.port);
    const [before] = bridgeProcesses(dir);
    const response = await request(server.port, get('/huge_log', close));
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(response.body.toString(), 'logged');
    await waitFor(() => lines.some((l) => l.startsWith('app: wsgi.errors: payload')), 5000, 'the wsgi.errors line');
    const line = lines.find((l) => l.startsWith('app: wsgi.errors: payload')) as string;
    // Cut between characters, never inside one (which the log would show as U+FFFD).
    assert.match(line, /^app: wsgi\.errors: payload: \u{1F600}+… \(\d+ more characters\)$/u);
    assert.ok(line.length > 500_000, `most of the text is kept (${line.length} characters)`);
    await stillAnswers(server.port);
    assert.deepEqual(bridgeProcesses(dir), [before], 'the same process');
  });
  requirePython();
  const folder = folderWith({ 'loud.py': "raise ValueError('x' * 2000000)\n" });
  try {
    await withLogged({ root: folder.dir, app: 'loud:app', python: PYTHON }, async ({ server, records }) => {
      assert.equal((await request(server.port, get('/dynamic', close))).status, 500);
      assert.match((await recordFor(records, '/dynamic')).reason ?? '', /app not started: ValueError: x+… \(\d+ more characters\)/);
    });
  } finally {
    folder.remove();
  }
});

/** The request's log record, once written. */
async function recordFor(records: LoggedServer['records'], target: string): Promise<NonNullable<LoggedServer['records'][number]>> {
  await waitFor(() => records.some((r) => r.target === target), 5000, `the log record of ${target}`);
  return records.find((r) => r.target === target) as NonNullable<LoggedServer['records'][number]>;
}

/** Another client is still answered, by a file and by the app. */
async function stillAnswers(port: number): Promise<void> {
  assert.equal((await request(port, get('/static.txt', close))).body.toString(), 'a file');
  assert.equal((await request(port, get('/tutorial', close))).body.toString(), 'Hello, WSGI!\n');
}

const ERRORS: ReadonlyArray<{ path: string; status: number; page: RegExp; reason: RegExp }> = [
  { path: '/raise_before', status: 500, page: /ValueError: broken &lt;before&gt; start_response/, reason: /app error: ValueError: broken <before> start_response/ },
  { path: '/returns_str', status: 500, page: /where WSGI needs bytes: encode it/, reason: /app error: TypeError: The app gave the str 'text, not bytes'/ },
  { path: '/not_iterable', status: 500, page: /returned 42, which is not iterable/, reason: /not iterable/ },
  { path: '/hop_by_hop', status: 500, page: /hop-by-hop header &#39;Connection&#39;/, reason: /hop-by-hop header 'Connection'/ },
];

test('an app that raises, returns str or a non-iterable, or sends a hop-by-hop header gets 500 with the escaped traceback, and a log line', async () => {
  await withApp({}, async ({ server, records }) => {
    for (const { path, status, page, reason } of ERRORS) {
      const response = await request(server.port, get(path, close));
      assert.equal(response.status, status, path);
      const html = response.body.toString();
      assert.match(html, page, path);
      assert.match(html, /Traceback \(most recent call last\)/, `${path}: the traceback is shown on loopback`);
      assert.doesNotMatch(html, /<before>/, `${path}: nothing unescaped`);
      assert.match((await recordFor(records, path)).reason ?? '', reason, path);
      await stillAnswers(server.port);
    }
  });
});

test('an exception whose str() raises still gets 500 with its traceback at once, not a 504 when the app times out', async () => {
  await withApp({ timeout: 5 }, async ({ server, records }) => {
    const response = await request(server.port, get('/weird_error', close));
    assert.equal(response.status, 500);
    assert.match(response.body.toString(), /Weird: &lt;exception str\(\) failed&gt;/);
    assert.match(response.body.toString(), /Traceback \(most recent call last\)/);
    assert.match((await recordFor(records, '/weird_error')).reason ?? '', /app error: Weird: <exception str\(\) failed>/);
    await stillAnswers(server.port);
  });
});

test('header pairs given as lists are taken as tuples are; other shapes still get 500 saying what a header must be', async () => {
  await withApp({}, async ({ server, records }) => {
    const response = await request(server.port, get('/list_headers', close));
    assert.equal(response.status, 200, response.body.toString());
    assert.equal(response.body.toString(), 'lists are pairs too');
    assert.equal(response.headers.get('content-type'), 'text/plain');
    assert.equal(response.headers.get('x-tuple'), 'yes');
    assert.equal(response.headers.get('x-list'), 'yes');
    for (const path of ['/three_item_header', '/str_header']) {
      assert.equal((await request(server.port, get(path, close))).status, 500, path);
      assert.match((await recordFor(records, path)).reason ?? '', /app error: TypeError: Each header must be a \(name, value\) pair of two str/, path);
    }
  });
});

test('an exception after the first chunk cuts the response off (no last chunk) and logs why', async () => {
  await withApp({}, async ({ server, records }) => {
    const raw = (await exchange(server.port, get('/raise_after', close), 10_000)).toString('latin1');
    assert.match(raw, /^HTTP\/1\.1 200 OK/);
    assert.match(raw, /Transfer-Encoding: chunked/);
    assert.match(raw, /partial/);
    assert.doesNotMatch(raw, /\r\n0\r\n\r\n$/, 'no last chunk: the client sees the response is incomplete');
    assert.match((await recordFor(records, '/raise_after')).reason ?? '', /app error: RuntimeError: broken after the first chunk/);
    await stillAnswers(server.port);
  });
});

test('an app that does not answer within the timeout gets 504; one whose process dies gets 502, and the next request starts a new process', async () => {
  await withApp({ timeout: 1 }, async ({ server, records }, lines, dir) => {
    // The start may take longer than this test's 1 s timeout on a busy machine: wait for it.
    await waitFor(() => lines.some((l) => /apps:app started in/.test(l)), 15_000, 'the app to start');
    await stillAnswers(server.port);
    const started = Date.now();
    const slow = await request(server.port, get('/slow', close));
    assert.equal(slow.status, 504);
    assert.ok(Date.now() - started < 2900, 'answered after the 1 s timeout, not when the app wakes after 3 s');
    assert.match((await recordFor(records, '/slow')).reason ?? '', /app did not answer within 1 s/);
    await stillAnswers(server.port);
    // The process answered the PING that followed the timeout (its reading thread is free), so
    // it is kept when the probe's time (the app timeout) has passed.
    const [before] = bridgeProcesses(dir);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(bridgeProcesses(dir), [before], 'the same process');
    assert.equal(lines.some((line) => /did not answer for/.test(line)), false);
  });
  // A new process may take longer to start than the 1 s above on a busy machine.
  await withApp({}, async ({ server, records }, lines, dir) => {
    await stillAnswers(server.port);
    const [before] = bridgeProcesses(dir);
    const crash = await request(server.port, get('/crash', close));
    assert.equal(crash.status, 502);
    assert.match(crash.body.toString(), /The app process stopped before it answered/);
    assert.match((await recordFor(records, '/crash')).reason ?? '', /exited with code 7/);
    await stillAnswers(server.port);
    assert.ok(lines.some((l) => /restarted after it stopped/.test(l)), JSON.stringify(lines));
    const after = bridgeProcesses(dir);
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before, 'a new process');
  });
});

test('a process whose every thread is stuck in a request that timed out is replaced: the next request gets an answer, not a 504', async () => {
  requirePython();
  const folder = folderWith({
    'stuck.py': [
      'import os, threading',
      'forever = threading.Event()',
      'def app(environ, start_response):',
      "    if environ['PATH_INFO'] == '/hang':",
      '        forever.wait()',
      "    start_response('200 OK', [('Content-Type', 'text/plain')])",
      '    return [str(os.getpid()).encode()]',
      '',
    ].join('\n'),
  });
  const lines: string[] = [];
  try {
    await withLogged({ root: folder.dir, app: 'stuck:app', python: PYTHON, appThreads: 2, appTimeout: 1, appLog: (line) => lines.push(line) }, async ({ server }) => {
      await waitFor(() => lines.some((l) => /stuck:app started in/.test(l)), 15_000, 'the app to start');
      const first = Number((await request(server.port, get('/', close))).body.toString());
      // One stuck thread leaves the other to answer: the process is kept.
      assert.equal((await request(server.port, get('/hang', close))).status, 504);
      assert.equal(Number((await request(server.port, get('/', close))).body.toString()), first, 'the same process answers');
      // The second stuck thread was the last one.
      assert.equal((await request(server.port, get('/hang', close))).status, 504);
      const next = await request(server.port, get('/', close));
      assert.equal(next.status, 200, `the next request is answered: ${next.body.toString()}`);
      assert.notEqual(Number(next.body.toString()), first, 'by a new process');
      assert.ok(lines.some((l) => /all 2 of the app's threads are still running requests that timed out/.test(l)), JSON.stringify(lines));
    });
    assert.deepEqual(bridgeProcesses(folder.dir), [], 'no Python process is left behind');
  } finally {
    folder.remove();
  }
});

test('a request that timed out while it waited for a free thread never reaches the app', async () => {
  await withApp({ timeout: 1, threads: 1 }, async ({ server, records }, lines, dir) => {
    await waitFor(() => lines.some((l) => /apps:app started in/.test(l)), 15_000, 'the app to start');
    const marker = `${dir}-recorded`;
    const streamed = `${dir}-streamed`;
    try {
      // An endless response holds the only thread (it started, so it never times out); the POST
      // behind it waits, and its client hears 504.
      const holder = await open(server.port);
      const first = new Promise((resolve) => holder.once('data', resolve));
      holder.write(get(`/endless?${streamed}`));
      await first;
      const post = await request(server.port, `POST /record?${marker} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n${close}\r\nx=1`);
      assert.equal(post.status, 504);
      // The stream's client leaves: its thread is free for the next request in line.
      holder.destroy();
      // Requests run in turn: once a later one is answered, the POST's turn has passed.
      const started = Date.now();
      while ((await request(server.port, get('/tutorial', close))).status !== 200) {
        assert.ok(Date.now() - started < 15_000, 'the thread was freed');
      }
      assert.equal(existsSync(marker), false, 'the POST its client was told failed had no effect');
      assert.match((await recordFor(records, `/record?${marker}`)).reason ?? '', /app did not answer within 1 s/);
    } finally {
      rmSync(marker, { force: true });
      rmSync(streamed, { force: true });
    }
  });
});

test('close() of the result is called when the client goes away mid-response, and HEAD gets the app\'s Content-Length without a body', async () => {
  await withApp({}, async ({ server, records }, _lines, dir) => {
    const marker = `${dir}-closed`;
    const socket = await open(server.port);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write(get(`/endless?${marker}`));
    await waitFor(() => received.includes('chunk 3'), 5000, 'a few chunks');
    socket.destroy();
    await waitFor(() => existsSync(marker), 5000, 'close() to be called');
    assert.equal(readFileSync(marker, 'utf8'), 'closed');
    rmSync(marker);
    const head = await request(server.port, `HEAD /endless?${marker} HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`);
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    // Without a length from the app, HEAD is framed as its GET would be, not given a false length 0.
    assert.equal(head.headers.get('content-length'), undefined);
    assert.equal(head.headers.get('transfer-encoding'), 'chunked');
    await waitFor(() => existsSync(marker), 5000, 'close() to be called after HEAD');
    rmSync(marker);
    await recordFor(records, `/endless?${marker}`);
    const environ = await request(server.port, `HEAD /environ_json HTTP/1.1\r\nHost: 127.0.0.1\r\n${close}\r\n`);
    assert.ok(Number(environ.headers.get('content-length')) > 100, 'HEAD keeps the Content-Length the app gave');
    assert.equal(environ.body.length, 0);
    await stillAnswers(server.port);
  });
});

test('an app that cannot be imported gets 500 with the traceback on each app request, files are still served, and the log says why; one whose import hangs gets 504', async () => {
  requirePython();
  const folder = folderWith({ 'broken.py': 'def app(environ, start_response)\n    return []\n', 'static.txt': 'a file' });
  const lines: string[] = [];
  try {
    await withLogged({ root: folder.dir, app: 'broken:app', python: PYTHON, appLog: (line) => lines.push(line) }, async ({ server, records }) => {
      const response = await request(server.port, get('/dynamic', close));
      assert.equal(response.status, 500);
      assert.match(response.body.toString(), /SyntaxError/);
      assert.match(response.body.toString(), /broken\.py/);
      assert.match((await recordFor(records, '/dynamic')).reason ?? '', /app not started: SyntaxError/);
      assert.equal((await request(server.port, get('/static.txt', close))).body.toString(), 'a file');
      assert.ok(lines.some((l) => /broken:app could not start: SyntaxError/.test(l)), JSON.stringify(lines));
      await waitFor(() => bridgeProcesses(folder.dir).length === 0, 3000, 'the failed process to exit');
    });
    writeFileSync(join(folder.dir, 'hangs.py'), 'import time\ntime.sleep(30)\napp = None\n');
    await withLogged({ root: folder.dir, app: 'hangs:app', python: PYTHON, appTimeout: 1 }, async ({ server, records }) => {
      const response = await request(server.port, get('/dynamic', close));
      assert.equal(response.status, 504);
      assert.match(response.body.toString(), /did not start within 1 s/);
      assert.match((await recordFor(records, '/dynamic')).reason ?? '', /app did not start within 1 s/);
    });
    await waitFor(() => bridgeProcesses(folder.dir).length === 0, 5000, 'the hanging process to be stopped with the server');
    const missing = await (async () => {
      const seen: string[] = [];
      await withLogged({ root: folder.dir, app: 'broken:app', python: '/nonexistent/python3', appLog: (l) => seen.push(l) }, async ({ server }) => {
        const response = await request(server.port, get('/dynamic', close));
        assert.equal(response.status, 500);
        assert.match(response.body.toString(), /cannot run \/nonexistent\/python3: no such program/);
      });
      return seen;
    })();
    assert.ok(missing.some((l) => /no such program/.test(l)), JSON.stringify(missing));
  } finally {
    folder.remove();
  }
});

test('a streamed body the app does not read ends the connection after the response (Connection: close), and the server goes on', async () => {
  await withApp({}, async ({ server }) => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const raw = await exchange(server.port, Buffer.concat([Buffer.from(`POST /ignore_body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`), body]), 10_000);
    const [response] = parseResponses(raw);
    assert.equal(response?.status, 200);
    assert.equal(response?.body.toString(), 'did not read it');
    assert.equal(response?.headers.get('connection'), 'close');
    await stillAnswers(server.port);
  });
});

test('saving a .py file replaces the app process: a request in flight finishes on the old one, then open pages (which got the live reload client) reload', async () => {
  requirePython();
  const version = (n: number): string =>
    `import time\ndef app(environ, start_response):\n    if environ['PATH_INFO'] == '/slow':\n        time.sleep(1.5)\n` +
    `    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8')])\n    return [b'version ${n}']\n`;
  const folder = folderWith({ 'main.py': version(1), 'index.html': '<!doctype html><p>home</p>' });
  const lines: string[] = [];
  try {
    await withLogged(
      { root: folder.dir, app: 'main:app', python: PYTHON, liveReload: true, changes: (root, notify) => watchTree(root, notify), appLog: (l) => lines.push(l) },
      async ({ server }) => {
        assert.equal((await request(server.port, get('/x', close))).body.toString(), 'version 1', 'fetch() gets the page as the app sent it');
        const firstStart = server.appStatus;
        assert.ok(firstStart?.state === 'running' && firstStart.restarts === 0 && firstStart.startMs > 0, JSON.stringify(firstStart));
        const page = (await request(server.port, get('/x', `Sec-Fetch-Dest: document\r\n${close}`))).body.toString();
        assert.match(page, /^version 1<script src="[^"]*\.tiny-server\/reload\/client\.js\?v=[\w-]+"/, 'a page load gets the live reload client');
        const [first] = bridgeProcesses(folder.dir);
        const events = await open(server.port);
        let received = '';
        events.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        events.write(`GET /.tiny-server/reload/events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nSec-Fetch-Site: same-origin\r\n\r\n`);
        await waitFor(() => received.includes('"hello"'), 3000, 'the hello event');
        const inFlight = request(server.port, get('/slow', close));
        await new Promise((r) => setTimeout(r, 300));
        writeFileSync(join(folder.dir, 'main.py'), version(2));
        await waitFor(() => /"type":"change","seq":\d+,"paths":\["\/"\]/.test(received), 15_000, 'the page reload event');
        assert.equal((await inFlight).body.toString(), 'version 1', 'the request in flight finished on the old process');
        assert.equal((await request(server.port, get('/x', close))).body.toString(), 'version 2');
        const restart = server.appStatus;
        assert.ok(restart?.state === 'running' && restart.restarts === 1 && restart.since >= firstStart.since, JSON.stringify(restart));
        assert.ok(lines.some((l) => /main\.py changed/.test(l)) && lines.some((l) => /main:app restarted in \d+ ms/.test(l)), JSON.stringify(lines));
        await waitFor(() => !bridgeProcesses(folder.dir).includes(first as number), 5000, 'the old process to exit');
        assert.equal(bridgeProcesses(folder.dir).length, 1);
        events.destroy();
      },
    );
    assert.deepEqual(bridgeProcesses(folder.dir), []);
  } finally {
    folder.remove();
  }
});

test('start_response follows PEP 3333: exc_info replaces unsent headers, write() comes first, 204 carries no body, file_wrapper streams a file, HTTP/1.0 gets a close-delimited body', async () => {
  await withApp({}, async ({ server }, _lines, dir) => {
    const replaced = await request(server.port, get('/exc_info', close));
    assert.equal(replaced.status, 503);
    assert.equal(replaced.body.toString(), 'replaced by the error handler');
    assert.equal((await request(server.port, get('/write_callable', close))).body.toString(), 'written, then returned');
    const socket = await open(server.port);
    const both = readAll(socket, 10_000);
    socket.write(get('/no_content') + get('/tutorial', close));
    const [empty, next] = parseResponses(await both);
    assert.equal(empty?.status, 204);
    assert.equal(empty?.headers.get('x-kept'), 'yes');
    assert.equal(empty?.body.length, 0);
    assert.equal(next?.body.toString(), 'Hello, WSGI!\n', 'the connection went on after the 204');
    const file = await request(server.port, get('/file_wrapper', close));
    assert.equal(file.body.toString(), readFileSync(join(dir, 'apps.py'), 'utf8'));
    const old = (await exchange(server.port, 'GET /file_wrapper HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n', 10_000)).toString('latin1');
    assert.doesNotMatch(old, /Transfer-Encoding/i);
    assert.ok(old.endsWith(readFileSync(join(dir, 'apps.py'), 'latin1')), 'the whole file, ended by the close');
  });
});

test('a 30 MB download to a client that stops reading waits in the app, not in the server\'s memory', async () => {
  const gc = collector();
  await withApp({}, async ({ server }) => {
    await stillAnswers(server.port);
    const baseline = await retained(gc);
    const socket = await open(server.port);
    socket.pause();
    socket.write(get('/download?480', close));
    let peak = 0;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, (await retained(gc)) - baseline);
    }
    let received = 0;
    const done = new Promise((r) => socket.once('close', r));
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await done;
    assert.ok(received > 480 * 65536, `the whole body arrived (${received} bytes)`);
    const mb = peak / 1024 / 1024;
    assert.ok(mb < 5, `the server held ${mb.toFixed(1)} MB while the client did not read`);
  });
});

test('the app\'s atexit handlers run when its process is stopped with the server, and when the server is killed', async () => {
  requirePython();
  const folder = folderWith({});
  const marker = `${folder.dir}-atexit`;
  // The marker is outside the served folder: a file written there would be a change to reload for.
  writeFileSync(
    join(folder.dir, 'bye.py'),
    `import atexit\n` +
      `def bye():\n    with open(${JSON.stringify(marker)}, 'w') as f:\n        f.write('ran')\n` +
      `atexit.register(bye)\n` +
      `def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'registered']\n`,
  );
  try {
    await withLogged({ root: folder.dir, app: 'bye:app', python: PYTHON }, async ({ server }) => {
      assert.equal((await request(server.port, get('/x', close))).body.toString(), 'registered');
    });
    assert.equal(readFileSync(marker, 'utf8'), 'ran', 'stopped with the server');
    rmSync(marker);
    // A server killed outright only closes the pipe: the bridge exits as gracefully on its end.
    const running = runCli([folder.dir, '--port', '0', '--no-reload', '--app', 'bye:app', '--python', PYTHON]);
    try {
      await waitForLine(running, /app: bye:app started in \d+ ms/, 10_000);
      running.child.kill('SIGKILL');
      await running.exited;
      await waitFor(() => bridgeProcesses(folder.dir).length === 0, 5000, 'the bridge to exit');
      assert.equal(readFileSync(marker, 'utf8'), 'ran', 'the pipe closed');
    } finally {
      running.child.kill('SIGKILL');
    }
  } finally {
    rmSync(marker, { force: true });
    folder.remove();
  }
});
