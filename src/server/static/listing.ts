import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { escapeHtml } from './html';

/** One row of a folder listing. */
export interface ListingEntry {
  readonly name: string;
  readonly folder: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * The entries of `folder`, folders first, each group in natural order. Dot names are left out
 * unless `showDotfiles`; symlinks are described by their target, and broken ones are left out.
 */
export function readListing(folder: string, showDotfiles: boolean): ListingEntry[] {
  const entries: ListingEntry[] = [];
  for (const name of readdirSync(folder)) {
    if (!showDotfiles && name.startsWith('.')) continue;
    let stats;
    try {
      stats = statSync(join(folder, name), { throwIfNoEntry: false });
    } catch {
      continue;
    }
    if (stats === undefined) continue;
    entries.push({ name, folder: stats.isDirectory(), size: stats.size, mtimeMs: stats.mtimeMs });
  }
  return entries.sort((a, b) =>
    a.folder === b.folder ? collator.compare(a.name, b.name) || compareCodeUnits(a.name, b.name) : a.folder ? -1 : 1,
  );
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The listing page for the folder at `urlPath` (decoded, ending in "/"). Every link is relative
 * and percent-encoded, so the page works under any path prefix; names are HTML-escaped.
 */
export function renderListing(urlPath: string, entries: readonly ListingEntry[]): Buffer {
  const title = `Index of ${escapeHtml(urlPath)}`;
  const rows: string[] = [];
  if (urlPath !== '/') rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const entry of entries) rows.push(renderRow(entry));
  if (entries.length === 0) rows.push('<tr><td class="empty" colspan="3">This folder is empty.</td></tr>');
  return Buffer.from(
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
      `<title>${title}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<h1>${title}</h1>\n` +
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
  const modified = new Date(entry.mtimeMs).toISOString().slice(0, 16).replace('T', ' ');
  const cls = entry.folder ? ' class="folder"' : '';
  return (
    `<tr><td><a${cls} href="${escapeHtml(href)}">${label}</a></td>` +
    `<td class="size">${size}</td><td><time datetime="${new Date(entry.mtimeMs).toISOString()}">${modified}</time></td></tr>`
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
  '@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}th,td{border-color:#333}' +
  'a{color:#6cb6ff}time{color:#aaa}}';
