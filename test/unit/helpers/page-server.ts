import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { watchTree, type ConsoleEntry } from '../../../src/server/reload';
import type { ServerOptions } from '../../../src/server/options';
import { startServer, type TinyServer } from '../../../src/server/server';
import { createFixtureSite, type FixtureSite } from './fixture-site';

/** A watched site served with live reload, what its pages sent to their console, and one browser page. */
export interface PageServer {
  readonly site: FixtureSite;
  readonly server: TinyServer;
  readonly page: Page;
  readonly entries: ConsoleEntry[];
  /** Main-frame load events so far. */
  readonly loads: () => number;
  /** Opens `path` and waits until its reload client has heard the server's hello. */
  open(path: string): Promise<void>;
}

/**
 * Runs `run` with a site of `files` served with live reload (watched on disk, console lines
 * collected unless `options` says otherwise) and a page of a fresh browser context; closes all.
 */
export async function withPageServer(
  browser: Browser | undefined,
  files: Record<string, string>,
  run: (h: PageServer) => Promise<void>,
  options: Partial<ServerOptions> = {},
): Promise<void> {
  assert.ok(browser, 'Chromium is running');
  const site = createFixtureSite(files);
  const entries: ConsoleEntry[] = [];
  const started = await startServer({ root: site.root, port: 0, portAttempts: 0, changes: watchTree, onConsole: (entry) => entries.push(entry), ...options });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  const server = started.server;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    let loads = 0;
    page.on('load', () => loads++);
    await run({
      site,
      server,
      page,
      entries,
      loads: () => loads,
      async open(path) {
        await page.goto(new URL(path, server.url).href);
        await connected(page);
      },
    });
  } finally {
    await context.close();
    await server.close();
    site.remove();
  }
}

/** Waits until the page's reload client has heard the server's hello. */
export async function connected(page: Page): Promise<void> {
  await page.waitForFunction(
    () => (window as unknown as Record<symbol, { connected?: boolean } | undefined>)[Symbol.for('tiny-server.reload')]?.connected === true,
    null,
    { timeout: 5000 },
  );
}
