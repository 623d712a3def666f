import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import * as vscode from 'vscode';
import type { RequestLogger } from '../server/log';
import type { ServerOptions } from '../server/options';

export const SECTION = 'tinyServer';

export type OpenOnStart = 'simpleBrowser' | 'externalBrowser' | 'none';

/** The `tinyServer.*` settings of one workspace folder, validated. */
export interface FolderSettings {
  /** Absolute path of the folder to serve. */
  readonly root: string;
  readonly host: string;
  readonly port: number;
  readonly showDotfiles: boolean;
  readonly directoryListing: boolean;
  readonly allowedHosts: readonly string[];
  readonly liveReload: boolean;
  readonly openOnStart: OpenOnStart;
}

export type SettingsResult =
  | { readonly ok: true; readonly settings: FolderSettings }
  | { readonly ok: false; readonly message: string };

const OPEN_ON_START: readonly OpenOnStart[] = ['simpleBrowser', 'externalBrowser', 'none'];

/** Reads the settings that apply to `folder`; invalid values are reported, never guessed at. */
export function readSettings(folder: vscode.WorkspaceFolder): SettingsResult {
  const config = vscode.workspace.getConfiguration(SECTION, folder.uri);
  const port = config.get<unknown>('port', 8000);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    return { ok: false, message: `Setting tinyServer.port must be a whole number from 0 to 65535, not ${String(port)}` };
  }
  const host = config.get<unknown>('host', '127.0.0.1');
  if (typeof host !== 'string' || host.trim() === '') {
    return { ok: false, message: 'Setting tinyServer.host must be an address such as 127.0.0.1' };
  }
  const root = resolveRoot(folder.uri.fsPath, config.get<unknown>('root', ''));
  if (!root.ok) return root;
  const openOnStart = config.get<unknown>('openOnStart', 'simpleBrowser');
  const allowedHosts = config.get<unknown>('allowedHosts', []);
  return {
    ok: true,
    settings: {
      root: root.path,
      // `[::1]` is how a URL writes it; a socket wants `::1`.
      host: host.trim().replace(/^\[(.*)\]$/, '$1'),
      port,
      showDotfiles: config.get<unknown>('showDotfiles', false) === true,
      directoryListing: config.get<unknown>('directoryListing', true) !== false,
      allowedHosts: Array.isArray(allowedHosts) ? allowedHosts.filter((h): h is string => typeof h === 'string') : [],
      liveReload: config.get<unknown>('liveReload', true) !== false,
      openOnStart: OPEN_ON_START.includes(openOnStart as OpenOnStart) ? (openOnStart as OpenOnStart) : 'simpleBrowser',
    },
  };
}

/**
 * Resolves `tinyServer.root` against the workspace folder. The result must be the folder or lie
 * inside it, both as written and after following symlinks, so that a workspace setting cannot
 * publish files from elsewhere on the machine.
 */
function resolveRoot(
  folder: string,
  setting: unknown,
): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string } {
  if (setting !== undefined && typeof setting !== 'string') {
    return { ok: false, message: 'Setting tinyServer.root must be a path relative to the workspace folder' };
  }
  const path = resolve(folder, setting ?? '');
  const outside = { ok: false, message: `Setting tinyServer.root points outside the workspace folder: ${path}` } as const;
  if (!isInside(folder, path)) return outside;
  try {
    if (!isInside(realpathSync.native(folder), realpathSync.native(path))) return outside;
  } catch {
    // A missing root is reported by the server with its own message ("root-missing").
  }
  return { ok: true, path };
}

/** True when `path` is `parent` itself or below it (a bare prefix test would admit `/root-evil`). */
export function isInside(parent: string, path: string): boolean {
  const rel = relative(parent, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The part of the settings that shapes a running server; a change here means a restart. */
export function serverShape(settings: FolderSettings): string {
  const { openOnStart: _ignored, ...shape } = settings;
  return JSON.stringify(shape);
}

export function toServerOptions(settings: FolderSettings, logger: RequestLogger): ServerOptions {
  return {
    root: settings.root,
    host: settings.host,
    port: settings.port,
    showDotfiles: settings.showDotfiles,
    directoryListing: settings.directoryListing,
    allowedHosts: settings.allowedHosts,
    liveReload: settings.liveReload,
    logger,
  };
}

/** Addresses that bind every interface, which makes the folder reachable from the network. */
export function bindsAllInterfaces(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
}
