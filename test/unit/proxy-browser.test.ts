import assert from 'node:assert/strict';
import { readFileSync, utimesSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { watchTree } from '../../src/server/reload';
import { startServer } from '../../src/server/server';
import { launchChromium } from './helpers/browser';
import { createFixtureSite } from './helpers/fixture-site';
import { reply, startPythonHttpServer, startUpstream } from './helpers/upstream';

/** The dev server's page: it opens a WebSocket on its own host (through the proxy) and shows the echo. */
function page(version: string): string {
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>proxied</title>\n' +
    '<script>window.loadedAt = Date.now();\n' +
    'const socket = new WebSocket(`ws://${location.host}/ws/echo`);\n' +
    "socket.onopen = () => socket.send('ping');\n" +
    'socket.onmessage = (event) => { window.echo = event.data; };</script>\n' +
    `</head><body><p id="text">${version}</p></body></html>\n`
  );
}

test('Chromium: a page proxied from python3 -m http.server reloads when a file of the served root changes, and its WebSocket works through the proxy', async () => {
  // Tiny Server serves (and watches) the same folder that python serves: the whole-site mode in front of a dev server.
  const site = createFixtureSite({ 'index.html': page('version 1') });
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => echo.once('listening', () => resolve()));
  echo.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo: ${String(data)}`)));
  const python = await startPythonHttpServer(site.root);
  const browser = await launchChromium();
  const started = await startServer({
    root: site.root,
    port: 0,
    portAttempts: 0,
    changes: watchTree,
    proxy: { '/': python.url, '/ws': `http://127.0.0.1:${(echo.address() as AddressInfo).port}` },
  });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  const server = started.server;
  try {
    const tab = await browser.newPage();
    await tab.goto(server.url);
    assert.equal(await tab.locator('#text').innerText(), 'version 1');
    await tab.waitForFunction(
      () => (window as unknown as Record<symbol, { connected?: boolean } | undefined>)[Symbol.for('tiny-server.reload')]?.connected === true,
      null,
      { timeout: 5000 },
    );
    await tab.waitForFunction(() => (window as unknown as { echo?: string }).echo === 'echo: ping', null, { timeout: 5000 });
    const firstLoad = await tab.evaluate(() => (window as unknown as { loadedAt: number }).loadedAt);

    const path = site.write('index.html', page('version 2'));
    // http.server compares Last-Modified in whole seconds: a change within the second of the
    // first load would be answered 304 to the reload's revalidation.
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    await tab.waitForFunction(() => document.querySelector('#text')?.textContent === 'version 2', null, { timeout: 5000 });
    assert.ok((await tab.evaluate(() => (window as unknown as { loadedAt: number }).loadedAt)) > firstLoad, 'the page was loaded again');
    // The reloaded page opened its WebSocket through the proxy again.
    await tab.waitForFunction(() => (window as unknown as { echo?: string }).echo === 'echo: ping', null, { timeout: 5000 });
  } finally {
    await browser.close();
    await server.close();
    python.stop();
    for (const socket of echo.clients) socket.terminate();
    await new Promise((resolve) => echo.close(resolve));
    site.remove();
  }
});

test("Chromium: a proxied page whose policy allows scripts by nonce only runs the client with the page's nonce, and reloads on save though its connect-src refuses the in-place update's fetch", async () => {
  // Scripts by nonce only; no fetch() of the page's own origin. The shared worker, which holds the
  // event stream, is allowed, and is under a policy of its own (none).
  const policy = "script-src 'nonce-abc'; worker-src 'self'; connect-src 'none'";
  const staticPage = (version: string) => `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>csp</title></head><body><p id="text">${version}</p></body></html>\n`;
  const site = createFixtureSite({ 'index.html': staticPage('version 1') });
  const upstream = await startUpstream((_request, socket) => {
    const fields = `Content-Type: text/html; charset=utf-8\r\nContent-Security-Policy: ${policy}\r\nCache-Control: no-store\r\n`;
    socket.write(reply(readFileSync(join(site.root, 'index.html')), fields));
  });
  const browser = await launchChromium();
  const started = await startServer({ root: site.root, port: 0, portAttempts: 0, changes: watchTree, proxy: { '/': upstream.url } });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  const server = started.server;
  try {
    const tab = await browser.newPage();
    await tab.goto(new URL('/index.html', server.url).href);
    await tab.waitForFunction(
      () => (window as unknown as Record<symbol, { connected?: boolean } | undefined>)[Symbol.for('tiny-server.reload')]?.connected === true,
      null,
      { timeout: 5000 },
    );
    // The policy is the upstream's and is enforced: the page may not fetch its own address.
    assert.equal(await tab.evaluate(() => fetch(location.href).then(() => 'answered', () => 'refused')), 'refused');
    await tab.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    site.write('index.html', staticPage('version 2'));
    await tab.waitForFunction(() => document.querySelector('#text')?.textContent === 'version 2', null, { timeout: 5000 });
    assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), undefined, 'the page was reloaded');
  } finally {
    await browser.close();
    await server.close();
    await upstream.close();
    site.remove();
  }
});
