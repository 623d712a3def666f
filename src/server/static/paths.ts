import { realpathSync, statSync, type Stats } from 'node:fs';
import { relative, sep } from 'node:path';
import { decodeTargetText } from '../url-path';

/** Where a URL path leads inside the root, or why it leads nowhere. */
export type SafePath =
  | {
      readonly ok: true;
      /** The real path (symlinks resolved); always the root or below it. */
      readonly path: string;
      /** The root joined with the decoded segments, before symlinks are resolved. */
      readonly lexicalPath: string;
    }
  | PathFailure
  | PathRedirect;

export interface PathFailure {
  readonly ok: false;
  readonly status: 400 | 403 | 404 | 414;
  readonly reason: string;
}

/** A path spelled with empty or `.` segments: answered with a redirect to its one spelling. */
export interface PathRedirect {
  readonly ok: false;
  readonly status: 301;
  /** A relative reference to the canonical spelling (no query), as the Location field. */
  readonly location: string;
  /** The canonical spelling itself, from `/`, still percent-encoded. */
  readonly canonical: string;
  readonly reason: string;
}

const isWindows = process.platform === 'win32';
// Names Windows maps to devices in every folder, with or without an extension.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)(\..*)?$/i;

/**
 * The path checks of the one path-safety function, `openSafePath` (open-file.ts), which every
 * file lookup of the static handler goes through; this part never opens anything.
 *
 * `urlPath` is the request path still percent-encoded (no query). Each segment is decoded
 * exactly once; invalid encoding, NUL bytes, backslashes and encoded slashes (`%2F`) are 400: a
 * backslash is a separator on Windows, so it is refused on every platform to behave the same
 * everywhere, and `a%2Fb` would otherwise name the same file as `a/b` while being one segment
 * to the browser. A `..` segment, sent literally or encoded (`%2e%2e`), is 400: browsers remove
 * dot segments before sending (RFC 3986 section 5.2.4), so only hand-made requests contain
 * them. Empty and `.` segments (`//app.js`, `/./app.js`) answer a redirect to the spelling
 * without them, so that each file has one URL (and one cache entry). Dotfiles and dot-folders
 * anywhere in the path are 404 unless `showDotfiles`. The joined path must be the root or start
 * with `root + sep` (so `/root-evil` is outside), and so must its real path, which catches
 * symlinks that leave the root (404). Missing files are 404 with the absolute path in `reason`.
 */
export function resolveSafePath(root: string, urlPath: string, showDotfiles: boolean): SafePath {
  const decoded = decodeSegments(urlPath, showDotfiles);
  if (!('segments' in decoded)) return decoded;
  const { segments } = decoded;
  const lexicalPath = segments.length === 0 ? root : joinRoot(root, segments.join(sep));
  if (!isInside(root, lexicalPath)) return fail(400, 'path escapes the root');
  let real: string;
  try {
    // A missing path is common (a 404, or every request a WSGI app answers): stat says so
    // without an exception, which costs more than the lookup itself, before realpath.
    const stats = statSync(lexicalPath, { throwIfNoEntry: false });
    if (stats === undefined) return fail(404, `no file at ${lexicalPath}`);
    // A FIFO, socket or device is never opened: opening one can block, wake a writer waiting on
    // it or have effects of its own. (A file swapped for one after this is caught after the open.)
    if (!stats.isFile() && !stats.isDirectory()) return fail(404, `${lexicalPath} is ${describeType(stats)}, not a regular file or folder`);
    real = realpathSync.native(lexicalPath);
  } catch (error) {
    return fsFailure(error, lexicalPath);
  }
  if (!isInside(root, real)) return fail(404, `${lexicalPath} is a link to ${real}, outside the root`);
  if (!showDotfiles && real !== root && hasDotSegment(relative(root, real))) {
    return fail(404, `${lexicalPath} is a link to the hidden dotfile ${real}`);
  }
  return { ok: true, path: real, lexicalPath };
}

/**
 * Decodes each segment once and checks it; a failure, or the redirect for a non-canonical
 * spelling, is returned as is.
 */
