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

/**
 * The request fields requestsDocument reads, for the `Vary` of an answer that depends on it: a
 * browser cache then never hands the page stored for a fetch() to a navigation, or the reverse.
 */
export const DOCUMENT_FIELDS = 'Sec-Fetch-Dest, Accept';

/** True when `Accept` names `text/html` with a weight above 0 (RFC 9110 section 12.4.2: q=0 is "not acceptable"). */
export function acceptsHtml(request: Request): boolean {
  const accept = request.headers.get('accept');
  if (accept === undefined || !ACCEPTS_HTML.test(accept)) return false;
  return accept.split(',').some((item) => {
    const [type, ...parameters] = item.split(';');
    if (type?.trim().toLowerCase() !== 'text/html') return false;
    const weight = parameters.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    // A weight that is no number is ignored, as if absent.
    return weight === undefined || !(Number(weight.slice(2)) <= 0);
  });
}
