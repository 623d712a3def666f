import { statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { statusText } from '../../http/status';
import { PLAIN_TEXT_HEADERS, type Disposable, type Request, type Response } from '../handler';
import { formatText } from '../log';
import { resolveSafePath } from '../static';
import { refusalReason } from './sse';

/**
 * Where pages send what they write to their console (media/reload-client.js): a POST of
 * `{"entries":[{"kind","page","text","source"?}...],"dropped"?}` as JSON.
 */
export const CONSOLE_PATH = '/.tiny-server/console';

/** The level a page's line is logged at. */
export type ConsoleLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * What wrote the line: a console method, an uncaught error, an unhandled promise rejection, or
 * the server itself saying how many lines it dropped (see ConsoleEndpoint).
 */
export type ConsoleKind = 'debug' | 'log' | 'info' | 'warn' | 'error' | 'uncaught' | 'rejection' | 'dropped';

/** Where the line came from: a file below the root, or a URL the server does not serve from a file. */
export type ConsoleSource =
  | { readonly file: string; readonly line: number; readonly column: number }
  | { readonly url: string; readonly line: number; readonly column: number };

/** One line of a page's console. */
export interface ConsoleEntry {
  readonly level: ConsoleLevel;
  readonly kind: ConsoleKind;
  /** The page's URL path below the served root, e.g. `/index.html`; empty for `dropped`. */
  readonly page: string;
  /** Rendered by the page (objects inspected, long values cut); may span lines. */
  readonly text: string;
  /** `file` is absolute, below the root as the server was given it. */
  readonly source?: ConsoleSource;
}

const LEVEL_OF: Readonly<Record<ConsoleKind, ConsoleLevel>> = {
  debug: 'debug',
  log: 'info',
  info: 'info',
  warn: 'warn',
  error: 'error',
  uncaught: 'error',
  rejection: 'error',
  dropped: 'warn',
};

/** What a page may send: the client keeps its batches below a quarter of this. */
export const MAX_CONSOLE_BODY = 256 * 1024;
/** Lines per second per server; the rest are counted and reported in one line. */
export const CONSOLE_LINES_PER_SECOND = 100;
/** A single line's text beyond this is cut (the client cuts at 8,000 chars already). */
const MAX_TEXT = 10_000;
const MAX_PATH = 2048;

interface Batch {
  readonly entries: readonly ClientEntry[];
  readonly dropped: number;
}

interface ClientEntry {
  readonly kind: Exclude<ConsoleKind, 'dropped'>;
  readonly page: string;
  readonly text: string;
  readonly source?: { readonly path?: string; readonly url?: string; readonly line: number; readonly column: number };
}

/** The endpoint of one server; `dispose` stops its timer. */
export interface ConsoleEndpoint extends Disposable {
  answer(request: Request): Response | Promise<Response>;
}

/**
 * Accepts console batches from the server's own pages (the event stream's origin check) and hands
 * each line to `onConsole`, at most CONSOLE_LINES_PER_SECOND a second: a page logging in a loop
 * must not flood VS Code's output channel. `roots` are the served folder as resolved and as given;
 * source files are named below the second.
 */
export function createConsoleEndpoint(roots: readonly [string, string], onConsole: (entry: ConsoleEntry) => void): ConsoleEndpoint {
  const cap = new RateCap(onConsole);
  const deliver = (batch: Batch): Response => {
    cap.dropped(batch.dropped);
    for (const entry of batch.entries) cap.offer(() => toEntry(roots, entry));
    return { status: 204, headers: {} };
  };
  return {
    answer: (request) => {
      if (request.method !== 'POST') return refuse(405, 'Console endpoint accepts POST only', { Allow: 'POST' });
      const reason = refusalReason(request, 'Console endpoint');
      if (reason !== undefined) return refuse(403, reason);
      if (request.bodyStream === undefined) return parseAndDeliver(request.body, deliver);
      return readCapped(request.bodyStream).then((body) => parseAndDeliver(body, deliver));
    },
    dispose: () => cap.dispose(),
  };
}

function refuse(status: 400 | 403 | 405 | 413, reason: string, headers: Record<string, string> = {}): Response {
  // A body larger than the cap may still be arriving: the connection closes rather than read it.
  return { status, headers: { ...PLAIN_TEXT_HEADERS, ...headers }, body: Buffer.from(`${status} ${statusText(status)}\n`), reason, close: status === 413 };
}

function parseAndDeliver(body: Buffer | undefined, deliver: (batch: Batch) => Response): Response {
  if (body === undefined || body.length > MAX_CONSOLE_BODY) return refuse(413, `Console batch larger than ${MAX_CONSOLE_BODY} bytes`);
  const batch = parseBatch(body);
  return typeof batch === 'string' ? refuse(400, batch) : deliver(batch);
}

/** The streamed body (while a WSGI app runs) up to MAX_CONSOLE_BODY; undefined beyond. */
async function readCapped(stream: Readable): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONSOLE_BODY) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const KINDS = new Set(['debug', 'log', 'info', 'warn', 'error', 'uncaught', 'rejection']);

/** The batch, or why it is refused. */
export function parseBatch(body: Buffer): Batch | string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 'Console batch is not JSON';
  }
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { entries?: unknown }).entries)) {
    return 'Console batch has no entries array';
  }
  const { entries, dropped } = value as { entries: unknown[]; dropped?: unknown };
  const parsed: ClientEntry[] = [];
  for (const entry of entries) {
    const checked = checkEntry(entry);
    if (checked === undefined) return 'Console batch has an invalid entry';
    parsed.push(checked);
  }
  const count = typeof dropped === 'number' && Number.isSafeInteger(dropped) && dropped > 0 ? dropped : 0;
  return { entries: parsed, dropped: count };
}

