import { basename, relative } from 'node:path';
import type { Disposable, Handler, Request, Response } from '../handler';
import { ChangeBatcher } from '../reload';
import type { HtmlRewriter } from '../static';
import { isInside, resolveSafePath } from '../static/paths';
import { BridgeProcess, type StartOutcome } from './bridge-process';
import { Deadlines } from './deadlines';
import { appErrorPage } from './error-page';
import { forward, type ExchangeContext } from './exchange';
import { appKind, type AppKind } from './kinds';

export { appKind, BRIDGE_PATH, FETCH_BRIDGE_PATH, isAppSpec, isFetchAppSpec } from './kinds';

export interface AppOptions {
  /** `module:callable` for a WSGI app, a `.js`/`.mjs`/`.cjs` file for a Fetch app (see kinds.ts). */
  readonly app: string;
  /** The app's folder, symlinks resolved. */
  readonly appDir: string;
  /** The mount prefix without a trailing slash; `` for the whole site. */
  readonly mount: string;
  readonly python: string;
  readonly threads: number;
  readonly timeoutMs: number;
  /** The served folder, symlinks resolved, and whether it shows dotfiles (for the source check). */
  readonly realRoot: string;
  readonly showDotfiles: boolean;
  readonly serverName: string;
  readonly showTraceback: boolean;
  /** Live reload's page rewriter, when live reload is on. */
  readonly htmlRewriter: HtmlRewriter | undefined;
  readonly log: (line: string) => void;
  /** Called when a replaced app is ready: open pages reload. */
  readonly onRestarted: () => void;
}

/** A running app: its request handler, its reaction to file changes, and its process. */
/** How the app's newest process started, for a front end to show (the status bar's tooltip). */
export type AppStatus =
  | { readonly state: 'starting'; readonly since: number }
  | { readonly state: 'running'; readonly since: number; readonly startMs: number; readonly restarts: number }
  | { readonly state: 'failed'; readonly since: number; readonly message: string }
  /**
   * It ended after starting, not by a stop or a replacement (a crash, `process.exit()`, killed as
   * broken); the next request starts another.
   */
  | { readonly state: 'stopped'; readonly since: number; readonly message: string };

export interface App extends Disposable {
  /** The app's folder, symlinks resolved. */
  readonly dir: string;
  /** The newest process's start; `since` is epoch milliseconds. */
  readonly status: AppStatus;
  /** True for a path below the app's mount: what no file answers there goes to the app. */
  mounts(path: string): boolean;
  /** The handler chain's last step: `files` first, then the app for what no file answers. */
  route(files: Handler): Handler;
  /** Absolute paths that changed below the app's folder. */
  changed(paths: readonly string[]): void;
  /** The port the server listens on, once known (SERVER_PORT). */
  setPort(port: number): void;
  /** Stops every app process; resolves when they have exited. */
  close(): Promise<void>;
}

/**
 * `/api/` and `/api` mount at `/api`; `/` and `` mount at the root (``). The mount is compared
 * with request paths as sent, so what a browser would percent-encode is: `/my api` is
 * `/my%20api`, `/café` is `/caf%C3%A9`; an escape written in it is kept as written, as a browser
 * keeps one written in a link.
 */
export function normalizeMount(mount: string): string {
  const trimmed = mount.replace(/\/+$/, '');
  if (trimmed === '') return '';
  // A lone surrogate has no UTF-8, so no spelling: the mount is kept, and matches nothing.
  const encoded = trimmed.replace(NOT_IN_PATH, (char) => (char.length === 1 && /[\ud800-\udfff]/.test(char) ? char : encodeURIComponent(char)));
  return encoded.startsWith('/') ? encoded : `/${encoded}`;
}

