// A UI test that uses Tiny Server as a person does: in the VS Code server build's workbench
// (headless Chromium, see test/integration/run-server.mjs), it opens the fixture site, runs
// "Start Tiny Server" from the command palette, and checks what a person would see: the port in
// the status bar, the page in the Simple Browser, the request lines in the "Tiny Server" output,
// live reload (a stylesheet and a page changed on disk by another program, then the page edited
// and saved in a VS Code editor), the WSGI app, a page from an upstream through tinyServer.proxy
// (with its log line), and the stopped state after "Stop Tiny Server". The workbench
// opens a throwaway copy of the fixture, so the files the test changes are never the repository's.
// Each step leaves a screenshot in test-results/e2e/, and the live reload steps print how long
// each change took to show ("# ... ms"). Exits non-zero, naming the step, when a check fails.
//
// Usage: node test/e2e/run-ui.mjs   (build the extension first: node esbuild.mjs)
//   TINY_SERVER_TEST_TIMEOUT  overall limit in seconds (default 300)
/* global document, getComputedStyle, window, MutationObserver, requestAnimationFrame -- evaluated inside the Simple Browser's page */
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provision, ProvisionError, REPO_ROOT } from '../integration/provision.mjs';
import { launchChromium, startCodeServer, timeout, workbenchUrl } from '../integration/run-server.mjs';
import { startUpstream, UPSTREAM_HEADING } from './upstream.mjs';

const FIXTURE = join(REPO_ROOT, 'test', 'e2e', 'fixture');
const RESULTS = join(REPO_ROOT, 'test-results', 'e2e');
const STEP_MS = 60_000;
const RUNNING = /Tiny Server is running on port (\d+)/;
/** How long a change may take to show in the Simple Browser; generous for a loaded machine. */
const RELOAD_MS = 10_000;
/** Polling interval while timing live reload: short, so the printed times are close to real. */
const RELOAD_POLL_MS = 25;
const HEADING = 'Hello from the Tiny Server fixture';
const BACKGROUND = 'rgb(20, 90, 60)';
const CHANGED_BACKGROUND = 'rgb(110, 40, 90)';
const CHANGED_HEADING = 'Reloaded after a change on disk';
/** Typed into index.html in bursts, unsaved: the page must show each one. */
const TYPED_BURSTS = [' and typed', ' in', ' VS', ' Code', ' by', ' a', ' person'];
const SECOND_HEADING = 'The second page of the fixture';
/** Typed into second.html, whose script makes the page reload for each change. */
const SECOND_TYPED_BURSTS = [', with', ' a', ' script'];
const APP_HEADING = 'Hello from the WSGI app';
const APP_TYPED = ', edited in app.py';
/** Set in the page before a stylesheet change: still there afterwards means no reload. */
const MARKER = 42;

