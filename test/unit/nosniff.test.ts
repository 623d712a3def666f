import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchChromium } from './helpers/browser';
import { exchange, parseResponses, type RawResponse } from './helpers/raw';
import { withServedSite } from './helpers/serve';

const NOSNIFF = 'x-content-type-options';

test('files are served without nosniff, as nginx and Apache serve them: 200, 206, 304 and 416', async () => {
  await withServedSite({ 'data.json': '{"a":1}', 'big.bin': Buffer.alloc(300 * 1024, 7) }, async ({ request }) => {
    const ok = await request('/data.json');
    assert.equal(ok.status, 200);
    const etag = ok.headers.get('etag') ?? '';
    const answers: Array<[string, RawResponse]> = [
      ['200', ok],
      ['206', await request('/data.json', 'Range: bytes=0-1\r\n')],
      ['304', await request('/data.json', `If-None-Match: ${etag}\r\n`)],
      ['416', await request('/data.json', 'Range: bytes=99-\r\n')],
      ['200 streamed', await request('/big.bin')],
      ['206 streamed', await request('/big.bin', 'Range: bytes=5-9\r\n')],
    ];
    for (const [what, response] of answers) {
      assert.equal(String(response.status), what.split(' ')[0]);
      assert.equal(response.headers.get(NOSNIFF), undefined, `${what} has no nosniff`);
    }
  });
});

test("the server's own answers keep nosniff: error pages, listings, 405, host refusal, parse errors", async () => {
  await withServedSite({ 'folder/a.txt': 'a' }, async ({ port, request }) => {
    const answers: Array<[number, RawResponse]> = [
      [404, await request('/missing.html', 'Sec-Fetch-Dest: document\r\n')],
      [200, await request('/folder/')],
      [405, await request('/', 'Sec-Fetch-Dest: document\r\n', 'POST')],
    ];
    const [refused] = parseResponses(await exchange(port, 'GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n'));
    const [malformed] = parseResponses(await exchange(port, 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'));
    assert.ok(refused !== undefined && malformed !== undefined);
    answers.push([403, refused], [400, malformed]);
    for (const [status, response] of answers) {
      assert.equal(response.status, status);
      assert.equal(response.headers.get(NOSNIFF), 'nosniff', `${status} ${response.headers.get('content-type')}`);
    }
  });
});

test('a page runs a script served as application/json, as it would from nginx', async () => {
  const page =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>JSON script</title>\n' +
    '<script src="batch.json"></script></head><body></body></html>\n';
  // W3C's bidi-algorithm results page loads its data this way: JavaScript in *.json files.
  await withServedSite({ 'index.html': page, 'batch.json': 'window.batchLoaded = true;\n' }, async ({ port }) => {
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      const json = tab.waitForResponse((response) => response.url().endsWith('/batch.json'));
      await tab.goto(`http://127.0.0.1:${port}/`);
      assert.equal((await json).headers()['content-type'], 'application/json; charset=utf-8');
      assert.equal(await tab.evaluate(() => (window as unknown as { batchLoaded?: boolean }).batchLoaded), true);
    } finally {
      await browser.close();
    }
  });
});
