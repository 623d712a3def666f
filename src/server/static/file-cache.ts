import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { sep } from 'node:path';
import type { MediaType } from './content-type';
import { contentTypeOf } from './declared-type';
import { openVerified, readAtMost, type OpenedFile } from './open-file';
import { Document, fileMeta, type FileMeta } from './representation';
import { currentTurn } from './turn';

/** Files up to this size are held in memory; larger ones are streamed from disk. */
export const MAX_CACHED_FILE_BYTES = 256 * 1024;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 10_000;
/** Bookkeeping per entry, counted so that many tiny files cannot grow the cache unbounded. */
const ENTRY_OVERHEAD_BYTES = 512;

/**
 * How long after its last change a file's stat is not trusted to reveal the next change.
 * File times come from a coarse clock (a jiffy on Linux, 1 s on HFS+ and ext3, 2 s on FAT), so
 * two writes of the same size close together can leave size, mtime and ctime all unchanged.
 * Like Git's "racily clean" index entries, a file changed less than this long before it was
 * read is compared byte by byte on every hit; older files are validated by stat alone, because
 * any later write stamps a ctime later than the old one (ctime cannot be set by programs).
 */
export const RACY_MARGIN_MS = 3000;

const STAT_OPTIONS = { throwIfNoEntry: false } as const;

/** What a stat must still say for a cached file to be served from memory. */
interface Identity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/**
 * One version of a file's bytes, found by the file's identity (device, inode, size, times) and
 * media type: every request path that leads to it (a link, a folder and its index file, another
 * spelling of the path) shares its bytes and their compressed variants.
 */
export class FileVersion {
  /** Cache entries that hold this version; its bytes count in the cache while there are any. */
  refs = 0;
  /** Bytes this version holds: the body and its compressed variants. */
  bytes: number;
  /** False while the file is "racy" (see RACY_MARGIN_MS); a racy version is never shared. */
  trusted: boolean;
  readonly raw: Document;

  constructor(
    /** Its key in the cache: identity and media type (see `versionKey`). */
    readonly key: string,
    readonly identity: Identity,
    readonly meta: FileMeta,
    body: Buffer,
    readAt: number,
    grow: (version: FileVersion, bytes: number) => void,
  ) {
    this.trusted = isTrusted(identity, readAt);
    this.raw = new Document(body, contentTag(body), meta, (bytes) => grow(this, bytes));
    this.bytes = body.length;
  }
}

/** One request path in the cache and the file version it leads to. */
export class CachedFile {
  /** Set on every hit; the eviction sweep gives used entries a second chance (CLOCK). */
  used = false;
  /** Bytes this entry holds besides its version (bookkeeping, the rewritten document). */
  bytes = ENTRY_OVERHEAD_BYTES;
  /** The turn in which a stat last found the file unchanged. */
  private checkedTurn = -1;
  rewritten: Document | undefined;

  constructor(
    /** The request path, still percent-encoded, that this entry answers (and the rewriter's urlPath). */
    readonly key: string,
    /** The path as requested, resolved again on every check (links on the way may change). */
    readonly lexicalPath: string,
    /** Where `lexicalPath` led, inside the root, when the file was opened. */
    readonly realPath: string,
    readonly media: MediaType,
    readonly version: FileVersion,
    /** For an `index.htm` entry: the `index.html` whose appearance makes this entry stale. */
    readonly shadowedBy: string | undefined,
    /** The folders below the root on a path without links; undefined when it led through links. */
    private readonly folders: readonly string[] | undefined,
  ) {}

  get raw(): Document {
    return this.version.raw;
  }

  get meta(): FileMeta {
    return this.version.meta;
  }

  /** Whether `stats`, of a descriptor just opened on `realPath`, are of this entry's version, which is trusted. */
  isVersionOf(realPath: string, stats: Stats): boolean {
    return this.realPath === realPath && this.version.trusted && sameIdentity(stats, this.version.identity);
  }

  /**
   * True when the path still leads to the cached version: one check per event-loop turn (see
   * `currentTurn`), plus a byte comparison on every hit while the file is racy.
   */
  isFresh(): boolean {
    const turn = currentTurn();
    const version = this.version;
    if (version.trusted && this.checkedTurn === turn) return true;
    if (!this.stillLeadsTo(version)) return false;
    if (version.trusted) this.checkedTurn = turn;
    return true;
  }

