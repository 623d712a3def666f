import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import * as vscode from 'vscode';
import { appKind } from '../server/app';
import { parseRoutes } from '../server/proxy';
import { DEFAULT_SETTINGS, type ServerSettings } from '../server/options';
import { spaFallbackUrlPath } from '../server/static';
import { isInside } from '../server/static/paths';

export const SECTION = 'tinyServer';

export type OpenOnStart = 'simpleBrowser' | 'externalBrowser' | 'none';

/** The `tinyServer.*` settings of one workspace folder, validated. */
export interface FolderSettings {
  /** What shapes the server, handed to startServer as it is; a change here means a restart. */
  readonly server: ServerSettings;
  /** What Start opens; only read at the next start. */
  readonly openOnStart: OpenOnStart;
  /** `change`: pages show unsaved edits after a pause in typing; `save`: only what is saved. */
  readonly updateOn: UpdateOn;
  /** The Simple Browser Tiny Server opened follows the active editor to other pages. */
  readonly followEditor: boolean;
}

export type UpdateOn = 'change' | 'save';

export type SettingsResult =
  | { readonly ok: true; readonly settings: FolderSettings }
  | { readonly ok: false; readonly message: string };

const OPEN_ON_START: readonly OpenOnStart[] = ['simpleBrowser', 'externalBrowser', 'none'];

/** Reads the settings that apply to `folder`; invalid values are reported, never guessed at. */
export function readSettings(folder: vscode.WorkspaceFolder): SettingsResult {
  const config = vscode.workspace.getConfiguration(SECTION, folder.uri);
  const port = config.get<unknown>('port', DEFAULT_SETTINGS.port);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    return { ok: false, message: `Setting tinyServer.port must be a whole number from 0 to 65535, not ${String(port)}` };
  }
  const host = config.get<unknown>('host', DEFAULT_SETTINGS.host);
  if (typeof host !== 'string' || host.trim() === '') {
    return { ok: false, message: 'Setting tinyServer.host must be an address such as 127.0.0.1' };
  }
  const root = rootFromSetting(folder.uri.fsPath, config.get<unknown>('root', ''));
  if (!root.ok) return root;
  const openOnStart = config.get<unknown>('openOnStart', 'simpleBrowser');
  const allowedHosts = config.get<unknown>('allowedHosts', DEFAULT_SETTINGS.allowedHosts);
  const flag = (name: 'showDotfiles' | 'directoryListing' | 'liveReload' | 'forwardConsole'): boolean => {
    const value = config.get<unknown>(name, DEFAULT_SETTINGS[name]);
    return typeof value === 'boolean' ? value : DEFAULT_SETTINGS[name];
  };
  const spa = config.get<unknown>('spaFallback', DEFAULT_SETTINGS.spaFallback);
  const spaFallback = typeof spa === 'string' ? spa.trim() : '';
  if (spaFallback !== '' && spaFallbackUrlPath(spaFallback) === undefined) {
    return { ok: false, message: `Setting tinyServer.spaFallback must be a file relative to the served folder, such as index.html, not ${spaFallback}` };
  }
  const app = appFromSettings(folder.uri.fsPath, config);
  if (!app.ok) return app;
  const proxy = proxyFromSettings(config);
  if (!proxy.ok) return proxy;
  return {
    ok: true,
    settings: {
      server: {
        root: root.path,
        // `[::1]` is how a URL writes it; a socket wants `::1`.
        host: host.trim().replace(/^\[(.*)\]$/, '$1'),
        port,
        showDotfiles: flag('showDotfiles'),
        directoryListing: flag('directoryListing'),
        allowedHosts: Array.isArray(allowedHosts) ? allowedHosts.filter((h): h is string => typeof h === 'string') : [],
        liveReload: flag('liveReload'),
        watchIgnore: watchIgnoreOf(folder, config),
        spaFallback,
        forwardConsole: flag('forwardConsole'),
        ...app.settings,
        ...proxy.settings,
      },
      openOnStart: OPEN_ON_START.includes(openOnStart as OpenOnStart) ? (openOnStart as OpenOnStart) : 'simpleBrowser',
      updateOn: config.get<unknown>('updateOn', 'change') === 'save' ? 'save' : 'change',
      followEditor: config.get<unknown>('followEditor', true) !== false,
    },
  };
}

/** `tinyServer.watchIgnore`, plus the globs `files.watcherExclude` switches on for the folder. */
function watchIgnoreOf(folder: vscode.WorkspaceFolder, config: vscode.WorkspaceConfiguration): readonly string[] {
  const own = config.get<unknown>('watchIgnore', DEFAULT_SETTINGS.watchIgnore);
  const globs = Array.isArray(own) ? own.filter((g): g is string => typeof g === 'string' && g !== '') : [...DEFAULT_SETTINGS.watchIgnore];
  const excluded = vscode.workspace.getConfiguration('files', folder.uri).get<unknown>('watcherExclude', {});
  if (typeof excluded === 'object' && excluded !== null) {
    for (const [glob, on] of Object.entries(excluded)) if (on === true && !globs.includes(glob)) globs.push(glob);
  }
  return globs;
}

