import { closeSync, constants, existsSync, fstatSync, openSync, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { describeType, fsFailure, resolveSafePath, type PathFailure, type PathRedirect } from './paths';

/** A regular file opened once and verified; whoever holds it closes `fd` (or hands it on). */
export interface OpenedFile {
  readonly kind: 'file';
  readonly fd: number;
  /** `fstat` of `fd`: the file that will be read, whatever happens to its path now. */
  readonly stats: Stats;
  /** Date.now() taken just before `stats`. */
  readonly statAt: number;
}

/** A folder; nothing is held open for it. */
export interface OpenedFolder {
  readonly kind: 'folder';
}

const FOLDER: OpenedFolder = Object.freeze({ kind: 'folder' });

/** Where a request path led: opened, with the paths that lead there. */
export type OpenedPath = (OpenedFile | OpenedFolder) & {
  readonly ok: true;
  /** The real path that was opened (symlinks resolved), inside the root. */
  readonly realPath: string;
  /** The root joined with the decoded segments, before symlinks are resolved. */
  readonly lexicalPath: string;
};

/**
 * The one path-safety function: every file the static handler serves, index files and pages
 * rewritten for live reload included, is reached through it. It checks the URL path
 * (`resolveSafePath`: decoding, `..`, dotfiles, links out of the root), then opens the real
 * path once (`openVerified`); the caller reads and `fstat`s only that descriptor, so nothing
 * is resolved again between the check and the use. A file's descriptor is the caller's to close.
 */
export function openSafePath(root: string, urlPath: string, showDotfiles: boolean): OpenedPath | PathFailure | PathRedirect {
  const safe = resolveSafePath(root, urlPath, showDotfiles);
  if (!safe.ok) return safe;
  const opened = openVerified(safe.path);
  if ('ok' in opened) return opened;
  return { ...opened, ok: true, realPath: safe.path, lexicalPath: safe.lexicalPath };
}

/**
 * macOS 11+ `O_NOFOLLOW_ANY` (xnu sys/fcntl.h): open fails with ELOOP when any component of
 * the path is a symlink, so a path with no links cannot be redirected by swapping a folder on
 * the way for a link. Node does not export it. Linux has no such open flag (only openat2's
 * RESOLVE_NO_SYMLINKS), so there the descriptor's path is asked of /proc instead.
 */
const O_NOFOLLOW_ANY = 0x20000000;
let nofollowAny = process.platform === 'darwin' ? O_NOFOLLOW_ANY : 0;

/**
 * Never blocks: O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer
 * (reads of regular files ignore it); O_NOFOLLOW refuses a last component that became a link;
 * O_NOCTTY keeps a terminal swapped in from becoming the process's controlling terminal.
 * Windows has none of these (undefined there), and no FIFOs or device files to meet in a folder.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0) | (constants.O_NOCTTY ?? 0);

let procFd: string | false | undefined;

/** `/proc/self/fd/` where the kernel tells which path a descriptor is open on (Linux). */
function procFdPrefix(): string | false {
  procFd ??= process.platform === 'linux' && existsSync('/proc/self/fd') ? '/proc/self/fd/' : false;
  return procFd;
}

/**
 * Opens `realPath`, a path already resolved by realpath and checked to lie inside the root, so
 * that what is read is that path and nothing a link leads to since: the last component must not
 * be a link (O_NOFOLLOW), and the descriptor must still be open on `realPath` afterwards
 * (see `isOpenOn`). Then `fstat`s the descriptor and keeps it only for a regular file: a FIFO,
 * a socket or a device is 404, because reading one can block or never end.
 */
export function openVerified(realPath: string): OpenedFile | OpenedFolder | PathFailure {
  let fd: number;
  try {
    fd = openSync(realPath, OPEN_FLAGS | nofollowAny);
  } catch (error) {
    return openFailure(error, realPath);
  }
  try {
    const statAt = Date.now();
    const stats = fstatSync(fd);
    if (!isOpenOn(fd, realPath, stats)) {
      closeSync(fd);
      return fail(`${realPath} was replaced or moved while it was opened`);
    }
    if (stats.isFile()) return { kind: 'file', fd, stats, statAt };
    closeSync(fd);
    return stats.isDirectory() ? FOLDER : fail(`${realPath} is ${describeType(stats)}, not a regular file`);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function openFailure(error: unknown, realPath: string): OpenedFile | OpenedFolder | PathFailure {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EISDIR':
      // Windows opens no folders; the path was just resolved as one.
      return FOLDER;
    case 'ELOOP':
    case 'EMLINK':
      // O_NOFOLLOW(_ANY) met a link (EMLINK on FreeBSD): something changed since realpath.
      return fail(`${realPath} was replaced by a link while it was opened`);
    case 'ENXIO':
    case 'EOPNOTSUPP':
      return fail(`${realPath} is a socket or device, not a regular file`);
    case 'EINVAL':
      if (nofollowAny !== 0) {
        // A macOS before 11 that refuses the flag: fall back to the check after opening.
        nofollowAny = 0;
        return openVerified(realPath);
      }
      return fsFailure(error, realPath);
    default:
      return fsFailure(error, realPath);
  }
}

/**
 * True when `fd` is open on `realPath`, so no link swapped in between realpath and open (a
 * folder on the way replaced by a link, the file by a link) sent the open elsewhere. Linux says
 * it exactly through /proc; with O_NOFOLLOW_ANY the kernel already refused every link on the
 * way. Elsewhere (Windows) the path must still resolve to itself and to this file: a swap and a
 * swap back between open and this check would pass, so there the check is narrower, not exact.
 */
function isOpenOn(fd: number, realPath: string, stats: Stats): boolean {
  const prefix = procFdPrefix();
  if (prefix !== false) {
    try {
      return readlinkSync(prefix + fd) === realPath;
    } catch {
      return false;
    }
  }
  if (nofollowAny !== 0) return true;
  try {
    const now = statSync(realPath);
    return realpathSync.native(realPath) === realPath && now.ino === stats.ino && now.dev === stats.dev;
  } catch {
    return false;
  }
}

/**
 * The first `size` bytes of an opened regular file, read from its descriptor (fewer when it
 * shrank meanwhile): never more than the `fstat` said, so a file that grows without end cannot
 * grow the server's memory with it. Reads at explicit positions; the descriptor's offset is unused.
 */
export function readAtMost(fd: number, size: number): Buffer {
  // Not from the shared pool: cached bodies live long and would pin 8 KiB pool slabs.
  const body = Buffer.allocUnsafeSlow(size);
  let filled = 0;
  while (filled < size) {
    const read = readSync(fd, body, filled, size - filled, filled);
    if (read === 0) break;
    filled += read;
  }
  return filled === size ? body : body.subarray(0, filled);
}

function fail(reason: string): PathFailure {
  return { ok: false, status: 404, reason };
}
