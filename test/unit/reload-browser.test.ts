import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser, Frame, Page } from 'playwright-core';
import { watchTree } from '../../src/server/reload';
import { startServer, type TinyServer } from '../../src/server/server';
import { launchChromium } from './helpers/browser';
import { withPageServer } from './helpers/page-server';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';
import { waitFor } from './helpers/server';

const REPO = join(__dirname, '..', '..', '..');
const CHARSETS = join(REPO, 'test', 'unit', 'fixtures', 'charsets');

let browser: Browser | undefined;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

function page(version: string, head = ''): string {
  return (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Reload test</title>\n' +
    '<link rel="stylesheet" href="css/site.css">\n' +
    '<script>window.loadedAt = Date.now(); window.counter = 0;\n' +
    "document.addEventListener('load', (e) => { if (e.target.localName === 'link') window.cssAt = Date.now(); }, true);</script>\n" +
    `${head}</head><body><p id="text">${version}</p></body></html>\n`
  );
}

interface Harness {
  readonly site: FixtureSite;
  server: TinyServer;
  readonly page: Page;
  /** Main-frame load events since the harness opened its first page. */
  loads: number;
  /** Opens `path` on the server and waits until its reload client is connected. */
  open(path: string): Promise<void>;
  restart(): Promise<void>;
}

async function start(root: string, port = 0, liveReload = true): Promise<TinyServer> {
  const result = await startServer({ root, port, portAttempts: 0, liveReload, changes: watchTree });
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return result.server;
}

/** A site served with live reload and watched on disk, and one page of a fresh browser context. */
async function withHarness(files: Record<string, string>, run: (h: Harness) => Promise<void>): Promise<void> {
  assert.ok(browser, 'Chromium is running');
  const site = createFixtureSite({ 'index.html': page('version 0'), 'css/site.css': 'p { color: rgb(0, 0, 255); }', ...files });
  let server = await start(site.root);
  const context = await browser.newContext();
  try {
    const tab = await context.newPage();
    const harness: Harness = {
      site,
      server,
      page: tab,
      loads: 0,
      async open(path) {
        await tab.goto(new URL(path, server.url).href);
        await connected(tab);
        harness.loads = 0;
      },
      async restart() {
        const port = server.port;
        await server.close();
        server = await start(site.root, port);
        harness.server = server;
      },
    };
    tab.on('load', () => harness.loads++);
    await run(harness);
  } finally {
    await context.close();
    await server.close();
    site.remove();
  }
}

/** Waits until the page's reload client has heard the server's hello. */
async function connected(tab: Page): Promise<void> {
  await tab.waitForFunction(
    () => (window as unknown as Record<symbol, { connected?: boolean } | undefined>)[Symbol.for('tiny-server.reload')]?.connected === true,
    null,
    { timeout: 5000 },
  );
}

async function textOf(tab: Page): Promise<string> {
  return tab.locator('#text').innerText();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test('a reload takes the client from the browser cache instead of asking the server again', async () => {
  const targets: string[] = [];
  const logger = { log: (record: { readonly target: string }) => void targets.push(record.target) };
  const files = { 'index.html': page('version 0'), 'css/site.css': 'p { color: rgb(0, 0, 255); }' };
  await withPageServer(browser, files, async ({ site, page: tab, open }) => {
    await open('/index.html');
    const clientRequests = () => targets.filter((target) => target.startsWith('/.tiny-server/reload/client.js')).length;
    const pageRequests = () => targets.filter((target) => target === '/index.html').length;
    const before = clientRequests();
    assert.ok(before >= 1, `the first load asked for the client (${targets.join(', ')})`);
    site.write('index.html', page('version 1'));
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'version 1', null, { timeout: 3000 });
    await connected(tab);
    // Positive control: the reload did go to the server, for the page itself.
    assert.equal(pageRequests(), 2, `the page was asked for twice (${targets.join(', ')})`);
    assert.equal(clientRequests(), before, `the reload asked for the client again (${targets.join(', ')})`);
  }, { logger });
});

test('a change that goes out while the page reloads for an earlier one still reaches the page', async () => {
  await withHarness({}, async (h) => {
    await h.open('/index.html');
    // The reload for version 1 is held after the server answered it, while version 2 is written
    // and its event goes out: no page listens then (the old one is leaving, the new one is not
    // connected yet). The reloaded page must still end up at version 2.
    let released = false;
    await h.page.route(
      '**/index.html',
      async (route) => {
        const response = await route.fetch();
        h.site.write('index.html', page('version 2'));
        await delay(600);
        released = true;
        await route.fulfill({ response });
      },
      { times: 1 },
    );
    h.site.write('index.html', page('version 1'));
    await waitFor(() => released, 5000, 'the held reload');
    await h.page.waitForFunction(() => document.getElementById('text')?.textContent === 'version 2', null, { timeout: 5000 });
  });
});