type AppSettings = Pick<ServerSettings, 'app' | 'appDir' | 'appMount' | 'python' | 'appThreads' | 'appTimeout'>;

/** The app settings (WSGI or Fetch); `appDir` must stay inside the workspace folder, like `root`. */
function appFromSettings(
  folder: string,
  config: vscode.WorkspaceConfiguration,
): { readonly ok: true; readonly settings: AppSettings } | { readonly ok: false; readonly message: string } {
  const text = (name: 'app' | 'appMount' | 'python'): string => {
    const value = config.get<unknown>(name, DEFAULT_SETTINGS[name]);
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : DEFAULT_SETTINGS[name];
  };
  const count = (name: 'appThreads' | 'appTimeout'): number => {
    const value = config.get<unknown>(name, DEFAULT_SETTINGS[name]);
    return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : DEFAULT_SETTINGS[name];
  };
  const app = text('app');
  if (app !== '' && appKind(app) === undefined) {
    return { ok: false, message: `Setting tinyServer.app must name a WSGI app as module:callable (e.g. app:app) or a Fetch app's .js, .mjs or .cjs file (e.g. server.mjs), not ${app}` };
  }
  const dir = config.get<unknown>('appDir', '');
  const appDir = dir === '' || dir === undefined ? { ok: true as const, path: '' } : rootFromSetting(folder, dir, 'appDir');
  if (!appDir.ok) return appDir;
  return {
    ok: true,
    settings: { app, appDir: appDir.path, appMount: text('appMount'), python: text('python'), appThreads: count('appThreads'), appTimeout: count('appTimeout') },
  };
}

type ProxySettings = Pick<ServerSettings, 'proxy' | 'proxyTimeout' | 'proxyKeepHost'>;

/**
 * The reverse proxy settings. `tinyServer.proxy` is a restricted setting (package.json): in
 * Restricted Mode VS Code gives only its user value, so an untrusted folder cannot point the
 * server at another local service.
 */
function proxyFromSettings(
  config: vscode.WorkspaceConfiguration,
): { readonly ok: true; readonly settings: ProxySettings } | { readonly ok: false; readonly message: string } {
  const proxy = config.get<unknown>('proxy', DEFAULT_SETTINGS.proxy);
  if (typeof proxy !== 'object' || proxy === null || Array.isArray(proxy)) {
    return { ok: false, message: 'Setting tinyServer.proxy must map path prefixes to URLs, e.g. { "/api": "http://127.0.0.1:3000" }' };
  }
  const routes = parseRoutes(proxy as Record<string, string>);
  if (typeof routes === 'string') return { ok: false, message: `Setting tinyServer.proxy: ${routes}` };
  const timeout = config.get<unknown>('proxyTimeout', DEFAULT_SETTINGS.proxyTimeout);
  const keepHost = config.get<unknown>('proxyKeepHost', DEFAULT_SETTINGS.proxyKeepHost);
  return {
    ok: true,
    settings: {
      proxy: { ...(proxy as Record<string, string>) },
      proxyTimeout: typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1 ? timeout : DEFAULT_SETTINGS.proxyTimeout,
      proxyKeepHost: typeof keepHost === 'boolean' ? keepHost : DEFAULT_SETTINGS.proxyKeepHost,
    },
  };
}

/**
 * Resolves `tinyServer.root` against the workspace folder. The result must be the folder or lie
 * inside it, both as written and after following symlinks, so that a workspace setting cannot
 * publish files from elsewhere on the machine.
 */
function rootFromSetting(
  folder: string,
  setting: unknown,
  name = 'root',
): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string } {
  if (setting !== undefined && typeof setting !== 'string') {
    return { ok: false, message: `Setting tinyServer.${name} must be a path relative to the workspace folder` };
  }
  const path = resolve(folder, setting ?? '');
  const outside = { ok: false, message: `Setting tinyServer.${name} points outside the workspace folder: ${path}` } as const;
  if (!isInside(folder, path)) return outside;
  try {
    if (!isInside(realpathSync.native(folder), realpathSync.native(path))) return outside;
  } catch {
    // A missing root is reported by the server with its own message ("root-missing").
  }
  return { ok: true, path };
}

/**
 * Whether the user chose `tinyServer.python` anywhere (user, workspace or folder settings). When
 * not, the interpreter selected in the Python extension runs the app, else DEFAULT_SETTINGS'.
 */
export function pythonIsSet(folder: vscode.WorkspaceFolder): boolean {
  const inspected = vscode.workspace.getConfiguration(SECTION, folder.uri).inspect<unknown>('python');
  const values = [inspected?.globalValue, inspected?.workspaceValue, inspected?.workspaceFolderValue];
  return values.some((value) => typeof value === 'string' && value.trim() !== '');
}

/** True when a running server with `running` settings must restart to apply `read`. */
export function needsRestart(running: FolderSettings, read: FolderSettings): boolean {
  return JSON.stringify(running.server) !== JSON.stringify(read.server) || running.updateOn !== read.updateOn;
}