/** A failed check, named after the step it belongs to. */
class StepError extends Error {
  constructor(step, cause) {
    super(`Step "${step}" failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'StepError';
  }
}

let stepNumber = 0;

/** Runs one step, then saves a screenshot named after it (also when it failed). */
async function step(page, name, check) {
  stepNumber += 1;
  const file = join(RESULTS, `${String(stepNumber).padStart(2, '0')}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.png`);
  const started = Date.now();
  try {
    const result = await check();
    await page.screenshot({ path: file });
    console.log(`ok ${stepNumber} - ${name} (${Date.now() - started} ms)`);
    return result;
  } catch (error) {
    await page.screenshot({ path: file.replace(/\.png$/, '-failed.png') }).catch(() => {});
    console.log(`not ok ${stepNumber} - ${name}`);
    throw new StepError(name, error);
  }
}

/** Polls `probe` every `every` ms until it returns something truthy; fails with `what` after `ms`. */
async function until(what, probe, ms = STEP_MS, every = 250) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Picks from a quick-input list the way a person does: `open` (a key), type `query`, then
 * `accept` once the first row shows `row`. Retries while the list does not offer it yet (the
 * extension's commands arrive after the workbench paints; file results after a search).
 */
async function pick(page, { open, query, row, accept = 'Enter', what }) {
  const widget = page.locator('.quick-input-widget');
  const focused = widget.locator('.monaco-list-row.focused');
  await until(`${what} did not offer "${row}"`, async () => {
    await page.keyboard.press(open);
    await widget.locator('input').waitFor({ state: 'visible', timeout: 10_000 });
    await page.keyboard.type(query);
    const found = await focused
      .filter({ hasText: row })
      .waitFor({ timeout: 5000 })
      .then(() => true, () => false);
    if (!found) await page.keyboard.press('Escape');
    return found;
  });
  await page.keyboard.press(accept);
  await widget.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** Runs a command as a person does: F1, type its title, Enter. */
function runCommand(page, title) {
  return pick(page, { open: 'F1', query: title, row: title, what: 'the command palette' });
}

/** The Tiny Server status-bar entry's accessible label (its visible text is an icon and ports). */
async function statusLabel(page) {
  const item = page.locator('.part.statusbar [aria-label^="Tiny Server is"]').first();
  return (await item.count()) > 0 ? item.getAttribute('aria-label') : null;
}

/** The Simple Browser's page: the innermost frame whose address is the proxied server's. */
function pageFrame(page, origin, port) {
  const prefix = `${origin}/proxy/${port}/`;
  return page.frames().find((frame) => frame.url().startsWith(prefix));
}

/**
 * What the Simple Browser's page shows, or null while it has no frame or is between documents.
 * The frame is looked up on every call: a reload may replace it.
 */
async function pageState(page, origin, port) {
  const frame = pageFrame(page, origin, port);
  if (!frame) return null;
  return frame
    .evaluate(() => ({
      // media/reload-client.js keeps its state under this key and sets `connected` on "hello".
      connected: window[Symbol.for('tiny-server.reload')]?.connected === true,
      marker: window.__tinyMarker ?? null,
      heading: document.getElementById('greeting')?.textContent ?? null,
      background: getComputedStyle(document.body).backgroundColor,
      // When this document's navigation began and when it first painted its text, on the same
      // clock as the test's Date.now(); null before the first paint.
      navigatedAt: performance.timeOrigin,
      paintedAt: ((paint) => (paint ? performance.timeOrigin + paint.startTime : null))(
        performance.getEntriesByType('paint').find((entry) => entry.name === 'first-contentful-paint')),
      // Set by watchHeading when the document was updated in place rather than reloaded.
      shownAt: window.__tinyShownAt ?? null,
    }))
    .catch(() => null);
}

/**
 * Notes in the page the first frame after its heading reads `expected`, on the test's clock: a
 * page updated in place has no new first paint to report (see pageState's shownAt).
 */
async function watchHeading(page, origin, port, expected) {
  await pageFrame(page, origin, port)?.evaluate((text) => {
    window.__tinyShownAt = null;
    const observer = new MutationObserver(() => {
      if (document.getElementById('greeting')?.textContent !== text) return;
      observer.disconnect();
      // The frame that shows the change is drawn after this callback: note the time after it.
      requestAnimationFrame(() => setTimeout(() => (window.__tinyShownAt = performance.timeOrigin + performance.now())));
    });
    observer.observe(document, { subtree: true, childList: true, characterData: true });
  }, expected).catch(() => undefined);
}

/**
 * Types `bursts` into the focused editor, one at a time, unsaved; times each from its last
 * keystroke until the page shows it (until the frame after an in-place update, or the reloaded
 * document's first paint, as the page itself reports them: the 25 ms poll through the
 * workbench's frames notices a new document late, so its own time is only printed beside).
 */
async function timeTyping(page, origin, port, start, bursts) {
  const times = [];
  const ways = [];
  const polled = [];
  let expected = start;
  for (const burst of bursts) {
    expected += burst;
    const shown = expected;
    await watchHeading(page, origin, port, shown);
    const watched = Date.now();
    await page.keyboard.type(burst);
    const typed = Date.now();
    // Shown in place (the frame after it is noted), or by a document loaded since (painted).
    const { ms, state } = await timeUntilShown(`the page did not show the unsaved "${shown}"`, page, origin, port,
      (seen) => seen.heading === shown && (seen.shownAt !== null || (seen.navigatedAt >= watched && seen.paintedAt !== null)), typed);
    const inPlace = state.shownAt !== null;
    times.push(Math.round((inPlace ? state.shownAt : state.paintedAt) - typed));
    ways.push(inPlace ? 'in place' : `reloaded, began after ${Math.round(state.navigatedAt - typed)} ms`);
    polled.push(ms);
    await untilConnected(page, origin, port);
  }
  await page.keyboard.press('Escape'); // closes a suggestion list, if typing opened one
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return { median, inPlace: ways.filter((way) => way === 'in place').length, report: `${times.join(', ')} ms after the last keystroke (${ways.join('; ')}; the poll saw it after ${polled.join(', ')} ms); median ${median} ms` };
}

/** Waits until the page's live reload client listens, so a change made next is not missed. */
function untilConnected(page, origin, port) {
  const what = 'the page\'s live reload client did not connect (no "hello" from .tiny-server/reload/events reached it)';
  return until(what, async () => {
    const state = await pageState(page, origin, port);
    return state?.connected ? state : null;
  }, 2 * RELOAD_MS);
}

/**
 * Polls the page closely until `accept` takes its state; returns that state and the time since
 * `since`, which is when the change was made.
 */
async function timeUntilShown(what, page, origin, port, accept, since) {
  const state = await until(what, async () => {
    const seen = await pageState(page, origin, port);
    return seen && accept(seen) ? seen : null;
  }, RELOAD_MS, RELOAD_POLL_MS);
  return { state, ms: Date.now() - since };
}

/**
 * Opens a file with Quick Open (Ctrl+P) as a person does, beside the Simple Browser
 * (Ctrl+Enter opens to the side) so the page stays in view. Only the name is typed: with a
 * :line:column suffix typed at full speed, this build's Quick Open keeps showing the history.
 */
async function quickOpenToTheSide(page, name) {
  await pick(page, { open: 'Control+P', query: name, row: name, accept: 'Control+Enter', what: 'Quick Open' });
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: STEP_MS });
  await page.locator('.editor-group-container.active .monaco-editor.focused').waitFor({ timeout: STEP_MS });
}

/** Moves the focused editor's caret just after the first `text` in `source`, with the keyboard. */
async function caretAfter(page, source, text) {
  const end = source.indexOf(text) + text.length;
  if (end < text.length) throw new Error(`the file does not contain "${text}"`);
  const line = source.slice(0, end).split('\n').length;
  const lineEnd = source.indexOf('\n', end);
  const back = (lineEnd < 0 ? source.length : lineEnd) - end;
  await page.keyboard.press('Control+Home');
  for (let i = 1; i < line; i += 1) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('End');
  for (let i = 0; i < back; i += 1) await page.keyboard.press('ArrowLeft');
}

/**
 * The text of the output panel's editor. Monaco renders one element per visual line and wraps
 * long lines at a space it keeps or inside a word, so joining the pieces without separators
 * restores the logical text; its non-breaking spaces become plain ones.
 */
async function outputText(page) {
  const lines = page.locator('.part.panel .monaco-editor .view-lines').first();
  if ((await lines.count()) === 0) return '';
  return (await lines.innerText()).replace(/\n/g, '').replace(/\u00a0/g, ' ');
}

/** Resolves true when `port` on loopback refuses a connection, false when it accepts one. */
function refuses(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 3000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`connecting to port ${port} neither succeeded nor was refused within 3 s`));
    });
    socket.once('error', (error) => (error.code === 'ECONNREFUSED' ? resolve(true) : reject(error)));
  });
}

async function checkUi(page, origin, workspace, upstream) {
  await step(page, 'Workbench opens the fixture folder', async () => {
    await page.goto(workbenchUrl(origin, { workspace }));
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: STEP_MS });
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'index.html' }).first().waitFor({ timeout: STEP_MS });
  });
  await step(page, 'Before any command, the status bar offers to start Tiny Server', async () => {
    // The extension activates when the window has started (onStartupFinished), not on a first command.
    await until('the status bar did not show "Tiny Server is stopped. Start Tiny Server" before any command ran', async () => {
      const text = await statusLabel(page);
      return text?.startsWith('Tiny Server is stopped') ? text : null;
    });
  });
  const port = await step(page, 'Start Tiny Server shows the port in the status bar', async () => {
    await runCommand(page, 'Start Tiny Server');
    const label = await until('the status bar did not show "Tiny Server is running on port …"', async () => {
      const text = await statusLabel(page);
      return text && RUNNING.test(text) ? text : null;
    });
    const found = Number(RUNNING.exec(label)?.[1]);
    const text = await page.locator('.part.statusbar [aria-label^="Tiny Server is running"]').first().innerText();
    if (!text.includes(String(found))) throw new Error(`status bar text "${text}" does not show port ${found}`);
    return found;
  });
  await step(page, 'Simple Browser shows the fixture page with its stylesheet', async () => {
    await page.locator('.tabs-container .tab', { hasText: 'Simple Browser' }).first().waitFor({ timeout: STEP_MS });
    const frame = await until(`no frame showed ${origin}/proxy/${port}/`, () => pageFrame(page, origin, port));
    await until('the page did not show its heading and stylesheet colour', () =>
      frame
        .evaluate(() => ({
          heading: document.getElementById('greeting')?.textContent,
          background: getComputedStyle(document.body).backgroundColor,
        }))
        .then((seen) => seen.heading === HEADING && seen.background === BACKGROUND)
        .catch(() => false),
    );
  });
  await step(page, 'Tiny Server output lists the page and stylesheet requests', async () => {
    await runCommand(page, 'Show Tiny Server Log');
    // The Simple Browser adds a query (?id=…&vscodeBrowserReqId=…) to the page's address.
    const page200 = /GET \/(\?\S*)? HTTP\/1\.1 200 /;
    const css200 = /GET \/style\.css HTTP\/1\.1 200 /;
    let text = '';
    await until('the output did not show "GET / HTTP/1.1 200" and "GET /style.css HTTP/1.1 200"', async () => {
      text = await outputText(page);
      return page200.test(text) && css200.test(text);
    }).catch((error) => {
      throw new Error(`${error.message}; it showed: ${text.slice(-600) || '(nothing)'}`);
    });
    // A person would notice a failed request for the page's own resources (the live reload script).
    const failed = /(GET \S+) HTTP\/1\.1 (5\d\d) /.exec(text);
    if (failed) throw new Error(`the output shows "${failed[1]}" answered ${failed[2]}`);
  });
  await checkLiveReload(page, origin, port, workspace);
  await checkApp(page, origin, port, workspace);
  await checkProxy(page, origin, port, upstream);
  await checkFollowEditor(page, origin, port, workspace);
  await step(page, 'Stop Tiny Server shows the stopped state and frees the port', async () => {
    await runCommand(page, 'Stop Tiny Server');
    await until('the status bar did not show "Tiny Server is stopped"', async () =>
      (await statusLabel(page))?.startsWith('Tiny Server is stopped'),
    );
    if (!(await refuses(port))) throw new Error(`port ${port} still accepts connections`);
  });
}

/**
 * Live reload as a person meets it: files changed by another program (a build tool, say) and a
 * file saved in VS Code reach the page through the extension's file watcher. Prints how long each
 * change took to show.
 */
async function checkLiveReload(page, origin, port, workspace) {
  const css = join(workspace, 'style.css');
  const html = join(workspace, 'index.html');
  await step(page, 'Changing style.css on disk swaps the stylesheet without a reload', async () => {
    await untilConnected(page, origin, port);
    const before = await pageFrame(page, origin, port)?.evaluate((marker) => {
      window.__tinyMarker = marker;
      return getComputedStyle(document.body).backgroundColor;
    }, MARKER);
    if (before !== BACKGROUND) throw new Error(`the page's background was ${before}, not ${BACKGROUND}`);
    const text = readFileSync(css, 'utf8').replace(BACKGROUND, CHANGED_BACKGROUND);
    const written = Date.now();
    writeFileSync(css, text);
    const { state, ms } = await timeUntilShown(`the page's background did not turn ${CHANGED_BACKGROUND}`, page, origin, port,
      (seen) => seen.background === CHANGED_BACKGROUND, written);
    if (state.marker !== MARKER) throw new Error('the page reloaded (its marker is gone) instead of swapping the stylesheet');
    console.log(`# stylesheet change shown ${ms} ms after the write`);
  });
  await step(page, 'Changing index.html on disk updates the page', async () => {
    const text = readFileSync(html, 'utf8').replace(HEADING, CHANGED_HEADING);
    // A late reload after the swap would also pass the check below; the marker rules it out.
    const before = await pageState(page, origin, port);
    if (before?.marker !== MARKER) throw new Error('the page reloaded after the stylesheet swap');
    const written = Date.now();
    writeFileSync(html, text);
    // The reloaded page must also have the changed stylesheet; the heading alone may come first.
    const { ms } = await timeUntilShown(`the page did not show "${CHANGED_HEADING}" on ${CHANGED_BACKGROUND}`, page, origin, port,
      (seen) => seen.heading === CHANGED_HEADING && seen.background === CHANGED_BACKGROUND, written);
    console.log(`# page change shown ${ms} ms after the write`);
  });
  await step(page, 'Typing in index.html without saving shows the text on the page', async () => {
    await quickOpenToTheSide(page, 'index.html');
    await caretAfter(page, readFileSync(html, 'utf8'), CHANGED_HEADING);
    await untilConnected(page, origin, port);
    const { median, inPlace, report } = await timeTyping(page, origin, port, CHANGED_HEADING, TYPED_BURSTS);
    if (readFileSync(html, 'utf8').includes(TYPED_BURSTS[0])) throw new Error('index.html was saved; the test needed it unsaved');
    console.log(`# unsaved text of a page without scripts shown ${report} (target < 300 ms)`);
    if (inPlace !== TYPED_BURSTS.length) throw new Error(`index.html has no scripts, yet the page reloaded for ${TYPED_BURSTS.length - inPlace} of ${TYPED_BURSTS.length} bursts instead of updating in place`);
    if (median > 1000) throw new Error(`the median time from the last keystroke to the page was ${median} ms (over 1 s)`);
  });
  await step(page, 'Saving index.html with Ctrl+S keeps the typed text on the page and on disk', async () => {
    const saved = Date.now();
    await page.keyboard.press('Control+S');
    const typed = TYPED_BURSTS.join('');
    await until('index.html on disk did not get the typed text', async () => readFileSync(html, 'utf8').includes(CHANGED_HEADING + typed));
    const { ms } = await timeUntilShown(`the page did not show "${CHANGED_HEADING}${typed}"`, page, origin, port,
      (seen) => seen.heading === CHANGED_HEADING + typed, saved);
    console.log(`# saved page shown ${ms} ms after Ctrl+S`);
    await page.keyboard.press('Escape'); // Emmet may offer a completion late; keep it out of the screenshot
  });
}