/** Characters a browser percent-encodes in a path: controls, space, non-ASCII, and `"#<>?` and backquote, `{}`. */
const NOT_IN_PATH = /[^\x21-\x7e]|["#<>?`{}]/gu;

/** Starts the app's process at once; requests wait for it to be ready. */
export function startApp(options: AppOptions): App {
  return new AppRunner(options);
}

class AppRunner implements App {
  private current: BridgeProcess;
  private readonly all = new Set<BridgeProcess>();
  private readonly context: ExchangeContext;
  private readonly batcher: ChangeBatcher;
  private port = 0;
  private closed = false;
  status: AppStatus = { state: 'starting', since: Date.now() };
  /** Processes started after the first. */
  private restarts = -1;
  /** Whether the app's folder is inside the served one, so its sources could be asked for. */
  private readonly sourcesServable: boolean;
  private readonly kind: AppKind;

  constructor(private readonly options: AppOptions) {
    const kind = appKind(options.app);
    if (kind === undefined) throw new TypeError(`${options.app} names no app: expected module:callable or a .js, .mjs or .cjs file`);
    this.kind = kind;
    this.context = {
      mount: options.mount,
      serverName: options.serverName,
      serverPort: () => this.port,
      timeoutMs: options.timeoutMs,
      deadlines: new Deadlines(options.timeoutMs),
      showTraceback: options.showTraceback,
      htmlRewriter: options.htmlRewriter,
    };
    this.sourcesServable = isInside(options.realRoot, options.appDir);
    this.batcher = new ChangeBatcher((paths) => this.restart(paths));
    this.current = this.spawn('started');
  }

  get dir(): string {
    return this.options.appDir;
  }

  setPort(port: number): void {
    this.port = port;
  }

  route(files: Handler): Handler {
    return (request) => {
      if (!this.mounts(request.path)) return files(request);
      const method = request.method;
      if ((method !== 'GET' && method !== 'HEAD') || this.isSource(request.path)) return this.forward(request);
      const answer = files(request);
      if (answer instanceof Promise) return answer.then((r) => (r?.status === 404 ? this.forward(request) : r));
      return answer?.status === 404 ? this.forward(request) : answer;
    };
  }

  changed(paths: readonly string[]): void {
    const { appDir } = this.options;
    const relevant = paths.filter((path) => isInside(appDir, path) && this.kind.needsRestart(relative(appDir, path)));
    if (relevant.length > 0 && !this.closed) this.batcher.add(relevant);
  }

  dispose(): void {
    void this.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.batcher.dispose();
    await Promise.all([...this.all].map((bridge) => bridge.stop()));
  }

  mounts(path: string): boolean {
    const mount = this.options.mount;
    return mount === '' || (path.startsWith(mount) && (path.length === mount.length || path.charCodeAt(mount.length) === 47));
  }

  /** True for the app's own sources (see AppKind.isSource), which are never served as files. */
  private isSource(urlPath: string): boolean {
    if (!this.sourcesServable || !this.kind.maybeSource.test(urlPath)) return false;
    const safe = resolveSafePath(this.options.realRoot, urlPath, this.options.showDotfiles);
    if (!safe.ok || !isInside(this.options.appDir, safe.path)) return false;
    return this.kind.isSource(relative(this.options.appDir, safe.path), this.options.app);
  }

  private forward(request: Request): Promise<Response> {
    const bridge = this.current;
    // The common case, a running process, without the asynchronous function's own promise.
    if (bridge.outcome?.ok === true && bridge.goneReason === undefined) return forward(bridge, request, this.context);
    return this.forwardWhenStarted(request);
  }

  /** While the process starts, after it failed to, or after it stopped. */
  private async forwardWhenStarted(request: Request): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const bridge = this.current;
      const outcome = bridge.outcome ?? (await this.startedWithin(bridge));
      if (outcome === undefined) return this.startTimedOut();
      // Replaced while starting (a file changed): the request goes to the new process.
      if (bridge !== this.current) continue;
      // One whose import failed stays, answering with its traceback, until a file changes.
      if (!outcome.ok) return this.notStarted(outcome.message, outcome.traceback);
      if (bridge.goneReason === undefined) return forward(bridge, request, this.context);
      // One that stopped after starting (a crash) is replaced on the next request, once.
      if (this.closed || attempt > 0) return this.notStarted(bridge.goneReason, '');
      this.current = this.spawn('restarted after it stopped');
    }
  }

  /** The start's outcome, or undefined when it takes longer than the app timeout (an import that hangs). */
  private startedWithin(bridge: BridgeProcess): Promise<StartOutcome | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((done) => {
      timer = setTimeout(() => done(undefined), this.options.timeoutMs);
    });
    return Promise.race([bridge.started, late]).finally(() => clearTimeout(timer));
  }

  private startTimedOut(): Response {
    const seconds = this.options.timeoutMs / 1000;
    return {
      status: 504,
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' },
      body: appErrorPage(504, `The app ${this.options.app} did not start within ${seconds} s`, ''),
      reason: `app did not start within ${seconds} s`,
    };
  }

  private notStarted(message: string, traceback: string): Response {
    return {
      status: 500,
      headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' },
      body: appErrorPage(500, `The app ${this.options.app} could not start: ${message}`, this.options.showTraceback ? traceback : ''),
      reason: `app not started: ${message}`,
    };
  }

  private spawn(verb: string): BridgeProcess {
    const { app, appDir, python, threads, log } = this.options;
    const bridge = new BridgeProcess({ ...this.kind.command(app, appDir, python, threads), log: (line) => log(`app: ${line}`) });
    this.all.add(bridge);
    this.restarts++;
    const restarts = this.restarts;
    this.status = { state: 'starting', since: Date.now() };
    void bridge.started.then((outcome) => {
      if (bridge === this.current) {
        const since = Date.now();
        this.status = outcome.ok
          ? { state: 'running', since, startMs: outcome.ms, restarts }
          : { state: 'failed', since, message: outcome.message };
      }
      if (outcome.ok) log(`app: ${app} ${verb} in ${outcome.ms} ms (pid ${outcome.pid}, ${outcome.runtime})`);
      else log(`app: ${app} could not start: ${outcome.message}${outcome.traceback === '' ? '' : `\n${outcome.traceback.trimEnd()}`}`);
    });
    void bridge.ended.then((reason) => {
      // Ended after starting, not by a stop or a replacement (a crash, process.exit(), or killed
      // as broken): said at once, not when the next request starts another.
      if (bridge === this.current && !this.closed && this.status.state === 'running') {
        this.status = { state: 'stopped', since: Date.now(), message: reason };
        log(`app: ${app} stopped: ${reason}; the next request starts it again`);
      }
    });
    void bridge.exited.then(() => this.all.delete(bridge));
    return bridge;
  }

  /** Replaces the process; requests in flight finish on the old one, new ones wait for the new. */
  private restart(paths: readonly string[]): void {
    if (this.closed) return;
    const old = this.current;
    this.options.log(`app: ${basename(paths[0] ?? '')}${paths.length > 1 ? ` and ${paths.length - 1} more` : ''} changed`);
    this.current = this.spawn('restarted');
    old.retire(this.options.timeoutMs);
    void this.current.started.then(() => {
      if (!this.closed) this.options.onRestarted();
    });
  }
}
