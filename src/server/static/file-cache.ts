import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, type Stats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { declaredCharset } from '../html/charset';
import type { MediaType } from './content-type';
import { Document, fileMeta, type FileMeta } from './representation';

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

/** One small file held in memory under the request path it was asked for. */
export class CachedFile {
  /** Set on every hit; the eviction sweep gives used entries a second chance (CLOCK). */
  used = false;
  /** Bytes this entry holds, for the cache limit. */
  bytes: number;
  /** False while the file is "racy" (see RACY_MARGIN_MS). */
  trusted: boolean;
  /** The turn in which a stat last found the file unchanged. */
  private checkedTurn = -1;
  rewritten: Document | undefined;
  readonly raw: Document;

  constructor(
    /** The request path, still percent-encoded, that this entry answers (and the rewriter's urlPath). */
    readonly key: string,
    /** The path stat'ed on every hit; symlinks on the way are followed again each time. */
    readonly lexicalPath: string,
    readonly media: MediaType,
    private identity: Identity,
    readonly meta: FileMeta,
    body: Buffer,
    readAt: number,
    /** For an `index.htm` entry: the `index.html` whose appearance makes this entry stale. */
    readonly shadowedBy: string | undefined,
    grow: (entry: CachedFile, bytes: number) => void,
  ) {
    this.trusted = isTrusted(identity, readAt);
    this.raw = new Document(body, contentTag(body), meta, (bytes) => grow(this, bytes));
    this.bytes = body.length + ENTRY_OVERHEAD_BYTES;
  }

  /**
   * True when the file on disk is still the cached one: a stat per event-loop turn (see
   * `currentTurn`), plus a byte comparison on every hit while the file is racy.
   */
  isFresh(): boolean {
    const turn = currentTurn();
    if (this.trusted && this.checkedTurn === turn) return true;
    if (!this.statFresh()) return false;
    if (this.trusted) this.checkedTurn = turn;
    return true;
  }

  private statFresh(): boolean {
    const readAt = this.trusted ? 0 : Date.now();
    let stats: Stats | undefined;
    try {
      stats = statSync(this.lexicalPath, STAT_OPTIONS);
    } catch {
      return false;
    }
    if (stats === undefined || !sameIdentity(stats, this.identity)) return false;
    if (this.shadowedBy !== undefined && existsSync(this.shadowedBy)) return false;
    if (this.trusted) return true;
    return this.reverify(readAt);
  }

  private reverify(readAt: number): boolean {
    let body: Buffer;
    try {
      body = readFileSync(this.lexicalPath);
    } catch {
      return false;
    }
    if (!body.equals(this.raw.body)) return false;
    this.trusted = isTrusted(this.identity, readAt);
    return true;
  }
}

/** Charset labels are tokens; anything else in a page's declaration is not repeated in a header. */
const CHARSET_LABEL = /^[A-Za-z0-9._:-]{1,40}$/;

/**
 * HTML says which charset it is in (a byte order mark or `<meta charset>`), and a header charset
 * would override that declaration (HTML "determining the character encoding"), garbling GBK or
 * Shift_JIS pages; so the header repeats the page's own declaration, and UTF-8 is assumed only
 * for pages that declare nothing.
 */
function htmlContentType(body: Buffer): string {
  const declared = declaredCharset(body);
  return declared !== undefined && CHARSET_LABEL.test(declared)
    ? `text/html; charset=${declared.toLowerCase()}`
    : 'text/html; charset=utf-8';
}

let turn = 0;
let turnEnding = false;
let hitsThisTurn = 0;
let turnStartedAt = 0;
/** A turn never covers more hits, or more time, than this, whatever the poll phase does. */
const MAX_HITS_PER_TURN = 32;
const MAX_TURN_MS = 1;

function endTurn(): void {
  turn++;
  turnEnding = false;
  hitsThisTurn = 0;
}

/**
 * The current event-loop turn, for sharing one stat among the requests of a poll phase.
 *
 * Why that never serves an edit late: every request handled in a poll phase had arrived by the
 * time that phase's readiness was reported, which is before the first stat of the phase. So a
 * request sent after a write completed is handled in a later phase, after the turn has ended
 * (setImmediate runs right after the poll phase), and gets a stat of its own. A request that
 * was still arriving during the write was concurrent with it and may see either version. The
 * caps on hits and time per turn (32 hits, 1 ms) bound the cases where a turn could outlive its
 * poll phase: libuv polling again inside the same phase (more than a thousand ready sockets at
 * once), or a hit outside the poll phase.
 */
function currentTurn(): number {
  const now = performance.now();
  if (!turnEnding) {
    turnEnding = true;
    turnStartedAt = now;
    setImmediate(endTurn).unref();
  } else if (++hitsThisTurn > MAX_HITS_PER_TURN || now - turnStartedAt > MAX_TURN_MS) {
    endTurn();
    turnEnding = true;
    turnStartedAt = now;
  }
  return turn;
}

/**
 * Reads a small file into a cache entry. `stats` must come from a stat of `lexicalPath` made
 * after `statAt` (a Date.now() value) and before the read.
 */
export function readCachedFile(
  init: CachedFileInit,
  grow: (entry: CachedFile, bytes: number) => void,
): CachedFile {
  const body = readFileSync(init.realPath);
  const { stats } = init;
  const identity: Identity = {
    dev: stats.dev,
    ino: stats.ino,
    size: stats.size,
    mtimeMs: stats.mtimeMs,
    ctimeMs: stats.ctimeMs,
  };
  const contentType = init.media.html ? htmlContentType(body) : init.media.contentType;
  const meta = fileMeta(stats.mtimeMs, contentType, init.media.compressible);
  return new CachedFile(
    init.key,
    init.lexicalPath,
    init.media,
    identity,
    meta,
    body,
    init.statAt,
    init.shadowedBy,
    grow,
  );
}

/** Everything readCachedFile needs to know about a file that passed the path checks. */
export interface CachedFileInit {
  readonly key: string;
  readonly lexicalPath: string;
  readonly realPath: string;
  readonly media: MediaType;
  readonly stats: Stats;
  readonly statAt: number;
  readonly shadowedBy: string | undefined;
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
function contentTag(body: Buffer): string {
  const hash = createHash('sha1').update(body).digest('base64url').slice(0, 16);
  return `${body.length.toString(16)}-${hash}`;
}

/**
 * Small files by request path, bounded in bytes and entries. Eviction is CLOCK (second chance),
 * which approximates LRU while a hit only sets a flag.
 */
export class FileCache {
  private readonly entries = new Map<string, CachedFile>();
  private total = 0;

  constructor(
    private readonly maxBytes = MAX_TOTAL_BYTES,
    private readonly maxEntries = MAX_ENTRIES,
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

  set(entry: CachedFile): void {
    this.delete(entry.key);
    this.entries.set(entry.key, entry);
    this.total += entry.bytes;
    this.evict(entry);
  }

  delete(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.total -= old.bytes;
  }

  /** Accounts bytes an entry gained (a compressed or rewritten variant). */
  grow(entry: CachedFile, bytes: number): void {
    entry.bytes += bytes;
    if (this.entries.get(entry.key) !== entry) return;
    this.total += bytes;
    this.evict(entry);
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private evict(keep: CachedFile): void {
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