/**
 * tinyServer.followEditor: switching to another page's editor tab navigates the Simple Browser,
 * and the keyboard stays in the editor.
 */
async function checkFollowEditor(page, origin, port, workspace) {
  await step(page, 'Switching to second.html\'s editor navigates the Simple Browser to it', async () => {
    // The keyboard is still in app.py's editor, beside the Simple Browser; the tooltip goes away.
    await page.mouse.move(400, 300);
    await page.keyboard.press('Escape');
    await pick(page, { open: 'Control+P', query: 'second.html', row: 'second.html', what: 'Quick Open' });
    await page.locator('.tabs-container .tab.active', { hasText: 'second.html' }).waitFor({ timeout: STEP_MS });
    const switched = Date.now();
    const { ms } = await timeUntilShown(`the Simple Browser did not show "${SECOND_HEADING}"`, page, origin, port,
      (seen) => seen.heading === SECOND_HEADING, switched);
    console.log(`# Simple Browser followed to second.html in ${ms} ms`);
    await page.locator('.editor-group-container.active .monaco-editor.focused').waitFor({ timeout: STEP_MS });
  });
  await step(page, 'Typing in second.html, a page with a script, reloads it with the text', async () => {
    const file = join(workspace, 'second.html');
    await caretAfter(page, readFileSync(file, 'utf8'), SECOND_HEADING);
    await untilConnected(page, origin, port);
    const { median, inPlace, report } = await timeTyping(page, origin, port, SECOND_HEADING, SECOND_TYPED_BURSTS);
    console.log(`# unsaved text of a page with a script shown ${report}`);
    if (inPlace > 0) throw new Error(`second.html runs a script, yet it was updated in place for ${inPlace} bursts instead of reloaded`);
    if (median > 1000) throw new Error(`the median time from the last keystroke to the page was ${median} ms (over 1 s)`);
    await page.keyboard.press('Control+S');
    await until('second.html on disk did not get the typed text', async () => readFileSync(file, 'utf8').includes(SECOND_HEADING + SECOND_TYPED_BURSTS.join('')));
  });
  await step(page, 'Tiny Server output shows second.html\'s console.error with its file and line', async () => {
    await runCommand(page, 'Show Tiny Server Log');
    const line = readFileSync(join(workspace, 'second.html'), 'utf8').split('\n').findIndex((l) => l.includes('console.error')) + 1;
    const expected = new RegExp(`console\\.error: The fixture page reports an error on purpose \\(\\S*second\\.html:${line}:\\d+\\)`);
    let text = '';
    await until('the output did not show the page\'s console.error line', async () => {
      text = await outputText(page);
      return expected.test(text);
    }).catch((error) => {
      throw new Error(`${error.message}; it showed: ${text.slice(-600) || '(nothing)'}`);
    });
  });
}

