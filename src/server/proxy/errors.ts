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