function decodeSegments(urlPath: string, showDotfiles: boolean): { segments: string[] } | PathFailure | PathRedirect {
  if (urlPath.charCodeAt(0) !== 47 /* / */) return fail(400, 'path does not start with a slash');
  const raw = urlPath.split('/');
  const last = raw.length - 1;
  const segments: string[] = [];
  // The raw segments of the canonical spelling, from the first segment that it drops on.
  let kept: string[] | undefined;
  for (let i = 1; i <= last; i++) {
    const rawSegment = raw[i] as string;
    const segment = decodeSegment(rawSegment);
    if (typeof segment !== 'string') return segment;
    if (segment === '.' || (segment === '' && i < last)) {
      kept ??= raw.slice(1, i);
      continue;
    }
    if (segment === '') continue; // the trailing slash of a folder path
    const refused = refuseSegment(segment, showDotfiles);
    if (refused !== undefined) return refused;
    segments.push(segment);
    kept?.push(rawSegment);
  }
  if (kept === undefined) return { segments };
  const lastSegment = raw[last] as string;
  const folder = kept.length > 0 && (lastSegment === '' || decodeSegment(lastSegment) === '.');
  return canonicalRedirect(kept.join('/') + (folder ? '/' : ''), last - 1);
}

function decodeSegment(rawSegment: string): string | PathFailure {
  const segment = decodeTargetText(rawSegment);
  if (segment === undefined) return fail(400, 'path has invalid percent-encoding');
  if (segment.includes('/')) return fail(400, 'path contains an encoded slash (%2F)');
  if (segment.includes('\\')) return fail(400, 'path contains a backslash');
  if (segment.includes('\0')) return fail(400, 'path contains a NUL byte');
  if (segment === '..') return fail(400, 'path escapes the root');
  return segment;
}

function refuseSegment(segment: string, showDotfiles: boolean): PathFailure | undefined {
  if (!showDotfiles && segment.charCodeAt(0) === 46 /* . */) {
    return fail(404, `${segment} is a hidden dotfile or dot-folder`);
  }
  if (isWindows && (segment.includes(':') || WINDOWS_DEVICE.test(segment))) {
    return fail(400, 'path names a Windows stream or device');
  }
  return undefined;
}

/**
 * The redirect to `canonical` (the kept raw segments, without the leading slash) from a path
 * `depth` folders deep. The reference is relative, `../` once per folder of the path as sent
 * (RFC 3986 section 5.2.4 removes empty and `.` segments as it climbs, and stops at the root),
 * so it stays right behind a proxy that mounts the server under a path prefix.
 */
function canonicalRedirect(canonical: string, depth: number): PathRedirect {
  const up = '../'.repeat(depth);
  // With nothing to climb, "./" keeps an empty reference or a first segment with ":" (a URI
  // scheme, RFC 3986 section 4.2) from meaning something else.
  const location = up === '' ? `./${canonical}` : up + canonical;
  return { ok: false, status: 301, location, canonical: `/${canonical}`, reason: `non-canonical path, redirected to /${canonical}` };
}

/** `root` plus a relative path, without doubling the separator when the root is `/` or `C:\`. */
function joinRoot(root: string, rest: string): string {
  return root.endsWith(sep) ? root + rest : root + sep + rest;
}

/** True when `path` is `root` itself or below it; a bare `startsWith(root)` would admit `/root-evil`. */
export function isInside(root: string, path: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix);
}

/** True when a segment of `relativePath` starts with a dot: a dotfile or dot-folder. */
export function hasDotSegment(relativePath: string): boolean {
  for (const segment of relativePath.split(sep)) {
    if (segment.charCodeAt(0) === 46 /* . */) return true;
  }
  return false;
}

function fail(status: PathFailure['status'], reason: string): PathFailure {
  return { ok: false, status, reason };
}

/**
 * The response status for a file-system error on `path`: missing is 404, forbidden is 403, a
 * name too long is 404. Any other error is unexpected and rethrown (the connection answers 500).
 */
export function fsFailure(error: unknown, path: string): PathFailure {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return fail(404, `no file at ${path}`);
    case 'ENOTDIR':
      return fail(404, `no file at ${path} (a parent is not a folder)`);
    case 'EACCES':
    case 'EPERM':
      return fail(403, `permission denied for ${path}`);
    case 'ELOOP':
      return fail(404, `no file at ${path} (a loop of links)`);
    case 'ENAMETOOLONG':
      // No file can have that name; the URI itself is not too long, and an SPA route may be.
      return fail(404, `no file at ${path} (a name longer than the file system allows)`);
    default:
      throw error;
  }
}

/** What a path that is no regular file or folder is, for a 404's reason. */
export function describeType(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a file';
}
