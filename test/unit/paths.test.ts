import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isInside, resolveSafePath, type SafePath } from '../../src/server/static/paths';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';

function withSite(run: (site: FixtureSite) => void): void {
  const site = createFixtureSite({
    'index.html': '<h1>home</h1>',
    'a/b.txt': 'b',
    'a/.hidden/x': 'hidden',
    '.env': 'SECRET=1',
    '.git/config': '[core]',
    'secret-sibling-check.txt': 'inside',
  });
  try {
    run(site);
  } finally {
    site.remove();
  }
}

function failure(result: SafePath): { status: number; reason: string } {
  assert.equal(result.ok, false, `expected a failure, got ${JSON.stringify(result)}`);
  return result.ok ? { status: 0, reason: '' } : { status: result.status, reason: result.reason };
}

test('resolveSafePath() maps / to the root and a nested path to its file', () => {
  withSite((site) => {
    assert.deepEqual(resolveSafePath(site.root, '/', false), { ok: true, path: site.root, lexicalPath: site.root });
    const file = resolveSafePath(site.root, '/a/b.txt', false);
    assert.deepEqual(file, { ok: true, path: site.path('a/b.txt'), lexicalPath: site.path('a/b.txt') });
  });
});

test('resolveSafePath() decodes percent-encoding exactly once', () => {
  withSite((site) => {
    site.write('100% sure.txt', 'x');
    site.write('%41.txt', 'literal percent');
    assert.equal(resolveSafePath(site.root, '/100%25%20sure.txt', false).ok, true);
    const once = resolveSafePath(site.root, '/%2541.txt', false);
    assert.ok(once.ok && once.path === site.path('%41.txt'), 'a double-encoded name is the literal file');
  });
});

test('resolveSafePath() reads bytes a client sent raw as the UTF-8 they are, or as Latin-1 when they are no UTF-8', () => {
  withSite((site) => {
    site.write('café.txt', 'x');
    const raw = Buffer.from('/café.txt', 'utf8').toString('latin1');
    const found = resolveSafePath(site.root, raw, false);
    assert.ok(found.ok && found.path === site.path('café.txt'), `raw UTF-8 names café.txt: ${JSON.stringify(found)}`);
    const latin1 = resolveSafePath(site.root, '/caf\xe9.txt', false);
    assert.ok(latin1.ok && latin1.path === site.path('café.txt'), `raw bytes that are no UTF-8 are read as Latin-1: ${JSON.stringify(latin1)}`);
  });
});

test('resolveSafePath() answers 400 for invalid percent-encoding', () => {
  withSite((site) => {
    for (const path of ['/%zz', '/%E0%A4', '/%', '/a%2']) {
      const result = failure(resolveSafePath(site.root, path, false));
      assert.equal(result.status, 400, path);
      assert.match(result.reason, /percent-encoding/);
    }
  });
});

test('resolveSafePath() answers 400 for NUL bytes and backslashes', () => {
  withSite((site) => {
    assert.equal(failure(resolveSafePath(site.root, '/%00', false)).status, 400);
    assert.equal(failure(resolveSafePath(site.root, '/index.html%00.txt', false)).status, 400);
    assert.equal(failure(resolveSafePath(site.root, '/..\\x', false)).status, 400);
    assert.equal(failure(resolveSafePath(site.root, '/a/..%5c..%5cx', false)).status, 400);
  });
});

test('resolveSafePath() refuses every spelling of a .. segment', () => {
  withSite((site) => {
    writeFileSync(join(site.base, 'x'), 'outside');
    for (const path of ['/../x', '/%2e%2e/x', '/a/../../x', '/a/%2E%2E/%2E%2E/x', '/..', '//../x']) {
      for (const showDotfiles of [false, true]) {
        const result = failure(resolveSafePath(site.root, path, showDotfiles));
        assert.equal(result.status, 400, path);
        assert.equal(result.reason, 'path escapes the root');
      }
    }
    // An encoded slash is refused before its segment could become a `..`.
    for (const path of ['/..%2fx', '/%2e%2e%2fx']) {
      const result = failure(resolveSafePath(site.root, path, false));
      assert.equal(result.status, 400, path);
      assert.equal(result.reason, 'path contains an encoded slash (%2F)');
    }
  });
});

