import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PLAIN_TEXT_HEADERS, type Disposable, type Handler, type Request, type Response } from '../handler';
import { urlPathOf } from '../url-path';
import type { HtmlRewriter } from '../static';
import { etagListMatchesWeakly } from '../../http/conditional';
import { CLIENT_FILE, createReloadRewriter, ENDPOINT_PATH, EVENTS_FILE, VERSION_PARAMETER } from './inject';
import { EventChannel, refusalReason } from './sse';
import { CONSOLE_PATH, createConsoleEndpoint, type ConsoleEntry } from './console';

export { watchTree } from './watch';
export { formatConsoleEntry, relativeFile, type ConsoleEntry, type ConsoleLevel } from './console';

/** Live reload for one server: the endpoint, the page rewriter and the change broadcast. */
export interface LiveReload {
  /** Answers the endpoint (client script and event stream), undefined for other paths. */
  readonly handler: Handler;
  /** Injects the client's script tag into pages. */
  readonly rewriter: HtmlRewriter;
  /**
   * Absolute file paths under the root that changed; bursts are merged into one event. `settled`
   * says the source waited for quiet itself (a pause in typing), so the event goes out at once,
   * with whatever else the burst holds.
   */
  notifyChanged(paths: readonly string[], settled?: boolean): void;
  /** Ends every event stream. */
  dispose(): void;
}

export interface LiveReloadOptions {
  /** The served folder as resolved and as given: a change source may name files either way. */
  readonly roots: readonly string[];
  /** Absolute path of media/reload-client.js. */
  readonly clientScriptPath: string;
  /**
   * Receives what pages write to their console; with it, pages get a client that forwards
   * (see scriptTag) and the console endpoint answers. Without it, neither.
   */
  readonly onConsole?: ((entry: ConsoleEntry) => void) | undefined;
  /**
   * Whether dotfiles are served. When not, changes to them (and to anything in a dot-folder) are
   * not announced: a page cannot show them, and their names are as hidden as their contents.
   */
  readonly showDotfiles: boolean;
}

/** Paths one change event names at most; more are sent as `/`, which pages read as "anything may have changed". */
export const MAX_EVENT_PATHS = 256;
/** A burst ends after this much quiet... */
const QUIET_MS = 60;
/** ...or this long after its first change, whichever comes first. */
const MAX_WAIT_MS = 200;
/** The endpoint's paths, joined once: every request is compared with them. */
const CLIENT_PATH = ENDPOINT_PATH + CLIENT_FILE;
const EVENTS_PATH = ENDPOINT_PATH + EVENTS_FILE;

/**
 * Live reload for one server. The client script is read once, here; each process gets a random
 * instance id that its hello event carries, so pages notice a restart and reload once.
 */
export function createLiveReload(options: LiveReloadOptions): LiveReload {
  const channel = new EventChannel(randomBytes(9).toString('base64url'));
  const client = loadClient(options.clientScriptPath);
  const batcher = new ChangeBatcher((paths, settled) => {
    const urlPaths = toUrlPaths(options.roots, paths, options.showDotfiles);
    // A build that writes thousands of files is one change of everything: each event, and the
    // recent ones every page's hello repeats, stays small (it was megabytes after such builds).
    if (urlPaths.length > MAX_EVENT_PATHS) channel.broadcastChange(['/']);
    else if (urlPaths.length > 0) channel.broadcastChange(urlPaths, settled);
  });
  const [realRoot = '', root = realRoot] = options.roots;
  const pageConsole = options.onConsole === undefined ? undefined : createConsoleEndpoint([realRoot, root], options.onConsole);
  const handler: Handler = (request) => {
    if (request.path === CLIENT_PATH) return client.answer(request);
    if (request.path === EVENTS_PATH) return openEvents(channel, request);
    if (pageConsole !== undefined && request.path === CONSOLE_PATH) return pageConsole.answer(request);
    return undefined;
  };
  let disposed = false;
  return {
    handler,
    rewriter: createReloadRewriter(pageConsole !== undefined, client.version),
    notifyChanged: (paths, settled = false) => {
      if (disposed) return;
      batcher.add(paths, settled);
      if (settled) batcher.flush();
    },
    dispose: () => {
      disposed = true;
      pageConsole?.dispose();
      batcher.dispose();
      channel.dispose();
    },
  };
}

const ALLOW = 'GET, HEAD';

function methodNotAllowed(request: Request): Response | undefined {
  if (request.method === 'GET' || request.method === 'HEAD') return undefined;
  return { status: 405, headers: { ...PLAIN_TEXT_HEADERS, Allow: ALLOW }, body: Buffer.from('Method not allowed\n'), reason: 'Reload endpoint accepts GET and HEAD only' };
}

