import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ServerInfo } from '../../../src/extension/api';
import { api, cleanUp, close, folder, freePort, get, listen, probe, serverOf, setSetting } from './helpers';

suite('Starting and stopping', () => {
  teardown(cleanUp);

  test('Start Tiny Server serves the workspace folder on the configured port', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);

    const started = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);

    assert.equal(started?.port, port);
    assert.equal(started.url, `http://127.0.0.1:${port}/`);
    assert.equal(started.root.fsPath, site.uri.fsPath);
    assert.equal(serverOf(await api(), site.uri)?.port, port);
    const page = await get(started.url);
    assert.equal(page.status, 200);
    assert.match(page.text, /Tiny Server fixture: site/);
  });

  test('a taken port moves the server to the next free port and keeps the requested one', async () => {
    const site = folder('site');
    const taken = await listen(await freePort());
    try {
      const port = (taken.address() as { port: number }).port;
      await setSetting(site, 'port', port);

      const started = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);

      assert.ok(started !== undefined, 'the server started');
      assert.equal(started.requestedPort, port);
      assert.ok(started.port > port, `listens on ${started.port}, after the taken ${port}`);
      assert.match((await get(started.url)).text, /Tiny Server fixture: site/);
    } finally {
      await close(taken);
    }
  });

  test('Stop Tiny Server closes every connection and frees the port', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    const started = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);
    assert.ok(started !== undefined, 'the server started');
    // A keep-alive connection that stays open must not keep the port busy.
    await get(started.url);

    await vscode.commands.executeCommand('tinyServer.stop', site.uri);

    assert.equal(await probe(started.port), 'refused');
    assert.equal(serverOf(await api(), site.uri), undefined);
  });

  test('a root that does not exist fails the start with its reason and leaves no server', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    await setSetting(site, 'root', 'no-such-folder');
    const tiny = await api();

    const outcome = await tiny.start(site.uri);
    const fromCommand = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);

    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.message, /no-such-folder/);
    assert.equal(fromCommand, undefined);
    assert.deepEqual(tiny.servers(), []);
  });

  test('a root outside the workspace folder is refused', async () => {
    const site = folder('site');
    await setSetting(site, 'root', '../second');

    const outcome = await (await api()).start(site.uri);

    assert.equal(outcome.ok, false);
    assert.match(outcome.ok ? '' : outcome.message, /outside the workspace folder/);
    assert.deepEqual((await api()).servers(), []);
  });

  test('tinyServer.root serves a subfolder of the workspace folder', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    await setSetting(site, 'root', 'public');

    const outcome = await (await api()).start(site.uri);

    assert.ok(outcome.ok, 'the server started');
    assert.equal(outcome.server.root.fsPath, vscode.Uri.joinPath(site.uri, 'public').fsPath);
    assert.match((await get(outcome.server.url)).text, /Tiny Server fixture: public root/);
  });

  test('Start Tiny Server on a running folder answers the running server', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    const first = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);

    const second = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);

    assert.equal(second?.port, first?.port);
    assert.equal((await api()).servers().length, 1);
  });
});
