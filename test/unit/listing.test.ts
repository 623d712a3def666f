import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_LISTED, readListing } from '../../src/server/static/listing';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';
import { withServedSite } from './helpers/serve';

test('readListing() keeps the first entries in listing order, however many it reads, and counts them all', async () => {
  const site = createFixtureSite();
  try {
    // Written in an order unrelated to the listing's, enough to be cut more than once.
    for (let i = 40; i >= 1; i--) site.write(`list/file${i}.txt`, 'x');
    for (const name of ['zeta', 'Alpha', 'mid']) site.mkdir(`list/${name}`);
    const listing = await readListing(site.path('list'), site.root, false, 5);
    assert.equal(listing.total, 43);
    assert.deepEqual(
      listing.entries.map((e) => e.name),
      ['Alpha', 'mid', 'zeta', 'file1.txt', 'file2.txt'],
    );
    const whole = await readListing(site.path('list'), site.root, false);
    assert.equal(whole.entries.length, 43);
    assert.equal(whole.entries.at(-1)?.name, 'file40.txt');
  } finally {
    site.remove();
  }
});

test('readListing() leaves out names with a backslash, which no request can name', { skip: process.platform === 'win32' }, async () => {
  const site = createFixtureSite();
  try {
    site.write('bs/a\\b.txt', 'x');
    site.mkdir('bs/d\\ir');
    site.write('bs/plain.txt', 'x');
    const listing = await readListing(site.path('bs'), site.root, false);
    assert.deepEqual(listing.entries.map((e) => e.name), ['plain.txt']);
  } finally {
    site.remove();
  }
});

// The moment after a folder passed the path checks and before it is read, a hostile folder can
// put a link in its place (or in a parent's). The listing reads through a descriptor opened
// without following a link and checked to be open on the path it was given, never through the path again.
test('readListing() never reads a folder that became a link, or lies below one, since it was checked', { skip: process.platform !== 'linux' }, async () => {
  const site = createFixtureSite({ 'inside/listed.txt': 'x' });
  try {
    site.write('../outside/secret-name.txt', 'x');
    site.write('../outside/b/secret-below.txt', 'x');
    symlinkSync(join(site.root, '..', 'outside'), site.path('swapped'));
    mkdirSync(site.path('parent'));
    symlinkSync(join(site.root, '..', 'outside'), site.path('parent/a'));
    // Positive control: a plain folder is listed.
    assert.deepEqual((await readListing(site.path('inside'), site.root, false)).entries.map((e) => e.name), ['listed.txt']);
    // Either code is answered 404 (see fsFailure); O_NOFOLLOW with O_DIRECTORY gives ENOTDIR on Linux.
    const notListed = (error: NodeJS.ErrnoException): boolean => error.code === 'ENOENT' || error.code === 'ENOTDIR';
    await assert.rejects(readListing(site.path('swapped'), site.root, false), notListed);
    await assert.rejects(readListing(site.path('parent/a/b'), site.root, false), notListed);
  } finally {
    site.remove();
  }
});

/** Milliseconds a request took. */
async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

