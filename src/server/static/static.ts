import { closeSync, readSync } from 'node:fs';
import { sep } from 'node:path';
import { unvalidatedPrecondition } from '../../http/conditional';
import type { Body, FileBody, Request, Response } from '../handler';
import { PRESCAN_WINDOW } from '../html/tag-scanner';
import { mediaTypeFor, type MediaType } from './content-type';
import { errorPage, errorText, folderRedirect, HTML_HEADERS, methodNotAllowed, redirect, showsErrorPage, TEXT_HEADERS } from './errors-page';
import { contentTypeOf, declaresEncoding } from './declared-type';
import { CachedFile, FileCache, MAX_CACHED_FILE_BYTES } from './file-cache';
import { LargePages } from './large-pages';
import type { HtmlRewriter, StaticHandler, StaticOptions } from './index';
import { readListing, renderListing, type Listing } from './listing';
import { openSafePath, type OpenedFile } from './open-file';
import { OverlayDocuments, type ContentOverlay, type Servable } from './overlay';
import { fsFailure, resolveSafePath, type PathFailure, type PathRedirect } from './paths';
import { Document, fileMeta, Representation, respond } from './representation';
import { wantsSpaPage } from './spa';
import { TurnShared } from './turn';
import { DOCUMENT_FIELDS } from '../fetch-metadata';
import { decodeTargetText } from '../url-path';

/** Index files tried in a folder, in order. */
const INDEX_NAMES = ['index.html', 'index.htm'] as const;
/**
 * A listing exists, so If-None-Match `*` matches it, and it has no entity-tag for an If-Match list
 * to name. The 304 carries the Vary its 200 would (RFC 9110 section 15.4.5).
 */
const LISTING_NOT_MODIFIED: Response = Object.freeze({ status: 304, headers: Object.freeze({ 'Cache-Control': 'no-cache', Vary: DOCUMENT_FIELDS }) });
const LISTING_PRECONDITION_FAILED: Response = Object.freeze({
  status: 412,
  headers: Object.freeze({ 'Cache-Control': 'no-cache' }),
  body: Buffer.alloc(0),
  reason: 'If-Match names an entity-tag, and a listing has none',
});
/**
 * What a path below an app's mount gets when no file answers it: a 404 the app's route turns into
 * the app's answer, so it is never sent, and no page is made for it.
 */
const APP_ANSWERS: Response = Object.freeze({ status: 404, headers: TEXT_HEADERS, reason: 'no file: the app answers' });

/** HTML larger than the cache limit is still read whole to be rewritten, up to this size. */
const MAX_REWRITE_BYTES = 16 * 1024 * 1024;

/** Serves files below `options.root`; see StaticOptions for what can be configured. */
export function createStaticHandler(options: StaticOptions): StaticHandler {
  const files = new StaticFiles(options);
  return {
    handle: (request) => files.handle(request),
    dispose: () => files.dispose(),
  };
}

/** A file opened to answer a request; `fd` is closed, or handed to the response body. */
interface FileTarget extends OpenedFile {
  readonly realPath: string;
  readonly lexicalPath: string;
  readonly shadowedBy: string | undefined;
}

class StaticFiles {
  private readonly cache: FileCache;
  /** Paths found missing or refused in this turn (see TurnShared). */
  private readonly refused = new TurnShared<PathFailure | PathRedirect>();
  private readonly root: string;
  private readonly showDotfiles: boolean;
  private readonly directoryListing: boolean;
  private readonly rewriter: HtmlRewriter | undefined;
  private readonly overlay: ContentOverlay | undefined;
  private readonly overlaid: OverlayDocuments;
  private readonly spaFallback: string | undefined;
  private readonly appMounts: (urlPath: string) => boolean;
  private readonly largePages = new LargePages();

