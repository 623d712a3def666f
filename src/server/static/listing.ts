import { constants, type Dirent, type Stats } from 'node:fs';
import { lstat, open, opendir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { escapeHtml } from './html';
import { hasDotSegment, isInside } from './paths';

/** One row of a folder listing. */
export interface ListingEntry {
  readonly name: string;
  readonly folder: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The rows of a listing and how many entries the folder has; more than the rows when cut. */
export interface Listing {
  readonly entries: readonly ListingEntry[];
  readonly total: number;
}

/**
 * Most rows in one listing. 5,000 rows are a page of about 1 MB that a browser shows at once,
 * and cost at most 5,000 stats; a folder of 50,000 files took 0.7 s of event loop per listing
 * when every entry was stat'ed, sorted and rendered. Past the cap the page says so.
 */
export const MAX_LISTED = 5000;
/** Entries read per directory read, and stats in flight per listing (the thread pool has 4). */
const DIR_BUFFER = 256;
const STAT_BATCH = 32;

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** A folder entry that may be listed; `stats` is known early only for links, to sort them. */
interface Candidate {
  readonly name: string;
  readonly folder: boolean;
  readonly stats: Stats | undefined;
}

/**
 * The first `limit` entries of `folder`, folders first, each group in natural order, read
 * without blocking the event loop: names come in batches from an async directory read, at most
 * 2 × `limit` are held (see FirstInOrder), and only the rows kept are stat'ed, in batches.
 *
 * An entry is listed exactly when it would be served: dot names only with `showDotfiles`, only
 * regular files and folders, and a symlink only when its target is one of those inside `root`
 * (and not hidden); a link out of the root, to a hidden file or broken is left out.
 */
export async function readListing(folder: string, root: string, showDotfiles: boolean, limit = MAX_LISTED): Promise<Listing> {
  const opened = await openFolder(folder);
  try {
    return await readEntries(opened.base, root, showDotfiles, limit);
  } finally {
    await opened.close();
  }
}

/**
 * The path to read a folder's entries through. On Linux it is the folder's descriptor, opened
 * without following a link and checked to be open on `folder`, as `/proc/self/fd/N`: a folder
 * swapped for a link to elsewhere while it is listed is never read (touch a file once, as
 * open-file.ts does for files). Elsewhere it is the path itself.
 */
async function openFolder(folder: string): Promise<{ base: string; close: () => Promise<void> }> {
  if (process.platform !== 'linux') return { base: folder, close: async () => undefined };
  const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    // A link where the folder was (ELOOP) is, like a vanished folder, nothing to list.
    throw error.code === 'ELOOP' ? Object.assign(new Error(`${folder} is now a link`), { code: 'ENOENT' }) : error;
  });
  const base = `/proc/self/fd/${handle.fd}`;
  try {
    if ((await readlink(base)) !== folder) throw Object.assign(new Error(`${folder} was replaced while it was listed`), { code: 'ENOENT' });
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { base, close: () => handle.close() };
}

async function readEntries(folder: string, root: string, showDotfiles: boolean, limit: number): Promise<Listing> {
  const describeIn = (name: string): Promise<Stats | undefined> => describe(join(folder, name), root, showDotfiles);
  const selection = new FirstInOrder(limit);
  let links: string[] = [];
  const offerLinks = async (): Promise<void> => {
    const described = await Promise.all(links.map(describeIn));
    described.forEach((stats, i) => {
      if (stats !== undefined) selection.offer({ name: links[i] as string, folder: stats.isDirectory(), stats });
    });
    links = [];
  };
  for await (const dirent of await opendir(folder, { bufferSize: DIR_BUFFER })) {
    const name = dirent.name;
    if (!showDotfiles && name.charCodeAt(0) === 46 /* . */) continue;
    // No request can name it: paths.ts refuses a backslash (a separator on Windows) everywhere.
    if (name.includes('\\')) continue;
    if (dirent.isFile() || dirent.isDirectory()) {
      selection.offer({ name, folder: dirent.isDirectory(), stats: undefined });
    } else if (!isSpecial(dirent)) {
      // A link sorts as what it points to, so it is described before it is offered (as is an
      // entry of unknown type: some file systems do not report types).
      links.push(name);
      if (links.length >= STAT_BATCH) await offerLinks();
    }
  }
  await offerLinks();
  const kept = selection.first();
  const entries: ListingEntry[] = [];
  for (let i = 0; i < kept.length; i += STAT_BATCH) {
    const batch = kept.slice(i, i + STAT_BATCH);
    const stats = await Promise.all(batch.map((c) => c.stats ?? describeIn(c.name)));
    batch.forEach(({ name }, j) => {
      const found = stats[j];
      // An entry gone or changed since it was read is left out.
      if (found !== undefined) entries.push({ name, folder: found.isDirectory(), size: found.size, mtimeMs: found.mtimeMs });
    });
  }
  return { entries, total: selection.total - (kept.length - entries.length) };
}

/**
 * The first `limit` candidates in listing order of all those offered, holding at most
 * 2 × `limit`: when full, they are sorted and cut to `limit`. After a cut, a candidate that
 * sorts after the last one kept can never be listed and costs one comparison (for 50,000 names
 * in directory order, 117,000 comparisons instead of 264,000).
 */
class FirstInOrder {
  total = 0;
  private readonly kept: Candidate[] = [];
  private last: Candidate | undefined;

  constructor(private readonly limit: number) {}

  offer(candidate: Candidate): void {
    this.total++;
    if (this.last !== undefined && listingOrder(candidate, this.last) > 0) return;
    this.kept.push(candidate);
    if (this.kept.length >= 2 * this.limit) this.cut();
  }

  first(): readonly Candidate[] {
    this.cut();
    return this.kept;
  }

  private cut(): void {
    this.kept.sort(listingOrder);
    if (this.kept.length > this.limit) this.kept.length = this.limit;
    this.last = this.kept[this.limit - 1];
  }
}

/** FIFOs, sockets and devices are never served, so never listed. */
function isSpecial(dirent: Dirent): boolean {
  return dirent.isFIFO() || dirent.isSocket() || dirent.isBlockDevice() || dirent.isCharacterDevice();
}

/**
 * The stats shown for the entry at `path`, or undefined when it is not listed: not a regular
 * file or folder, or a link whose real path is outside `root`, hidden, or missing (the same
 * rules as resolveSafePath, so a listed link is one that is served).
 */
async function describe(path: string, root: string, showDotfiles: boolean): Promise<Stats | undefined> {
  try {
    let stats = await lstat(path);
    if (stats.isSymbolicLink()) {
      const real = await realpath(path);
      if (!isInside(root, real) || (!showDotfiles && hasDotSegment(relative(root, real)))) return undefined;
      stats = await stat(real);
    }
    return stats.isFile() || stats.isDirectory() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function listingOrder(a: Candidate, b: Candidate): number {
  if (a.folder !== b.folder) return a.folder ? -1 : 1;
  return collator.compare(a.name, b.name) || compareCodeUnits(a.name, b.name);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The listing page for the folder at `urlPath` (decoded, ending in "/"). Every link is relative
 * and percent-encoded, so the page works under any path prefix; names are HTML-escaped. A cut
 * listing says how many entries it shows of how many.
 */
export function renderListing(urlPath: string, listing: Listing): Buffer {
  const { entries, total } = listing;
  const title = `Index of ${escapeHtml(urlPath)}`;
  const rows: string[] = [];
  if (urlPath !== '/') rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const entry of entries) rows.push(renderRow(entry));
  if (entries.length === 0) rows.push('<tr><td class="empty" colspan="3">This folder is empty.</td></tr>');
  const note =
    total > entries.length
      ? `<p class="note">Showing the first ${entries.length.toLocaleString('en')} of ${total.toLocaleString('en')} entries ` +
        '(folders first, then by name). The others are served at their address but not listed.</p>\n'
      : '';
  return Buffer.from(
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
      `<title>${title}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<h1>${title}</h1>\n${note}` +
      '<table>\n<thead><tr><th>Name</th><th class="size">Size</th><th>Modified</th></tr></thead>\n<tbody>\n' +
      rows.join('\n') +
      '\n</tbody>\n</table>\n</body>\n</html>\n',
  );
}

function renderRow(entry: ListingEntry): string {
  const label = escapeHtml(entry.folder ? `${entry.name}/` : entry.name);
  // A leading "./" keeps a name with ":" from reading as a URI scheme (RFC 3986 section 4.2).
  const href = `./${encodeURIComponent(entry.name)}${entry.folder ? '/' : ''}`;
  const size = entry.folder ? '' : formatSize(entry.size);
  const iso = new Date(entry.mtimeMs).toISOString();
  const modified = iso.slice(0, 16).replace('T', ' ');
  const cls = entry.folder ? ' class="folder"' : '';
  return (
    `<tr><td><a${cls} href="${escapeHtml(href)}">${label}</a></td>` +
    `<td class="size">${size}</td><td><time datetime="${iso}">${modified}</time></td></tr>`
  );
}

/** Bytes in binary units with one decimal, e.g. "1.5 KiB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

const STYLE =
  'body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}' +
  'h1{font-size:1.3rem;font-weight:600;word-break:break-all}' +
  'table{border-collapse:collapse;width:100%}' +
  'th,td{text-align:left;padding:.25rem .75rem .25rem 0;border-bottom:1px solid #eee;white-space:nowrap}' +
  'td:first-child{white-space:normal;word-break:break-all;width:100%}' +
  '.size{text-align:right}a{color:#0b62c4;text-decoration:none}a:hover{text-decoration:underline}' +
  'a.folder{font-weight:600}.empty{color:#777;font-style:italic}time{color:#555}' +
  '.note{background:#fff8e1;border-left:3px solid #f0b400;padding:.5rem .75rem}' +
  '@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}th,td{border-color:#333}' +
  'a{color:#6cb6ff}time{color:#aaa}.note{background:#3a3000}}';
