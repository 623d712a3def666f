import { existsSync } from 'node:fs';
import { join, normalize, sep } from 'node:path';
import type { BridgeCommand } from './bridge-process';

/**
 * The kinds of app the one gateway runs, told apart by the app setting: a WSGI app named
 * `module:callable` runs under Python in wsgi_bridge.py, a Fetch app named by its file
 * (`server.mjs`) runs under Node in fetch_bridge.js. Both speak the protocol of frames.ts; what
 * differs is how the process starts, which changes restart it and which files are its sources.
 */
export interface AppKind {
  readonly name: 'wsgi' | 'fetch';
  /** How to start the bridge for `app` in `appDir`. */
  command(app: string, appDir: string, python: string, threads: number): BridgeCommand;
  /** True when a change of the file at `relativePath` (below the app's folder) replaces the process. */
  needsRestart(relativePath: string): boolean;
  /** A cheap test of a URL path before the exact one: could it name one of the app's sources? */
  readonly maybeSource: RegExp;
  /** True for a file at `relativePath` below the app's folder that is never served as a file. */
  isSource(relativePath: string, app: string): boolean;
}

/** A bridge shipped next to the bundle (dist/), or further up for test bundles. */
function findBridge(name: string, start = __dirname): string {
  let dir = start;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, name))) return join(dir, name);
    if (existsSync(join(dir, 'dist', name))) return join(dir, 'dist', name);
    dir = join(dir, '..');
  }
  return join(start, name);
}

export const BRIDGE_PATH = findBridge('wsgi_bridge.py');
export const FETCH_BRIDGE_PATH = findBridge('fetch_bridge.js');

/** `module:callable`: a dotted module path, a colon, a dotted attribute path (e.g. `app:app`). */
export function isAppSpec(spec: string): boolean {
  return /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(spec);
}

/** A `.js`, `.mjs` or `.cjs` file relative to the app's folder, not leaving it. */
export function isFetchAppSpec(spec: string): boolean {
  if (!/\.[mc]?js$/i.test(spec) || /^([/\\]|[A-Za-z]:)/.test(spec)) return false;
  return !spec.split(/[/\\]/).some((segment) => segment === '..' || segment === '');
}

const WSGI: AppKind = {
  name: 'wsgi',
  command: (app, appDir, python, threads) => ({
    command: python,
    args: ['-u', '-B', BRIDGE_PATH, '--app', app, '--app-dir', appDir, '--threads', String(threads), '--server-pid', String(process.pid)],
    // -B and this keep Python from writing __pycache__ into the app's (often the served) folder.
    env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    cwd: appDir,
    missingHint: 'set the Python interpreter to use',
    workers: threads,
  }),
  // Its code, and templates a framework caches.
  needsRestart: (path) => {
    const segments = path.split(sep);
    if (segments.includes('__pycache__')) return false;
    return path.endsWith('.py') || segments.slice(0, -1).includes('templates');
  },
  maybeSource: /py|%/i,
  isSource: (path) => /\.py[cod]?$/i.test(path) || path.split(sep).includes('__pycache__'),
};

const FETCH: AppKind = {
  name: 'fetch',
  command: (app, appDir) => ({
    // The runtime this server runs on: inside VS Code the extension host's Electron, which
    // ELECTRON_RUN_AS_NODE makes a plain Node (no window, no second extension host).
    command: process.execPath,
    args: [FETCH_BRIDGE_PATH, '--app', app, '--app-dir', appDir, '--server-pid', String(process.pid)],
    env: { ELECTRON_RUN_AS_NODE: '1' },
    cwd: appDir,
    missingHint: 'the Node runtime that runs Tiny Server is gone',
  }),
  // Its modules and their configuration; installed packages change only with an install.
  needsRestart: (path) => /\.([mc]?[jt]s|[jt]sx|json)$/i.test(path) && !path.split(sep).includes('node_modules'),
  maybeSource: /\.[mc]?js|node_modules|%/i,
  // The entry module (it may hold secrets, as a .py file may) and installed packages. Other .js
  // files below the app's folder are served: they may be the front end's own scripts.
  isSource: (path, app) => path === normalize(app) || path.split(sep).includes('node_modules'),
};

/** The kind of app `spec` names, or undefined when it names none (front ends report that). */
export function appKind(spec: string): AppKind | undefined {
  if (isAppSpec(spec)) return WSGI;
  if (isFetchAppSpec(spec)) return FETCH;
  return undefined;
}

