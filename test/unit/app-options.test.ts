import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli-args';
import { normalizeMount } from '../../src/server/app';
import { DEFAULT_SETTINGS } from '../../src/server/options';
import { startServer } from '../../src/server/server';
import { folderWith } from './helpers/app';

test('parseArgs() reads the app flags into the server settings, relative folders against the working folder', () => {
  const parsed = parseArgs(['site', '--app', 'pkg.web:create.app', '--app-dir', 'backend', '--app-mount', '/api', '--python', '/venv/bin/python', '--app-threads', '4', '--app-timeout', '5'], '/srv');
  assert.deepEqual(parsed, {
    kind: 'run',
    settings: { ...DEFAULT_SETTINGS, root: '/srv/site', app: 'pkg.web:create.app', appDir: '/srv/backend', appMount: '/api', python: '/venv/bin/python', appThreads: 4, appTimeout: 5 },
    quiet: false,
  });
});

test('parseArgs() refuses an app that is not module:callable, a mount that is not a path, and counts below 1', () => {
  for (const args of [['--app', 'app'], ['--app', 'app:'], ['--app', 'a-b:app'], ['--app-mount', 'api'], ['--app-threads', '0'], ['--app-timeout', 'x'], ['--python', '']]) {
    const parsed = parseArgs(args, '/srv');
    assert.equal(parsed.kind, 'error', args.join(' '));
  }
});

test('normalizeMount() gives the SCRIPT_NAME form: no trailing slash, empty for the root', () => {
  assert.equal(normalizeMount('/'), '');
  assert.equal(normalizeMount(''), '');
  assert.equal(normalizeMount('/api/'), '/api');
  assert.equal(normalizeMount('api'), '/api');
  assert.equal(normalizeMount('/a/b'), '/a/b');
});

test('normalizeMount() spells a mount as a browser sends its path, so that a space or a non-ASCII name in it matches', () => {
  assert.equal(normalizeMount('/my api/'), '/my%20api');
  assert.equal(normalizeMount('/café'), '/caf%C3%A9');
  assert.equal(normalizeMount('/caf%c3%a9'), '/caf%c3%a9', 'an escape written in it is kept as written');
  assert.equal(normalizeMount('/a\ud800'), '/a\ud800', 'a lone surrogate has no spelling, and throws nothing');
  assert.equal(normalizeMount('/a?b#c'), '/a%3Fb%23c');
  assert.equal(normalizeMount('/😀'), '/%F0%9F%98%80');
});

test('a server whose app folder does not exist does not start, and says which folder', async () => {
  const folder = folderWith({ 'index.html': '' });
  try {
    const result = await startServer({ root: folder.dir, port: 0, app: 'app:app', appDir: 'missing' });
    assert.equal(result.ok, false);
    assert.equal(result.ok ? '' : result.error.code, 'app-dir-missing');
    assert.match(result.ok ? '' : result.error.message, /App folder: The folder .*missing does not exist/);
  } finally {
    folder.remove();
  }
});
