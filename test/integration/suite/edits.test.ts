import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, cleanUp, folder, freePort, get, recordLog, setSetting, waitFor } from './helpers';

/** Types `text` at the end of the first line of `h1` content, as an edit in the editor (unsaved). */
async function typeInto(editor: vscode.TextEditor, after: string, text: string): Promise<void> {
  const offset = editor.document.getText().indexOf(after);
  assert.ok(offset >= 0, `the document contains ${after}`);
  const at = editor.document.positionAt(offset + after.length);
  assert.ok(await editor.edit((edit) => edit.insert(at, text)), 'the edit applied');
}

suite('Unsaved edits and the editor', () => {
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await cleanUp();
  });

  test('a page open in an editor with unsaved edits is served from the editor; revert serves the disk again', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    const tiny = await api();
    assert.ok((await tiny.start(site.uri)).ok);
    const url = `http://127.0.0.1:${port}/`;
    const onDisk = (await get(url)).text;
    assert.match(onDisk, /Tiny Server fixture: site</);

    const editor = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'));
    await typeInto(editor, 'Tiny Server fixture: site', ' (typed, not saved)');
    assert.ok(editor.document.isDirty);
    let served = '';
    await waitFor('the unsaved text to be served', () => {
      void get(url).then((answer) => (served = answer.text));
      return served.includes('fixture: site (typed, not saved)');
    }, 5000);

    await vscode.commands.executeCommand('workbench.action.files.revert');
    assert.equal(editor.document.isDirty, false);
    await waitFor('the file on disk to be served again', () => {
      void get(url).then((answer) => (served = answer.text));
      return served === onDisk;
    }, 5000);
  });

  test('with tinyServer.updateOn "save", unsaved edits are not served', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    await setSetting(site, 'updateOn', 'save');
    try {
      const tiny = await api();
      assert.ok((await tiny.start(site.uri)).ok);
      const url = `http://127.0.0.1:${port}/about.html`;
      const onDisk = (await get(url)).text;
      const editor = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'about.html'));
      await typeInto(editor, '<body>', 'typed, not saved');
      // Positive control for the wait: the same edit is served within this time with "change" (test above).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.equal((await get(url)).text, onDisk);
    } finally {
      await setSetting(site, 'updateOn', undefined);
    }
  });

  test('the Simple Browser follows the active editor to another page of the served folder', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    const tiny = await api();
    const log = recordLog(tiny);
    try {
      // As a person does: the page's editor first, then Preview File opens the browser beside it.
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'), { viewColumn: vscode.ViewColumn.One });
      await vscode.commands.executeCommand('tinyServer.previewFile', vscode.Uri.joinPath(site.uri, 'index.html'));
      await waitFor('the Simple Browser to load the page', () => log.lines.some((line) => / GET \/index\.html\S* HTTP\/1\.1 200 /.test(line)), 10_000);
      const browser = vscode.window.tabGroups.all.find((group) => group.tabs.some((tab) => tab.input instanceof vscode.TabInputWebview));
      assert.notEqual(browser?.viewColumn, vscode.ViewColumn.One, 'the Simple Browser opened beside the editor');
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'about.html'), { viewColumn: vscode.ViewColumn.One });
      await waitFor('the Simple Browser to ask for about.html', () => log.lines.some((line) => / GET \/about\.html\S* HTTP\/1\.1 200 /.test(line)), 10_000);
      // The focus stays in the editor.
      assert.equal(vscode.window.activeTextEditor?.document.uri.path.endsWith('/about.html'), true);
      const before = log.lines.length;
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'sub', 'notes.txt'), { viewColumn: vscode.ViewColumn.One });
      await waitFor('the Simple Browser to ask for notes.txt', () => log.lines.slice(before).some((line) => / GET \/sub\/notes\.txt\S* HTTP\/1\.1 200 /.test(line)), 10_000);
    } finally {
      log.dispose();
    }
  });
});