  constructor(options: StaticOptions) {
    this.root = options.root;
    this.showDotfiles = options.showDotfiles;
    this.directoryListing = options.directoryListing;
    this.rewriter = options.htmlRewriter;
    // Whether a page gets live reload's client depends on these request fields.
    const pageVaries = this.rewriter === undefined ? undefined : DOCUMENT_FIELDS;
    this.cache = new FileCache(undefined, undefined, pageVaries);
    this.overlaid = new OverlayDocuments(pageVaries);
    this.overlay = options.overlay;
    this.spaFallback = options.spaFallback;
    this.appMounts = options.appMounts ?? (() => false);
  }

  /**
   * The hot path: a cached file validated by one stat answers without any asynchronous hop.
   * Everything else goes through `lookup`.
   */
  handle(request: Request): Response | Promise<Response> {
    const method = request.method;
    if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(request);
    const entry = this.cache.get(request.path);
    if (entry !== undefined && entry.isFresh()) {
      entry.used = true;
      const overlay = this.overlay;
      if (overlay !== undefined && overlay.size > 0) {
        const content = overlay.get(entry.realPath);
        if (content !== undefined) return this.serveEntry(this.overlaid.servable(entry.key, entry.media, content), request);
      }
      return this.serveEntry(entry, request);
    }
    return this.lookup(request);
  }

  dispose(): void {
    this.cache.clear();
    this.overlaid.clear();
    this.largePages.dispose();
  }

  /**
   * `large`: the entry is a page over the cache limit read whole for a navigation (see file),
   * which a fetch() of its path gets from the file, with another kind of entity tag.
   */
  private serveEntry(entry: Servable, request: Request, large = false): Response {
    const document = this.documentFor(entry, request, large);
    const range = request.method === 'GET' ? request.headers.get('range') : undefined;
    // A Range applies to the identity bytes; ranges of compressed bytes are never offered.
    const representation =
      range === undefined ? document.select(request.headers.get('accept-encoding')) : document.identity;
    return respond(request, representation, range);
  }

  /** The document as on disk, or rewritten (once per file version) when the rewriter applies. */
  private documentFor(entry: Servable, request: Request, large: boolean): Document {
    const rewriter = this.rewriter;
    if (rewriter === undefined || !entry.media.html || !rewriter.applies(request)) return entry.raw;
    if (entry.rewritten === undefined) {
      // The entity tag a fetch() of the page gets, which the client compares when the browser
      // shows the page from its cache (none for a large page: see serveEntry).
      const etag = large ? undefined : entry.raw.identity.etag;
      const body = rewriter.rewrite(entry.raw.body, entry.key, { etag });
      const tag = entry.raw.tag + rewriter.etagSuffix;
      // A cached file counts what it holds against the cache's bounds; overlay content is not cached.
      const grow = entry instanceof CachedFile ? (bytes: number) => this.cache.grow(entry, bytes) : () => undefined;
      entry.rewritten = new Document(body, tag, entry.raw.meta, grow);
      grow(body.length);
    }
    return entry.rewritten;
  }

  /** The slow path: path checks and one open, then a file, a folder, or an error page. */
  private lookup(request: Request): Response | Promise<Response> {
    const refused = this.refused.get(request.path);
    if (refused !== undefined) return this.refuse(request, refused);
    const opened = openSafePath(this.root, request.path, this.showDotfiles);
    if (!opened.ok) {
      this.refused.set(request.path, opened);
      return this.refuse(request, opened);
    }
    if (opened.kind === 'folder') {
      if (!request.path.endsWith('/')) return folderRedirect(request.path, request.query);
      return this.folder(request, opened.realPath, opened.lexicalPath);
    }
    if (request.path.endsWith('/')) {
      closeSync(opened.fd);
      return this.failure(request, notFound(`${opened.realPath} is a file, not a folder`));
    }
    return this.file(request, { ...opened, shadowedBy: undefined });
  }

  /** A folder answers with its index file, else a listing, else 404. */
  private folder(request: Request, realPath: string, lexicalPath: string): Response | Promise<Response> {
    const index = this.indexFile(request, lexicalPath);
    if (index !== undefined) return index;
    if (!this.directoryListing) {
      return this.failure(request, notFound(`no index file in ${realPath} and listing is off`));
    }
    return this.listing(request, realPath);
  }

