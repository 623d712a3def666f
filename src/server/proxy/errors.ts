import type { Request, Response } from '../handler';
import { escapeHtml } from '../static/html';
import { HTML_HEADERS, statusPage } from '../static/errors-page';
import type { Route } from './routes';

/**
 * The page for a request the upstream did not answer: which upstream, for which path, what went
 * wrong; and, when it could not be reached at all, the likely cause.
 */
export function proxyError(status: 400 | 502 | 504, route: Route, request: Request, why: string, unreachable: boolean): Response {
  const origin = route.upstream.origin;
  const hint = unreachable ? `<p>Is your API running? Tiny Server forwards <code>${escapeHtml(route.prefix || '/')}</code> to it.</p>\n` : '';
  const content = `<p>Tiny Server got no usable answer from <code>${escapeHtml(origin)}</code> for <code>${escapeHtml(request.path)}</code>: ${escapeHtml(why)}.</p>\n${hint}`;
  return { status, headers: HTML_HEADERS, body: statusPage(status, content), reason: `proxy → ${origin}: ${why}` };
}

/**
 * A path with dot segments (`/api/../admin`, also spelled `%2e%2e`) is not forwarded: an upstream
 * that resolves them would serve a path outside the route's base path. Browsers resolve them
 * before they send a request, so only a hand-made one has them.
 */
export function dotSegmentRefusal(route: Route, request: Request): Response {
  const origin = route.upstream.origin;
  const content =
    `<p>Tiny Server does not forward <code>${escapeHtml(request.path)}</code> to <code>${escapeHtml(origin)}</code>: ` +
    'its dot segments (<code>/./</code> or <code>/../</code>) would name another path there than the one it maps to. ' +
    'Browsers resolve them before they send a request.</p>\n';
  return { status: 400, headers: HTML_HEADERS, body: statusPage(400, content), reason: `proxy → ${origin}: the path has dot segments` };
}