/**
 * The WSGI app of the fixture (tinyServer.app): a link on the page leads to a path no file
 * answers, which the app answers; a change typed into app.py and saved restarts the app and
 * reloads the page.
 */
async function checkApp(page, origin, port, workspace) {
  await step(page, 'A link to a path no file answers shows the WSGI app\'s page', async () => {
    const frame = pageFrame(page, origin, port);
    if (!frame) throw new Error(`no frame showed ${origin}/proxy/${port}/`);
    await frame.click('#app-link', { timeout: STEP_MS });
    await until(`the Simple Browser did not show "${APP_HEADING}"`, async () =>
      (await pageState(page, origin, port))?.heading === APP_HEADING ? true : null, RELOAD_MS);
  });
  await step(page, 'Typing in app.py and saving with Ctrl+S changes the app\'s page', async () => {
    const source = join(workspace, 'app.py');
    // The click left the keyboard in the Simple Browser; a person clicks back into the editor.
    await page.locator('.editor-group-container .monaco-editor .view-lines').last().click();
    await quickOpenToTheSide(page, 'app.py');
    await caretAfter(page, readFileSync(source, 'utf8'), APP_HEADING);
    await untilConnected(page, origin, port);
    await page.keyboard.type(APP_TYPED);
    await page.keyboard.press('Escape');
    const saved = Date.now();
    await page.keyboard.press('Control+S');
    const { ms } = await timeUntilShown(`the page did not show "${APP_HEADING}${APP_TYPED}"`, page, origin, port,
      (seen) => seen.heading === APP_HEADING + APP_TYPED, saved);
    console.log(`# app change shown ${ms} ms after Ctrl+S (the app restarted)`);
    await page.keyboard.press('Escape');
  });
  await step(page, 'The status bar\'s tooltip says when the app restarted and how long it took', async () => {
    await page.locator('.part.statusbar [aria-label^="Tiny Server is running"]').first().hover();
    // The tooltip's text parts are markdown-escaped: their spaces arrive as no-break spaces.
    const pattern = /App:\sapp:app\srestarted\sat\s.+\sin\s\d+\sms/;
    const hover = page.locator('.monaco-hover, .workbench-hover').filter({ hasText: 'Tiny Server' }).first();
    let text = '';
    await until('the tooltip did not say "App: app:app restarted at … in … ms"', async () => {
      text = (await hover.innerText().catch(() => '')) ?? '';
      return pattern.test(text);
    }).catch((error) => {
      throw new Error(`${error.message}; it showed: ${text || '(no tooltip)'}`);
    });
    console.log(`# tooltip: ${text.replace(/\s+/g, ' ').trim()}`);
  });
}