  /** A folder of any size is listed without blocking the event loop (see readListing). */
  private async listing(request: Request, folder: string): Promise<Response> {
    const precondition = unvalidatedPrecondition(request.headers);
    if (precondition === 304) return LISTING_NOT_MODIFIED;
    if (precondition === 412) return LISTING_PRECONDITION_FAILED;
    let listing: Listing;
    try {
      listing = await readListing(folder, this.root, this.showDotfiles);
    } catch (error) {
      return this.failure(request, fsFailure(error, folder));
    }
    return this.html(request, 200, renderListing(decodeForDisplay(request.path), listing));
  }

  /** The folder's index file answered through the same checks and open as any file; undefined without one. */
  private indexFile(request: Request, lexicalPath: string): Response | undefined {
    for (const name of INDEX_NAMES) {
      const index = openSafePath(this.root, request.path + name, this.showDotfiles);
      if (!index.ok) {
        if (index.status === 404) continue;
        return this.refuse(request, index);
      }
      if (index.kind !== 'file') continue;
      // A cached index.htm is stale as soon as an index.html appears next to it.
      const shadowedBy = name === 'index.htm' ? `${lexicalPath}${sep}index.html` : undefined;
      return this.file(request, { ...index, shadowedBy });
    }
    return undefined;
  }

  /**
   * The file, answered for `request`; `keep` false leaves it out of the cache (the SPA page is
   * cached under its own path only: under a route's it would answer that route's next request
   * on the hot path, whoever asks and even once a file appears there).
   */
  private file(request: Request, target: FileTarget, keep = true): Response {
    const media = mediaTypeFor(target.lexicalPath);
    // Checked, opened and found a regular file inside the root: only now may unsaved text stand in.
    const content = this.overlay?.get(target.realPath);
    if (content !== undefined) {
      closeSync(target.fd);
      return this.serveEntry(this.overlaid.servable(request.path, media, content), request);
    }
    const size = target.stats.size;
    const cacheable = size <= MAX_CACHED_FILE_BYTES;
    const rewrite =
      !cacheable &&
      media.html &&
      size <= MAX_REWRITE_BYTES &&
      this.rewriter !== undefined &&
      this.rewriter.applies(request);
    if (!cacheable && !rewrite) {
      // A page that a navigation would get rewritten says so to every request (see FileMeta.varies).
      const varies = media.html && size <= MAX_REWRITE_BYTES && this.rewriter !== undefined ? DOCUMENT_FIELDS : undefined;
      return serveLarge(request, target, media, varies);
    }
    const shared = rewrite ? this.largePages.get(request.path, target.realPath, target.stats) : undefined;
    if (shared !== undefined) {
      closeSync(target.fd);
      return this.serveEntry(shared, request, true);
    }
    let entry: CachedFile;
    try {
      entry = this.cache.load({ key: request.path, root: this.root, media, ...target });
    } catch (error) {
      return this.failure(request, fsFailure(error, target.realPath));
    } finally {
      closeSync(target.fd);
    }
    // Large HTML read for rewriting is not cached, but shared a while by the page loads that follow.
    if (cacheable && keep) this.cache.set(entry);
    else if (rewrite) this.largePages.keep(entry);
    return this.serveEntry(entry, request, rewrite);
  }

  /**
   * A redirect to the path's one spelling, or a failure (see failure). Below an app's mount, a
   * path whose spelling names no file (an encoded slash, a dot segment, `//` where the one
   * spelling names no file either) is the app's, which gets the URL as the client sent it: these
   * refusals keep files safe, they say nothing of the app's routes.
   */
  private refuse(request: Request, refusal: PathFailure | PathRedirect): Response {
    if (this.appMounts(request.path)) {
      if (refusal.status === 400) return APP_ANSWERS;
      if (refusal.status === 301 && !resolveSafePath(this.root, refusal.canonical, this.showDotfiles).ok) return APP_ANSWERS;
    }
    if (refusal.status === 301) return redirect(refusal.location, request.query, refusal.reason);
    return this.failure(request, refusal);
  }