function checkEntry(value: unknown): ClientEntry | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, page, text, source } = value as Record<string, unknown>;
  if (typeof kind !== 'string' || !KINDS.has(kind) || typeof page !== 'string' || typeof text !== 'string') return undefined;
  const entry = { kind: kind as ClientEntry['kind'], page: page.slice(0, MAX_PATH), text: cut(text) };
  if (source === undefined || source === null) return entry;
  if (typeof source !== 'object') return undefined;
  const { path, url, line, column } = source as Record<string, unknown>;
  if (!isPosition(line) || !isPosition(column)) return undefined;
  // A source too long to show (a data: URL) is left out; the line is kept.
  if (typeof path === 'string' && path.startsWith('/')) return path.length <= MAX_PATH ? { ...entry, source: { path, line, column } } : entry;
  if (typeof url === 'string') return url.length <= MAX_PATH ? { ...entry, source: { url, line, column } } : entry;
  return undefined;
}

function isPosition(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function cut(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}… (${text.length - MAX_TEXT} more characters)`;
}

/** The entry as logged: the level from its kind, a URL path below the root named as a file. */
function toEntry([realRoot, root]: readonly [string, string], entry: ClientEntry): ConsoleEntry {
  const base = { level: LEVEL_OF[entry.kind], kind: entry.kind, page: entry.page, text: entry.text };
  const source = entry.source;
  if (source === undefined) return base;
  const { line, column } = source;
  if (source.path === undefined) return { ...base, source: { url: source.url ?? '', line, column } };
  const file = fileOf(realRoot, source.path);
  if (file === undefined) return { ...base, source: { url: source.path, line, column } };
  // The root as given, since that is the path the editor and the user know the workspace by.
  return { ...base, source: { file: join(root, relative(realRoot, file)), line, column } };
}

/**
 * The file a URL path names, through the one path-safety function (display only: nothing is
 * opened). A folder's URL names its index file, in the static handler's order.
 */
function fileOf(realRoot: string, urlPath: string): string | undefined {
  try {
    const safe = resolveSafePath(realRoot, urlPath, true);
    if (!safe.ok) return undefined;
    if (!urlPath.endsWith('/')) return safe.lexicalPath;
    for (const name of ['index.html', 'index.htm']) {
      const index = join(safe.lexicalPath, name);
      if (statSync(index, { throwIfNoEntry: false })?.isFile() === true) return index;
    }
  } catch {
    // ENOTDIR, EACCES and the like: the line keeps its URL, and the rest of the batch is logged.
  }
  return undefined;
}

/**
 * At most `perSecond` lines in each second that starts with a line; what is beyond is counted,
 * and when the second ends one `dropped` line says how many.
 */
class RateCap implements Disposable {
  private passed = 0;
  private droppedCount = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: (entry: ConsoleEntry) => void,
    private readonly perSecond = CONSOLE_LINES_PER_SECOND,
  ) {}

  /** Counts lines the page itself dropped (its queue was full). */
  dropped(count: number): void {
    if (count === 0) return;
    this.open();
    this.droppedCount += count;
  }

  offer(make: () => ConsoleEntry): void {
    this.open();
    if (this.passed >= this.perSecond) {
      this.droppedCount++;
      return;
    }
    this.passed++;
    this.sink(make());
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private open(): void {
    if (this.timer !== undefined) return;
    this.passed = 0;
    this.timer = setTimeout(() => this.close(), 1000);
    this.timer.unref();
  }

  private close(): void {
    this.timer = undefined;
    if (this.droppedCount === 0) return;
    const count = this.droppedCount;
    this.droppedCount = 0;
    const text = `Dropped ${count} console ${count === 1 ? 'line' : 'lines'}: pages may log ${this.perSecond} lines a second`;
    this.sink({ level: 'warn', kind: 'dropped', page: '', text });
  }
}

const WHAT: Readonly<Record<ConsoleKind, string>> = {
  debug: 'console.debug',
  log: 'console.log',
  info: 'console.info',
  warn: 'console.warn',
  error: 'console.error',
  uncaught: 'uncaught error',
  rejection: 'unhandled rejection',
  dropped: 'console',
};

/**
 * One entry as a log message: `/index.html console.log: text (index.html:12:5)`, the location
 * as `nameFile` writes the file (relative for a terminal, absolute where VS Code makes it a
 * link). Controls in the page's text are escaped as in request lines, so a page cannot move a
 * terminal's cursor; further lines of the text are indented.
 */
export function formatConsoleEntry(entry: ConsoleEntry, nameFile: (file: string) => string): string {
  const lines = entry.text.split('\n').map(formatText);
  const source = entry.source;
  const at = source === undefined ? '' : ` (${formatText('file' in source ? nameFile(source.file) : source.url)}:${source.line}:${source.column})`;
  const head = entry.kind === 'dropped' ? '' : `${formatText(entry.page)} ${WHAT[entry.kind]}: `;
  return `${head}${lines[0] ?? ''}${at}${lines.slice(1).map((line) => `\n    ${line}`).join('')}`;
}

/** `file` relative to `root` with `/` separators, as a terminal line names it. */
export function relativeFile(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}
