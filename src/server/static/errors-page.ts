import { statusText } from '../../http/status';
import { DOCUMENT_FIELDS, requestsDocument } from '../fetch-metadata';
import type { Request, Response } from '../handler';
import { escapeHtml } from './html';

/**
 * Fields on every generated HTML page. Whether an error is a page or a line of text depends on
 * the request (see showsErrorPage), and so does whether a listing gets live reload's client:
 * `Vary` names what decides (RFC 9110 section 12.5.5).
 */
export const HTML_HEADERS = Object.freeze({
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  Vary: DOCUMENT_FIELDS,
});

/**
 * Fields of the short text answered instead of an error page (see showsErrorPage). Without
 * nosniff: under it Chromium logs "Refused to apply style ... MIME type ('text/plain')" (or
 * "Refused to execute script") for a missing stylesheet or script, with text/plain as with
 * text/html, instead of only "Failed to load resource: ... 404". The body is a fixed line.
 */
export const TEXT_HEADERS = Object.freeze({ 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', Vary: DOCUMENT_FIELDS });

/** Fetch destinations that display an HTML error page: a tab, a frame, `<embed>`, `<object>`. */
const PAGE_DESTINATIONS = new Set(['document', 'iframe', 'frame', 'embed', 'object']);

/**
 * Whether an error is answered with the HTML page (see requestsDocument): a missing stylesheet
 * or script gets a short text/plain body instead, so DevTools reports a plain 404 rather than
 * "Refused to apply style ... MIME type ('text/html')".
 */
export function showsErrorPage(request: Request): boolean {
  return requestsDocument(request, PAGE_DESTINATIONS);
}

/** The body answered instead of an error page, e.g. "404 Not Found". */
export function errorText(status: number): Buffer {
  let text = ERROR_TEXTS.get(status);
  if (text === undefined) {
    text = Buffer.from(`${status} ${statusText(status)}\n`);
    ERROR_TEXTS.set(status, text);
  }
  return text;
}

/** One body per status: a response's Buffer body is never changed once answered. */
const ERROR_TEXTS = new Map<number, Buffer>();

const MESSAGES: Readonly<Record<number, string>> = {
  400: 'The path of this request is not valid.',
  403: 'You do not have permission to read',
  404: 'There is no file at',
  405: 'This server only answers GET and HEAD requests.',
  501: 'This server does not know the method of this request; it answers GET and HEAD requests.',
  414: 'The file name is too long:',
};

/**
 * A small HTML page for an error status. It shows the URL path the browser asked for, escaped,
 * and never a file-system path: the absolute path goes to the log through `reason`.
 */
export function errorPage(status: number, urlPath: string | undefined): Buffer {
  const message = MESSAGES[status] ?? 'The request failed.';
  const subject = urlPath === undefined || message.endsWith('.') ? '' : ` <code>${escapeHtml(urlPath)}</code>`;
  return statusPage(status, `<p>${message}${subject}</p>\n`);
}

/**
 * The server's page for an error status: a heading with the status and `content` (HTML the
 * caller has escaped) below it. The static handler's pages and the WSGI app's error page share it.
 */
export function statusPage(status: number, content: string): Buffer {
  const title = `${status} ${statusText(status)}`;
  return Buffer.from(
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
      `<title>${title}</title>\n` +
      '<style>body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:48rem;padding:0 1rem;color:#222}' +
      'code,pre{background:#f2f2f2}code{padding:.1em .3em;border-radius:3px;word-break:break-all}' +
      'pre{padding:1rem;overflow:auto;font-size:13px}' +
      '@media (prefers-color-scheme:dark){body{background:#1e1e1e;color:#ddd}code,pre{background:#333}}</style>\n' +
      `</head>\n<body>\n<h1>${title}</h1>\n${content}</body>\n</html>\n`,
  );
}

/** The methods of RFC 9110 section 9 and PATCH (RFC 5789): a 405 names what is allowed instead. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Only GET and HEAD are served: 405 lists the allowed methods (RFC 9110 section 15.5.6); a
 * method this server does not know at all gets 501.
 */
export function methodNotAllowed(request: Request): Response {
  const page = showsErrorPage(request);
  // A method this server does not recognise (methods are case-sensitive) is 501, not 405 (RFC 9110 section 9.1).
  if (!KNOWN_METHODS.has(request.method)) {
    return {
      status: 501,
      headers: page ? HTML_HEADERS : TEXT_HEADERS,
      body: page ? errorPage(501, undefined) : errorText(501),
      reason: `method ${request.method} is not implemented`,
    };
  }
  return {
    status: 405,
    headers: { ...(page ? HTML_HEADERS : TEXT_HEADERS), Allow: 'GET, HEAD' },
    body: page ? errorPage(405, undefined) : errorText(405),
    reason: `method ${request.method} is not allowed`,
  };
}

/**
 * 301 from a folder path without a trailing slash to the slash form. The Location is relative
 * (RFC 9110 section 10.2.2 allows it): the last segment plus "/" plus the query, so it stays
 * right behind a proxy that mounts the server under a path prefix.
 */
export function folderRedirect(encodedPath: string, query: string): Response {
  const segment = encodedPath.slice(encodedPath.lastIndexOf('/') + 1);
  // A first segment with ":" would read as a URI scheme (RFC 3986 section 4.2).
  return redirect(segment.includes(':') ? `./${segment}/` : `${segment}/`, query);
}

/**
 * 301 to a relative `location`, keeping the query. Only GET and HEAD get here (other methods
 * are 405 first), for which 301 and 308 mean the same; 301 is the one every client knows.
 */
export function redirect(location: string, query: string, reason?: string): Response {
  const response: Response = {
    status: 301,
    headers: {
      Location: query === '' ? location : `${location}?${query}`,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    },
    body: Buffer.alloc(0),
  };
  return reason === undefined ? response : { ...response, reason };
}
