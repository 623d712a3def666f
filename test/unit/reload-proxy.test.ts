import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { watchTree } from '../../src/server/reload';
import { startServer } from '../../src/server/server';
import { launchChromium } from './helpers/browser';
import { createFixtureSite } from './helpers/fixture-site';
import { waitFor } from './helpers/server';

/**
 * A path-prefix proxy like code-server's: `/proxy/<port>/x` is forwarded to `127.0.0.1:<port>/x`,
 * anything else is a 404 that the test records. Written with node:http because it stands for a
 * third-party proxy, not for Tiny Server.
 */
async function startPrefixProxy(target: number): Promise<{ server: Server; port: number; outside: string[] }> {
  const prefix = `/proxy/${target}`;
  const outside: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (!url.startsWith(`${prefix}/`)) {
      outside.push(url);
      res.writeHead(404).end();
      return;
    }
    const upstream = request({ host: '127.0.0.1', port: target, path: url.slice(prefix.length), method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, outside };
}

test('a page behind a path-prefix proxy gets its client, stylesheet swaps, in-place updates and reloads through the prefix', async () => {
  const site = createFixtureSite({
    'sub/page.html': '<!DOCTYPE html><html><head><link rel="stylesheet" href="style.css"></head><body><p id="text">one</p></body></html>',
    'sub/style.css': 'p { color: rgb(0, 0, 255); }',
  });
  const started = await startServer({ root: site.root, port: 0, portAttempts: 0, changes: watchTree });
  assert.ok(started.ok, 'server started');
  const server = started.server;
  const proxy = await startPrefixProxy(server.port);
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    let loads = 0;
    tab.on('load', () => loads++);
    await tab.goto(`http://127.0.0.1:${proxy.port}/proxy/${server.port}/sub/page.html`);
    const symbol = 'tiny-server.reload';
    await tab.waitForFunction((key) => (window as unknown as Record<symbol, { connected?: boolean }>)[Symbol.for(key)]?.connected === true, symbol, {
      timeout: 5000,
    });
    site.write('sub/style.css', 'p { color: rgb(255, 0, 0); }');
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('text') as Element).color === 'rgb(255, 0, 0)', null, { timeout: 3000 });
    assert.equal(loads, 1, 'the stylesheet was swapped without a reload');
    // A page without scripts fetches its new text through the prefix and updates in place...
    await tab.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    site.write('sub/page.html', '<!DOCTYPE html><html><head><link rel="stylesheet" href="style.css"></head><body><p id="text">two</p></body></html>');
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'two', null, { timeout: 3000 });
    assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'the page was updated in place');
    // ...and one whose new text has a script reloads, through the prefix too.
    site.write('sub/page.html', '<!DOCTYPE html><html><head></head><body><p id="text">three</p><script>window.three = 3;</script></body></html>');
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'three', null, { timeout: 3000 });
    // The new text can be read before the reloaded page's load event fires.
    await waitFor(() => loads >= 2, 3000, "the reloaded page's load event");
    assert.equal(loads, 2);
    // The browser asks for /favicon.ico at the origin by itself; every request of ours kept the prefix.
    assert.deepEqual(proxy.outside.filter((url) => url !== '/favicon.ico'), [], 'every request stayed inside the prefix');
  } finally {
    await browser.close();
    proxy.server.closeAllConnections();
    proxy.server.close();
    await server.close();
    site.remove();
  }
});
