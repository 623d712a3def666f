import { constants, existsSync } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Disposable, Handler } from './handler';
import { createHostCheck } from './host-check';
import { Listener } from './listener';
import type { RequestLogRecord } from './log';
import { DEFAULT_LIMITS, type ServerOptions } from './options';
import { createLiveReload, type LiveReload } from './reload';
import { createStaticHandler, type StaticHandler } from './static';

/** Why a server could not start. */
export interface StartError {
  readonly code: 'root-missing' | 'root-not-directory' | 'root-unreadable' | 'no-free-port' | 'bind-failed';
  /** Sentence case, says what failed, e.g. "Port 8000 and the next 20 ports are in use". */
  readonly message: string;
}

export type StartResult =
  | { readonly ok: true; readonly server: TinyServer }
  | { readonly ok: false; readonly error: StartError };

/** A running server. */
export interface TinyServer extends Disposable {
  readonly root: string;
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
  /** Tells live reload that these absolute file paths changed on disk. */
  notifyChanged(paths: readonly string[]): void;
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
async function resolveRoot(root: string): Promise<{ ok: true; path: string } | { ok: false; error: StartError }> {
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
  const name = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '0:0:0:0:0:0:0:0' ? '::1' : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}/`;
}

/** Starts a server; failures are values, never exceptions. */
export async function startServer(options: ServerOptions): Promise<StartResult> {
  const rootResult = await resolveRoot(options.root);
  if (!rootResult.ok) return rootResult;
  const root = rootResult.path;
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 8000;
  const limits = { ...DEFAULT_LIMITS, ...options.limits };

  const reload: LiveReload | undefined =
    options.liveReload === false ? undefined : createLiveReload({ root, clientScriptPath: RELOAD_CLIENT_PATH });
  const files: StaticHandler = createStaticHandler({
    root,
    showDotfiles: options.showDotfiles ?? false,
    directoryListing: options.directoryListing ?? true,
    ...(reload === undefined ? {} : { htmlRewriter: reload.rewriter }),
  });
  const handlers: Handler[] = [];
  handlers.push(createHostCheck(host, options.allowedHosts ?? []));
  if (reload !== undefined) handlers.push(reload.handler);
  handlers.push(...(options.handlers ?? []), files.handle);

  const logger = options.logger;
  // A plain closure: calling a bound function costs more, once per request.
  const log = logger === undefined ? () => undefined : (record: RequestLogRecord) => logger.log(record);
  const listened = await Listener.listen({
    host,
    port: requestedPort,
    portAttempts: options.portAttempts ?? 20,
    limits,
    handlers,
    log,
  });
  if (!listened.ok) {
    reload?.dispose();
    files.dispose();
    return { ok: false, error: listened.error };
  }
  const listener = listened.listener;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      reload?.dispose();
      await listener.close();
      files.dispose();
    })();
    return closing;
  };
  const server: TinyServer = {
    root,
    host,
    port: listener.port,
    requestedPort,
    url: urlFor(host, listener.port),
    get requestCount() {
      return listener.requestCount;
    },
    get connectionCount() {
      return listener.connectionCount;
    },
    notifyChanged: (paths) => reload?.notifyChanged(paths),
    close,
    dispose: () => void close(),
  };
  return { ok: true, server };
}
