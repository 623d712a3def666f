import type { Handler, Request } from '../handler';
import type { ContentOverlay } from './overlay';

/**
 * Rewrites HTML documents on their way out (live reload injects its client this way).
 * Implemented outside the static handler, which applies it only to `text/html` documents and
 * generated pages (listings and error pages).
 */
export interface HtmlRewriter {
  /** Whether this request gets the rewritten document (a browser navigation, not fetch()). */
  applies(request: Request): boolean;
  /**
   * Rewritten bytes; deterministic for the same input, urlPath and head. `urlPath` is the request
   * path as sent, still percent-encoded (e.g. `/docs/` for a folder's index file, `/a%20b.html`
   * for `a b.html`), which is what the browser resolves relative URLs against. The result is
   * computed once per file version and request path, then cached. `head` is what was sent with
   * a page this server did not make itself (an upstream's, an app's).
   */
  rewrite(html: Buffer, urlPath: string, head?: PageHead): Buffer;
  /** Appended inside the ETag of rewritten documents so variants never share a validator. */
  readonly etagSuffix: string;
}

/** The fields sent with a page from an upstream or an app that matter to a rewriter. */
export interface PageHead {
  /** Content-Type: its charset tells a UTF-16 page without a byte order mark. */
  readonly contentType?: string | undefined;
  /**
   * Every Content-Security-Policy field, joined with ", " (undefined when there is none; never a
   * Report-Only one): a script added to the page needs the page's nonce to run.
   */
  readonly policy?: string | undefined;
  /**
   * The entity tag a `fetch()` of this page gets (the document without the client). The client
   * compares it with the server's current one when the browser shows the page from its cache.
   */
  readonly etag?: string | undefined;
}

export interface StaticOptions {
  /** Absolute, already realpath'ed by the server. */
  readonly root: string;
  /** Serve files and folders whose name starts with a dot. */
  readonly showDotfiles: boolean;
  /** List folders that have no index file (otherwise 404). */
  readonly directoryListing: boolean;
  /** Applied only to text/html documents; rewritten bytes define Content-Length, ETag, ranges, compression. */
  readonly htmlRewriter?: HtmlRewriter;
  /** Unsaved editor text served in place of files on disk. */
  readonly overlay?: ContentOverlay;
  /**
   * URL path of the page a single-page app answers for routes no file answers (see spa.ts), e.g.
   * `/index.html`; undefined turns the fallback off.
   */
  readonly spaFallback?: string | undefined;
  /**
   * True for paths below an app's mount, where what no file answers is the app's to answer (see
   * App.route): their 404 is made without a page, and the SPA page never stands in for it.
   */
  readonly appMounts?: ((urlPath: string) => boolean) | undefined;
}

/** The static file handler; `dispose` drops its in-memory cache. */
export interface StaticHandler {
  readonly handle: Handler;
  dispose(): void;
}

export { createStaticHandler } from './static';
export { resolveSafePath, type SafePath } from './paths';
export type { ContentOverlay, OverlayContent } from './overlay';
export { spaFallbackProblem, spaFallbackUrlPath } from './spa';
