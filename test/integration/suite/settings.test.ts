import * as assert from 'node:assert/strict';
import { api, cleanUp, folder, freePort, get, probe, serverOf, setSetting, waitFor } from './helpers';

suite('Settings', () => {
  teardown(cleanUp);

  test('changing tinyServer.port restarts the running server on the new port', async () => {
    const site = folder('site');
    const tiny = await api();
    const before = await freePort();
    await setSetting(site, 'port', before);
    const started = await tiny.start(site.uri);
    assert.ok(started.ok, 'the server started');
    const after = await freePort();

    await setSetting(site, 'port', after);
    await waitFor(`the server to listen on ${after}`, () => serverOf(tiny, site.uri)?.port === after);

    assert.equal(await probe(before), 'refused');
    assert.match((await get(`http://127.0.0.1:${after}/`)).text, /Tiny Server fixture: site/);
  });

  test('changing tinyServer.openOnStart leaves the running server alone', async () => {
    const site = folder('site');
    const tiny = await api();
    await setSetting(site, 'port', await freePort());
    const started = await tiny.start(site.uri);
    assert.ok(started.ok, 'the server started');
    let changes = 0;
    const subscription = tiny.onDidChangeServers(() => changes++);
    try {
      await setSetting(site, 'openOnStart', 'externalBrowser');
      // Operations on a folder run in order, so once the port change below has restarted the
      // server, a restart caused by openOnStart would have happened too (two more changes).
      const port = await freePort();
      await setSetting(site, 'port', port);
      await waitFor(`the server to listen on ${port}`, () => serverOf(tiny, site.uri)?.port === port);
      assert.equal(changes, 2, 'only the port change restarted the server (stop, start)');
    } finally {
      subscription.dispose();
      await setSetting(site, 'openOnStart', 'none');
    }
  });

  test('an invalid tinyServer.port is reported instead of guessed at', async () => {
    const site = folder('site');
    await setSetting(site, 'port', 70000);

    const outcome = await (await api()).start(site.uri);

    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.message, /tinyServer\.port/);
  });
});
