import { constants, existsSync } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { normalizeMount, startApp, type App, type AppStatus } from './app';
import type { DeferringHandler, Disposable } from './handler';
import { createHostCheck, isLoopbackHost, isWildcardAddress } from './host-check';
import { Listener } from './listener';
import type { RequestLogRecord } from './log';
import { APP_LIMITS, DEFAULT_LIMITS, DEFAULT_PORT_ATTEMPTS, DEFAULT_SETTINGS, FILES_LIMITS, type ServerOptions } from './options';
import { createProxy, parseRoutes, type Proxy } from './proxy';
import { createLiveReload, type LiveReload } from './reload';
import { ignoreFilter } from './reload/ignore';
import { createStaticHandler, spaFallbackUrlPath, type StaticHandler } from './static';
import { urlPathOf } from './url-path';

/** Why a server could not start. */
export interface StartError {
  readonly code:
    | 'root-missing'
    | 'root-not-directory'
    | 'root-unreadable'
    | 'app-dir-missing'
    | 'proxy-invalid'
    | 'spa-fallback-invalid'
    | 'no-free-port'
    | 'bind-failed';
  /** Sentence case, says what failed, e.g. "Port 8000 and the next 20 ports are in use". */
  readonly message: string;
}

export type StartResult =
  | { readonly ok: true; readonly server: TinyServer }
  | { readonly ok: false; readonly error: StartError };

/** A running server. */
export interface TinyServer extends Disposable {
  /** The folder served, as it was given (made absolute, symlinks kept). */
  readonly root: string;
  /** The same folder with symlinks resolved: every file served is below it. */
  readonly realRoot: string;
  readonly host: string;
  /** The port it really listens on. */
  readonly port: number;
  /** The port that was asked for (differs from `port` when it was taken). */
  readonly requestedPort: number;
  /** `http://<host>:<port>/` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Requests answered so far. */
  readonly requestCount: number;
  /** Connections open now. */
  readonly connectionCount: number;
  /** How the WSGI app's newest process started; undefined without an app. */
  readonly appStatus: AppStatus | undefined;
  /**
   * The address of an absolute file path below the root, reached through the root as given or
   * as resolved (an editor may name a file either way); undefined for a path outside both.
   */
  urlOf(path: string): string | undefined;
  /**
   * Also answers requests addressed to `name` (no port) while it runs: the name a port forwarder
   * gives it (Codespaces, for one, passes its own name on in `Host`), which the host check would
   * otherwise refuse as DNS rebinding.
   */
  allowHost(name: string): void;
  /** Stops listening and closes every connection at once; resolves when the port is free. */
  close(): Promise<void>;
}

/**
 * The browser client of live reload: `media/` next to the bundle's folder (dist/../media), or
 * further up for bundles built deeper, such as the test bundles in out/test/unit.
 */
export const RELOAD_CLIENT_PATH = findUp(__dirname, join('media', 'reload-client.js'));

function findUp(start: string, relative: string): string {
  let dir = start;
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, '..', relative);
    if (existsSync(candidate)) return candidate;
    dir = join(dir, '..');
  }
  return join(start, '..', relative);
}

/** Checks the root and resolves symlinks once, so path checks compare real paths. */
async function openRoot(root: string): Promise<{ ok: true; path: string } | { ok: false; error: StartError }> {
  try {
    const path = await realpath(root);
    if (!(await stat(path)).isDirectory()) {
      return { ok: false, error: { code: 'root-not-directory', message: `${root} is not a folder` } };
    }
    await access(path, constants.R_OK | constants.X_OK);
    return { ok: true, path };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return { ok: false, error: { code: 'root-missing', message: `The folder ${root} does not exist` } };
    }
    return { ok: false, error: { code: 'root-unreadable', message: `The folder ${root} cannot be read: ${code ?? String(error)}` } };
  }
}