  /** An error page for a browser that shows it, a line of text for a script, a style or fetch(). */
  private failure(request: Request, failure: PathFailure): Response {
    const status = failure.status;
    let reason = failure.reason;
    if (status === 404) {
      if (this.appMounts(request.path)) return APP_ANSWERS;
      const wanted = this.spaFallback !== undefined && wantsSpaPage(request);
      const page = wanted ? this.spaPage(request) : undefined;
      if (page !== undefined) return page;
      if (wanted) reason = `${reason}, and the SPA fallback ${this.spaFallback as string} is no file either`;
    }
    if (!showsErrorPage(request)) return { status, headers: TEXT_HEADERS, body: errorText(status), reason };
    // The decoded path, shown on the page; the rewriter gets the path as sent (see HtmlRewriter).
    return this.html(request, status, errorPage(status, decodeForDisplay(request.path)), reason);
  }

  /**
   * The SPA's page for a route (see spa.ts), through the same checks and open as the file
   * itself, with the same validators; live reload's tag is addressed from the route's path.
   * Undefined when there is no such file, so the route keeps its own 404.
   */
  private spaPage(request: Request): Response | undefined {
    const opened = openSafePath(this.root, this.spaFallback as string, this.showDotfiles);
    if (!opened.ok) return undefined;
    if (opened.kind !== 'file') return undefined;
    return this.file(request, { ...opened, shadowedBy: undefined }, false);
  }

  /** A generated page (listing or error), rewritten like any HTML document when the rewriter applies. */
  private html(request: Request, status: number, body: Buffer, reason?: string): Response {
    const rewriter = this.rewriter;
    const bytes = rewriter !== undefined && rewriter.applies(request) ? rewriter.rewrite(body, request.path) : body;
    return reason === undefined
      ? { status, headers: HTML_HEADERS, body: bytes }
      : { status, headers: HTML_HEADERS, body: bytes, reason };
  }
}

/**
 * A file over the cache limit, streamed by the connection from the descriptor that was checked
 * and `fstat`ed (so the bytes sent are that file's, whatever its path leads to by then). The
 * body takes the descriptor; an answer without the file's bytes (304, 416) closes it here.
 */
function serveLarge(request: Request, target: FileTarget, media: MediaType, varies: string | undefined): Response {
  const { stats, fd } = target;
  let response: Response;
  try {
    // A page or a stylesheet declares its encoding in its first bytes, as a cached one does.
    const contentType = declaresEncoding(media) ? contentTypeOf(media, readPrescanWindow(fd)) : media.contentType;
    const meta = fileMeta(stats.mtimeMs, contentType, false, varies);
    const etag = `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}-${stats.ino.toString(16)}"`;
    const representation = new Representation(etag, meta, stats.size, fd, false);
    const range = request.method === 'GET' ? request.headers.get('range') : undefined;
    response = respond(request, representation, range);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (!isFileBody(response.body)) closeSync(fd);
  return response;
}

/** The first PRESCAN_WINDOW bytes of the open file, read at offset 0 (the descriptor's position is not moved). */
function readPrescanWindow(fd: number): Buffer {
  const window = Buffer.allocUnsafe(PRESCAN_WINDOW);
  return window.subarray(0, readSync(fd, window, 0, PRESCAN_WINDOW, 0));
}

function isFileBody(body: Body | undefined): body is FileBody {
  return body !== undefined && !Buffer.isBuffer(body) && body.kind === 'file';
}

function notFound(reason: string): PathFailure {
  return { ok: false, status: 404, reason };
}

/** The decoded path for pages and the rewriter; the raw path when it does not decode. */
function decodeForDisplay(path: string): string {
  return decodeTargetText(path) ?? path;
}