test('resolveSafePath() refuses a path that does not start with a slash', () => {
  withSite((site) => {
    assert.equal(failure(resolveSafePath(site.root, '*', false)).status, 400);
    assert.equal(failure(resolveSafePath(site.root, 'index.html', false)).status, 400);
  });
});

test('resolveSafePath() hides dotfiles and dot-folders anywhere unless showDotfiles', () => {
  withSite((site) => {
    for (const path of ['/.env', '/.git/config', '/.git', '/a/.hidden/x', '/a/%2Ehidden/x']) {
      assert.equal(failure(resolveSafePath(site.root, path, false)).status, 404, path);
    }
    assert.deepEqual(resolveSafePath(site.root, '/.git/config', true), {
      ok: true,
      path: site.path('.git/config'),
      lexicalPath: site.path('.git/config'),
    });
    assert.equal(resolveSafePath(site.root, '/a/.hidden/x', true).ok, true);
  });
});

test('resolveSafePath() answers 404 with the absolute path in the reason for a missing file', () => {
  withSite((site) => {
    const result = failure(resolveSafePath(site.root, '/missing.html', false));
    assert.equal(result.status, 404);
    assert.equal(result.reason, `no file at ${site.path('missing.html')}`);
    assert.equal(failure(resolveSafePath(site.root, '/index.html/x', false)).status, 404, 'a file used as a folder');
  });
});

test('resolveSafePath() treats a symlink out of the root as missing', () => {
  withSite((site) => {
    const outside = join(site.base, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    site.symlink('out.txt', join(outside, 'secret.txt'), 'file');
    site.symlink('outdir', outside, 'dir');
    for (const path of ['/out.txt', '/outdir', '/outdir/secret.txt']) {
      const result = failure(resolveSafePath(site.root, path, false));
      assert.equal(result.status, 404, path);
      assert.match(result.reason, /outside the root/);
    }
  });
});

test('resolveSafePath() follows a symlink that stays inside the root', () => {
  withSite((site) => {
    site.symlink('link.txt', 'a/b.txt', 'file');
    site.symlink('alias', 'a', 'dir');
    assert.deepEqual(resolveSafePath(site.root, '/link.txt', false), {
      ok: true,
      path: site.path('a/b.txt'),
      lexicalPath: site.path('link.txt'),
    });
    const viaFolder = resolveSafePath(site.root, '/alias/b.txt', false);
    assert.ok(viaFolder.ok && viaFolder.path === site.path('a/b.txt'));
  });
});

test('resolveSafePath() hides a symlink whose target is a dotfile inside the root', () => {
  withSite((site) => {
    site.symlink('config.txt', '.git/config', 'file');
    assert.equal(failure(resolveSafePath(site.root, '/config.txt', false)).status, 404);
    assert.equal(resolveSafePath(site.root, '/config.txt', true).ok, true);
  });
});

test('resolveSafePath() never reaches a sibling folder whose name extends the root', () => {
  withSite((site) => {
    const evil = `${site.root}-evil`;
    mkdirSync(evil);
    writeFileSync(join(evil, 'x.txt'), 'evil');
    site.symlink('evil-link.txt', join(evil, 'x.txt'), 'file');
    assert.equal(failure(resolveSafePath(site.root, '/evil-link.txt', false)).status, 404);
    assert.equal(failure(resolveSafePath(site.root, '/../site-evil/x.txt', false)).status, 400);
  });
});

test('isInside() accepts the root and its descendants but not a sibling with a longer name', () => {
  assert.equal(isInside('/srv/root', '/srv/root'), true);
  assert.equal(isInside('/srv/root', '/srv/root/a'), true);
  assert.equal(isInside('/srv/root', '/srv/root-evil'), false);
  assert.equal(isInside('/srv/root', '/srv/roo'), false);
  assert.equal(isInside('/', '/etc/passwd'), true);
});
