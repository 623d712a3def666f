import type { Stats } from 'node:fs';
import type { CachedFile } from './file-cache';

/** Pages kept at once, and how long each stays after its last request. */
const MAX_PAGES = 2;
const HOLD_MS = 10_000;

/**
 * Pages too large for the cache that are read whole to get live reload's tag (up to 16 MiB),
 * kept a short while after their last request: page loads of the same path and version share
 * one copy and its rewritten document, where each read and rewrote its own (50 slow loads of an
 * 11 MB page held over 1 GB). At most MAX_PAGES are kept, each until HOLD_MS pass without a
 * request for it; a racy version (changed just now) is never kept, as in the cache.
 */
export class LargePages {
  private readonly pages = new Map<string, { readonly entry: CachedFile; timer: NodeJS.Timeout }>();

  /** The page kept for `path`, if it is the version just opened at `realPath`. */
  get(path: string, realPath: string, stats: Stats): CachedFile | undefined {
    const kept = this.pages.get(path);
    if (kept === undefined) return undefined;
    if (!kept.entry.isVersionOf(realPath, stats)) {
      this.drop(path);
      return undefined;
    }
    kept.timer.refresh();
    return kept.entry;
  }

  keep(entry: CachedFile): void {
    if (!entry.version.trusted) return;
    this.drop(entry.key);
    if (this.pages.size >= MAX_PAGES) this.drop(this.pages.keys().next().value as string);
    const timer = setTimeout(() => this.drop(entry.key), HOLD_MS);
    timer.unref();
    this.pages.set(entry.key, { entry, timer });
  }

  dispose(): void {
    for (const path of [...this.pages.keys()]) this.drop(path);
  }

  private drop(path: string): void {
    const kept = this.pages.get(path);
    if (kept === undefined) return;
    clearTimeout(kept.timer);
    this.pages.delete(path);
  }
}