/**
 * tinyServer.proxy (`/api` → the upstream the runner started): back on the fixture page, its link
 * to api/page shows the upstream's page, with live reload injected, and the output's line for
 * that request names the upstream.
 */
async function checkProxy(page, origin, port, upstream) {
  await step(page, 'A link under /api shows the upstream\'s page through tinyServer.proxy', async () => {
    // The Simple Browser shows the app's page now; a person goes back to the fixture page first.
    await pageFrame(page, origin, port)?.evaluate(() => window.history.back());
    await until(`the Simple Browser did not go back to "${CHANGED_HEADING}${TYPED_BURSTS.join('')}"`, async () =>
      (await pageState(page, origin, port))?.heading === CHANGED_HEADING + TYPED_BURSTS.join('') ? true : null, RELOAD_MS);
    await pageFrame(page, origin, port)?.click('#proxy-link', { timeout: STEP_MS });
    await until(`the Simple Browser did not show "${UPSTREAM_HEADING}"`, async () =>
      (await pageState(page, origin, port))?.heading === UPSTREAM_HEADING ? true : null, RELOAD_MS);
    // The proxied page gets the live reload client like a file does.
    await untilConnected(page, origin, port);
    if (!upstream.requests.some((line) => line.startsWith('GET /page'))) {
      throw new Error(`the upstream was not asked for /page; it got: ${upstream.requests.join(', ') || 'nothing'}`);
    }
  });
  await step(page, 'Tiny Server output shows the proxied request and its upstream', async () => {
    // The click left the keyboard in the Simple Browser; a person clicks an editor's tab first.
    await page.locator('.tabs-container .tab', { hasText: 'index.html' }).first().click();
    await runCommand(page, 'Show Tiny Server Log');
    const line = new RegExp(`GET /api/page\\S* HTTP/1\\.1 200 .* proxy → http://127\\.0\\.0\\.1:${upstream.port} [\\d.]+ms`);
    let text = '';
    await until(`the output did not show "GET /api/page HTTP/1.1 200 … proxy → http://127.0.0.1:${upstream.port} …ms"`, async () => {
      text = await outputText(page);
      return line.test(text);
    }).catch((error) => {
      throw new Error(`${error.message}; it showed: ${text.slice(-600) || '(nothing)'}`);
    });
  });
}