test('editing the HTML file reloads the page', async () => {
  await withHarness({}, async (h) => {
    await h.open('/index.html');
    h.site.write('index.html', page('version 1'));
    await h.page.waitForFunction(() => document.getElementById('text')?.textContent === 'version 1', null, { timeout: 3000 });
    // The new text can be read before the reloaded page's load event fires.
    await waitFor(() => h.loads >= 1, 3000, "the reloaded page's load event");
    assert.equal(h.loads, 1);
  });
});

/** A page without scripts of its own: long enough to scroll, with a field to type into. */
function staticPage(version: string, color = 'rgb(0, 0, 255)', extra = ''): string {
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${version}</title>\n` +
    `<style>#text { color: ${color}; } .tall { height: 3000px; }</style></head>\n` +
    `<body><div class="tall"></div><p id="text">${version}</p><input id="field" value="default"><img id="picture" src="css/pixel.svg" alt="">${extra}</body></html>\n`
  );
}

test('a page without scripts of its own is updated in place, and keeps its scroll, focus, typed value and loaded image', async () => {
  const pixel = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>';
  const targets: string[] = [];
  const logger = { log: (record: { readonly target: string }) => void targets.push(record.target) };
  await withPageServer(browser, { 'static.html': staticPage('version 0'), 'css/pixel.svg': pixel }, async ({ site, page: tab, open, loads }) => {
    await open('/static.html');
    await tab.evaluate(() => {
      (window as unknown as { marker: number }).marker = 7;
      const field = document.getElementById('field') as HTMLInputElement;
      field.focus({ preventScroll: true });
      field.value = 'typed by hand';
      window.scrollTo(0, 1500);
    });
    const picture = () => targets.filter((target) => target === '/css/pixel.svg').length;
    const picturesBefore = picture();
    const loadsBefore = loads();
    site.write('static.html', staticPage('version 1', 'rgb(255, 0, 0)'));
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'version 1', null, { timeout: 3000 });
    const seen = await tab.evaluate(() => ({
      marker: (window as unknown as { marker?: number }).marker,
      scrollY: window.scrollY,
      focused: document.activeElement?.id,
      value: (document.getElementById('field') as HTMLInputElement).value,
      title: document.title,
      color: getComputedStyle(document.getElementById('text') as Element).color,
      clientTags: document.querySelectorAll('script').length,
    }));
    assert.deepEqual(seen, { marker: 7, scrollY: 1500, focused: 'field', value: 'typed by hand', title: 'version 1', color: 'rgb(255, 0, 0)', clientTags: 1 });
    assert.equal(loads(), loadsBefore, 'the page did not reload');
    assert.equal(picture(), picturesBefore, 'the image was not fetched again');

    // A text that brings a script of its own reloads the page, so that the script runs.
    site.write('static.html', staticPage('version 2', 'rgb(255, 0, 0)', '<script>window.ran = true;</script>'));
    await tab.waitForFunction(() => (window as unknown as { ran?: boolean }).ran === true, null, { timeout: 3000 });
    assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), undefined, 'the page reloaded');
    assert.equal(await textOf(tab), 'version 2');
  }, { logger });
});

/**
 * Shows `path` of `server` in a frame, as the Simple Browser does: a frame's history goes through
 * the HTTP cache (never the back/forward cache). The parent comes from a second server without
 * live reload (a parent with the client would reload for its frame's change) and is a real page
 * (an about:blank parent gets no HTTP cache). `view` is the frame; its client is connected.
 */
async function inFrame(tab: Page, server: TinyServer, path: string, run: (view: () => Frame) => Promise<void>): Promise<void> {
  const parentSite = createFixtureSite({ 'frame.html': `<!doctype html><iframe id="view" src="${new URL(path, server.url).href}" width="600" height="400"></iframe>` });
  const parent = await start(parentSite.root, 0, false);
  try {
    await tab.goto(new URL('/frame.html', parent.url).href);
    const view = (): Frame => tab.frames().find((frame) => frame.parentFrame() !== null) as Frame;
    await frameConnected(view());
    await run(view);
  } finally {
    await parent.close();
    parentSite.remove();
  }
}

