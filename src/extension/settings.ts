import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import * as vscode from 'vscode';
import { isAppSpec } from '../server/app';
import { DEFAULT_SETTINGS, type ServerSettings } from '../server/options';
import { isInside } from '../server/static/paths';

export const SECTION = 'tinyServer';

export type OpenOnStart = 'simpleBrowser' | 'externalBrowser' | 'none';

/** The `tinyServer.*` settings of one workspace folder, validated. */
export interface FolderSettings {
  /** What shapes the server, handed to startServer as it is; a change here means a restart. */
  readonly server: ServerSettings;
  /** What Start opens; only read at the next start. */
  readonly openOnStart: OpenOnStart;
}

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
  const app = appFromSettings(folder.uri.fsPath, config);
  if (!app.ok) return app;
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
        forwardConsole: flag('forwardConsole'),
        ...app.settings,
      },
      openOnStart: OPEN_ON_START.includes(openOnStart as OpenOnStart) ? (openOnStart as OpenOnStart) : 'simpleBrowser',
    },
  };
}

type AppSettings = Pick<ServerSettings, 'app' | 'appDir' | 'appMount' | 'python' | 'appThreads' | 'appTimeout'>;

/** The WSGI app settings; `appDir` must stay inside the workspace folder, like `root`. */
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
  if (app !== '' && !isAppSpec(app)) {
    return { ok: false, message: `Setting tinyServer.app must name a WSGI app as module:callable, e.g. app:app, not ${app}` };
  }
  const dir = config.get<unknown>('appDir', '');
  const appDir = dir === '' || dir === undefined ? { ok: true as const, path: '' } : rootFromSetting(folder, dir, 'appDir');
  if (!appDir.ok) return appDir;
  return {
    ok: true,
    settings: { app, appDir: appDir.path, appMount: text('appMount'), python: text('python'), appThreads: count('appThreads'), appTimeout: count('appTimeout') },
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
  return JSON.stringify(running.server) !== JSON.stringify(read.server);
}
