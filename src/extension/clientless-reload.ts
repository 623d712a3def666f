import * as vscode from 'vscode';
import { mediaTypeFor } from '../server/static/content-type';
import { openInSimpleBrowser, showsInSimpleBrowser, simpleBrowserTab, type AllowHost } from './browser';
import { tabUri } from './follow-editor';

/** A burst of changes (an editor's save of several files) shows the page again once... */
const SHOW_AGAIN_MS = 100;
/** ...and a file rewritten without pause is still shown again this often. */
const MAX_WAIT_MS = 300;

/** What a change waits for: the file, and its server's address and host check at that moment. */
interface Pending {
  readonly path: string;
  readonly urlOf: (path: string) => string | undefined;
  readonly allow: AllowHost;
  readonly since: number;
}

/**
 * A file the Simple Browser shows that has no live-reload client (an SVG, XML, a text file, an
 * image: anything the server does not serve as HTML) cannot reload itself: when live reload
 * announces a change of it, saved or typed, the Simple Browser is sent to it again, which loads
 * it anew, in its own column and without taking the focus from the editor. Only for a file open
 * in a tab, the one being worked on: Tiny Server knows where it sent the Simple Browser, not
 * where a link or its address bar took it since, and a file rewritten by a build in the
 * background must not pull it back there.
 */
export class ClientlessReload implements vscode.Disposable {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: Pending | undefined;
  private disposed = false;

  /** `paths` changed in the folder whose server has `urlOf`; `allow` is its host check's (see AllowHost). */
  changed(paths: readonly string[], urlOf: (path: string) => string | undefined, allow: AllowHost): void {
    if (this.disposed || simpleBrowserTab() === undefined) return;
    for (const path of paths) {
      if (mediaTypeFor(path).html) continue;
      const url = urlOf(path);
      if (url === undefined || !showsInSimpleBrowser(url) || !openInTab(url, urlOf)) continue;
      const since = this.pending?.path === path ? this.pending.since : Date.now();
      this.pending = { path, urlOf, allow, since };
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.showAgain(), Math.max(0, Math.min(SHOW_AGAIN_MS, since + MAX_WAIT_MS - Date.now())));
      return;
    }
  }

  private showAgain(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.timer = undefined;
    if (pending === undefined || this.disposed) return;
    // Asked again: a server stopped or moved to another port meanwhile no longer has this address.
    const url = pending.urlOf(pending.path);
    const browser = simpleBrowserTab();
    if (url === undefined || browser === undefined || !showsInSimpleBrowser(url)) return;
    // Behind the editor in its own group, showing it would hide the editor being typed into.
    if (browser.group === vscode.window.tabGroups.activeTabGroup && !browser.isActive) return;
    void openInSimpleBrowser(url, pending.allow, browser.group.viewColumn);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.pending = undefined;
  }
}

/** Whether a tab (a text editor, an image preview) shows the file at `url`. */
function openInTab(url: string, urlOf: (path: string) => string | undefined): boolean {
  for (const group of vscode.window.tabGroups.all) {
    for (const tab of group.tabs) {
      const uri = tabUri(tab);
      if (uri?.scheme === 'file' && urlOf(uri.fsPath) === url) return true;
    }
  }
  return false;
}
