import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli-args';
import { DEFAULT_SETTINGS } from '../../src/server/options';
import { startServer } from '../../src/server/server';
import { spaFallbackProblem } from '../../src/server/static';
import { folderWith, PYTHON, requirePython } from './helpers/app';
import { runCli, waitForLine } from './helpers/cli';
import { exchange, get, parseResponses } from './helpers/raw';
import { withServedSite } from './helpers/serve';
import { withLogged } from './helpers/server';

const PAGE = '<!doctype html><html><head><title>app</title></head><body><div id="root"></div></body></html>';
const SITE = { 'index.html': PAGE, 'app.js': 'console.log(1)', 'about.txt': 'a file', 'docs/readme': 'no extension', 'shell.html': '<p>shell</p>' };
const NAVIGATION = 'Sec-Fetch-Dest: document\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n';
const FETCH = 'Sec-Fetch-Dest: empty\r\nAccept: */*\r\n';

test('a page load of a route no file answers gets the SPA page with 200, the live reload tag addressed from the route, and the file\'s own validators', async () => {
  await withServedSite(SITE, async ({ request }) => {
    const page = await request('/users/42', NAVIGATION);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.body.toString(), /<title>app<\/title>/);
    assert.match(page.body.toString(), /<script src="\.\.\/\.tiny-server\/reload\/client\.js\?v=[\w-]+" async data-etag="[^"]+"><\/script>/, 'one folder up from /users/42');
    const deeper = await request('/users/42/edit/', NAVIGATION);
    assert.match(deeper.body.toString(), /src="\.\.\/\.\.\/\.\.\/\.tiny-server\/reload\/client\.js\?v=[\w-]+"/);
    const index = await request('/index.html', NAVIGATION);
    const etag = page.headers.get('etag') ?? '';
    assert.equal(etag, index.headers.get('etag'), 'the same validator as the file itself');
    const notModified = await request('/users/42', `${NAVIGATION}If-None-Match: ${etag}\r\n`);
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const head = await request('/users/42', NAVIGATION, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(page.body.length));
    const byAccept = await request('/settings', 'Accept: text/html\r\n');
    assert.equal(byAccept.status, 200, 'Accept: text/html without Fetch Metadata');
    const gzip = await request('/users/42', `${NAVIGATION}Accept-Encoding: gzip\r\n`);
    assert.equal(gzip.status, 200);
    // A segment longer than a file name may be (a token in a route) is still a route.
    assert.equal((await request(`/reset/${'t'.repeat(300)}`, NAVIGATION)).status, 200);
  }, { liveReload: true, spaFallback: 'index.html' });
});

test('the SPA fallback leaves missing assets, fetch() calls, dotfiles, bad paths, other methods and real files as they were', async () => {
  await withServedSite(SITE, async ({ request, port }) => {
    assert.equal((await request('/missing.js', NAVIGATION)).status, 404, 'a missing asset is not hidden behind the page');
    assert.equal((await request('/users/42.json', NAVIGATION)).status, 404);
    assert.equal((await request('/users/42', FETCH)).status, 404, 'fetch() gets the 404');
    assert.equal((await request('/users/42', 'Accept: */*\r\n')).status, 404, 'curl gets the 404');
    assert.equal((await request('/users/42', 'Sec-Fetch-Dest: script\r\nAccept: */*\r\n')).status, 404);
    assert.equal((await request('/.git/config', NAVIGATION)).status, 404);
    assert.equal((await request('/.hidden/route', NAVIGATION)).status, 404, 'a dot-folder keeps its 404');
    assert.equal((await request('/users/%2e%2fx', NAVIGATION)).status, 400, 'an encoded slash keeps its 400');
    assert.equal((await request('/users/%zz', NAVIGATION)).status, 400);
    const [dots] = parseResponses(await exchange(port, get('/a/../b', `${NAVIGATION}Connection: close\r\n`)));
    assert.equal(dots?.status, 400, 'a .. segment keeps its 400');
    assert.equal((await request('/users/42', NAVIGATION, 'POST')).status, 405);
    assert.equal((await request('/about.txt', NAVIGATION)).body.toString(), 'a file');
    assert.equal((await request('/docs/readme', NAVIGATION)).body.toString(), 'no extension', 'a file without an extension is itself');
    assert.equal((await request('/app.js', NAVIGATION)).body.toString(), 'console.log(1)');
  }, { spaFallback: 'index.html' });
});

test('the SPA page is never cached under a route: a fetch() after a page load gets 404, and a file created there is served', async () => {
  await withServedSite(SITE, async ({ request, site }) => {
    assert.equal((await request('/users/42', NAVIGATION)).status, 200);
    assert.equal((await request('/users/42', FETCH)).status, 404);
    site.write('users/42', 'now a file');
    assert.equal((await request('/users/42', NAVIGATION)).body.toString(), 'now a file');
  }, { spaFallback: 'index.html' });
});

