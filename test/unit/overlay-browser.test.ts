// Unsaved editor text (the server's content overlay) as a browser sees it: the page updates,
// keeps its charset, and goes back to the saved file on revert; a stylesheet swaps in place.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser';
import { MapOverlay } from './helpers/overlay';
import { connected, withPageServer } from './helpers/page-server';

let browser: Browser | undefined;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

const page = (text: string, charset = 'utf-8'): string =>
  `<!doctype html><html><head><meta charset="${charset}"><link rel="stylesheet" href="site.css"></head><body><p id="text">${text}</p></body></html>`;

const textIs = (tab: Page, text: string): Promise<unknown> =>
  tab.waitForFunction((expected) => document.getElementById('text')?.textContent === expected, text, { timeout: 5000 });

test('a page shows unsaved text, its stylesheet swaps in place, and revert brings the saved page back', async () => {
  // "中文" in GBK: a page that is not UTF-8 must stay readable when its unsaved text is served.
  const gbkText = Buffer.from([0xd6, 0xd0, 0xce, 0xc4]);
  const files = { 'index.html': page('saved'), 'site.css': 'p { color: rgb(0, 0, 255); }', 'gbk.html': page('saved', 'gbk') };
  const overlay = new MapOverlay();
  await withPageServer(browser, files, async ({ site, page: tab, loads, open }) => {
    await open('/');
    await textIs(tab, 'saved');

    overlay.set(site.path('index.html'), Buffer.from(page('typed, not saved')));
    await textIs(tab, 'typed, not saved');
    await connected(tab);
    const loadsBeforeCss = loads();
    await tab.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    overlay.set(site.path('site.css'), Buffer.from('p { color: rgb(255, 0, 0); }'));
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('text') as HTMLElement).color === 'rgb(255, 0, 0)', null, { timeout: 5000 });
    assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'the stylesheet swapped without a reload');
    assert.equal(loads(), loadsBeforeCss);

    overlay.set(site.path('index.html'), undefined);
    await textIs(tab, 'saved');

    await open('/gbk.html');
    const edited = Buffer.from(page('@@', 'gbk'));
    const at = edited.indexOf('@@');
    overlay.set(site.path('gbk.html'), Buffer.concat([edited.subarray(0, at), gbkText, edited.subarray(at + 2)]));
    await textIs(tab, '中文');
  }, { overlay });
});

test('typing into a page with scripts reloads it once typing pauses, not at every pause between keys; a save reloads it once', async () => {
  const scripted = (text: string): string => `<!doctype html><html><head><meta charset="utf-8"></head><body><p id="text">${text}</p><script>window.ran = true;</script></body></html>`;
  const overlay = new MapOverlay();
  await withPageServer(browser, { 'index.html': scripted('saved') }, async ({ site, page: tab, loads, open }) => {
    await open('/');
    await textIs(tab, 'saved');
    await connected(tab);
    const before = loads();
    // The editor sends unsaved text after each 150 ms pause: at 60 words a minute, every key or two.
    for (const text of ['t', 'ty', 'typ', 'type', 'typed']) {
      overlay.set(site.path('index.html'), Buffer.from(scripted(text)));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await textIs(tab, 'typed');
    assert.equal(loads() - before, 1, 'one reload, once typing paused');
    await connected(tab);
    // A save: the unsaved text is forgotten (the text saved, here reformatted), and the file
    // watcher's change, which is no typing, reloads the page once.
    const saved = loads();
    overlay.forget(site.path('index.html'));
    site.write('index.html', scripted('typed, saved'));
    await textIs(tab, 'typed, saved');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(loads() - saved, 1);
  }, { overlay });
});
