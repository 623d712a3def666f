import { statSync } from 'node:fs';
import { acceptsHtml, requestsDocument } from '../fetch-metadata';
import type { Request } from '../handler';
import { resolveSafePath } from './paths';

/**
 * The single-page-app fallback: a GET or HEAD that no file answers (404) gets the app's page
 * instead (`index.html`), so that a route like `/users/42` survives a reload, as nginx's
 * `try_files $uri $uri/ /index.html`. Narrower than that, so that a typo is not hidden behind
 * the app's HTML: only for a client that takes HTML (a navigation), and only for a path whose
 * last segment has no extension (`/app.js`, `/logo.png` stay 404) and that has no dot segment
 * (a hidden file keeps its 404).
 */

/** Fetch destinations of a navigation: a tab, the Simple Browser's iframe, a frameset. */
const NAVIGATIONS = new Set(['document', 'iframe', 'frame']);

/**
 * The URL path of the fallback file `file` (relative to the root, `/`-separated, e.g.
 * `index.html` or `app/shell.html`), or undefined when it is not such a path (empty, absolute,
 * or with `.`, `..` or empty segments): front ends report that as a bad setting.
 */
export function spaFallbackUrlPath(file: string): string | undefined {
  const segments = file.split(/[/\\]/);
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return `/${segments.map(encodeURIComponent).join('/')}`;
}

/** True when a 404 for `request` is answered with the fallback page (see above). */
export function wantsSpaPage(request: Request): boolean {
  const method = request.method;
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (!hasRouteShape(request.path)) return false;
  return acceptsHtml(request) || requestsDocument(request, NAVIGATIONS);
}

/** A path like a route: no segment starts with a dot, the last one (a trailing `/` aside) has no dot. */
function hasRouteShape(urlPath: string): boolean {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return false;
  }
  const segments = path.split('/');
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  if (segments.some((s) => s.charCodeAt(0) === 46 /* . */)) return false;
  return !(segments[segments.length - 1] ?? '').includes('.');
}

/**
 * Why the SPA fallback `file` (as given) cannot answer routes now, for a warning at start: it may
 * be built later (a `dist/index.html`), so this is no error; undefined when it is a file.
 */
export function spaFallbackProblem(root: string, file: string, showDotfiles: boolean): string | undefined {
  const urlPath = spaFallbackUrlPath(file);
  if (urlPath === undefined) return `the SPA fallback ${file} is no file path`;
  const resolved = resolveSafePath(root, urlPath, showDotfiles);
  const isFile = resolved.ok && statSync(resolved.path, { throwIfNoEntry: false })?.isFile() === true;
  return isFile ? undefined : `the SPA fallback ${file} is not a file in ${root} (yet): routes get 404 until it is`;
}
