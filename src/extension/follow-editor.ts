import * as vscode from 'vscode';
import { onTabsClosed, openInSimpleBrowser, showsInSimpleBrowser, simpleBrowserTab } from './browser';
import { DisposableOwner } from './dispose';
import type { ServerManager } from './manager';

/** What a browser shows as a page, and so what the preview follows to (not stylesheets or scripts). */
export const SHOWABLE = /\.(html?|xhtml|svg|xml|txt|png|jpe?g|gif|webp|avif|bmp|ico)$/i;

/**
 * `tinyServer.followEditor`: when the active tab becomes another showable file of a folder whose
 * server runs, the Simple Browser that Tiny Server opened navigates to it, in its own column and
 * without taking the focus from the editor.
 */
export class EditorFollower extends DisposableOwner {
  constructor(private readonly manager: ServerManager) {
    super();
    this._register(
      vscode.window.tabGroups.onDidChangeTabs((event) => {
        onTabsClosed(event.closed);
        this.follow();
      }),
    );
    this._register(vscode.window.tabGroups.onDidChangeTabGroups(() => this.follow()));
  }

  private follow(): void {
    const uri = activeTabUri();
    if (uri === undefined || uri.scheme !== 'file' || !SHOWABLE.test(uri.path)) return;
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    const running = folder === undefined ? undefined : this.manager.get(folder.uri);
    if (running === undefined || !running.settings.followEditor) return;
    const url = running.server.urlOf(uri.fsPath);
    const browser = simpleBrowserTab();
    if (url === undefined || browser === undefined || showsInSimpleBrowser(url)) return;
    // A hidden file (`.storybook/preview-head.html`) would only show the server's 404 in place of the page.
    if (!running.settings.server.showDotfiles && HIDDEN_SEGMENT.test(new URL(url).pathname)) return;
    // In the editor's own group, showing the page would hide the editor being typed into.
    if (browser.group === vscode.window.tabGroups.activeTabGroup) return;
    void openInSimpleBrowser(url, (host) => this.manager.allowHost(running.folder.uri, host), browser.group.viewColumn);
  }
}

/** A URL path segment that starts with a dot: a dotfile or dot-folder, hidden unless showDotfiles. */
const HIDDEN_SEGMENT = /\/\./;

/** The file of the active tab: a text editor's, or an image preview's (a custom editor). */
export function activeTabUri(): vscode.Uri | undefined {
  return tabUri(vscode.window.tabGroups.activeTabGroup.activeTab);
}

/** The file a tab shows: a text editor's, or an image preview's (a custom editor). */
export function tabUri(tab: vscode.Tab | undefined): vscode.Uri | undefined {
  const input = tab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return undefined;
}
