import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { RACY_MARGIN_MS } from '../../src/server/static/file-cache';
import { collector, retained } from './helpers/app';
import { createFixtureSite } from './helpers/fixture-site';
import { exchange, open, parseResponses } from './helpers/raw';
import { withLogged } from './helpers/server';

/** A page load, as a browser sends it: it gets live reload's tag. */
const pageLoad = (target: string, extra = ''): string =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nSec-Fetch-Dest: document\r\n${extra}\r\n`;

/** A page of `size` bytes, and the time that makes it a version the server trusts (no longer racy). */
async function writePage(path: string, size: number, fill: string): Promise<void> {
  const head = '<!doctype html><html><head><title>big</title></head><body>';
  writeFileSync(path, head + fill.repeat(size - head.length));
  await new Promise((resolve) => setTimeout(resolve, RACY_MARGIN_MS + 100));
}

test('page loads of a page too large for the cache share one read and rewritten copy: 16 slow loads of an 8 MB page do not hold 16 copies', async () => {
  const gc = collector();
  const size = 8 * 1024 * 1024;
  const site = createFixtureSite({});
  await writePage(site.path('big.html'), size, 'a');
  try {
    await withLogged({ root: site.root, liveReload: true }, async ({ server }) => {
      const first = await exchange(server.port, pageLoad('/big.html', 'Connection: close\r\n'), 10_000);
      const [whole] = parseResponses(first);
      assert.equal(whole?.status, 200);
      assert.ok((whole?.body.length ?? 0) > size, 'the page with the tag in it');
      assert.match(whole?.body.toString('latin1', 0, 400) ?? '', /\.tiny-server\/reload/);

      const before = await retained(gc);
      const sockets = await Promise.all(Array.from({ length: 16 }, () => open(server.port)));
      try {
        for (const socket of sockets) {
          socket.pause(); // a client that does not read: the answer waits in the server
          socket.write(pageLoad('/big.html'));
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const held = (await retained(gc)) - before;
        // Each load holding its own copy would be 16 × (8 MB read + 8 MB rewritten).
        assert.ok(held < 48 * 1024 * 1024, `16 page loads held ${(held / 1024 / 1024).toFixed(1)} MB`);
        process.stdout.write(`# 16 slow loads of an 8 MB page: +${(held / 1024 / 1024).toFixed(1)} MB held\n`);
      } finally {
        for (const socket of sockets) socket.destroy();
      }

      // A new version is read again, never the kept one.
      await writePage(site.path('big.html'), size, 'b');
      const [changed] = parseResponses(await exchange(server.port, pageLoad('/big.html', 'Connection: close\r\n'), 10_000));
      assert.equal(changed?.body.subarray(-100).toString('latin1'), 'b'.repeat(100));
    });
  } finally {
    site.remove();
  }
});
