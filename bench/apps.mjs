// `npm run bench -- --apps`: the same hello-world WSGI app behind Tiny Server, gunicorn (one sync
// worker; one gthread worker with Tiny Server's thread count) and wsgiref.simple_server; and the
// same hello-world Fetch app behind Tiny Server and on @hono/node-server (srvx is not installed:
// it needs Node >= 20.16).
//
// Fairness choices (documented in bench/README.md):
// - Every server runs the app on /usr/bin/python3, the interpreter Debian's gunicorn runs on, so
//   Tiny Server gets `--python /usr/bin/python3`.
// - Tiny Server keeps its request log on (to /dev/null); gunicorn writes its access log to
//   /dev/null; wsgiref logs each request to stderr (a temp file).
import { existsSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, makeTempDir, which } from './procs.mjs';
import { HOST, launch, tinyCli } from './servers.mjs';

export const APP_PATH = '/hello';
const BODY = 'Hello, world!\n';
export const APP_BODY_SIZE = Buffer.byteLength(BODY);
/** Tiny Server's default `--app-threads`; gunicorn's gthread worker gets the same number. */
export const APP_THREADS = 8;
export const appPython = '/usr/bin/python3';

const HELLO_PY = `def app(environ, start_response):
    body = ${JSON.stringify(BODY)}.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
`;

const HELLO_MJS = `const body = ${JSON.stringify(BODY)};
export default {
  fetch: () => new Response(body, { headers: { 'content-type': 'text/plain', 'content-length': String(body.length) } }),
};
`;

/** A root holding only hello.py and hello.mjs: no file answers ${APP_PATH}, so every request goes to the app. */
export function createAppSite() {
  const root = makeTempDir('tiny-bench-app-');
  writeFileSync(join(root, 'hello.py'), HELLO_PY);
  writeFileSync(join(root, 'hello.mjs'), HELLO_MJS);
  chmodSync(join(root, 'hello.py'), 0o644);
  return root;
}

const noPython = () => (existsSync(appPython) ? undefined : `${appPython} not found: apt-get install python3`);

const tinyApp = {
  id: 'tiny',
  name: 'Tiny Server --app',
  mandatory: true,
  missing: () => (existsSync(tinyCli) ? undefined : `${tinyCli} not found: run npm run compile`) ?? noPython(),
  async start(root) {
    const port = await freePort(HOST);
    const args = [tinyCli, root, '--port', String(port), '--host', HOST, '--no-reload',
      '--app', 'hello:app', '--python', appPython, '--app-threads', String(APP_THREADS)];
    return launch('tiny-app', process.execPath, args, port);
  },
};

const gunicornBin = which('gunicorn');

/** gunicorn with one worker of `workerArgs`; its access log is on, to /dev/null, like Tiny Server's. */
function gunicornPeer(id, name, workerArgs) {
  return {
    id,
    name,
    mandatory: false,
    missing: () => (gunicornBin ? undefined : 'gunicorn not installed: apt-get install gunicorn'),
    async start(root) {
      const port = await freePort(HOST);
      const args = ['--bind', `${HOST}:${port}`, '--workers', '1', ...workerArgs,
        '--chdir', root, '--access-logfile', '/dev/null', 'hello:app'];
      return launch(id, gunicornBin, args, port);
    },
  };
}

const wsgiref = {
  id: 'wsgiref',
  name: 'wsgiref.simple_server',
  mandatory: false,
  missing: noPython,
  async start(root) {
    const port = await freePort(HOST);
    const script = 'import sys; sys.path.insert(0, sys.argv[1]); from hello import app; '
      + 'from wsgiref.simple_server import make_server; make_server(sys.argv[2], int(sys.argv[3]), app).serve_forever()';
    return launch('wsgiref', appPython, ['-c', script, root, HOST, String(port)], port);
  },
};

/** Tiny Server running the Fetch app, from the CLI at `cli`. */
function tinyFetchPeer(id, name, cli) {
  return {
    id,
    name,
    mandatory: false,
    missing: () => (existsSync(cli) ? undefined : `${cli} not found: run npm run compile`),
    async start(root) {
      const port = await freePort(HOST);
      return launch(id, process.execPath, [cli, root, '--port', String(port), '--host', HOST, '--no-reload', '--app', 'hello.mjs'], port);
    },
  };
}

const tinyFetch = tinyFetchPeer('tiny-fetch', 'Tiny Server --app hello.mjs', tinyCli);
/** BENCH_BASELINE_CLI=<cli.js of another build>: the same app behind that build, for a before/after in one run. */
const baselineCli = process.env.BENCH_BASELINE_CLI;
const baselineFetch = baselineCli === undefined ? [] : [tinyFetchPeer('tiny-fetch-baseline', 'Tiny Server --app hello.mjs (baseline build)', baselineCli)];

const honoNode = {
  id: 'hono-node',
  name: '@hono/node-server (node:http)',
  mandatory: false,
  missing: () => undefined,
  async start(root) {
    const port = await freePort(HOST);
    return launch('hono-node', process.execPath, [fileURLToPath(new URL('hono-node-server.mjs', import.meta.url)), root, HOST, String(port)], port);
  },
};

export const APP_PEERS = [
  tinyApp,
  gunicornPeer('gunicorn-sync', 'gunicorn (1 sync worker)', ['--worker-class', 'sync']),
  gunicornPeer('gunicorn-gthread', `gunicorn (1 gthread worker, ${APP_THREADS} threads)`, ['--worker-class', 'gthread', '--threads', String(APP_THREADS)]),
  wsgiref,
  tinyFetch,
  ...baselineFetch,
  honoNode,
];
export { gunicornBin };
