import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli-args';
import type { Disposable } from '../../src/server/handler';
import { DEFAULT_SETTINGS, type ChangeSource } from '../../src/server/options';
import { exchange, get, open, parseResponses } from './helpers/raw';
import { waitFor, withLogged } from './helpers/server';

const PACKAGE = resolve(__dirname, '..', '..', '..', 'package.json');

interface Manifest {
  contributes: { configuration: { properties: Record<string, { default: unknown }> } };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
}

function manifest(): Manifest {
  return JSON.parse(readFileSync(PACKAGE, 'utf8')) as Manifest;
}

/** A temporary folder with an index page, plus a symlink to it; removed by the returned function. */
function linkedSite(): { real: string; link: string; remove: () => void } {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'tiny-options-')));
  const real = join(base, 'real-site');
  mkdirSync(join(real, 'sub'), { recursive: true });
  writeFileSync(join(real, 'index.html'), '<!doctype html><p>home</p>');
  writeFileSync(join(real, 'sub', 'page one.html'), '<!doctype html><p>one</p>');
  const link = join(base, 'linked-site');
  symlinkSync(real, link, 'dir');
  return { real, link, remove: () => rmSync(base, { recursive: true, force: true }) };
}

test('the settings defaults in package.json are the server defaults', () => {
  const properties = manifest().contributes.configuration.properties;
  for (const [name, value] of Object.entries(DEFAULT_SETTINGS)) {
    assert.deepEqual(properties[`tinyServer.${name}`]?.default, value, `tinyServer.${name}`);
  }
});

test('Restricted Mode takes the address, hosts, port, dotfiles and proxy settings from user settings only', () => {
  const restricted = manifest().capabilities.untrustedWorkspaces.restrictedConfigurations;
  for (const name of ['host', 'allowedHosts', 'port', 'showDotfiles', 'proxy']) {
    assert.ok(restricted.includes(`tinyServer.${name}`), `tinyServer.${name} is restricted`);
  }
});

test('parseArgs() gives the server settings: the defaults, and a root resolved against the folder it runs in', () => {
  assert.deepEqual(parseArgs([], '/srv/work'), {
    kind: 'run',
    settings: { ...DEFAULT_SETTINGS, root: '/srv/work' },
    quiet: false,
  });
  assert.deepEqual(parseArgs(['site', '--port', '0', '--dotfiles', '--no-reload', '--allow-host', 'a.test', '-q'], '/srv'), {
    kind: 'run',
    settings: {
      ...DEFAULT_SETTINGS,
      root: '/srv/site',
      port: 0,
      showDotfiles: true,
      liveReload: false,
      allowedHosts: ['a.test'],
    },
    quiet: true,
  });
});

test('parseArgs() refuses a value given to an on/off option and an option taken for a value', () => {
  const error = (argv: string[]): string => {
    const parsed = parseArgs(argv, '/srv');
    assert.equal(parsed.kind, 'error', argv.join(' '));
    return parsed.kind === 'error' ? parsed.message : '';
  };
  // `--dotfiles=false` turned dotfiles on.
  assert.match(error(['--dotfiles=false']), /--dotfiles takes no value/);
  assert.match(error(['--quiet=no']), /--quiet takes no value/);
  assert.match(error(['--no-listing=1']), /--no-listing takes no value/);
  // `--host --port 47642` took `--port` for the address and the port for the root.
  assert.match(error(['--host', '--port', '47642']), /Missing address after --host/);
  assert.match(error(['--allow-host', '-q']), /Missing host name after --allow-host/);
  assert.match(error(['--watch-ignore', '--dotfiles']), /Missing glob after --watch-ignore/);
  assert.match(error(['--port']), /Missing port after --port/);
  // A value that starts with a dash is still taken in the `--flag=value` form.
  const glob = parseArgs(['--watch-ignore=-draft/**'], '/srv');
  assert.ok(glob.kind === 'run' && glob.settings.watchIgnore.includes('-draft/**'));
});

test('a server started on a symlinked folder reports the folder as given and as resolved, and maps both to URLs', async (t) => {
  const site = linkedSite();
  t.after(site.remove);
  await withLogged({ root: site.link }, async ({ server }) => {
    assert.equal(server.root, site.link);
    assert.equal(server.realRoot, site.real);
    const url = server.url;
    assert.equal(server.urlOf(join(site.link, 'sub', 'page one.html')), `${url}sub/page%20one.html`);
    assert.equal(server.urlOf(join(site.real, 'sub', 'page one.html')), `${url}sub/page%20one.html`);
    assert.equal(server.urlOf(site.link), url);
    assert.equal(server.urlOf(join(site.real, '..', 'elsewhere.html')), undefined);
    assert.equal(server.urlOf(`${site.real}-evil/x.html`), undefined);
    const [response] = parseResponses(await exchange(server.port, get('/sub/page%20one.html', 'Connection: close\r\n')));
    assert.equal(response?.status, 200);
  });
});

/** A change source that records how the server used it. */
function recordingSource(): { source: ChangeSource; roots: string[]; notify: Array<(paths: readonly string[]) => void>; disposed: () => number } {
  const roots: string[] = [];
  const notify: Array<(paths: readonly string[]) => void> = [];
  let disposed = 0;
  const source: ChangeSource = (root, changed): Disposable => {
    roots.push(root);
    notify.push(changed);
    return { dispose: () => void disposed++ };
  };
  return { source, roots, notify, disposed: () => disposed };
}

test('the server watches through the change source it is given, sends its changes to pages, and stops it on close', async (t) => {
  const site = linkedSite();
  t.after(site.remove);
  const changes = recordingSource();
  await withLogged({ root: site.link, liveReload: true, changes: changes.source }, async ({ server }) => {
    assert.deepEqual(changes.roots, [site.real], 'called once, with the resolved root');
    const socket = await open(server.port);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    try {
      socket.write(`GET /.tiny-server/reload/events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nSec-Fetch-Site: same-origin\r\n\r\n`);
      await waitFor(() => received.includes('"hello"'), 3000, 'the hello event');
      // A change source may name files through the root as given or as resolved.
      changes.notify[0]?.([join(site.link, 'sub', 'page one.html'), join(site.real, 'index.html'), '/elsewhere/x.html']);
      await waitFor(() => received.includes('"change"'), 3000, 'the change event');
      const change = /data: (\{"type":"change".*)\n/.exec(received)?.[1];
      assert.deepEqual(JSON.parse(change ?? '{}'), { type: 'change', seq: 1, paths: ['/sub/page%20one.html', '/index.html'] });
    } finally {
      socket.destroy();
    }
    assert.equal(changes.disposed(), 0, 'still watching while the server runs');
  });
  assert.equal(changes.disposed(), 1, 'stopped once with the server');
});

test('with live reload off the change source is never started', async (t) => {
  const site = linkedSite();
  t.after(site.remove);
  const changes = recordingSource();
  await withLogged({ root: site.real, liveReload: false, changes: changes.source }, async () => {
    assert.deepEqual(changes.roots, []);
  });
  assert.equal(changes.disposed(), 0);
});
