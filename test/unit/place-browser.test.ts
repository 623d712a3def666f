import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from './helpers/browser';
import { connected, withPageServer } from './helpers/page-server';
import { waitFor } from './helpers/server';

let browser: Browser | undefined;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/**
 * A long page whose rows a script adds after the load event, as pages that render from data do:
 * the browser's own scroll restoration gives up before they are there.
 */
function longPage(version: string): string {
  const pane = Array.from({ length: 100 }, (_, i) => `<div style="height: 30px">item ${i}</div>`).join('');
  const addRows =
    "addEventListener('load', () => setTimeout(() => { for (let i = 0; i < 200; i++) " +
    "document.body.insertAdjacentHTML('beforeend', '<p style=\"height: 40px; margin: 0\">row ' + i + '</p>'); window.rendered = true; }, 300));";
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>long</title></head><body style="margin: 0">\n' +
    `<h1 id="version">${version}</h1>\n` +
    `<div id="pane" style="height: 200px; overflow: auto">${pane}</div>\n` +
    `<script>${addRows}</script>\n</body></html>\n`
  );
}

test('after a reload caused by an edit the page is scrolled back, in the window and in a scrollable element with an id', async () => {
  await withPageServer(browser, { 'index.html': longPage('version 0') }, async (h) => {
    await h.page.setViewportSize({ width: 800, height: 600 });
    await h.open('/index.html');
    await h.page.waitForFunction(() => (window as unknown as { rendered?: boolean }).rendered === true);
    const middle = await h.page.evaluate(() => {
      const y = Math.round((document.documentElement.scrollHeight - innerHeight) / 2);
      window.scrollTo(0, y);
      (document.getElementById('pane') as HTMLElement).scrollTop = 700;
      return y;
    });
    assert.ok(middle > 3000, `the page is long: middle at ${middle}`);
    const loads = h.loads();
    h.site.write('index.html', longPage('version 1'));
    await waitFor(() => h.loads() > loads, 3000, 'the reload');
    await h.page.waitForFunction(() => document.getElementById('version')?.textContent === 'version 1');
    await connected(h.page);
    await h.page.waitForFunction((y) => window.scrollY === y && document.getElementById('pane')?.scrollTop === 700, middle, { timeout: 3000 }).catch(() => undefined);
    const place = await h.page.evaluate(() => ({ y: window.scrollY, pane: document.getElementById('pane')?.scrollTop }));
    assert.deepEqual(place, { y: middle, pane: 700 });
  });
});

/** A form with a script of its own, so that an edit reloads it (pages without scripts update in place). */
function formPage(version: string): string {
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>form</title><script>window.hasScript = true;</script></head><body>\n' +
    `<h1 id="version">${version}</h1>\n` +
    '<form><input id="name" autocomplete="off"> <textarea name="notes" autocomplete="off"></textarea>\n' +
    '<input type="password" id="secret" autocomplete="off"> <input type="text" id="code" autocomplete="one-time-code">\n' +
    '<select id="size" autocomplete="off"><option>S</option><option>M</option><option>L</option></select></form>\n' +
    '</body></html>\n'
  );
}

test('after a reload caused by an edit typed values come back and focus returns, but never a password', async () => {
  await withPageServer(browser, { 'index.html': formPage('version 0') }, async (h) => {
    // Records what the client stores, across the reload (window.name survives it).
    await h.page.addInitScript(() => {
      const setItem = Storage.prototype.setItem;
      Storage.prototype.setItem = function (key: string, value: string) {
        window.name += value;
        setItem.call(this, key, value);
      };
    });
    await h.open('/index.html');
    await h.page.fill('#secret', 'hunter2');
    await h.page.fill('#code', '424242');
    await h.page.fill('textarea[name=notes]', 'some notes');
    await h.page.selectOption('#size', 'L');
    await h.page.fill('#name', 'typed text');
    await h.page.evaluate(() => (document.getElementById('name') as HTMLInputElement).setSelectionRange(3, 5));
    const loads = h.loads();
    h.site.write('index.html', formPage('version 1'));
    await waitFor(() => h.loads() > loads, 3000, 'the reload');
    await h.page.waitForFunction(() => document.getElementById('version')?.textContent === 'version 1');
    await connected(h.page);
    const state = await h.page.evaluate(() => {
      const name = document.getElementById('name') as HTMLInputElement;
      const value = (selector: string) => (document.querySelector(selector) as HTMLInputElement).value;
      return {
        name: name.value,
        notes: value('textarea'),
        size: value('#size'),
        secret: value('#secret'),
        code: value('#code'),
        focus: document.activeElement?.id,
        selection: [name.selectionStart, name.selectionEnd],
      };
    });
    assert.deepEqual(state, { name: 'typed text', notes: 'some notes', size: 'L', secret: '', code: '', focus: 'name', selection: [3, 5] });
    const stored = await h.page.evaluate(() => window.name);
    assert.match(stored, /typed text/, 'the place was stored');
    assert.doesNotMatch(stored, /hunter2|424242/, 'secrets are never stored');
    // Restored once: the place is gone from storage.
    assert.equal(await h.page.evaluate(() => sessionStorage.length), 0);
  });
});
