import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchChromium } from './helpers/browser';
import type { RawResponse } from './helpers/raw';
import { withServedSite } from './helpers/serve';

const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';

/** What a plain-text error answer must look like: short, never cached, and without nosniff (see TEXT_HEADERS). */
function assertTextAnswer(response: RawResponse, status: number, text: string, what: string): void {
  assert.equal(response.status, status, what);
  assert.equal(response.headers.get('content-type'), TEXT, what);
  assert.equal(response.body.toString(), `${status} ${text}\n`, what);
  assert.equal(response.headers.get('x-content-type-options'), undefined, what);
  assert.equal(response.headers.get('cache-control'), 'no-cache', what);
}

test('a missing script, stylesheet or fetch() gets a plain-text 404; a page load gets the HTML page', async () => {
  await withServedSite({ 'index.html': 'home' }, async ({ request }) => {
    const textCases = [
      'Sec-Fetch-Dest: script\r\n',
      'Sec-Fetch-Dest: style\r\n',
      'Sec-Fetch-Dest: empty\r\n',
      'Sec-Fetch-Dest: image\r\n',
      'Sec-Fetch-Dest: script\r\nAccept: text/html\r\n',
      'Accept: text/css,*/*;q=0.1\r\n',
      'Accept: */*\r\n',
      '',
    ];
    for (const extra of textCases) assertTextAnswer(await request('/missing', extra), 404, 'Not Found', extra);
    const pageCases = [
      'Sec-Fetch-Dest: document\r\n',
      'Sec-Fetch-Dest: iframe\r\n',
      'Sec-Fetch-Dest: frame\r\n',
      'Sec-Fetch-Dest: embed\r\n',
      'Sec-Fetch-Dest: OBJECT\r\n',
      'Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n',
    ];
    for (const extra of pageCases) {
      const response = await request('/missing', extra);
      assert.equal(response.status, 404, extra);
      assert.equal(response.headers.get('content-type'), HTML, extra);
      assert.match(response.body.toString(), /<h1>404 Not Found<\/h1>/, extra);
    }
  });
});

test('other error statuses of the static handler follow the same rule: 400, 405, 501; a name too long for the file system is a 404', async () => {
  await withServedSite({ 'a.txt': 'a' }, async ({ request }) => {
    const script = 'Sec-Fetch-Dest: script\r\n';
    const page = 'Sec-Fetch-Dest: document\r\n';
    assertTextAnswer(await request('/%zz', script), 400, 'Bad Request', '400');
    assertTextAnswer(await request(`/${'a'.repeat(300)}`, script), 404, 'Not Found', '404');
    assertTextAnswer(await request('/a.txt', script, 'FOO'), 501, 'Not Implemented', '501');
    const refused = await request('/a.txt', 'Sec-Fetch-Dest: empty\r\n', 'POST');
    assertTextAnswer(refused, 405, 'Method Not Allowed', '405');
    assert.equal(refused.headers.get('allow'), 'GET, HEAD');
    for (const [target, method] of [['/%zz', 'GET'], [`/${'a'.repeat(300)}`, 'GET'], ['/a.txt', 'POST'], ['/a.txt', 'FOO']] as const) {
      const response = await request(target, page, method);
      assert.equal(response.headers.get('content-type'), HTML, `${method} ${target.slice(0, 10)}`);
    }
  });
});

test('in Chromium a missing stylesheet and script get plain 404s, a missing page the HTML one', async () => {
  const page =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Page</title>\n' +
    '<link rel="stylesheet" href="missing.css"><script src="missing.js"></script></head><body></body></html>\n';
  await withServedSite({ 'index.html': page }, async ({ port }) => {
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      const console: string[] = [];
      tab.on('console', (message) => console.push(message.text()));
      const typeOf = async (path: string): Promise<string | undefined> =>
        (await tab.waitForResponse((response) => new URL(response.url()).pathname === path)).headers()['content-type'];
      const css = typeOf('/missing.css');
      const js = typeOf('/missing.js');
      await tab.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
      assert.equal(await css, TEXT);
      assert.equal(await js, TEXT);
      // Both failures are reported as "Failed to load resource: ... 404" (the positive control),
      // and neither as "Refused to apply style / execute script ... MIME type".
      for (let i = 0; i < 50 && console.filter((line) => line.includes('404')).length < 2; i++) await tab.waitForTimeout(100);
      assert.ok(console.filter((line) => line.includes('404')).length >= 2, console.join('\n'));
      assert.ok(!console.some((line) => line.includes('MIME type')), console.join('\n'));
      const missing = await tab.goto(`http://127.0.0.1:${port}/missing.html`);
      assert.equal(missing?.headers()['content-type'], HTML);
      assert.equal(await tab.title(), '404 Not Found');
    } finally {
      await browser.close();
    }
  });
});