  /**
   * Containment first: the request path must still lead to the real path that was checked when
   * the file was opened, so a folder or the file swapped for a link out of the root is never
   * answered from memory, not even when the link leads to this very file moved out. Then that
   * path must hold the same file, unchanged.
   */
  private stillLeadsTo(version: FileVersion): boolean {
    const readAt = version.trusted ? 0 : Date.now();
    let stats: Stats | undefined;
    try {
      stats = this.folders === undefined ? this.statThroughLinks() : statWithoutLinks(this.folders, this.realPath);
    } catch {
      return false;
    }
    if (stats === undefined || !sameIdentity(stats, version.identity)) return false;
    if (this.shadowedBy !== undefined && existsSync(this.shadowedBy)) return false;
    if (version.trusted) return true;
    return reverify(version, this.realPath, readAt);
  }

  /** A path that led through links (inside the root) must still resolve to the same real path. */
  private statThroughLinks(): Stats | undefined {
    if (realpathSync.native(this.lexicalPath) !== this.realPath) return undefined;
    return statSync(this.realPath, STAT_OPTIONS);
  }
}

/**
 * The common case, a path without links below the root, checked as cheaply as it was served: an
 * lstat per folder below the root (each must still be a folder, not a link) and one of the file
 * (a link in its place has an identity of its own). A file at the root costs one lstat, as a
 * plain stat did; realpath would cost a system call per folder from `/` (about 8 µs here for a
 * file six levels down, against 1 µs for a stat).
 */
function statWithoutLinks(folders: readonly string[], path: string): Stats | undefined {
  for (const folder of folders) {
    const stats = lstatSync(folder, STAT_OPTIONS);
    if (stats === undefined || !stats.isDirectory()) return undefined;
  }
  return lstatSync(path, STAT_OPTIONS);
}

/** The folders between `root` and `path` (which is below it), outermost first. */
function foldersBetween(root: string, path: string): string[] {
  const folders: string[] = [];
  let from = root.endsWith(sep) ? root.length : root.length + 1;
  for (let at = path.indexOf(sep, from); at >= 0; at = path.indexOf(sep, from)) {
    folders.push(path.slice(0, at));
    from = at + 1;
  }
  return folders;
}

/** A racy version is read again, through a verified descriptor, and compared byte by byte. */
function reverify(version: FileVersion, realPath: string, readAt: number): boolean {
  let body: Buffer;
  try {
    const opened = openVerified(realPath);
    if (!('fd' in opened)) return false;
    try {
      if (!sameIdentity(opened.stats, version.identity)) return false;
      body = readAtMost(opened.fd, opened.stats.size);
    } finally {
      closeSync(opened.fd);
    }
  } catch {
    return false;
  }
  if (!body.equals(version.raw.body)) return false;
  version.trusted = isTrusted(version.identity, readAt);
  return true;
}

/** Everything needed to cache a file that `openSafePath` opened. */
export interface CachedFileInit extends OpenedFile {
  /** The request path. */
  readonly key: string;
  readonly root: string;
  readonly lexicalPath: string;
  readonly realPath: string;
  readonly media: MediaType;
  readonly shadowedBy: string | undefined;
}

