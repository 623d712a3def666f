import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import chromiumFlags from '../../chromium.json';

/** Debian's chromium package; tests use the system browser instead of downloading one. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags shared with the integration runner. */
const ARGS: readonly string[] = chromiumFlags.args;

/**
 * Launches headless Chromium. A missing browser is a failure with the fix in its message, never
 * a skipped test: the browser tests are the only proof that pages really update.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is missing at ${CHROMIUM_PATH}; install Debian's chromium: apt-get install chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...ARGS], headless: true, timeout: 30_000 });
}
