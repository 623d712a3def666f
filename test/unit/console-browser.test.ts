import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ConsoleEntry } from '../../src/server/reload';
import { launchChromium } from './helpers/browser';
import { runCli, waitForLine } from './helpers/cli';
import { createFixtureSite } from './helpers/fixture-site';
import { connected, withPageServer } from './helpers/page-server';
import { waitFor } from './helpers/server';

let browser: Browser | undefined;

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
});

/** A page whose lines are given; `lineOf` finds the 1-based line and column of a snippet in it. */
function htmlPage(lines: readonly string[]): { html: string; lineOf: (snippet: string) => { line: number; column: number } } {
  return {
    html: lines.join('\n') + '\n',
    lineOf: (snippet) => {
      const index = lines.findIndex((l) => l.includes(snippet));
      assert.ok(index >= 0, `${snippet} is on the page`);
      return { line: index + 1, column: (lines[index] ?? '').indexOf(snippet) + 1 };
    },
  };
}

function sourceOf(entry: ConsoleEntry | undefined): string {
  const source = entry?.source;
  if (source === undefined) return '(none)';
  return `${'file' in source ? source.file : source.url}:${source.line}:${source.column}`;
}

test('console lines of each level reach onConsole at the matching level, with the page and the source line', async () => {
  const page = htmlPage([
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><title>levels</title>',
    '<script>',
    "  console.debug('a debug line', 1);",
    "  console.log('a log line %s and %d', 'text', 42.5);",
    "  console.info('an info line');",
    "  console.warn('a warning');",
    "  console.error('an error');",
    '</script>',
    '</head><body><p>levels</p></body></html>',
  ]);
  await withPageServer(browser, { 'index.html': page.html }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.length >= 5, 3000, 'five console lines');
    const file = h.site.path('index.html');
    const expected: Array<[ConsoleEntry['kind'], ConsoleEntry['level'], string, string]> = [
      ['debug', 'debug', 'a debug line 1', "console.debug('a debug"],
      ['log', 'info', 'a log line text and 42', "console.log('a log"],
      ['info', 'info', 'an info line', "console.info('an info"],
      ['warn', 'warn', 'a warning', "console.warn('a warning"],
      ['error', 'error', 'an error', "console.error('an error"],
    ];
    assert.equal(h.entries.length, 5, JSON.stringify(h.entries));
    expected.forEach(([kind, level, text, snippet], i) => {
      const entry = h.entries[i];
      assert.equal(entry?.kind, kind);
      assert.equal(entry?.level, level);
      assert.equal(entry?.text, text);
      assert.equal(entry?.page, '/index.html');
      const { line, column } = page.lineOf(snippet);
      // V8 points at the method name: `console.` is 8 characters.
      assert.equal(sourceOf(entry), `${file}:${line}:${column + 8}`);
    });
  });
});

test('objects are rendered readably: a cycle as [Circular], elements as tags, long strings cut', async () => {
  const page = htmlPage([
    '<!DOCTYPE html><html><head><title>objects</title></head><body><div id="box" class="a b">box</div>',
    '<script>',
    "  const o = { name: 'o', list: [1, 'two', null], nested: { deep: { deeper: { deepest: 1 } } } };",
    '  o.self = o;',
    "  console.log('object', o);",
    "  console.log(document.getElementById('box'), new Map([['k', 1]]), new Set([1]), 10n, undefined, function named() {});",
    "  console.log('x'.repeat(20000));",
    "  console.log(Array.from({ length: 150 }, (_, i) => i));",
    '</script></body></html>',
  ]);
  await withPageServer(browser, { 'index.html': page.html }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.length >= 4, 3000, 'four console lines');
    const [object, values, long, list] = h.entries.map((e) => e.text);
    assert.equal(object, 'object { name: "o", list: [ 1, "two", null ], nested: { deep: { deeper: [Object] } }, self: [Circular] }');
    assert.equal(values, '<div id="box" class="a b"> Map(1) { "k" => 1 } Set(1) { 1 } 10n undefined [Function: named]');
    assert.ok(/^x{8000}… \(12000 more characters\)$/.test(long ?? ''), `cut to 8,000 characters: ${long?.slice(7990)}`);
    assert.match(list ?? '', /^\[ 0, 1, 2, .* 99, … 50 more \]$/);
  });
});

test('an uncaught error is logged with its stack and its place in the HTML file; one in a script file names that file', async () => {
  const page = htmlPage([
    '<!DOCTYPE html><html><head><title>errors</title><script src="js/app.js"></script></head><body>',
    '<script>',
    '  function inPage() {',
    "    throw new TypeError('boom in the page');",
    '  }',
    '  setTimeout(inPage, 0);',
    '  setTimeout(failInScript, 10);',
    '</script></body></html>',
  ]);
  const script = ['// app', 'function failInScript() {', "  null.property;", '}', ''].join('\n');
  await withPageServer(browser, { 'index.html': page.html, 'js/app.js': script }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.length >= 2, 3000, 'two uncaught errors');
    const [inPage, inScript] = h.entries;
    const { line, column } = page.lineOf('new TypeError');
    assert.equal(inPage?.kind, 'uncaught');
    assert.equal(inPage?.level, 'error');
    assert.equal(sourceOf(inPage), `${h.site.path('index.html')}:${line}:${column}`);
    // The stack names the page's URLs as paths below the root.
    assert.match(inPage?.text ?? '', new RegExp(`^Uncaught TypeError: boom in the page\\n +at inPage \\(index\\.html:${line}:${column}\\)`));
    assert.equal(inScript?.kind, 'uncaught');
    assert.match(inScript?.text ?? '', /^Uncaught TypeError: Cannot read properties of null/);
    assert.equal(sourceOf(inScript), `${h.site.path('js/app.js')}:3:8`);
  });
});