/** Identity and media type: two paths to one file share a version only when typed alike. */
function versionKey(stats: Stats, media: MediaType): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${media.contentType}`;
}

function identityOf(stats: Stats): Identity {
  return { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs };
}

/** mtime counts too, for file systems without a change time (FAT reports ctime 0). */
function isTrusted(identity: Identity, readAt: number): boolean {
  return Math.max(identity.ctimeMs, identity.mtimeMs) < readAt - RACY_MARGIN_MS;
}

function sameIdentity(stats: Stats, identity: Identity): boolean {
  return (
    stats.mtimeMs === identity.mtimeMs &&
    stats.ctimeMs === identity.ctimeMs &&
    stats.size === identity.size &&
    stats.ino === identity.ino &&
    stats.dev === identity.dev
  );
}

/** An entity-tag core from the length and a content hash, so equal bytes give equal tags. */
export function contentTag(body: Buffer): string {
  const hash = createHash('sha1').update(body).digest('base64url').slice(0, 16);
  return `${body.length.toString(16)}-${hash}`;
}

/**
 * Small files by request path (the index the hot path looks up), each leading to a version of
 * the file kept once per file identity. Bounded in bytes and entries; eviction is CLOCK (second
 * chance), which approximates LRU while a hit only sets a flag.
 */
export class FileCache {
  private readonly entries = new Map<string, CachedFile>();
  private readonly versions = new Map<string, FileVersion>();
  private total = 0;
  private readonly growVersion = (version: FileVersion, bytes: number): void => {
    version.bytes += bytes;
    if (version.refs === 0) return;
    this.total += bytes;
    this.evict(undefined);
  };

  constructor(
    private readonly maxBytes = MAX_TOTAL_BYTES,
    private readonly maxEntries = MAX_ENTRIES,
    /** FileMeta.varies of pages (set when pages get live reload's client). */
    private readonly pageVaries?: string,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.total;
  }

  get(key: string): CachedFile | undefined {
    return this.entries.get(key);
  }

  /**
   * An entry for a file `openSafePath` opened. It shares the cached version of the same file
   * (and so its compressed variants) when that one is trusted, or when it is racy but holds the
   * bytes just read; otherwise the bytes read (at most the `fstat` size, from the descriptor,
   * which stays open) make a new version. The entry is not stored; `set` does that.
   */
  load(init: CachedFileInit): CachedFile {
    const key = versionKey(init.stats, init.media);
    const known = this.versions.get(key);
    let version: FileVersion;
    if (known !== undefined && known.trusted) {
      version = known;
    } else {
      const body = readAtMost(init.fd, init.stats.size);
      version = known !== undefined && known.raw.body.equals(body) ? known : this.version(init, key, body);
    }
    const folders = init.realPath === init.lexicalPath ? foldersBetween(init.root, init.realPath) : undefined;
    return new CachedFile(init.key, init.lexicalPath, init.realPath, init.media, version, init.shadowedBy, folders);
  }

  set(entry: CachedFile): void {
    this.delete(entry.key);
    this.entries.set(entry.key, entry);
    this.total += entry.bytes;
    this.hold(entry.version);
    this.evict(entry);
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.total -= old.bytes;
    this.release(old.version);
  }

  /** Accounts bytes an entry gained (its rewritten document and that one's compressed variants). */
  grow(entry: CachedFile, bytes: number): void {
    entry.bytes += bytes;
    if (this.entries.get(entry.key) !== entry) return;
    this.total += bytes;
    this.evict(entry);
  }

  clear(): void {
    for (const entry of this.entries.values()) entry.version.refs = 0;
    this.entries.clear();
    this.versions.clear();
    this.total = 0;
  }

  private version(init: CachedFileInit, key: string, body: Buffer): FileVersion {
    const { stats, media } = init;
    const contentType = contentTypeOf(media, body);
    const meta = fileMeta(stats.mtimeMs, contentType, media.compressible, media.html ? this.pageVaries : undefined);
    return new FileVersion(key, identityOf(stats), meta, body, init.statAt, this.growVersion);
  }

  private hold(version: FileVersion): void {
    if (version.refs++ > 0) return;
    this.total += version.bytes;
    this.versions.set(version.key, version);
  }

  private release(version: FileVersion): void {
    if (--version.refs > 0) return;
    this.total -= version.bytes;
    if (this.versions.get(version.key) === version) this.versions.delete(version.key);
  }

  private evict(keep: CachedFile | undefined): void {
    let budget = this.entries.size * 2;
    while ((this.total > this.maxBytes || this.entries.size > this.maxEntries) && budget-- > 0) {
      const oldest = this.entries.values().next();
      if (oldest.done === true) return;
      const entry = oldest.value;
      if (entry === keep || entry.used) {
        // Second chance: move to the young end.
        entry.used = false;
        this.entries.delete(entry.key);
        this.entries.set(entry.key, entry);
        continue;
      }
      this.delete(entry.key);
    }
  }
}
