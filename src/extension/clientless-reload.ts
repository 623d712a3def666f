import * as vscode from 'vscode';
import { openInSimpleBrowser, showsInSimpleBrowser, simpleBrowserTab, type AllowHost } from './browser';

/** Pages live reload gives its client (HTML files): they reload themselves. */
const HAS_CLIENT = /\.html?$/i;

/** A burst of changes (an editor's save of several files) shows the page again once. */
const SHOW_AGAIN_MS = 100;

/**
 * A file the Simple Browser shows that has no live-reload client (an SVG, XML, a text file, an
 * image) cannot reload itself: when live reload announces a change of it, saved or typed, the
 * Simple Browser is sent to it again, which loads it anew, in its own column and without taking
 * the focus from the editor.
 */
export class ClientlessReload implements vscode.Disposable {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: { readonly url: string; readonly allow: AllowHost } | undefined;

  /** `paths` changed in the folder whose server has `urlOf`; `allow` is its host check's (see AllowHost). */
  changed(paths: readonly string[], urlOf: (path: string) => string | undefined, allow: AllowHost): void {
    if (simpleBrowserTab() === undefined) return;
    for (const path of paths) {
      if (HAS_CLIENT.test(path)) continue;
      const url = urlOf(path);
      if (url === undefined || !showsInSimpleBrowser(url)) continue;
      this.pending = { url, allow };
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.showAgain(), SHOW_AGAIN_MS);
      return;
    }
  }

  private showAgain(): void {
    const pending = this.pending;
    this.pending = undefined;
    this.timer = undefined;
    const browser = simpleBrowserTab();
    // Closed meanwhile, or sent elsewhere: nothing to show again.
    if (pending === undefined || browser === undefined || !showsInSimpleBrowser(pending.url)) return;
    void openInSimpleBrowser(pending.url, pending.allow, browser.group.viewColumn);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.pending = undefined;
  }
}
