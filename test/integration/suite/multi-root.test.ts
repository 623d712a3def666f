import * as assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ServerInfo } from '../../../src/extension/api';
import { api, cleanUp, EXTENSION_ID, folder, freePort, get, probe, setSetting } from './helpers';

/** Starts the servers of both fixture folders on fresh ports. */
async function startBoth(): Promise<[ServerInfo, ServerInfo]> {
  const site = folder('site');
  const second = folder('second');
  await setSetting(site, 'port', await freePort());
  await setSetting(second, 'port', await freePort());
  const a = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', site.uri);
  const b = await vscode.commands.executeCommand<ServerInfo | undefined>('tinyServer.start', second.uri);
  assert.ok(a !== undefined && b !== undefined, 'both servers started');
  return [a, b];
}

suite('Multi-root workspaces', () => {
  teardown(cleanUp);

  test('each folder of a multi-root workspace gets its own server', async () => {
    const [a, b] = await startBoth();

    assert.notEqual(a.port, b.port);
    assert.deepEqual(
      (await api()).servers().map((s) => s.folder.toString()),
      [folder('site').uri.toString(), folder('second').uri.toString()],
    );
    assert.match((await get(a.url)).text, /Tiny Server fixture: site/);
    assert.match((await get(b.url)).text, /Tiny Server fixture: second/);
  });

  test('stopping one folder leaves the other folder serving', async () => {
    const [a, b] = await startBoth();

    await vscode.commands.executeCommand('tinyServer.stop', folder('site').uri);

    assert.equal(await probe(a.port), 'refused');
    assert.match((await get(b.url)).text, /Tiny Server fixture: second/);
  });

  test('stopAll() frees the port of every server', async () => {
    const [a, b] = await startBoth();
    const tiny = await api();
    let changed = false;
    const subscription = tiny.onDidChangeServers(() => (changed = true));

    await tiny.stopAll();
    subscription.dispose();

    assert.equal(await probe(a.port), 'refused');
    assert.equal(await probe(b.port), 'refused');
    assert.deepEqual(tiny.servers(), []);
    assert.ok(changed, 'onDidChangeServers fired');
  });

  test("the extension's deactivate() stops every server before it resolves", async () => {
    const [a, b] = await startBoth();
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension !== undefined);
    // The module VS Code loaded, from the module cache: the same instance that holds the servers.
    const load = createRequire(__filename);
    const main = load(join(extension.extensionPath, 'dist', 'extension.js')) as { deactivate(): Promise<void> | undefined };

    const stopping = main.deactivate();
    assert.ok(stopping instanceof Promise, 'deactivate() returns a promise VS Code waits for');
    await stopping;

    assert.equal(await probe(a.port), 'refused');
    assert.equal(await probe(b.port), 'refused');
    assert.deepEqual((await api()).servers(), []);
  });
});
