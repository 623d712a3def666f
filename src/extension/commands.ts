import { realpathSync } from 'node:fs';
import * as vscode from 'vscode';
import type { ServerInfo } from './api';
import { externalUri, openUrl } from './browser';
import type { LogChannel } from './log-channel';
import { toInfo, type RunningServer, type ServerManager } from './manager';
import { activeTabUri } from './follow-editor';
import { readSettings } from './settings';
import { urlPathOf } from '../server/url-path';

/** Command identifiers, as contributed in package.json. */
export const COMMAND = {
  start: 'tinyServer.start',
  stop: 'tinyServer.stop',
  openInSimpleBrowser: 'tinyServer.openInSimpleBrowser',
  openInExternalBrowser: 'tinyServer.openInExternalBrowser',
  copyUrl: 'tinyServer.copyUrl',
  previewFile: 'tinyServer.previewFile',
  showLog: 'tinyServer.showLog',
  /** The status-bar menu of a running server; hidden from the palette. */
  showMenu: 'tinyServer.showMenu',
} as const;

/**
 * Registers every command. Each accepts an optional `vscode.Uri` naming a workspace folder (or a
 * file inside one) so that menus, keybindings and tests can skip the folder QuickPick.
 */
export function registerCommands(manager: ServerManager, log: LogChannel): vscode.Disposable {
  const commands = new Commands(manager, log);
  const table: Record<string, (arg?: unknown) => unknown> = {
    [COMMAND.start]: (arg) => commands.start(arg),
    [COMMAND.stop]: (arg) => commands.stop(arg),
    [COMMAND.openInSimpleBrowser]: (arg) => commands.open(arg, 'simpleBrowser'),
    [COMMAND.openInExternalBrowser]: (arg) => commands.open(arg, 'externalBrowser'),
    [COMMAND.copyUrl]: (arg) => commands.copyUrl(arg),
    [COMMAND.previewFile]: (arg) => commands.previewFile(arg),
    [COMMAND.showLog]: () => log.show(),
    [COMMAND.showMenu]: () => commands.showMenu(),
  };
  return vscode.Disposable.from(
    ...Object.entries(table).map(([id, run]) => vscode.commands.registerCommand(id, run)),
  );
}

type MenuItem = vscode.QuickPickItem & { readonly run?: () => unknown };

class Commands {
  constructor(
    private readonly manager: ServerManager,
    private readonly log: LogChannel,
  ) {}

  /** Starts (or finds) the server of a folder and opens it as `tinyServer.openOnStart` says. */
  async start(arg: unknown): Promise<ServerInfo | undefined> {
    const folder = await this.pickFolderToStart(arg);
    if (folder === undefined) return undefined;
    const outcome = await this.manager.start(folder);
    if (!outcome.ok) return undefined;
    const read = readSettings(folder);
    const target = read.ok ? read.settings.openOnStart : 'simpleBrowser';
    if (target !== 'none') await openUrl(outcome.server.url, this.allowFor(folder), target);
    return outcome.server;
  }

  async stop(arg: unknown): Promise<void> {
    const running = this.manager.list();
    if (arg !== undefined || running.length <= 1) {
      const entry = await this.runningServer(arg, 'Stop which server?');
      if (entry !== undefined) await this.manager.stop(entry.folder.uri);
      return;
    }
    const items: MenuItem[] = running.map((entry) => ({
      label: entry.folder.name,
      description: toInfo(entry).url,
      run: () => this.manager.stop(entry.folder.uri),
    }));
    items.push({ label: '$(debug-stop) All servers', run: () => this.manager.stopAll() });
    const choice = await vscode.window.showQuickPick(items, { placeHolder: 'Stop which server?' });
    await choice?.run?.();
  }

  async open(arg: unknown, target: 'simpleBrowser' | 'externalBrowser'): Promise<void> {
    const entry = await this.runningServer(arg, 'Open which server?');
    if (entry !== undefined) await openUrl(toInfo(entry).url, this.allowFor(entry.folder), target);
  }

  async copyUrl(arg: unknown): Promise<string | undefined> {
    const entry = await this.runningServer(arg, 'Copy the address of which server?');
    if (entry === undefined) return undefined;
    // The address the user's browser reaches: a forwarded one in remote and web setups.
    const url = (await externalUri(toInfo(entry).url, this.allowFor(entry.folder))).toString(true);
    await vscode.env.clipboard.writeText(url);
    void vscode.window.showInformationMessage(`Copied ${url}`);
    return url;
  }

