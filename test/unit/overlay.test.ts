// Unsaved editor text served in place of files (ServerOptions.overlay), over real sockets.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { EventReader } from './helpers/event-reader';
import { MapOverlay } from './helpers/overlay';
import { withServedSite } from './helpers/serve';

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body><p>saved</p></body></html>';
const NAVIGATE = 'Accept: text/html\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n';

test('unsaved text is served with its own entity tag, live reload injected; dropping it serves the disk again', async () => {
  const overlay = new MapOverlay();
  await withServedSite(
    { 'index.html': PAGE, 'style.css': 'p { color: red }' },
    async ({ request, site }) => {
      const page = site.path('index.html');
      // Served once from disk first, so the cached file's fast path is the one that must yield.
      const saved = await request('/', NAVIGATE);
      assert.match(saved.body.toString(), /<p>saved<\/p>/);
      const savedTag = saved.headers.get('etag');

      overlay.set(page, Buffer.from(PAGE.replace('saved', 'typed, not saved')));
      const typed = await request('/', NAVIGATE);
      assert.equal(typed.status, 200);
      assert.match(typed.body.toString(), /<p>typed, not saved<\/p>/);
      assert.match(typed.body.toString(), /\/\.tiny-server\/reload\/client\.js/, 'live reload is injected into unsaved HTML too');
      assert.notEqual(typed.headers.get('etag'), savedTag, 'unsaved bytes never share the saved file\'s validator');
      // The saved file's validator no longer matches: the browser gets the unsaved bytes, not a 304.
      const revalidated = await request('/', `${NAVIGATE}If-None-Match: ${savedTag}\r\n`);
      assert.equal(revalidated.status, 200);
      assert.equal((await request('/', `${NAVIGATE}If-None-Match: ${typed.headers.get('etag')}\r\n`)).status, 304);
      // The other path to the same file, and a file nobody edits, keep their answers.
      assert.match((await request('/index.html', NAVIGATE)).body.toString(), /typed, not saved/);
      assert.equal((await request('/style.css')).body.toString(), 'p { color: red }');

      overlay.set(page, undefined);
      const reverted = await request('/', NAVIGATE);
      assert.match(reverted.body.toString(), /<p>saved<\/p>/);
      assert.equal(reverted.headers.get('etag'), savedTag);
    },
    { overlay, liveReload: true },
  );
});

test('unsaved text keeps the page\'s own encoding: GBK bytes go out as they are, labelled gbk', async () => {
  const overlay = new MapOverlay();
  // "中文" in GBK, which is not valid UTF-8.
  const gbk = Buffer.concat([Buffer.from('<html><head><meta charset="gbk"></head><body>'), Buffer.from([0xd6, 0xd0, 0xce, 0xc4]), Buffer.from('</body></html>')]);
  await withServedSite(
    { 'gbk.html': gbk },
    async ({ request, site }) => {
      const edited = Buffer.concat([gbk.subarray(0, gbk.length - 14), Buffer.from([0xd6, 0xd0]), Buffer.from('</body></html>')]);
      overlay.set(site.path('gbk.html'), edited);
      const answer = await request('/gbk.html');
      assert.equal(answer.headers.get('content-type'), 'text/html; charset=gbk');
      assert.deepEqual(answer.body, edited);
    },
    { overlay, liveReload: false },
  );
});

test('a change to unsaved text is a change event for open pages, like a saved change', async () => {
  const overlay = new MapOverlay();
  await withServedSite(
    { 'index.html': PAGE, 'style.css': 'p { color: red }' },
    async ({ port, site }) => {
      const reader = await EventReader.open(port);
      try {
        await reader.nthEvent(0);
        overlay.set(site.path('style.css'), Buffer.from('p { color: blue }'));
        // The client swaps stylesheets for a change that names only stylesheets, as on save; a
        // page that must reload for typed text waits for typing to pause (`typing`).
        assert.deepEqual(await reader.nthEvent(1), { type: 'change', seq: 1, paths: ['/style.css'], typing: true });
        overlay.set(site.path('index.html'), Buffer.from(PAGE.replace('saved', 'typed')));
        assert.deepEqual(await reader.nthEvent(2), { type: 'change', seq: 2, paths: ['/index.html'], typing: true });
      } finally {
        reader.socket.destroy();
      }
    },
    { overlay, liveReload: true },
  );
});

test('overlay text is never served for a file that is not on disk or lies outside the root', async () => {
  const overlay = new MapOverlay();
  await withServedSite(
    { 'index.html': PAGE },
    async ({ request, site }) => {
      // An editor for a file not saved yet (created in the editor only).
      overlay.set(site.path('draft.html'), Buffer.from('<p>draft</p>'));
      assert.equal((await request('/draft.html')).status, 404);
      // A file outside the root that an editor holds, reached by a path the server refuses.
      const outside = join(site.base, 'outside.html');
      writeFileSync(outside, 'outside on disk');
      overlay.set(outside, Buffer.from('outside, unsaved'));
      assert.equal((await request('/../outside.html')).status, 400);
      assert.equal((await request('/%2e%2e/outside.html')).status, 400);
    },
    { overlay, liveReload: false },
  );
});