test('an unhandled rejection is logged as an error with the rejected value', async () => {
  const page = htmlPage([
    '<!DOCTYPE html><html><head><title>rejections</title></head><body><script>',
    "  Promise.reject(new RangeError('nope'));",
    "  Promise.reject({ code: 7 });",
    '</script></body></html>',
  ]);
  await withPageServer(browser, { 'index.html': page.html }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.length >= 2, 3000, 'two rejections');
    const [error, value] = h.entries;
    assert.equal(error?.kind, 'rejection');
    assert.equal(error?.level, 'error');
    assert.match(error?.text ?? '', /^Uncaught \(in promise\) RangeError: nope\n/);
    const { line, column } = page.lineOf('new RangeError');
    assert.equal(sourceOf(error), `${h.site.path('index.html')}:${line}:${column}`);
    assert.equal(value?.text, 'Uncaught (in promise) { code: 7 }');
    assert.equal(value?.source, undefined);
  });
});

test('a logging loop is capped: 10,000 lines give at most 100 lines and one that says how many were dropped', async () => {
  const page = '<!DOCTYPE html><head><title>flood</title></head><script>for (let i = 0; i < 10000; i++) console.log("line", i);</script>\n';
  await withPageServer(browser, { 'index.html': page }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.some((e) => e.kind === 'dropped'), 3000, 'the dropped line');
    // Nothing else arrives later: the rest was dropped, not delayed.
    await new Promise((r) => setTimeout(r, 1200));
    const lines = h.entries.filter((e) => e.kind === 'log');
    const dropped = h.entries.filter((e) => e.kind === 'dropped');
    assert.equal(lines.length, 100);
    assert.deepEqual(lines.slice(0, 3).map((e) => e.text), ['line 0', 'line 1', 'line 2']);
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]?.level, 'warn');
    assert.equal(dropped[0]?.text, 'Dropped 9900 console lines: pages may log 100 lines a second');
  });
});

test('with forwardConsole off the page keeps its own console and sends nothing', async () => {
  const page = '<!DOCTYPE html><head><title>off</title></head><script>console.log("a line"); window.logSource = String(console.log);</script>\n';
  // Positive control first: the same page with forwarding on is heard.
  await withPageServer(browser, { 'index.html': page }, async (h) => {
    await h.open('/index.html');
    await waitFor(() => h.entries.length === 1, 3000, 'the forwarded line');
    assert.doesNotMatch(await h.page.evaluate(() => (window as unknown as { logSource: string }).logSource), /\[native code\]/);
  });
  await withPageServer(
    browser,
    { 'index.html': page },
    async (h) => {
      await h.open('/index.html');
      assert.match(await h.page.evaluate(() => (window as unknown as { logSource: string }).logSource), /\[native code\]/);
      await h.page.evaluate(() => console.error('after load'));
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(h.entries, []);
      assert.equal(await h.page.locator('script[data-console]').count(), 0);
    },
    { forwardConsole: false },
  );
});

test('the CLI prints page console lines with their level and file, and --no-console turns them off', async () => {
  assert.ok(browser, 'Chromium is running');
  const page = htmlPage([
    '<!DOCTYPE html><html><head><title>cli</title></head><body><script>',
    "  console.log('hello from the page', { n: 1 });",
    "  console.error('trouble in the page');",
    '</script></body></html>',
  ]);
  const site = createFixtureSite({ 'index.html': page.html });
  const context = await browser.newContext();
  const runs = [runCli([site.root, '--port', '0', '--quiet']), runCli([site.root, '--port', '0', '--quiet', '--no-console'])];
  try {
    const [withConsole, without] = runs as [ReturnType<typeof runCli>, ReturnType<typeof runCli>];
    const tab = await context.newPage();
    const urlOf = async (run: ReturnType<typeof runCli>): Promise<string> => /at (http\S+)$/.exec(await waitForLine(run, /^Serving /))?.[1] ?? '';
    await tab.goto(new URL('index.html', await urlOf(withConsole)).href);
    const log = page.lineOf("console.log('hello");
    const logLine = await waitForLine(withConsole, /\[page info\]/);
    assert.match(logLine, new RegExp(`^\\d\\d:\\d\\d:\\d\\d \\[page info\\] /index\\.html console\\.log: hello from the page \\{ n: 1 \\} \\(index\\.html:${log.line}:${log.column + 8}\\)$`));
    const errorLine = await waitForLine(withConsole, /\[page error\]/);
    assert.match(errorLine, /^stderr: \d\d:\d\d:\d\d \[page error\] \/index\.html console\.error: trouble in the page \(index\.html:3:11\)$/);
    await tab.goto(new URL('index.html', await urlOf(without)).href);
    await connected(tab);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(without.lines.filter((l) => l.includes('[page')), []);
    assert.equal(await tab.locator('script[data-console]').count(), 0);
  } finally {
    await context.close();
    for (const run of runs) run.child.kill('SIGKILL');
    site.remove();
  }
});