async function frameConnected(frame: Frame): Promise<void> {
  await frame.waitForFunction(() => (window as unknown as Record<symbol, { connected?: boolean } | undefined>)[Symbol.for('tiny-server.reload')]?.connected === true, null, { timeout: 5000 });
}

/** Navigates the frame to other.html, which every frame test serves. */
async function leave(view: () => Frame): Promise<void> {
  await view().evaluate(() => (location.href = 'other.html'));
  await view().waitForFunction(() => document.getElementById('other') !== null, null, { timeout: 3000 });
}

const OTHER = '<!doctype html><p id="other">other</p>';

test('a page updated in place and then left shows its new text when its frame goes back to it', async () => {
  // The frame's history still holds the text the page was first loaded with (see inFrame).
  await withPageServer(browser, { 'static.html': staticPage('version 0'), 'other.html': OTHER }, async ({ site, server, page: tab }) => {
    await inFrame(tab, server, '/static.html', async (view) => {
      const frameText = (want: string) => view().waitForFunction((text) => document.getElementById('text')?.textContent === text, want, { timeout: 3000 });
      await frameText('version 0');
      await view().evaluate(() => ((window as unknown as { marker: number }).marker = 7));
      site.write('static.html', staticPage('version 1'));
      await frameText('version 1');
      assert.equal(await view().evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'updated in place');
      await leave(view);
      await view().evaluate(() => history.back());
      await frameText('version 1');
    });
  });
});

