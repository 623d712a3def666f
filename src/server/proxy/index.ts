import type { DeferringHandler, Disposable } from '../handler';
import type { HtmlRewriter } from '../static';
import { hasDotSegments } from '../url-path';
import { dotSegmentRefusal } from './errors';
import { forward, type ProxyContext } from './exchange';
import { pageRewrite } from './html';
import { UpstreamPool } from './pool';
import { matchRoute, type Route } from './routes';
import { tunnelWith } from './tunnel';

export { parseRoutes, parseUpstream, type Route } from './routes';

export interface ProxyOptions {
  /** Longest prefix first (see parseRoutes). */
  readonly routes: readonly Route[];
  /** How long the upstream may stay silent (no head yet, or a body held whole that stopped arriving) before the client gets 504. */
  readonly timeoutMs: number;
  /** Send the client's Host upstream instead of the upstream's own. */
  readonly keepHost: boolean;
  /** The server's header limit, which upstream response heads share. */
  readonly maxHeaderBytes: number;
  /** Live reload's page rewriter: proxied pages get its client like files do. */
  readonly htmlRewriter: HtmlRewriter | undefined;
}

/** The reverse proxy: a handler for the configured prefixes, and its upstream connections. */
export interface Proxy extends Disposable {
  readonly handler: DeferringHandler;
}

/**
 * Requests whose path falls under a configured prefix go to that prefix's upstream, and only
 * there: the upstream is chosen by the path alone, never by an absolute-form target or the Host
 * field, so the server cannot be used as an open proxy.
 */
export function createProxy(options: ProxyOptions): Proxy {
  const pools = new Map(options.routes.map((route) => [route, new UpstreamPool(route.upstream, options.maxHeaderBytes)]));
  const context: ProxyContext = {
    pools,
    timeoutMs: options.timeoutMs,
    keepHost: options.keepHost,
    pages: options.htmlRewriter === undefined ? undefined : pageRewrite(options.htmlRewriter),
    tunnel: tunnelWith(options.timeoutMs),
  };
  const routes = options.routes;
  return {
    handler: (request) => {
      const route = matchRoute(routes, request.path);
      if (route === undefined) return undefined;
      return hasDotSegments(request.path) ? dotSegmentRefusal(route, request) : forward(request, route, context);
    },
    dispose: () => {
      for (const pool of pools.values()) pool.dispose();
    },
  };
}