/**
 * Copies the fixture to a throwaway folder (named like it, as the workbench shows the name) and
 * points its tinyServer.proxy at the upstream's port, which the fixture cannot know.
 */
function copyFixture(upstreamPort) {
  const parent = mkdtempSync(join(tmpdir(), 'tiny-server-e2e-'));
  const workspace = join(parent, 'fixture');
  cpSync(FIXTURE, workspace, { recursive: true });
  const settings = join(workspace, '.vscode', 'settings.json');
  const text = readFileSync(settings, 'utf8');
  const end = text.lastIndexOf('}');
  const proxy = `,\n  // Written by the UI test runner: its upstream's port.\n  "tinyServer.proxy": { "/api": "http://127.0.0.1:${upstreamPort}" }\n`;
  writeFileSync(settings, `${text.slice(0, end).trimEnd()}${proxy}}\n`);
  return { workspace, remove: () => rmSync(parent, { recursive: true, force: true }) };
}

async function main() {
  const limitMs = Number(process.env.TINY_SERVER_TEST_TIMEOUT ?? 300) * 1000;
  if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js'))) {
    throw new ProvisionError('Extension not built: dist/extension.js is missing; run node esbuild.mjs');
  }
  const build = await provision();
  rmSync(RESULTS, { recursive: true, force: true });
  mkdirSync(RESULTS, { recursive: true });
  const cleanups = [];
  const cleanup = async () => {
    // Each step runs even if an earlier one failed; sync and async steps alike.
    while (cleanups.length > 0) await Promise.resolve().then(cleanups.pop()).catch(() => {});
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return; // Ctrl+C can arrive twice: from the terminal and from npm test.
    interrupted = true;
    cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const limit = timeout(limitMs, `The UI test did not finish within ${limitMs / 1000} s`);
  try {
    const upstream = await startUpstream();
    cleanups.push(upstream.close);
    const fixture = copyFixture(upstream.port);
    cleanups.push(fixture.remove);
    const server = await startCodeServer(build, { logFile: join(RESULTS, 'code-server.log') });
    cleanups.push(server.dispose);
    const browser = await launchChromium(build.chromium);
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const workbenchLog = createWriteStream(join(RESULTS, 'workbench.log'));
    cleanups.push(() => new Promise((r) => workbenchLog.end(r)));
    await page.exposeFunction('codeAutomationLog', (type, args) => workbenchLog.write(`[${type}] ${args}\n`));
    page.on('pageerror', (error) => workbenchLog.write(`[pageerror] ${error.stack ?? error.message}\n`));
    await Promise.race([checkUi(page, server.origin, fixture.workspace, upstream), limit.promise, server.died]);
  } finally {
    limit.cancel();
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const started = Date.now();
try {
  await main();
  console.log(`UI test passed (${((Date.now() - started) / 1000).toFixed(1)} s); screenshots in ${RESULTS}`);
} catch (error) {
  console.error(error instanceof StepError || error instanceof ProvisionError ? error.message : error);
  if (!(error instanceof ProvisionError)) console.error(`UI test failed; screenshots and logs in ${RESULTS}`);
  process.exitCode = 1;
}
