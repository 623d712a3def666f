import * as assert from 'node:assert/strict';
import { api, cleanUp, folder, freePort, get, recordLog, setSetting, waitFor } from './helpers';

suite('Request log', () => {
  teardown(cleanUp);

  test('the output channel receives one line per request with status, bytes and duration', async () => {
    const site = folder('site');
    const tiny = await api();
    const log = recordLog(tiny);
    try {
      await setSetting(site, 'port', await freePort());
      const started = await tiny.start(site.uri);
      assert.ok(started.ok, 'the server started');

      await get(`${started.server.url}index.html`);
      await get(`${started.server.url}about.html`);
      await waitFor('two request lines', () => log.lines.filter((l) => / GET \//.test(l)).length >= 2);

      const requests = log.lines.filter((l) => / GET \//.test(l));
      assert.equal(requests.length, 2);
      assert.match(requests[0] ?? '', /GET \/index\.html HTTP\/1\.1 200 \d+B \d+\.\dms$/);
      assert.match(requests[1] ?? '', /GET \/about\.html HTTP\/1\.1 200 \d+B \d+\.\dms$/);
    } finally {
      log.dispose();
    }
  });

  test('a failed request is logged with its status and reason', async () => {
    const site = folder('site');
    const tiny = await api();
    const log = recordLog(tiny);
    try {
      await setSetting(site, 'port', await freePort());
      const started = await tiny.start(site.uri);
      assert.ok(started.ok, 'the server started');

      assert.equal((await get(`${started.server.url}missing.html`)).status, 404);
      await waitFor('the 404 line', () => log.lines.some((l) => l.includes('GET /missing.html')));

      assert.match(log.lines.find((l) => l.includes('GET /missing.html')) ?? '', / 404 \d+B \d+\.\dms - \S/);
    } finally {
      log.dispose();
    }
  });

  test('start and stop are logged with the root and the address', async () => {
    const site = folder('site');
    const tiny = await api();
    const log = recordLog(tiny);
    try {
      const port = await freePort();
      await setSetting(site, 'port', port);
      await tiny.start(site.uri);
      await tiny.stop(site.uri);

      assert.ok(log.lines.some((l) => l.includes(site.uri.fsPath) && l.includes(`http://127.0.0.1:${port}/`)), log.lines.join('\n'));
      assert.ok(log.lines.some((l) => l.includes(`Stopped the server on port ${port}`)), log.lines.join('\n'));
    } finally {
      log.dispose();
    }
  });
});
