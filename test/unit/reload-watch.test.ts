import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { test } from 'node:test';
import { watchTree } from '../../src/server/reload';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';

/** Collects reported paths; `waitFor` resolves once `path` was reported, or rejects after a timeout. */
function recorder() {
  const seen: string[] = [];
  const waiters: Array<() => void> = [];
  return {
    seen,
    onChange(paths: string[]) {
      seen.push(...paths);
      for (const wake of waiters.splice(0)) wake();
    },
    waitFor(path: string, timeoutMs = 2000): Promise<void> {
      return this.until(() => seen.includes(path), `${path} was reported`, timeoutMs);
    },
    /** Resolves once `condition` holds; checked after each report and every 50 ms. */
    async until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`Not met in time: ${what}; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 50));
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}

async function withWatchedSite(run: (site: FixtureSite, changes: ReturnType<typeof recorder>) => Promise<void>): Promise<void> {
  const site = createFixtureSite({ 'index.html': '<p>x', 'css/site.css': 'p{}', 'node_modules/pkg/index.js': '', '.git/HEAD': '' });
  const changes = recorder();
  const watcher = watchTree(site.root, (paths) => changes.onChange(paths));
  try {
    // Folder watchers are added as the tree is read; give that a moment.
    await new Promise((r) => setTimeout(r, 100));
    await run(site, changes);
  } finally {
    watcher.dispose();
    site.remove();
  }
}

test('watchTree() reports a changed file by its absolute path', async () => {
  await withWatchedSite(async (site, changes) => {
    const started = Date.now();
    site.write('css/site.css', 'p{color:red}');
    await changes.waitFor(site.path('css/site.css'));
    assert.ok(Date.now() - started < 500, `reported after ${Date.now() - started} ms`);
  });
});

test('watchTree() watches folders created after it started', async () => {
  await withWatchedSite(async (site, changes) => {
    site.mkdir('new/deeper');
    await changes.waitFor(site.path('new'));
    await new Promise((r) => setTimeout(r, 100));
    site.write('new/deeper/page.html', '<p>new');
    await changes.waitFor(site.path('new/deeper/page.html'));
  });
});

test('watchTree() ignores node_modules and .git', async () => {
  await withWatchedSite(async (site, changes) => {
    site.write('node_modules/pkg/index.js', 'changed');
    site.write('.git/HEAD', 'changed');
    site.write('node_modules/other/new.js', 'new');
    site.write('index.html', '<p>changed');
    await changes.waitFor(site.path('index.html'));
    await new Promise((r) => setTimeout(r, 150));
    const ignored = changes.seen.filter((path) => path.includes('node_modules') || path.includes('.git'));
    assert.deepEqual(ignored, []);
  });
});

test('watchTree() reports nothing after dispose()', async () => {
  const site = createFixtureSite({ 'a.html': 'x' });
  const changes = recorder();
  const watcher = watchTree(site.root, (paths) => changes.onChange(paths));
  // Positive control: a second watcher of the same folder, left running, sees the same write.
  const control = recorder();
  const running = watchTree(site.root, (paths) => control.onChange(paths));
  try {
    await new Promise((r) => setTimeout(r, 50));
    watcher.dispose();
    site.write('a.html', 'y');
    await control.waitFor(site.path('a.html'));
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(changes.seen, []);
  } finally {
    running.dispose();
    site.remove();
  }
});

test('watchTree() reports an error for a missing folder and keeps the process usable', () => {
  const errors: string[] = [];
  const watcher = watchTree('/nonexistent/tiny-server-root', () => undefined, (message) => errors.push(message));
  watcher.dispose();
  assert.equal(errors.length, 1);
  assert.match(errors[0] ?? '', /^Cannot watch \/nonexistent\/tiny-server-root: /);
});

/** A site, and beside it (outside the root) a tree of 61 folders standing for `/usr`. */
function siteWithOutsideTree(): { site: FixtureSite; outside: string } {
  const site = createFixtureSite({ 'index.html': '<p>x', 'css/site.css': 'p{}' });
  const outside = join(site.base, 'outside');
  for (let i = 0; i < 30; i++) mkdirSync(join(outside, `d${i}`, 'sub'), { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), 'a');
  return { site, outside };
}

/** Writes outside the root, then inside it (the positive control), and waits for the inside one. */
async function touchOutsideThenInside(site: FixtureSite, outside: string, changes: ReturnType<typeof recorder>): Promise<void> {
  writeFileSync(join(outside, 'secret.txt'), 'b');
  writeFileSync(join(outside, 'd3', 'sub', 'new.txt'), 'c');
  site.write('index.html', '<p>changed');
  await changes.waitFor(site.path('index.html'));
  // inotify delivers events in order, so the outside ones would have come first; a margin anyway.
  await new Promise((r) => setTimeout(r, 100));
}

test('watchTree() does not follow a link to a folder outside the root made while it runs', async () => {
  if (process.platform !== 'linux') return; // per-folder watchers are the Linux implementation
  const { site, outside } = siteWithOutsideTree();
  const changes = recorder();
  const watcher = watchTree(site.root, (paths) => changes.onChange(paths));
  try {
    await changes.until(() => watcher.folderCount === 2, 'the root and css/ are watched');
    site.symlink('usr', outside, 'dir');
    // The link itself is an entry of the root, so it is announced; what it points to is not.
    await changes.waitFor(site.path('usr'));
    await new Promise((r) => setTimeout(r, 100));
    await touchOutsideThenInside(site, outside, changes);
    assert.equal(watcher.folderCount, 2, 'no folder of the outside tree is watched');
    assert.deepEqual(changes.seen.filter((path) => path.startsWith(site.path('usr') + sep)), []);
  } finally {
    watcher.dispose();
    site.remove();
  }
});

test('watchTree() stops watching a folder that is replaced by a link to outside the root', async () => {
  if (process.platform !== 'linux') return;
  const { site, outside } = siteWithOutsideTree();
  const changes = recorder();
  const watcher = watchTree(site.root, (paths) => changes.onChange(paths));
  try {
    await changes.until(() => watcher.folderCount === 2, 'the root and css/ are watched');
    renameSync(site.path('css'), join(site.base, 'css-moved-out'));
    site.symlink('css', outside, 'dir');
    await changes.until(() => watcher.folderCount === 1, 'css/ is no longer watched');
    writeFileSync(join(site.base, 'css-moved-out', 'site.css'), 'p{color:red}');
    await touchOutsideThenInside(site, outside, changes);
    assert.deepEqual(changes.seen.filter((path) => path.startsWith(site.path('css') + sep)), []);
    assert.equal(watcher.folderCount, 1);
  } finally {
    watcher.dispose();
    site.remove();
  }
});
