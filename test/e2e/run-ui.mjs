// A UI test that uses Tiny Server as a person does: in the VS Code server build's workbench
// (headless Chromium, see test/integration/run-server.mjs), it opens the fixture site, runs
// "Start Tiny Server" from the command palette, and checks what a person would see: the port in
// the status bar, the page in the Simple Browser, the request lines in the "Tiny Server" output,
// and the stopped state after "Stop Tiny Server". Each step leaves a screenshot in
// test-results/e2e/. Exits non-zero, naming the step, when a check fails.
//
// Usage: node test/e2e/run-ui.mjs   (build the extension first: node esbuild.mjs)
//   TINY_SERVER_TEST_TIMEOUT  overall limit in seconds (default 300)
/* global document, getComputedStyle -- evaluated inside the Simple Browser's page */
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { provision, ProvisionError, REPO_ROOT } from '../integration/provision.mjs';
import { launchChromium, startCodeServer, timeout, workbenchUrl } from '../integration/run-server.mjs';

const FIXTURE = join(REPO_ROOT, 'test', 'e2e', 'fixture');
const RESULTS = join(REPO_ROOT, 'test-results', 'e2e');
const STEP_MS = 60_000;
const RUNNING = /Tiny Server is running on port (\d+)/;

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

/** Polls `probe` until it returns something truthy; fails with `what` after `ms`. */
async function until(what, probe, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Runs a command the way a person does: F1, type its title, Enter. Retries while the palette
 * does not list it yet (the extension's contributions arrive after the workbench paints).
 */
async function runCommand(page, title) {
  const widget = page.locator('.quick-input-widget');
  const focused = widget.locator('.monaco-list-row.focused');
  await until(`the command palette did not offer "${title}"`, async () => {
    await page.keyboard.press('F1');
    await widget.locator('input').waitFor({ state: 'visible', timeout: 10_000 });
    await page.keyboard.type(title);
    const found = await focused
      .filter({ hasText: title })
      .waitFor({ timeout: 5000 })
      .then(() => true, () => false);
    if (!found) await page.keyboard.press('Escape');
    return found;
  });
  await page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden', timeout: 10_000 });
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

async function checkUi(page, origin) {
  await step(page, 'Workbench opens the fixture folder', async () => {
    await page.goto(workbenchUrl(origin, { workspace: FIXTURE }));
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: STEP_MS });
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'index.html' }).first().waitFor({ timeout: STEP_MS });
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
        .then((seen) => seen.heading === 'Hello from the Tiny Server fixture' && seen.background === 'rgb(20, 90, 60)')
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
  await step(page, 'Stop Tiny Server shows the stopped state and frees the port', async () => {
    await runCommand(page, 'Stop Tiny Server');
    await until('the status bar did not show "Tiny Server is stopped"', async () =>
      (await statusLabel(page))?.startsWith('Tiny Server is stopped'),
    );
    if (!(await refuses(port))) throw new Error(`port ${port} still accepts connections`);
  });
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
    const server = await startCodeServer(build, { logFile: join(RESULTS, 'code-server.log') });
    cleanups.push(server.dispose);
    const browser = await launchChromium(build.chromium);
    cleanups.push(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const workbenchLog = createWriteStream(join(RESULTS, 'workbench.log'));
    cleanups.push(() => new Promise((r) => workbenchLog.end(r)));
    await page.exposeFunction('codeAutomationLog', (type, args) => workbenchLog.write(`[${type}] ${args}\n`));
    page.on('pageerror', (error) => workbenchLog.write(`[pageerror] ${error.stack ?? error.message}\n`));
    await Promise.race([checkUi(page, server.origin), limit.promise, server.died]);
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
