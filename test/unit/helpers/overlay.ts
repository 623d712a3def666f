import type { Disposable } from '../../../src/server/handler';
import type { ContentOverlay, OverlayContent } from '../../../src/server/static';

/** An overlay as the extension keeps one (real path → bytes, with change events), set by hand. */
export class MapOverlay implements ContentOverlay {
  private readonly contents = new Map<string, OverlayContent>();
  private readonly listeners = new Set<(paths: readonly string[]) => void>();

  get size(): number {
    return this.contents.size;
  }

  get(realPath: string): OverlayContent | undefined {
    return this.contents.get(realPath);
  }

  /** Unsaved text for `realPath`, or undefined for "reverted": the disk's bytes again. */
  set(realPath: string, bytes: Buffer | undefined): void {
    if (bytes === undefined) this.contents.delete(realPath);
    else this.contents.set(realPath, { bytes, modifiedMs: Date.now() });
    for (const listener of this.listeners) listener([realPath]);
  }

  /** Forgets the unsaved text without an event, as the extension does when it was saved as it is. */
  forget(realPath: string): void {
    this.contents.delete(realPath);
  }

  onDidChange(listener: (paths: readonly string[]) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
}