test('a page with scripts changed while another was shown reloads when its frame goes back to it, and an unchanged one does not', async () => {
  // The frame's history holds the text the page was loaded with (see inFrame); a change made
  // while another page is shown reaches no page.
  const scripted = (version: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body><p id="text">${version}</p>` +
    "<script>sessionStorage.setItem('runs', String(Number(sessionStorage.getItem('runs') ?? 0) + 1));</script></body></html>";
  await withPageServer(browser, { 'page.html': scripted('version 0'), 'other.html': OTHER }, async ({ site, server, page: tab }) => {
    await inFrame(tab, server, '/page.html', async (view) => {
      const shown = (want: string) => view().waitForFunction((text) => document.getElementById('text')?.textContent === text, want, { timeout: 3000 });
      const runs = () => view().evaluate(() => Number(sessionStorage.getItem('runs')));
      await shown('version 0');
      assert.equal(await runs(), 1);
      // Back to the unchanged page: shown from the cache once, its check finds it current.
      await leave(view);
      await view().evaluate(() => history.back());
      await shown('version 0');
      await frameConnected(view());
      await delay(1000);
      assert.equal(await runs(), 2, 'an unchanged page is not loaded again');
      await leave(view);
      site.write('page.html', scripted('version 1'));
      await delay(300);
      await view().evaluate(() => history.back());
      await shown('version 1');
      assert.equal(await runs(), 4, 'the cached page ran, found it was not current and reloaded once');
    });
  });
});

test('a page without scripts taken from the cache while the server is down stays as it is', async () => {
  const site = createFixtureSite({ 'static.html': staticPage('version 0'), 'other.html': OTHER });
  const server = await start(site.root);
  let serverOpen = true;
  assert.ok(browser, 'Chromium is running');
  const context = await browser.newContext();
  try {
    await inFrame(await context.newPage(), server, '/static.html', async (view) => {
      await leave(view);
      await server.close();
      serverOpen = false;
      await view().evaluate(() => history.back());
      await view().waitForFunction(() => document.getElementById('text')?.textContent === 'version 0', null, { timeout: 3000 });
      // The check of its text fails (nothing listens); a reload would show the browser's error page.
      await delay(1000);
      assert.equal(await view().evaluate(() => document.getElementById('text')?.textContent ?? null), 'version 0');
    });
  } finally {
    await context.close();
    if (serverOpen) await server.close();
    site.remove();
  }
});

test('pages with scripts in other forms reload instead of being updated in place', async () => {
  const forms = {
    'an event handler attribute': '<button onclick="void 0">press</button>',
    'a javascript: address with a tab inside': '<a href="java&#9;script:void 0">link</a>',
    'a frame with its own document': '<iframe srcdoc="<p>inner</p>"></iframe>',
  };
  for (const [what, extra] of Object.entries(forms)) {
    const text = (version: string) => staticPage(version, 'rgb(0, 0, 255)', extra);
    await withPageServer(browser, { 'page.html': text('version 0') }, async ({ site, page: tab, open }) => {
      await open('/page.html');
      await tab.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
      site.write('page.html', text('version 1'));
      await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'version 1', null, { timeout: 3000 });
      assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), undefined, `a page with ${what} reloaded`);
    });
  }
});

test('an element inserted or removed above others leaves them, their typed values and focus as they were', async () => {
  const text = (before: string) => `<!doctype html><html><head><title>t</title></head><body>\n${before}<p id="para"><input id="field" value="default"></p>\n<p id="text">end</p>\n</body></html>`;
  await withPageServer(browser, { 'page.html': text('') }, async ({ site, page: tab, open }) => {
    await open('/page.html');
    await tab.evaluate(() => {
      const field = document.getElementById('field') as HTMLInputElement & { mark?: number };
      field.mark = 1;
      field.value = 'typed';
      field.focus();
    });
    const same = () => tab.evaluate(() => {
      const field = document.getElementById('field') as HTMLInputElement & { mark?: number };
      return { mark: field.mark, value: field.value, focused: document.activeElement === field, heading: document.querySelector('h2')?.textContent ?? null };
    });
    site.write('page.html', text('<h2>new heading</h2>\n'));
    await tab.waitForFunction(() => document.querySelector('h2') !== null, null, { timeout: 3000 });
    assert.deepEqual(await same(), { mark: 1, value: 'typed', focused: true, heading: 'new heading' }, 'after an insertion');
    site.write('page.html', text(''));
    await tab.waitForFunction(() => document.querySelector('h2') === null, null, { timeout: 3000 });
    assert.deepEqual(await same(), { mark: 1, value: 'typed', focused: true, heading: null }, 'after a removal');
  });
});

test('a page changed while its stylesheet is being swapped ends with the new stylesheet', async () => {
  const text = (version: string) => `<!doctype html><html><head><link rel="stylesheet" href="site.css"></head><body><p id="text">${version}</p></body></html>`;
  await withPageServer(browser, { 'page.html': text('version 0'), 'site.css': 'p { color: rgb(0, 0, 255); }' }, async ({ site, page: tab, open }) => {
    await open('/page.html');
    await tab.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    // The new sheet is held back while the page's own text changes.
    let held = false;
    await tab.route('**/site.css?tiny-reload=*', async (route) => {
      held = true;
      await delay(1000);
      await route.continue();
    });
    site.write('site.css', 'p { color: rgb(255, 0, 0); }');
    await waitFor(() => held, 3000, 'the new stylesheet request');
    site.write('page.html', text('version 1'));
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'version 1', null, { timeout: 5000 });
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('text') as Element).color === 'rgb(255, 0, 0)', null, { timeout: 5000 });
    await delay(200);
    const links = await tab.evaluate(() => Array.from(document.querySelectorAll('link[rel=stylesheet]'), (link) => link.getAttribute('href')));
    assert.equal(links.length, 1, `one stylesheet link: ${JSON.stringify(links)}`);
    assert.equal(await tab.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'updated in place');
  });
});

test('a stylesheet saved again and again while its new version loads ends as one link, with the last version', async () => {
  const text = '<!doctype html><html><head><link rel="stylesheet" href="site.css"></head><body><p id="text">page</p></body></html>';
  await withPageServer(browser, { 'page.html': text, 'site.css': 'p { color: rgb(0, 0, 1); }' }, async ({ site, page: tab, open }) => {
    await open('/page.html');
    // Each new version of the sheet takes longer to arrive than the saves are apart.
    await tab.route('**/site.css?tiny-reload=*', async (route) => {
      await delay(400);
      await route.continue();
    });
    for (let i = 2; i <= 9; i++) {
      site.write('site.css', `p { color: rgb(0, 0, ${i}); }`);
      await delay(150);
    }
    await tab.waitForFunction(() => getComputedStyle(document.getElementById('text') as Element).color === 'rgb(0, 0, 9)', null, { timeout: 8000 });
    await delay(1000);
    const links = await tab.evaluate(() => Array.from(document.querySelectorAll('link[rel=stylesheet]'), (link) => link.getAttribute('href')));
    assert.equal(links.length, 1, `one stylesheet link: ${JSON.stringify(links)}`);
  });
});

test("a changed <source> of a video makes it choose its source again", async () => {
  const text = (name: string) => `<!doctype html><html><head></head><body><p id="text">${name}</p><video id="video" muted><source src="${name}.webm" type="video/webm"></video></body></html>`;
  await withPageServer(browser, { 'page.html': text('a') }, async ({ site, page: tab, open }) => {
    await open('/page.html');
    await tab.waitForFunction(() => (document.getElementById('video') as HTMLVideoElement).currentSrc.endsWith('/a.webm'), null, { timeout: 3000 });
    site.write('page.html', text('b'));
    await tab.waitForFunction(() => document.getElementById('text')?.textContent === 'b', null, { timeout: 3000 });
    await tab.waitForFunction(() => (document.getElementById('video') as HTMLVideoElement).currentSrc.endsWith('/b.webm'), null, { timeout: 3000 });
  });
});

test('editing a stylesheet swaps it in place and keeps the page state', async () => {
  await withHarness({}, async (h) => {
    await h.open('/');
    await h.page.evaluate(() => {
      (window as unknown as { counter: number }).counter = 42;
      window.scrollTo(0, 0);
    });
    h.site.write('css/site.css', 'p { color: rgb(255, 0, 0); }');
    await h.page.waitForFunction(
      () => getComputedStyle(document.getElementById('text') as Element).color === 'rgb(255, 0, 0)',
      null,
      { timeout: 3000 },
    );
    await delay(100);
    assert.equal(await h.page.evaluate(() => (window as unknown as { counter: number }).counter), 42);
    assert.equal(h.loads, 0, 'the page did not reload');
    const links = await h.page.evaluate(() => Array.from(document.querySelectorAll('link[rel=stylesheet]')).map((l) => l.getAttribute('href')));
    assert.equal(links.length, 1, `the old link is gone: ${JSON.stringify(links)}`);
    assert.match(links[0] ?? '', /\/css\/site\.css\?tiny-reload=\d+$/);
  });
});

test('a change the page does not depend on leaves it alone', async () => {
  await withHarness({ 'other.html': '<p>other', 'css/unused.css': 'p{}' }, async (h) => {
    await h.open('/index.html');
    h.site.write('other.html', '<p>other, edited');
    h.site.write('css/unused.css', 'p { color: red; }');
    await delay(500);
    assert.equal(h.loads, 0);
    assert.equal(await textOf(h.page), 'version 0');
    // Positive control: a change the page does depend on still reloads it.
    h.site.write('index.html', page('version 1'));
    await waitFor(() => h.loads === 1, 3000, 'a reload after the page itself changed');
  });
});

test('a burst of 50 writes reloads the page exactly once', async () => {
  const scripts = Array.from({ length: 50 }, (_, i) => `js/f${i}.js`);
  const files = Object.fromEntries(scripts.map((s) => [s, 'window.n = (window.n || 0) + 1;']));
  const tags = scripts.map((s) => `<script src="${s}"></script>`).join('');
  await withHarness({ ...files, 'index.html': page('burst', tags) }, async (h) => {
    await h.open('/index.html');
    for (const script of scripts) h.site.write(script, 'window.n = (window.n || 0) + 2;');
    await h.page.waitForFunction(() => (window as unknown as { n: number }).n === 100, null, { timeout: 3000 });
    await delay(800);
    assert.equal(h.loads, 1);
  });
});

test('a page reconnects to a restarted server and reloads once', async () => {
  await withHarness({}, async (h) => {
    await h.open('/index.html');
    await h.restart();
    const deadline = Date.now() + 5000;
    while (h.loads === 0 && Date.now() < deadline) await delay(50);
    await connected(h.page);
    await delay(800);
    assert.equal(h.loads, 1);
  });
});

test('a fetch() of an HTML file gets the file unmodified while the page gets the client', async () => {
  await withHarness({ 'gbk.html': readFileSync(join(CHARSETS, 'gbk.html')).toString('latin1') }, async (h) => {
    await h.open('/index.html');
    const fetched = await h.page.evaluate(async () => {
      const bytes = async (url: string) => Array.from(new Uint8Array(await (await fetch(url)).arrayBuffer()));
      return { index: await bytes('index.html'), again: await bytes('./'), gbk: await bytes('gbk.html') };
    });
    assert.deepEqual(Buffer.from(fetched.index), readFileSync(h.site.path('index.html')));
    assert.deepEqual(Buffer.from(fetched.again), readFileSync(h.site.path('index.html')));
    assert.deepEqual(Buffer.from(fetched.gbk), readFileSync(h.site.path('gbk.html')));
    assert.equal(await h.page.locator('script[src*=".tiny-server/reload/client.js?v="]').count(), 1);
  });
});

/** Fixture and the text its #text paragraph must show. */
const LEGACY_PAGES: ReadonlyArray<readonly [string, string]> = [
  ['gbk.html', '你好，世界！丂乗慭表'],
  ['shift_jis.html', 'こんにちは、世界。表示ソフト能力'],
];

/** The legacy-charset fixtures served twice from one folder: with live reload and without. */
async function withLegacyPages(run: (withClient: Page, without: Page, servers: TinyServer[]) => Promise<void>): Promise<void> {
  assert.ok(browser, 'Chromium is running');
  const site = createFixtureSite();
  for (const [file] of LEGACY_PAGES) copyFileSync(join(CHARSETS, file), site.path(file));
  const servers = [await start(site.root), await start(site.root, 0, false)];
  const context = await browser.newContext();
  try {
    await run(await context.newPage(), await context.newPage(), servers);
  } finally {
    await context.close();
    for (const server of servers) await server.close();
    site.remove();
  }
}

test('GBK and Shift_JIS pages render the same with and without the client', async () => {
  await withLegacyPages(async (a, b, [withClient, without]) => {
    for (const [file] of LEGACY_PAGES) {
      await a.goto(new URL(file, withClient?.url).href);
      await b.goto(new URL(file, without?.url).href);
      await connected(a);
      assert.equal(await a.locator('script[src*=".tiny-server/reload/client.js?v="]').count(), 1);
      assert.equal(await b.locator('script').count(), (await a.locator('script').count()) - 1);
      assert.equal(await a.locator('body').innerText(), await b.locator('body').innerText());
      assert.equal(await a.title(), await b.title());
      assert.deepEqual(await a.screenshot(), await b.screenshot(), `${file} looks the same`);
    }
  });
});

test('GBK and Shift_JIS pages with the client decode with the charset they declare', async () => {
  await withLegacyPages(async (a, _b, [withClient]) => {
    for (const [file, text] of LEGACY_PAGES) {
      await a.goto(new URL(file, withClient?.url).href);
      assert.equal(await a.locator('#text').innerText(), text, `${file} is decoded as declared`);
    }
  });
});

function summary(samples: number[]): { median: number; worst: number } {
  const sorted = [...samples].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { median, worst: sorted.at(-1) ?? 0 };
}

/**
 * Write-to-update latency. For a reload the update has reached the page when the new document's
 * navigation starts (`performance.timeOrigin`); the time until its first script runs is printed
 * too. For a stylesheet it is the moment the new sheet has loaded.
 */
test('pages update within 300 ms of a write (median over 20 edits)', async (t: TestContext) => {
  await withHarness({}, async (h) => {
    await h.open('/index.html');
    const started: number[] = [];
    const loaded: number[] = [];
    for (let i = 1; i <= 20; i++) {
      await connected(h.page);
      const written = Date.now();
      h.site.write('index.html', page(`edit ${i}`));
      await h.page.waitForFunction((want) => document.getElementById('text')?.textContent === want, `edit ${i}`, { timeout: 3000 });
      const [origin, ran] = await h.page.evaluate(() => [performance.timeOrigin, (window as unknown as { loadedAt: number }).loadedAt]);
      started.push(Math.round((origin ?? 0) - written));
      loaded.push((ran ?? 0) - written);
    }
    const swapped: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const color = `rgb(${i}, 0, 0)`;
      const written = Date.now();
      h.site.write('css/site.css', `p { color: ${color}; }`);
      await h.page.waitForFunction((want) => getComputedStyle(document.getElementById('text') as Element).color === want, color, {
        timeout: 3000,
      });
      swapped.push((await h.page.evaluate(() => (window as unknown as { cssAt: number }).cssAt)) - written);
    }
    const reload = summary(started);
    const css = summary(swapped);
    const run = summary(loaded);
    t.diagnostic(`write to page reload started (20 edits): median ${reload.median} ms, worst ${reload.worst} ms`);
    t.diagnostic(`write to reloaded page's first script (20 edits): median ${run.median} ms, worst ${run.worst} ms`);
    t.diagnostic(`write to stylesheet swapped (20 edits): median ${css.median} ms, worst ${css.worst} ms`);
    assert.ok(reload.median < 300, `median reload latency ${reload.median} ms`);
    assert.ok(css.median < 300, `median stylesheet latency ${css.median} ms`);
  });
});
