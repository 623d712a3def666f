import { lstat, readdir, realpath, realpathSync, watch, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Disposable } from '../handler';
import { isInside } from '../static/paths';

/** Folders whose changes never matter to a page and that are too large to watch. */
const IGNORED = new Set(['.git', 'node_modules']);

function isIgnored(relativePath: string): boolean {
  return relativePath.split(sep).some((segment) => IGNORED.has(segment));
}

/** A running tree watcher. */
export interface TreeWatcher extends Disposable {
  /** Folders with a watcher of their own (inotify watches on Linux); 1 for a recursive watcher. */
  readonly folderCount: number;
}

/**
 * Watches every file below `root` except `.git` and `node_modules`, and reports absolute paths
 * that changed, batched per event-loop turn. On macOS and Windows one recursive `fs.watch`
 * covers the tree natively. On Linux (inotify has no recursive mode and Node would also watch
 * every folder inside node_modules, which can exhaust `max_user_watches`) each folder gets its
 * own watcher and new folders are added as they appear; links to folders are not followed (see
 * FolderWatchers). `onError` hears about folders that cannot be watched; the rest keeps working.
 */
export function watchTree(
  root: string,
  onChange: (paths: string[]) => void,
  onError: (message: string) => void = () => undefined,
): TreeWatcher {
  const batch = new PathBatch(root, onChange);
  if (process.platform === 'linux') return new FolderWatchers(root, batch, onError);
  try {
    const watcher = watch(root, { recursive: true, persistent: false }, (_event, name) => {
      if (name === null) batch.add(root);
      else if (!isIgnored(name)) batch.add(join(root, name));
    });
    watcher.on('error', (error) => onError(`Cannot watch ${root}: ${error.message}`));
    return { folderCount: 1, dispose: () => watcher.close() };
  } catch (error) {
    onError(`Cannot watch ${root}: ${(error as Error).message}`);
    return { folderCount: 0, dispose: () => undefined };
  }
}

/**
 * Collects paths reported in one turn of the event loop into one call. Every reported path
 * passes here, so this is where a path not below the root (a name with `..`, say) is dropped,
 * whichever watcher reported it.
 */
class PathBatch {
  private paths = new Set<string>();
  private scheduled = false;
  closed = false;

  constructor(
    private readonly root: string,
    private readonly onChange: (paths: string[]) => void,
  ) {}

  add(path: string): void {
    if (this.closed || !isInside(this.root, path)) return;
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

/** A folder's watcher; its events count once its real path was found inside the root. */
interface Watched {
  readonly watcher: FSWatcher;
  inside: boolean;
}

/**
 * One non-recursive watcher per folder of the tree. Symbolic links to folders are never
 * followed, also not those pointing inside the root: a link can be retargeted at any time, a
 * folder inside the root is watched under its own name already, and the initial walk (which reads
 * entry types without following links) never followed them either. A followed link to `/usr`
 * would add thousands of inotify watches and announce changes there by name.
 * Between the `lstat` that finds a folder and the watch, the folder can be swapped for a link
 * (and `inotify_add_watch` follows links), so a new watcher counts only once the folder's real
 * path is the one expected below the real root: events before that, or of a folder that fails the
 * check, are dropped, and only a checked folder's entries are walked.
 */
class FolderWatchers implements TreeWatcher {
  private readonly watchers = new Map<string, Watched>();
  /** The root's real path: `folder`'s real path must be it plus `folder`'s path below `root`. */
  private readonly realRoot: string;

  constructor(
    private readonly root: string,
    private readonly batch: PathBatch,
    private readonly onError: (message: string) => void,
  ) {
    this.realRoot = realRootOf(root);
    this.watchFolder(root);
  }

  get folderCount(): number {
    return this.watchers.size;
  }

  dispose(): void {
    this.batch.closed = true;
    for (const { watcher } of this.watchers.values()) watcher.close();
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
    const watched: Watched = { watcher, inside: false };
    this.watchers.set(folder, watched);
    realpath.native(folder, (error, real) => {
      if (this.watchers.get(folder) !== watched) return;
      if (error || real !== this.realRoot + folder.slice(this.root.length)) return this.unwatchBelow(folder);
      watched.inside = true;
      this.watchEntries(folder);
    });
  }

  /** Watches the subfolders of `folder`; entry types come from the folder itself, so links stay links. */
  private watchEntries(folder: string): void {
    readdir(folder, { withFileTypes: true }, (error, entries) => {
      if (error) return;
      for (const entry of entries) if (entry.isDirectory()) this.watchFolder(join(folder, entry.name));
    });
  }

  private onEvent(folder: string, event: string, name: string | null): void {
    if (this.watchers.get(folder)?.inside !== true) return;
    if (name === null) return this.batch.add(folder);
    const path = join(folder, name);
    if (IGNORED.has(name)) return;
    this.batch.add(path);
    // "rename" is inotify's create, delete and move. A watched folder that moved or went away
    // loses its watchers at once: they follow the old folder, which may now be outside the root.
    // Whatever has the name now is watched anew if it is a folder; lstat, so a link is not.
    if (event !== 'rename') return;
    if (this.watchers.has(path)) this.unwatchBelow(path);
    lstat(path, (error, stats) => {
      if (!error && stats.isDirectory()) this.watchFolder(path);
    });
  }

  private unwatch(folder: string): void {
    this.watchers.get(folder)?.watcher.close();
    this.watchers.delete(folder);
  }

  private unwatchBelow(path: string): void {
    for (const folder of [...this.watchers.keys()]) {
      if (folder === path || folder.startsWith(path + sep)) this.unwatch(folder);
    }
  }
}

/** The real path of `root`; a root that cannot be resolved is taken as is, and its watch fails. */
function realRootOf(root: string): string {
  try {
    return realpathSync.native(root);
  } catch {
    return root;
  }
}
