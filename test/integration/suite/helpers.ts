// Shared pieces of the integration tests: the extension's API, fixture folders, settings that
// are always put back, and socket probes with timeouts (a test must never hang).
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { ServerInfo, TinyServerApi } from '../../../src/extension/api';

export const EXTENSION_ID = 'tiny-server.tiny-server';

export async function api(): Promise<TinyServerApi> {
  const extension = vscode.extensions.getExtension<TinyServerApi>(EXTENSION_ID);
  if (extension === undefined) throw new Error(`Extension ${EXTENSION_ID} is not loaded`);
  return extension.activate();
}

/** The fixture workspace folder called `name` (`site`, or `second`, which the workspace opens through the symlink `linked/second`). */
export function folder(name: string): vscode.WorkspaceFolder {
  const found = vscode.workspace.workspaceFolders?.find((f) => f.name === name);
  if (found === undefined) {
    const open = (vscode.workspace.workspaceFolders ?? []).map((f) => f.name).join(', ') || 'none';
    throw new Error(`Fixture folder ${name} is not open (open: ${open}); open fixtures/workspace.code-workspace`);
  }
  return found;
}

export function serverOf(tiny: TinyServerApi, folderUri: vscode.Uri): ServerInfo | undefined {
  return tiny.servers().find((s) => s.folder.toString() === folderUri.toString());
}

/** Sets a `tinyServer.*` setting of one folder, as a user editing .vscode/settings.json would. */
export async function setSetting(where: vscode.WorkspaceFolder, key: string, value: unknown): Promise<void> {
  await vscode.workspace
    .getConfiguration('tinyServer', where.uri)
    .update(key, value, vscode.ConfigurationTarget.WorkspaceFolder);
}

/** The settings tests change; `openOnStart` stays as the fixture has it ("none"). */
const TEST_KEYS = ['port', 'host', 'root', 'showDotfiles', 'directoryListing', 'allowedHosts', 'liveReload', 'app', 'appDir', 'python', 'updateOn', 'followEditor'];

/** Removes the folder-level values tests set, so the next test starts from the fixture. */
export async function resetSettings(): Promise<void> {
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    const config = vscode.workspace.getConfiguration('tinyServer', f.uri);
    for (const key of TEST_KEYS) {
      if (config.inspect(key)?.workspaceFolderValue !== undefined) await setSetting(f, key, undefined);
    }
  }
}

/**
 * Remembers every fixture settings file as it is now; the returned function writes them back
 * byte for byte, since VS Code's JSON edits reformat a file even when they remove what they added.
 */
export function snapshotFixtureSettings(): () => void {
  const files = (vscode.workspace.workspaceFolders ?? []).map((f) => join(f.uri.fsPath, '.vscode', 'settings.json'));
  if (vscode.workspace.workspaceFile?.scheme === 'file') files.push(vscode.workspace.workspaceFile.fsPath);
  const saved = files.map((file) => ({ file, text: readOrUndefined(file) }));
  return () => {
    for (const { file, text } of saved) {
      if (text !== undefined && readOrUndefined(file) !== text) writeFileSync(file, text);
    }
  };
}

/** Stops every server and removes test settings; every suite's teardown. */
export async function cleanUp(): Promise<void> {
  await (await api()).stopAll();
  await resetSettings();
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A port that was free a moment ago (the OS hands out ports in order, so races are rare). */
export async function freePort(): Promise<number> {
  const server = await listen(0);
  const port = (server.address() as { port: number }).port;
  await close(server);
  return port;
}

/** Occupies `port` on 127.0.0.1 with a plain TCP listener. */
export function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted or refused, within 3 s. */
export function probe(port: number): Promise<'accepted' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(3000, () => {
      socket.destroy();
      reject(new Error(`Connecting to port ${port} neither succeeded nor failed within 3 s`));
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve('refused');
      else reject(error);
    });
  });
}

/** GET `url` with a 5 s limit; answers status and body text. */
export async function get(url: string): Promise<{ status: number; text: string; body: Buffer }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, text: body.toString('utf8'), body };
}

/** Resolves once `check()` is true, re-checking every 50 ms; rejects after `ms`. */
export async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Collects `onDidLog` lines until disposed. */
export function recordLog(tiny: TinyServerApi): { readonly lines: string[]; dispose(): void } {
  const lines: string[] = [];
  const subscription = tiny.onDidLog((line) => lines.push(line));
  return { lines, dispose: () => subscription.dispose() };
}
