/**
 * The proxy's routes: path prefixes of this server, each mapped to an upstream origin and a
 * base path there. Validated once, when the server starts (or the CLI parses its flags).
 */

/** One configured upstream, as parsed from `http://host:port/base`. */
export interface Upstream {
  /** `http://host:port`, as the log and error pages name it (and as Location fields are matched). */
  readonly origin: string;
  /** The host and port for connecting (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** The Host field sent upstream: `host:port` as in the URL. */
  readonly authority: string;
  /** The URL's path without a trailing slash: `` for `http://host:3000` and `http://host:3000/`. */
  readonly basePath: string;
}

export interface Route {
  /** The prefix without a trailing slash; `` for `/`, the whole site. */
  readonly prefix: string;
  readonly upstream: Upstream;
}

/** Parses an upstream URL, or says why it cannot be one. */
export function parseUpstream(text: string): Upstream | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL; expected e.g. http://127.0.0.1:3000`;
  }
  if (url.protocol === 'https:') return `${text}: https upstreams are not supported; use the upstream's plain http:// address`;
  if (url.protocol !== 'http:') return `${text}: expected an http:// URL`;
  if (url.username !== '' || url.password !== '') return `${text}: credentials in the URL are not supported`;
  if (url.search !== '' || url.hash !== '') return `${text}: an upstream URL has no query or fragment`;
  const port = url.port === '' ? 80 : Number(url.port);
  return {
    origin: `http://${url.host}`,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    authority: url.host,
    basePath: url.pathname.replace(/\/+$/, ''),
  };
}

/** `/api/` and `/api` are `/api`; `/` is `` (the whole site). */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/**
 * Validates the `proxy` setting (prefix → URL) into routes, longest prefix first so that `/api/v2`
 * wins over `/api`; the message says which entry is wrong.
 */
export function parseRoutes(proxy: Readonly<Record<string, string>>): Route[] | string {
  const routes: Route[] = [];
  for (const [prefix, target] of Object.entries(proxy)) {
    if (!prefix.startsWith('/') || /[?#\s%]/.test(prefix)) return `Proxy prefix ${JSON.stringify(prefix)} must be a path such as /api`;
    if (typeof target !== 'string') return `Proxy target for ${prefix} must be a URL such as http://127.0.0.1:3000`;
    const upstream = parseUpstream(target);
    if (typeof upstream === 'string') return `Proxy target for ${prefix}: ${upstream}`;
    routes.push({ prefix: normalizePrefix(prefix), upstream });
  }
  return routes.sort((a, b) => b.prefix.length - a.prefix.length);
}

/**
 * The route whose prefix covers `path` on a segment boundary (`/api` covers `/api` and `/api/x`,
 * not `/apix`), and the rest of the path after the prefix.
 */
export function matchRoute(routes: readonly Route[], path: string): Route | undefined {
  for (const route of routes) {
    const prefix = route.prefix;
    if (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f)) return route;
  }
  return undefined;
}

/**
 * The target sent upstream: the upstream's base path, then the request path after the prefix,
 * then the query. `/api` → `http://h:3000/v1` maps `/api/users?x=1` to `/v1/users?x=1` and `/api`
 * to `/v1`; the whole site (`/`) maps every path to itself (below the base path).
 */
export function upstreamTarget(route: Route, path: string, query: string): string {
  const rest = path.slice(route.prefix.length);
  const joined = route.upstream.basePath + rest;
  const target = joined === '' ? '/' : joined;
  return query === '' ? target : `${target}?${query}`;
}