test('another fallback page can be named, and a missing one leaves the 404; off by default', async () => {
  await withServedSite(SITE, async ({ request }) => {
    assert.equal((await request('/route', NAVIGATION)).body.toString(), '<p>shell</p>');
  }, { spaFallback: 'shell.html' });
  await withServedSite(SITE, async ({ request, records }) => {
    assert.equal((await request('/route', NAVIGATION)).status, 404);
    assert.match(records.at(-1)?.reason ?? '', /no file at .*route, and the SPA fallback \/gone\.html is no file either/, 'the route\'s own reason, and the fallback\'s');
  }, { spaFallback: 'gone.html' });
  await withServedSite(SITE, async ({ request }) => {
    assert.equal((await request('/route', NAVIGATION)).status, 404);
  });
});

test('spaFallbackProblem() says when the fallback is no file (yet), and the CLI warns at start', async () => {
  const folder = folderWith({ 'index.html': PAGE, 'app/shell.html': '<p>shell</p>', '.hidden/page.html': '<p>hidden</p>' });
  try {
    assert.equal(spaFallbackProblem(folder.dir, 'index.html', false), undefined);
    assert.equal(spaFallbackProblem(folder.dir, 'app/shell.html', false), undefined);
    assert.match(spaFallbackProblem(folder.dir, 'dist/index.html', false) ?? '', /the SPA fallback dist\/index\.html is not a file in .* \(yet\): routes get 404 until it is/);
    assert.match(spaFallbackProblem(folder.dir, 'app', false) ?? '', /is not a file/);
    assert.match(spaFallbackProblem(folder.dir, '.hidden/page.html', false) ?? '', /is not a file/, 'a dotfile is not served');
    assert.equal(spaFallbackProblem(folder.dir, '.hidden/page.html', true), undefined);
    const running = runCli([folder.dir, '--port', '0', '--spa', 'dist/index.html']);
    try {
      await waitForLine(running, /stderr: tiny-server: the SPA fallback dist\/index\.html is not a file/);
    } finally {
      running.child.kill('SIGKILL');
    }
  } finally {
    folder.remove();
  }
});

test('a server refuses an SPA fallback that is not a relative file path', async () => {
  const folder = folderWith({ 'index.html': '' });
  try {
    for (const spaFallback of ['../index.html', '/etc/passwd', 'a//b.html', './index.html']) {
      const result = await startServer({ root: folder.dir, port: 0, spaFallback });
      assert.equal(result.ok ? 'started' : result.error.code, 'spa-fallback-invalid', spaFallback);
      if (result.ok) await result.server.close();
    }
  } finally {
    folder.remove();
  }
});

test('parseArgs() reads --spa [FILE]: index.html by default, a page name after it, --spa=FILE, and never takes the root folder for FILE', () => {
  const spa = (args: string[]): unknown => {
    const parsed = parseArgs(args, '/srv');
    return parsed.kind === 'run' ? [parsed.settings.spaFallback, parsed.settings.root] : parsed.kind;
  };
  assert.deepEqual(spa(['--spa']), ['index.html', '/srv']);
  assert.deepEqual(spa(['--spa', 'site']), ['index.html', '/srv/site']);
  assert.deepEqual(spa(['site', '--spa', 'app/shell.HTM']), ['app/shell.HTM', '/srv/site']);
  assert.deepEqual(spa(['--spa=main', 'site']), ['main', '/srv/site']);
  assert.deepEqual(spa([]), [DEFAULT_SETTINGS.spaFallback, '/srv']);
  assert.equal(spa(['--spa=../x.html']), 'error');
  assert.equal(spa(['--spa=']), 'error');
});

test('with an app mounted at /api: files first, then the app below /api, then the SPA page for the other routes', async () => {
  requirePython();
  const folder = folderWith({
    'index.html': PAGE,
    'api.py': "def app(environ, start_response):\n    start_response('404 Not Found', [('Content-Type', 'text/plain')])\n    return [b'api: no ' + environ['PATH_INFO'].encode()]\n",
  });
  try {
    await withLogged({ root: folder.dir, app: 'api:app', python: PYTHON, appMount: '/api', spaFallback: 'index.html' }, async ({ server }) => {
      const ask = async (path: string): Promise<{ status: number; body: string }> => {
        const [response] = parseResponses(await exchange(server.port, get(path, `${NAVIGATION}Connection: close\r\n`), 10_000));
        return { status: response?.status ?? 0, body: response?.body.toString() ?? '' };
      };
      assert.deepEqual(await ask('/api/users'), { status: 404, body: 'api: no /users' }, 'the app answers its own routes, 404 included');
      assert.match((await ask('/users/42')).body, /<title>app<\/title>/);
      assert.match((await ask('/index.html')).body, /<title>app<\/title>/);
    });
  } finally {
    folder.remove();
  }
});
