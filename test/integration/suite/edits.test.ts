import * as assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { api, cleanUp, folder, freePort, get, recordLog, setSetting, waitFor } from './helpers';

/** Types `text` at the end of the first line of `h1` content, as an edit in the editor (unsaved). */
async function typeInto(editor: vscode.TextEditor, after: string, text: string): Promise<void> {
  const offset = editor.document.getText().indexOf(after);
  assert.ok(offset >= 0, `the document contains ${after}`);
  const at = editor.document.positionAt(offset + after.length);
  assert.ok(await editor.edit((edit) => edit.insert(at, text)), 'the edit applied');
}

/** Starts the server of the fixture folder `site` on a free port. */
async function serveSite(): Promise<{ site: vscode.WorkspaceFolder; port: number }> {
  const site = folder('site');
  const port = await freePort();
  await setSetting(site, 'port', port);
  const tiny = await api();
  assert.ok((await tiny.start(site.uri)).ok);
  return { site, port };
}

/** Asks for `url` (one request at a time) until `accept` takes the answer's body; returns it. */
async function untilServed(what: string, url: string, accept: (body: Buffer) => boolean): Promise<Buffer> {
  let served: Buffer = Buffer.alloc(0);
  let asking = false;
  await waitFor(what, () => {
    if (!asking) {
      asking = true;
      void get(url).then(
        (answer) => {
          served = answer.body;
          asking = false;
        },
        () => (asking = false),
      );
    }
    return accept(served);
  }, 5000);
  return served;
}

