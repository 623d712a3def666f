// tinyServer.watchIgnore / --watch-ignore: changes below ignored globs never reach pages.
import assert from 'node:assert/strict';
import test from 'node:test';
import type { ChangeSource } from '../../src/server/options';
import type { ContentOverlay } from '../../src/server/static';
import { globToRegExp } from '../../src/server/reload/ignore';
import { EventReader } from './helpers/event-reader';
import { withServedSite } from './helpers/serve';

test('globToRegExp() reads globs as VS Code settings write them', () => {
  const cases: Array<[string, string, boolean]> = [
    ['**/node_modules/**', 'node_modules/react/index.js', true],
    ['**/node_modules/**', 'app/node_modules/x.js', true],
    ['**/node_modules/**', 'my_node_modules.js', false],
    ['**/.git/**', '.git/HEAD', true],
    ['**/.git/objects/**', '.git/objects/ab/cd', true],
    ['**/.git/objects/**', '.git/HEAD', false],
    ['dist', 'dist/app.js', true],
    ['*.log', 'server.log', true],
    ['*.log', 'logs/server.log', false],
    ['**/*.log', 'logs/server.log', true],
    ['**/*.{tmp,swp}', 'a/b.swp', true],
    ['**/*.{tmp,swp}', 'a/b.swo', false],
    ['cache/?.bin', 'cache/a.bin', true],
    ['cache/?.bin', 'cache/ab.bin', false],
    ['a+b(c)/**', 'a+b(c)/d', true],
  ];
  for (const [glob, path, expected] of cases) {
    assert.equal(globToRegExp(glob).test(path), expected, `${glob} ${expected ? 'matches' : 'does not match'} ${path}`);
  }
});

test('changes matching watchIgnore send no event; others still do', async () => {
  let notify: (paths: readonly string[]) => void = () => undefined;
  const changes: ChangeSource = (_root, callback) => {
    notify = callback;
    return { dispose: () => undefined };
  };
  await withServedSite(
    { 'index.html': '<p>x</p>' },
    async ({ port, site }) => {
      const reader = await EventReader.open(port);
      try {
        await reader.nthEvent(0);
        notify([site.path('node_modules/lib/index.js'), site.path('.git/index'), site.path('build/cache/x.json')]);
        // Positive control: a page change after them is the next event, and the only paths in it.
        await new Promise((resolve) => setTimeout(resolve, 300));
        notify([site.path('index.html')]);
        assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 1, paths: ['/index.html'] });
      } finally {
        reader.socket.destroy();
      }
    },
    { liveReload: true, changes, watchIgnore: ['**/node_modules/**', '**/.git/**', 'build/cache'] },
  );
});

test('onAnnounced hears what live reload announces, saved (typing false) and unsaved (typing true), after watchIgnore; nothing while live reload is off', async () => {
  let notify: (paths: readonly string[]) => void = () => undefined;
  const changes: ChangeSource = (_root, callback) => {
    notify = callback;
    return { dispose: () => undefined };
  };
  let typed: (paths: readonly string[]) => void = () => undefined;
  const overlay: ContentOverlay = {
    size: 0,
    get: () => undefined,
    onDidChange: (listener) => {
      typed = listener;
      return { dispose: () => undefined };
    },
  };
  for (const liveReload of [true, false]) {
    notify = () => undefined;
    typed = () => undefined;
    const heard: Array<[readonly string[], boolean]> = [];
    await withServedSite(
      { 'index.html': '<p>x</p>', 'logo.svg': '<svg/>' },
      async ({ site }) => {
        notify([site.path('logo.svg'), site.path('build/cache/x.json')]);
        notify([site.path('build/cache/y.json')]);
        typed([site.path('logo.svg')]);
        assert.deepEqual(heard, liveReload ? [[[site.path('logo.svg')], false], [[site.path('logo.svg')], true]] : []);
      },
      { liveReload, changes, overlay, watchIgnore: ['build/cache'], onAnnounced: (paths, typing) => heard.push([paths, typing]) },
    );
  }
});
