import * as assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import * as vscode from 'vscode';
import { api, cleanUp, folder, freePort, get, serverOf, setSetting, waitFor } from './helpers';

function simpleBrowserTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .filter((tab) => tab.input instanceof vscode.TabInputWebview && tab.input.viewType.includes('simpleBrowser'));
}

suite('Preview in the Simple Browser', () => {
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await cleanUp();
  });

  test("Preview File starts the folder's server and opens the file's address in the Simple Browser", async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    const file = vscode.Uri.joinPath(site.uri, 'about.html');
    const tabsBefore = simpleBrowserTabs().length;

    const url = await vscode.commands.executeCommand<string | undefined>('tinyServer.previewFile', file);

    assert.equal(url, `http://127.0.0.1:${port}/about.html`);
    assert.equal(serverOf(await api(), site.uri)?.port, port);
    assert.match((await get(url)).text, /Tiny Server fixture: about page/);
    await waitFor('a Simple Browser tab', () => simpleBrowserTabs().length > tabsBefore, 10_000);
  });

  test('Preview File works in a folder opened through a symlink', async () => {
    // The fixture workspace opens `second` as linked/second, a symlink to the real folder.
    const second = folder('second');
    assert.notEqual(realpathSync(second.uri.fsPath), second.uri.fsPath, 'the fixture folder is opened through a symlink');
    const port = await freePort();
    await setSetting(second, 'port', port);

    const url = await vscode.commands.executeCommand<string | undefined>(
      'tinyServer.previewFile',
      vscode.Uri.joinPath(second.uri, 'index.html'),
    );

    assert.equal(url, `http://127.0.0.1:${port}/index.html`);
    assert.match((await get(url)).text, /Tiny Server fixture: second/);
  });

  test('Preview File of a file outside tinyServer.root says so and starts no server', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    await setSetting(site, 'root', 'sub');
    const tiny = await api();

    const url = await vscode.commands.executeCommand<string | undefined>('tinyServer.previewFile', vscode.Uri.joinPath(site.uri, 'about.html'));

    assert.equal(url, undefined);
    assert.equal(serverOf(tiny, site.uri), undefined, 'no server started for a file it would not serve');
    // The same setting serves a file inside it.
    const inside = await vscode.commands.executeCommand<string | undefined>('tinyServer.previewFile', vscode.Uri.joinPath(site.uri, 'sub', 'notes.txt'));
    assert.match(inside ?? '', /\/notes\.txt$/);
    assert.notEqual(serverOf(tiny, site.uri), undefined);
  });

  test('Copy Server URL copies the address the browser reaches, which answers the page', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    assert.ok((await (await api()).start(site.uri)).ok);

    const copied = await vscode.commands.executeCommand<string | undefined>('tinyServer.copyUrl', site.uri);

    const external = (await vscode.env.asExternalUri(vscode.Uri.parse(`http://127.0.0.1:${port}/`))).toString(true);
    assert.equal(copied, external, 'the address asExternalUri gives (here the workbench host\'s port forwarder)');
    assert.equal(await vscode.env.clipboard.readText(), copied);
    assert.match((await get(copied)).text, /Tiny Server fixture: site/);
  });
});