test('a folder of 20,000 files is listed without holding up a small file, and cut with a note', async () => {
  await withServedSite({ 'small.txt': 'small' }, async ({ request, site: served }) => {
    const big = served.mkdir('big');
    for (let i = 0; i < 20_000; i++) writeFileSync(join(big, `f${i}.txt`), '');
    const page = (await request('/big/')).body.toString();
    assert.ok(page.includes(`Showing the first ${MAX_LISTED.toLocaleString('en')} of 20,000 entries`), page.slice(0, 2000));
    assert.equal(page.split('<tr>').length - 1, 1 + 1 + MAX_LISTED, 'a header row, the parent row and the rows kept');
    assert.ok(page.includes('>f0.txt<') && page.includes(`>f${MAX_LISTED - 1}.txt<`), 'the first rows in natural order');
    assert.ok(!page.includes(`>f${MAX_LISTED}.txt<`));

    await request('/small.txt');
    const listings: number[] = [];
    let inFlight = 0;
    let running = true;
    const clients = [1, 2, 3, 4].map(async () => {
      while (running) {
        inFlight++;
        listings.push(await timed(() => request('/big/')));
        inFlight--;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const probes: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        // The positive control: listings are being built while each probe is answered.
        assert.ok(inFlight > 0, 'listing clients are busy');
        probes.push(await timed(() => request('/small.txt')));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      running = false;
      await Promise.all(clients);
    }
    const listing = median(listings);
    const note = `small file ${probes.map((p) => p.toFixed(0)).join(', ')} ms; listings ${listings.map((p) => p.toFixed(0)).join(', ')} ms`;
    assert.ok(listings.length >= 4, note);
    // Blocking listings hold a small file for about a listing's time; async ones only for slices of it.
    assert.ok(median(probes) < listing / 10, note);
    assert.ok(Math.max(...probes) < listing / 2, note);
  });
});

/** The names a listing page shows, folders with their trailing slash, in page order. */
function listedNames(page: string): string[] {
  return [...page.matchAll(/<a(?: class="folder")? href="\.\/[^"]*">([^<]*)<\/a>/g)].map((m) => m[1] as string);
}

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT';

/** Links at the root of `site` that point inside it, out of it, to hidden files and nowhere. */
function addLinks(site: FixtureSite): void {
  writeFileSync(join(site.base, 'secret.txt'), SECRET);
  mkdirSync(`${site.root}-evil`);
  writeFileSync(join(`${site.root}-evil`, 'x.txt'), SECRET);
  site.symlink('in-file.txt', 'visible.txt', 'file');
  site.symlink('in-dir', 'sub', 'dir');
  site.symlink('out-file.txt', join(site.base, 'secret.txt'), 'file');
  site.symlink('out-dir', site.base, 'dir');
  site.symlink('evil.txt', '../site-evil/x.txt', 'file');
  site.symlink('hidden-link.txt', '.hidden.txt', 'file');
  site.symlink('git-config', '.git/config', 'file');
  site.symlink('git-dir', '.git', 'dir');
  site.symlink('broken.txt', 'nothing-here.txt', 'file');
}

test('a listing answers If-None-Match * with 304 and an If-Match that names a tag with 412, as any existing resource would', async () => {
  await withServedSite({ 'folder/a.txt': 'a' }, async ({ request }) => {
    assert.equal((await request('/folder/')).status, 200);
    const notModified = await request('/folder/', 'If-None-Match: *\r\n');
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('vary'), 'Sec-Fetch-Dest, Accept', "the 304 carries its 200's Vary");
    assert.equal((await request('/folder/', 'If-Match: "nope"\r\n')).status, 412);
    assert.equal((await request('/folder/', 'If-Match: *\r\n')).status, 200);
    assert.equal((await request('/folder/', 'If-None-Match: "other"\r\n')).status, 200);
  });
});

const LINKED_SITE = { 'visible.txt': 'visible', '.hidden.txt': 'hidden', 'sub/inner.txt': 'inner', '.git/config': '[core]' };

test('a listing shows links inside the root and leaves out links out of it, to hidden files, broken ones and FIFOs', async () => {
  await withServedSite(LINKED_SITE, async ({ request, site }) => {
    addLinks(site);
    execFileSync('mkfifo', [site.path('pipe')]);
    const page = (await request('/')).body.toString();
    assert.deepEqual(listedNames(page), ['in-dir/', 'sub/', 'in-file.txt', 'visible.txt']);
    assert.ok(!page.includes(`${SECRET.length} B`), 'no size of the secret outside the root');
    // Listed exactly when served: each listed entry answers 200, each left-out link 404.
    for (const name of listedNames(page)) assert.equal((await request(`/${name}`)).status, 200, name);
    for (const name of ['out-file.txt', 'out-dir/', 'evil.txt', 'hidden-link.txt', 'git-config', 'git-dir/', 'broken.txt', 'pipe']) {
      assert.equal((await request(`/${name}`)).status, 404, name);
    }
  });
});

test('with dotfiles shown, links to hidden files are listed and links out of the root still are not', async () => {
  await withServedSite(
    LINKED_SITE,
    async ({ request, site }) => {
      addLinks(site);
      const names = listedNames((await request('/')).body.toString());
      assert.deepEqual(names, ['.git/', 'git-dir/', 'in-dir/', 'sub/', '.hidden.txt', 'git-config', 'hidden-link.txt', 'in-file.txt', 'visible.txt']);
    },
    { showDotfiles: true },
  );
});