suite('Unsaved edits and the editor', () => {
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await cleanUp();
  });

  test('a page open in an editor with unsaved edits is served from the editor; revert serves the disk again', async () => {
    const { site, port } = await serveSite();
    const url = `http://127.0.0.1:${port}/`;
    const onDisk = (await get(url)).text;
    assert.match(onDisk, /Tiny Server fixture: site</);

    const editor = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'));
    await typeInto(editor, 'Tiny Server fixture: site', ' (typed, not saved)');
    assert.ok(editor.document.isDirty);
    await untilServed('the unsaved text to be served', url, (body) => body.toString('utf8').includes('fixture: site (typed, not saved)'));

    await vscode.commands.executeCommand('workbench.action.files.revert');
    assert.equal(editor.document.isDirty, false);
    await untilServed('the file on disk to be served again', url, (body) => body.toString('utf8') === onDisk);
  });

  test('changing the language mode of a page with unsaved edits keeps them served (VS Code closes and reopens the document)', async () => {
    const { site, port } = await serveSite();
    const url = `http://127.0.0.1:${port}/`;
    const editor = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'));
    await typeInto(editor, 'Tiny Server fixture: site', ' (typed, then plain text)');
    await untilServed('the unsaved text to be served', url, (body) => body.toString('utf8').includes('(typed, then plain text)'));
    const reopened = await vscode.languages.setTextDocumentLanguage(editor.document, 'plaintext');
    assert.ok(reopened.isDirty, 'the document keeps its unsaved text');
    // Past the close's drop and a typing pause: the text served now is what stays served.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await untilServed('the unsaved text to be served still', url, (body) => body.toString('utf8').includes('(typed, then plain text)'));
  });

  test('a GBK page with unsaved edits is served in GBK; a UTF-8 page in UTF-8', async () => {
    const { site, port } = await serveSite();
    const gbkUri = vscode.Uri.joinPath(site.uri, 'sub', 'gbk.html');
    // TextDocumentOpenOptions.encoding (VS Code 1.100) is newer than the typings the extension builds against.
    const open = vscode.workspace.openTextDocument as unknown as (uri: vscode.Uri, options: { encoding: string }) => Thenable<vscode.TextDocument>;
    const gbk = await vscode.window.showTextDocument(await open(gbkUri, { encoding: 'gbk' }));
    await typeInto(gbk, '你好，世界！', '未保存');
    const wanted = Buffer.from([0xce, 0xb4, 0xb1, 0xa3, 0xb4, 0xe6]); // 未保存 in GBK
    const served = await untilServed('the unsaved GBK text to be served in GBK', `http://127.0.0.1:${port}/sub/gbk.html`, (body) => body.includes(wanted));
    assert.equal(served.includes(Buffer.from('未保存')), false, 'not UTF-8');
    const utf8 = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'about.html'));
    await typeInto(utf8, '<body>', 'unsaved é');
    await untilServed('the unsaved UTF-8 text to be served', `http://127.0.0.1:${port}/about.html`, (body) => body.toString('utf8').includes('unsaved é'));
    await vscode.commands.executeCommand('workbench.action.files.revert');
    await vscode.window.showTextDocument(gbk.document);
    await vscode.commands.executeCommand('workbench.action.files.revert');
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

  test("another folder's failed start, at the same time, leaves unsaved edits served", async () => {
    const site = folder('site');
    const second = folder('second');
    const port = await freePort();
    await setSetting(site, 'port', port);
    await setSetting(second, 'port', await freePort());
    await setSetting(second, 'root', 'no-such-folder');
    const tiny = await api();

    const [a, b] = await Promise.all([tiny.start(site.uri), tiny.start(second.uri)]);

    assert.ok(a.ok, 'the site started');
    assert.equal(b.ok, false, 'the second folder did not (its root is missing)');
    const editor = await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'));
    await typeInto(editor, 'Tiny Server fixture: site', ' (typed beside a failed start)');
    await untilServed('the unsaved text to be served', `http://127.0.0.1:${port}/`, (body) => body.toString('utf8').includes('(typed beside a failed start)'));
  });

  test('an SVG shown in the Simple Browser, which has no live-reload client, is shown again when it changes on disk and when its unsaved text changes, while it is open in a tab', async () => {
    const { site } = await serveSite();
    const log = recordLog(await api());
    const name = `drawing-${process.pid}-${Date.now()}.svg`;
    const file = vscode.Uri.joinPath(site.uri, name);
    const svg = (label: string): string => `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="40"><text x="10" y="25">${label}</text></svg>\n`;
    const asked = (): number => log.lines.filter((line) => line.includes(` GET /${name}`)).length;
    writeFileSync(file.fsPath, svg('drawn'));
    try {
      await vscode.commands.executeCommand('tinyServer.previewFile', file);
      await waitFor('the Simple Browser to load the SVG', () => asked() >= 1, 10_000);
      // The editor beside it, where the SVG's text is typed into (the Simple Browser stays on it).
      const editor = await vscode.window.showTextDocument(file, { viewColumn: vscode.ViewColumn.One });
      await new Promise((resolve) => setTimeout(resolve, 500));

      const beforeSave = asked();
      writeFileSync(file.fsPath, svg('drawn, saved'));
      await waitFor('the SVG to be asked for again once it changed on disk', () => asked() > beforeSave, 5000);
      await new Promise((resolve) => setTimeout(resolve, 500));

      await waitFor('the editor to show the saved text', () => editor.document.getText().includes('saved'), 5000);
      const beforeTyping = asked();
      await typeInto(editor, 'saved', ', typed');
      await waitFor('the SVG to be asked for again once its unsaved text changed', () => asked() > beforeTyping, 5000);

      // Open in no tab, it is not the file being worked on (a build may rewrite it in the
      // background): the Simple Browser, which may have gone elsewhere since, stays.
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const closed = asked();
      writeFileSync(file.fsPath, svg('rewritten by a build'));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(asked(), closed, 'not shown again');
    } finally {
      log.dispose();
      await vscode.commands.executeCommand('workbench.action.files.revert');
      rmSync(file.fsPath, { force: true });
    }
  });

  test('turning tinyServer.followEditor off or on applies at once, without a restart', async () => {
    const site = folder('site');
    const port = await freePort();
    await setSetting(site, 'port', port);
    const tiny = await api();
    const log = recordLog(tiny);
    let changes = 0;
    const subscription = tiny.onDidChangeServers(() => changes++);
    try {
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'index.html'), { viewColumn: vscode.ViewColumn.One });
      await vscode.commands.executeCommand('tinyServer.previewFile', vscode.Uri.joinPath(site.uri, 'index.html'));
      await waitFor('the Simple Browser to load the page', () => log.lines.some((line) => / GET \/index\.html\S* HTTP\/1\.1 200 /.test(line)), 10_000);
      changes = 0;

      await setSetting(site, 'followEditor', false);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'about.html'), { viewColumn: vscode.ViewColumn.One });
      // The control below shows a followed page asked for well within this time.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      assert.equal(log.lines.some((line) => / GET \/about\.html/.test(line)), false, 'the Simple Browser stayed on its page');

      await setSetting(site, 'followEditor', true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await vscode.window.showTextDocument(vscode.Uri.joinPath(site.uri, 'sub', 'notes.txt'), { viewColumn: vscode.ViewColumn.One });
      await waitFor('the Simple Browser to follow to notes.txt', () => log.lines.some((line) => / GET \/sub\/notes\.txt\S* HTTP\/1\.1 200 /.test(line)), 2000);
      assert.equal(changes, 0, 'the server was not restarted');
    } finally {
      subscription.dispose();
      log.dispose();
    }
  });
});