/** An address a local browser can open: a wildcard bind is reached through loopback. */
function urlFor(host: string, port: number): string {
  const name = !isWildcardAddress(host) ? host : isIP(host) === 4 ? '127.0.0.1' : '::1';
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}/`;
}

/** Starts a server; failures are values, never exceptions. */
export async function startServer(options: ServerOptions): Promise<StartResult> {
  const settings = { ...DEFAULT_SETTINGS, ...options, root: resolve(options.root) };
  const rootResult = await openRoot(settings.root);
  if (!rootResult.ok) return rootResult;
  const realRoot = rootResult.path;
  const { host, port: requestedPort } = settings;
  const routes = parseRoutes(settings.proxy);
  if (typeof routes === 'string') return { ok: false, error: { code: 'proxy-invalid', message: routes } };
  const spaFallback = settings.spaFallback === '' ? undefined : spaFallbackUrlPath(settings.spaFallback);
  if (settings.spaFallback !== '' && spaFallback === undefined) {
    return { ok: false, error: { code: 'spa-fallback-invalid', message: `The SPA fallback ${settings.spaFallback} is not a file path relative to the served folder, such as index.html` } };
  }
  const limits = { ...DEFAULT_LIMITS, ...(settings.app === '' && routes.length === 0 ? FILES_LIMITS : APP_LIMITS), ...options.limits };

  const reload: LiveReload | undefined = settings.liveReload
    ? createLiveReload({
        roots: [realRoot, settings.root],
        clientScriptPath: RELOAD_CLIENT_PATH,
        onConsole: settings.forwardConsole ? options.onConsole : undefined,
        showDotfiles: settings.showDotfiles,
      })
    : undefined;
  const appDir = settings.app === '' ? undefined : await openRoot(resolve(settings.root, settings.appDir));
  if (appDir !== undefined && !appDir.ok) return { ok: false, error: { code: 'app-dir-missing', message: `App folder: ${appDir.error.message}` } };
  const mount = normalizeMount(settings.appMount);
  const app: App | undefined =
    appDir === undefined
      ? undefined
      : startApp({
          app: settings.app,
          appDir: appDir.path,
          mount,
          python: settings.python,
          threads: settings.appThreads,
          timeoutMs: settings.appTimeout * 1000,
          realRoot,
          showDotfiles: settings.showDotfiles,
          serverName: host,
          showTraceback: isLoopbackHost(host),
          htmlRewriter: reload?.rewriter,
          log: options.appLog ?? (() => undefined),
          onRestarted: () => reload?.notifyChanged([realRoot]),
        });
  const files: StaticHandler = createStaticHandler({
    root: realRoot,
    showDotfiles: settings.showDotfiles,
    // A folder without an index file is the app's to answer, as nginx's `try_files $uri @app`.
    directoryListing: settings.directoryListing && !(app !== undefined && mount === ''),
    ...(reload === undefined ? {} : { htmlRewriter: reload.rewriter }),
    ...(options.overlay === undefined ? {} : { overlay: options.overlay }),
    // Files, then the app below its mount, then the SPA page for the routes outside it.
    spaFallback,
    appMounts: app === undefined ? undefined : (path) => app.mounts(path),
  });
  const proxy: Proxy | undefined =
    routes.length === 0
      ? undefined
      : createProxy({
          routes,
          timeoutMs: settings.proxyTimeout * 1000,
          keepHost: settings.proxyKeepHost,
          maxHeaderBytes: limits.maxHeaderBytes,
          htmlRewriter: reload?.rewriter,
        });
  const handlers: DeferringHandler[] = [];
  // The host check stays first: a proxied request is no less a DNS-rebinding target.
  const hostCheck = createHostCheck(host, settings.allowedHosts);
  handlers.push(hostCheck.handle);
  if (reload !== undefined) handlers.push(reload.handler);
  handlers.push(...(options.handlers ?? []));
  // A prefix (or `/`, everything) belongs to its upstream: files are not consulted for it.
  if (proxy !== undefined) handlers.push(proxy.handler);
  handlers.push(app === undefined ? files.handle : app.route(files.handle));

  const logger = options.logger;
  // A plain closure: calling a bound function costs more, once per request.
  const log = logger === undefined ? () => undefined : (record: RequestLogRecord) => logger.log(record);
  const listened = await Listener.listen({
    host,
    port: requestedPort,
    portAttempts: options.portAttempts ?? DEFAULT_PORT_ATTEMPTS,
    limits,
    handlers,
    log,
  });
  if (!listened.ok) {
    proxy?.dispose();
    reload?.dispose();
    files.dispose();
    await app?.close();
    return { ok: false, error: listened.error };
  }
  const listener = listened.listener;
  const watched = ignoreFilter([realRoot, settings.root], settings.watchIgnore);
  const announce = (paths: readonly string[], typing: boolean): void => {
    const kept = watched(paths);
    reload?.notifyChanged(kept, typing);
    if (kept.length > 0) options.onAnnounced?.(kept, typing);
  };
  const changes = reload === undefined || options.changes === undefined ? undefined : options.changes(realRoot, (paths) => announce(paths, false));
  // Unsaved text of a file whose saves are not announced (watchIgnore) is not announced either.
  const edits = reload === undefined ? undefined : options.overlay?.onDidChange((paths) => announce(paths, true));
  app?.setPort(listener.port);
  const appChanges = app === undefined || options.changes === undefined ? undefined : options.changes(app.dir, (paths) => app.changed(paths));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      changes?.dispose();
      edits?.dispose();
      appChanges?.dispose();
      reload?.dispose();
      await Promise.all([listener.close(), app?.close()]);
      proxy?.dispose();
      files.dispose();
    })();
    return closing;
  };
  const url = urlFor(host, listener.port);
  const server: TinyServer = {
    root: settings.root,
    realRoot,
    host,
    port: listener.port,
    requestedPort,
    url,
    get requestCount() {
      return listener.requestCount;
    },
    get connectionCount() {
      return listener.connectionCount;
    },
    get appStatus() {
      return app?.status;
    },
    allowHost: (name) => hostCheck.allow(name),
    urlOf: (path) => {
      const urlPath = urlPathOf([settings.root, realRoot], path);
      // `url` ends with `/`; concatenated, not resolved, so a name like `c:d.html` stays a path.
      return urlPath === undefined ? undefined : url + urlPath.slice(1);
    },
    close,
    dispose: () => void close(),
  };
  return { ok: true, server };
}
