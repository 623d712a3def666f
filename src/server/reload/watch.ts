import { watch, readdir, stat, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Disposable } from '../handler';

/** Folders whose changes never matter to a page and that are too large to watch. */
const IGNORED = new Set(['.git', 'node_modules']);

function isIgnored(relativePath: string): boolean {
  return relativePath.split(sep).some((segment) => IGNORED.has(segment));
}

/**
 * Watches every file below `root` except `.git` and `node_modules`, and reports absolute paths
 * that changed, batched per event-loop turn. On macOS and Windows one recursive `fs.watch`
 * covers the tree natively. On Linux (inotify has no recursive mode and Node would also watch
 * every folder inside node_modules, which can exhaust `max_user_watches`) each folder gets its
 * own watcher and new folders are added as they appear.
 * `onError` hears about folders that cannot be watched; the rest keeps working.
 */
export function watchTree(
  root: string,
  onChange: (paths: string[]) => void,
  onError: (message: string) => void = () => undefined,
): Disposable {
  const batch = new PathBatch(onChange);
  if (process.platform === 'linux') return new FolderWatchers(root, batch, onError);
  try {
    const watcher = watch(root, { recursive: true, persistent: false }, (_event, name) => {
      if (name === null) batch.add(root);
      else if (!isIgnored(name)) batch.add(join(root, name));
    });
    watcher.on('error', (error) => onError(`Cannot watch ${root}: ${error.message}`));
    return { dispose: () => watcher.close() };
  } catch (error) {
    onError(`Cannot watch ${root}: ${(error as Error).message}`);
    return { dispose: () => undefined };
  }
}

/** Collects paths reported in one turn of the event loop into one call. */
class PathBatch {
  private paths = new Set<string>();
  private scheduled = false;
  closed = false;

  constructor(private readonly onChange: (paths: string[]) => void) {}

  add(path: string): void {
    if (this.closed) return;
    this.paths.add(path);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const paths = [...this.paths];
      this.paths.clear();
      if (!this.closed && paths.length > 0) this.onChange(paths);
    });
  }
}

/** One non-recursive watcher per folder of the tree. */
class FolderWatchers implements Disposable {
  private readonly watchers = new Map<string, FSWatcher>();

  constructor(
    private readonly root: string,
    private readonly batch: PathBatch,
    private readonly onError: (message: string) => void,
  ) {
    this.watchFolder(root);
  }

  dispose(): void {
    this.batch.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private watchFolder(folder: string): void {
    if (this.batch.closed || this.watchers.has(folder)) return;
    if (folder !== this.root && isIgnored(relative(this.root, folder))) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(folder, { persistent: false }, (event, name) => this.onEvent(folder, event, name));
    } catch (error) {
      this.onError(`Cannot watch ${folder}: ${(error as Error).message}`);
      return;
    }
    watcher.on('error', () => this.unwatch(folder));
    this.watchers.set(folder, watcher);
    readdir(folder, { withFileTypes: true }, (error, entries) => {
      if (error) return;
      // Symbolic links are not followed, so a link to an ancestor cannot make a loop.
      for (const entry of entries) if (entry.isDirectory()) this.watchFolder(join(folder, entry.name));
    });
  }

  private onEvent(folder: string, event: string, name: string | null): void {
    if (name === null) return this.batch.add(folder);
    const path = join(folder, name);
    if (IGNORED.has(name)) return;
    this.batch.add(path);
    // "rename" is inotify's create, delete and move: a new folder needs a watcher, a gone one none.
    if (event !== 'rename') return;
    stat(path, (error, stats) => {
      if (error) this.unwatchBelow(path);
      else if (stats.isDirectory()) this.watchFolder(path);
    });
  }

  private unwatch(folder: string): void {
    this.watchers.get(folder)?.close();
    this.watchers.delete(folder);
  }

  private unwatchBelow(path: string): void {
    for (const folder of [...this.watchers.keys()]) {
      if (folder === path || folder.startsWith(path + sep)) this.unwatch(folder);
    }
  }
}