  /** Serves the folder of an HTML file (starting its server when needed) and opens the file. */
  async previewFile(arg: unknown): Promise<string | undefined> {
    const file = arg instanceof vscode.Uri ? arg : (vscode.window.activeTextEditor?.document.uri ?? activeTabUri());
    if (file === undefined) return this.refuse('Open an HTML file (or SVG, XML, text, an image) to preview it with Tiny Server');
    if (file.scheme !== 'file') return this.refuse(`Only files on disk can be previewed, not ${file.toString()}`);
    const folder = vscode.workspace.getWorkspaceFolder(file);
    if (folder === undefined) return this.refuse(`${file.fsPath} is not inside an open workspace folder`);
    const read = readSettings(folder);
    // A file outside tinyServer.root is refused before a server starts for nothing.
    if (this.manager.get(folder.uri) === undefined && read.ok && urlPathOf(rootsOf(read.settings.server.root), file.fsPath) === undefined) {
      return this.refuse(`${file.fsPath} is outside the served folder ${read.settings.server.root} (setting tinyServer.root)`);
    }
    const outcome = await this.manager.start(folder);
    const running = this.manager.get(folder.uri);
    if (!outcome.ok || running === undefined) return undefined;
    // The editor names the file through the workspace path, which may be a symlink: urlOf knows
    // the root both as given and as resolved.
    const url = running.server.urlOf(file.fsPath);
    if (url === undefined) {
      return this.refuse(`${file.fsPath} is outside the served folder ${running.server.root} (setting tinyServer.root)`);
    }
    await openUrl(url, this.allowFor(folder), read.ok && read.settings.openOnStart === 'externalBrowser' ? 'externalBrowser' : 'simpleBrowser');
    return url;
  }

  /** Lets `folder`'s server answer the host name its forwarded address has (see externalUri). */
  private allowFor(folder: vscode.WorkspaceFolder): (host: string) => void {
    return (host) => this.manager.allowHost(folder.uri, host);
  }

  /** What a click on the status bar offers while servers run. */
  async showMenu(): Promise<void> {
    const items: MenuItem[] = [];
    for (const entry of this.manager.list()) items.push(...this.menuItemsFor(entry));
    items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
    if (this.stoppedFolders().length > 0) {
      items.push({ label: '$(play) Start Tiny Server for another folder', run: () => this.start(undefined) });
    }
    items.push({ label: '$(output) Show Tiny Server Log', run: () => this.log.show() });
    const choice = await vscode.window.showQuickPick(items, { placeHolder: 'Tiny Server' });
    await choice?.run?.();
  }

  private menuItemsFor(entry: RunningServer): MenuItem[] {
    const { url } = toInfo(entry);
    const uri = entry.folder.uri;
    return [
      { label: `${entry.folder.name} — ${url}`, kind: vscode.QuickPickItemKind.Separator },
      { label: '$(globe) Open in Simple Browser', run: () => this.open(uri, 'simpleBrowser') },
      { label: '$(link-external) Open in External Browser', run: () => this.open(uri, 'externalBrowser') },
      { label: '$(copy) Copy Server URL', description: url, run: () => this.copyUrl(uri) },
      { label: '$(debug-stop) Stop Tiny Server', description: entry.folder.name, run: () => this.manager.stop(uri) },
    ];
  }

  /**
   * The folder a start applies to: the one `arg` names, the only folder, the only stopped folder,
   * or the user's pick. Folders that already run are offered only when every folder runs.
   */
  private async pickFolderToStart(arg: unknown): Promise<vscode.WorkspaceFolder | undefined> {
    if (arg instanceof vscode.Uri) return this.folderOf(arg);
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length === 0) return this.refuse('Open a folder to start Tiny Server');
    const stopped = this.stoppedFolders();
    const candidates = stopped.length > 0 ? stopped : folders;
    if (candidates.length === 1) return candidates[0];
    const items = candidates.map((folder) => {
      const entry = this.manager.get(folder.uri);
      const description = entry === undefined ? folder.uri.fsPath : `running at ${toInfo(entry).url}`;
      return { label: folder.name, description, folder };
    });
    return (await vscode.window.showQuickPick(items, { placeHolder: 'Start Tiny Server for which folder?' }))?.folder;
  }

  /** The running server `arg` names, the only one, or the user's pick; explains when none runs. */
  private async runningServer(arg: unknown, placeHolder: string): Promise<RunningServer | undefined> {
    if (arg instanceof vscode.Uri) {
      const folder = this.folderOf(arg);
      if (folder === undefined) return undefined;
      return this.manager.get(folder.uri) ?? this.notRunning(`Tiny Server is not running for ${folder.name}`);
    }
    const running = this.manager.list();
    if (running.length === 0) return this.notRunning('Tiny Server is not running');
    if (running.length === 1) return running[0];
    const items = running.map((entry) => ({ label: entry.folder.name, description: toInfo(entry).url, entry }));
    return (await vscode.window.showQuickPick(items, { placeHolder }))?.entry;
  }

  private stoppedFolders(): readonly vscode.WorkspaceFolder[] {
    return (vscode.workspace.workspaceFolders ?? []).filter((folder) => this.manager.get(folder.uri) === undefined);
  }

  private folderOf(uri: vscode.Uri): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.getWorkspaceFolder(uri) ?? this.refuse(`${uri.fsPath} is not inside an open workspace folder`);
  }

  private notRunning(message: string): undefined {
    void vscode.window.showInformationMessage(message, 'Start Tiny Server').then((choice) => {
      if (choice !== undefined) void vscode.commands.executeCommand(COMMAND.start);
    });
    return undefined;
  }

  private refuse(message: string): undefined {
    void vscode.window.showErrorMessage(message);
    return undefined;
  }
}

/** A root as given and with symlinks resolved, as a server knows it (TinyServer.urlOf). */
function rootsOf(root: string): string[] {
  try {
    return [root, realpathSync.native(root)];
  } catch {
    return [root];
  }
}
