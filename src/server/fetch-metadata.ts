import type { Request } from './handler';

const ACCEPTS_HTML = /(^|[\s,])text\/html\s*(;|,|$)/i;

/**
 * True when the browser will show the response in one of `destinations` (lower-case
 * `Sec-Fetch-Dest` values, e.g. "document"). Browsers say so with `Sec-Fetch-Dest` (Fetch
 * Metadata); `fetch()` and XHR send `empty`, a script `script`, a stylesheet `style`. Without
 * that field (older browsers, and plain-HTTP origins other than localhost, which are not
 * "potentially trustworthy" and get no Fetch Metadata) a document is recognised by `text/html`
 * in `Accept`: navigations ask for it, `fetch()` defaults to `*\/*`, curl sends `*\/*`.
 */
export function requestsDocument(request: Request, destinations: ReadonlySet<string>): boolean {
  const dest = request.headers.get('sec-fetch-dest');
  if (dest !== undefined) return destinations.has(dest.trim().toLowerCase());
  return acceptsHtml(request);
}

/** True when `Accept` names `text/html`. */
export function acceptsHtml(request: Request): boolean {
  const accept = request.headers.get('accept');
  return accept !== undefined && ACCEPTS_HTML.test(accept);
}
