import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, cleanUp, folder, freePort, setSetting } from './helpers';

/** Reads a Server-Sent Events stream until `done(text so far)` holds; rejects after `ms`. */
async function readEvents(url: string, done: (text: string) => boolean, ms: number, onOpen: () => Promise<void>): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`No matching event within ${ms} ms`)), ms);
  try {
    const response = await fetch(url, { signal: abort.signal, headers: { Accept: 'text/event-stream' } });
    assert.equal(response.status, 200);
    assert.ok(response.body !== null);
    const decoder = new TextDecoder();
    let text = '';
    let opened = false;
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      text += decoder.decode(read.value, { stream: true });
      if (!opened && text.includes('"hello"')) {
        opened = true;
        await onOpen();
      }
      if (done(text)) return text;
    }
    throw new Error(`The event stream ended without a matching event: ${text}`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

suite('Live reload', () => {
  teardown(cleanUp);

  test('saving a file in the served folder sends a change event to open pages', async () => {
    const site = folder('site');
    await setSetting(site, 'port', await freePort());
    const started = await (await api()).start(site.uri);
    assert.ok(started.ok, 'the server started');
    const probe = vscode.Uri.joinPath(site.uri, 'live-reload-probe.css');
    try {
      const events = await readEvents(
        `${started.server.url}.tiny-server/reload/events`,
        (text) => text.includes('live-reload-probe.css'),
        10_000,
        () => Promise.resolve(vscode.workspace.fs.writeFile(probe, new TextEncoder().encode('body { color: red }\n'))),
      );
      assert.match(events, /"type":"change".*\/live-reload-probe\.css/);
    } finally {
      await vscode.workspace.fs.delete(probe).then(undefined, () => undefined);
    }
  });
});