function openEvents(channel: EventChannel, request: Request): Response {
  const refused = methodNotAllowed(request);
  if (refused !== undefined) return refused;
  const reason = refusalReason(request);
  if (reason !== undefined) {
    return { status: 403, headers: PLAIN_TEXT_HEADERS, body: Buffer.from('Forbidden\n'), reason };
  }
  return channel.open();
}

/** The live reload client's answer, and its version for the script tag's URL (see scriptTag). */
interface Client {
  readonly answer: (request: Request) => Response;
  readonly version: string | undefined;
}

/** Kept a year under the URL that names its version: those bytes never change. */
const VERSIONED = 'public, max-age=31536000, immutable';

/**
 * Reads the client once; a missing file (a broken package) is answered with 500 on each request.
 * Asked for under its current version it may be cached for good; under no version or an old one
 * (a page from before an update) it is answered with the current bytes and revalidated each time.
 */
function loadClient(path: string): Client {
  let body: Buffer;
  try {
    body = readFileSync(path);
  } catch (error) {
    const reason = `Cannot read the live reload client ${path}: ${(error as Error).message}`;
    const answer = (): Response => ({ status: 500, headers: PLAIN_TEXT_HEADERS, body: Buffer.from('Live reload client missing\n'), reason });
    return { answer, version: undefined };
  }
  const hash = createHash('sha1').update(body).digest('base64url').slice(0, 20);
  const etag = `"${hash}"`;
  const version = hash.slice(0, 12);
  const versionedQuery = `${VERSION_PARAMETER}=${version}`;
  const answer = (request: Request): Response => {
    const refused = methodNotAllowed(request);
    if (refused !== undefined) return refused;
    const cacheControl = request.query === versionedQuery ? VERSIONED : 'no-cache';
    const candidates = request.headers.get('if-none-match');
    if (candidates !== undefined && etagListMatchesWeakly(candidates, etag)) return { status: 304, headers: { ETag: etag, 'Cache-Control': cacheControl } };
    return { status: 200, headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': cacheControl, ETag: etag, 'X-Content-Type-Options': 'nosniff' }, body };
  };
  return { answer, version };
}

/**
 * Merges bursts (save all, a build writing many files) into one call: it fires once changes
 * have been quiet for QUIET_MS, and at most MAX_WAIT_MS after the first, so a steady stream of
 * writes still produces updates.
 */
export class ChangeBatcher implements Disposable {
  private pending = new Set<string>();
  /** Whether every pending path came from a source that waited for quiet itself (see add). */
  private allSettled = true;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly flushTo: (paths: string[], settled: boolean) => void,
    private readonly quietMs = QUIET_MS,
    private readonly maxWaitMs = MAX_WAIT_MS,
  ) {}

  /** `settled`: the source waited for quiet itself (a pause in typing; see LiveReload.notifyChanged). */
  add(paths: readonly string[], settled = false): void {
    if (paths.length === 0) return;
    for (const path of paths) this.pending.add(path);
    if (!settled) this.allSettled = false;
    if (this.quietTimer !== undefined) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
    this.quietTimer.unref();
    if (this.maxTimer === undefined) {
      this.maxTimer = setTimeout(() => this.flush(), this.maxWaitMs);
      this.maxTimer.unref();
    }
  }

  flush(): void {
    this.clearTimers();
    if (this.pending.size === 0) return;
    const paths = [...this.pending];
    const settled = this.allSettled;
    this.pending = new Set();
    this.allSettled = true;
    this.flushTo(paths, settled);
  }

  dispose(): void {
    this.clearTimers();
    this.pending.clear();
    this.allSettled = true;
  }

  private clearTimers(): void {
    if (this.quietTimer !== undefined) clearTimeout(this.quietTimer);
    if (this.maxTimer !== undefined) clearTimeout(this.maxTimer);
    this.quietTimer = undefined;
    this.maxTimer = undefined;
  }
}

/**
 * URL paths of the absolute paths that lie under one of `roots` (see urlPathOf); the root
 * itself is `/`, which pages read as "anything may have changed". Without `showDotfiles`, a path
 * with a segment that starts with a dot is left out, as the server would not serve it.
 */
export function toUrlPaths(roots: readonly string[], paths: readonly string[], showDotfiles: boolean): string[] {
  const out = new Set<string>();
  for (const path of paths) {
    const urlPath = urlPathOf(roots, path);
    if (urlPath !== undefined && (showDotfiles || !urlPath.includes('/.'))) out.add(urlPath);
  }
  return [...out];
}
