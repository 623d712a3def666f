import { connectionBudget, openFileLimit } from './fd-limit';
import type { Disposable, Handler } from './handler';
import type { RequestLogger } from './log';
import type { ContentOverlay } from './static';
import type { ConsoleEntry } from './reload/console';

/** Protocol and resource limits; defaults in `DEFAULT_LIMITS`. */
export interface Limits {
  /** Longest request target accepted (414 beyond). */
  readonly maxTargetLength: number;
  /** Largest header section accepted, request line included (431 beyond). */
  readonly maxHeaderBytes: number;
  /** Largest request body accepted (413 beyond). */
  readonly maxBodyBytes: number;
  /**
   * A client must finish sending the header section within this time (slowloris guard), and may
   * not stop longer than this in the middle of a body.
   */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this time. */
  readonly keepAliveTimeoutMs: number;
  /** A response the client has stopped reading for this long is abandoned and the connection dropped. */
  readonly sendTimeoutMs: number;
  /** How long a closing connection keeps draining what the client still sends (lingering close). */
  readonly lingerMs: number;
  /** Connections beyond this are refused with 503 and closed; the default follows the open-file limit. */
  readonly maxConnections: number;
  /** Refused connections whose 503 may drain at once; beyond this a new connection is closed unanswered. */
  readonly maxRefusing: number;
  /** Responses that never end (live reload's event streams) open at once; beyond this they get 503. */
  readonly maxEventStreams: number;
  /** Requests parsed ahead of the one being answered before reading pauses. */
  readonly maxPipelined: number;
  /**
   * Body bytes a connection holds for requests waiting behind the one being answered (the one
   * arriving included) before reading pauses; the rest waits in the client's socket.
   */
  readonly maxQueuedBytes: number;
  /** Hand request bodies to handlers as they arrive (`Request.bodyStream`) instead of whole. */
  readonly streamBodies: boolean;
}

export const DEFAULT_LIMITS: Limits = {
  maxTargetLength: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  sendTimeoutMs: 60_000,
  lingerMs: 2_000,
  ...connectionBudget(openFileLimit()),
  maxPipelined: 64,
  maxQueuedBytes: 256 * 1024,
  streamBodies: false,
};

/**
 * What changes while a WSGI app runs or a proxy is configured: bodies are streamed to the app or
 * the upstream with backpressure, so an upload may be large without taking memory (a 20 MB form
 * upload is ordinary for an app).
 */
export const APP_LIMITS: Partial<Limits> = { streamBodies: true, maxBodyBytes: 1024 * 1024 * 1024 };

/**
 * A server of files streams bodies as well: the one handler there that reads a body (live
 * reload's console endpoint) takes it as a stream, and the others never read theirs, so no body
 * is held in memory. Held whole, each connection could make the server keep up to maxBodyBytes
 * before the request was even looked at (a refused Host, a GET with a body).
 */
export const FILES_LIMITS: Partial<Limits> = { streamBodies: true };

/**
 * What a user chooses, from VS Code settings or command-line arguments; both front ends parse
 * into this shape and hand it to `startServer` as it is. Defaults live in `DEFAULT_SETTINGS`.
 */
export interface ServerSettings {
  /** Absolute path of the folder to serve, as the user named it (symlinks not resolved). */
  readonly root: string;
  /** Address to bind. */
  readonly host: string;
  /** Port to try first; 0 takes any free port. */
  readonly port: number;
  /** Serve files and folders whose name starts with a dot. */
  readonly showDotfiles: boolean;
  /** List directories that have no index file. */
  readonly directoryListing: boolean;
  /** Host names accepted besides loopback names, this machine's addresses and the bound one. */
  readonly allowedHosts: readonly string[];
  /** Inject the live-reload client into HTML pages, serve its endpoint and watch the root. */
  readonly liveReload: boolean;
  /** Globs (relative to the root) whose changes never reach pages; `**\/node_modules/**` and the like. */
  readonly watchIgnore: readonly string[];
  /**
   * A single-page app's page (relative to the root, e.g. `index.html`), answered for a page load
   * of a route no file answers (see static/spa.ts); empty turns the fallback off.
   */
  readonly spaFallback: string;
  /**
   * Pages send their console lines, uncaught errors and unhandled rejections to `onConsole`
   * (through the live-reload client, so only while `liveReload` is on).
   */
  readonly forwardConsole: boolean;
  /** The WSGI app to run for requests no file answers, `module:callable`; empty runs none. */
  readonly app: string;
  /** Absolute folder the app is imported from (first on sys.path, and its working folder); empty means the root. */
  readonly appDir: string;
  /** Only paths below this prefix go to the app (`/api`); `/` sends every path no file answers. */
  readonly appMount: string;
  /** The Python interpreter that runs the app. */
  readonly python: string;
  /** Requests the app runs at once (the bridge's thread pool). */
  readonly appThreads: number;
  /** Seconds the app may take to start a response before the client gets 504. */
  readonly appTimeout: number;
  /**
   * Reverse proxy: path prefix → upstream `http://` URL, e.g. `{ "/api": "http://127.0.0.1:3000" }`;
   * `/` sends every request to the upstream. Validated by the server (parseRoutes).
   */
  readonly proxy: Readonly<Record<string, string>>;
  /** Seconds an upstream may stay silent (no head yet, or a body held whole that stopped arriving) before the client gets 504. */
  readonly proxyTimeout: number;
  /** Send the browser's Host upstream instead of the upstream's own. */
  readonly proxyKeepHost: boolean;
}

/**
 * The one table of defaults. The settings' `default` values in package.json must agree (a unit
 * test compares them), and the CLI's help text is written from it.
 */
export const DEFAULT_SETTINGS: Omit<ServerSettings, 'root'> = Object.freeze({
  host: '127.0.0.1',
  port: 8000,
  showDotfiles: false,
  directoryListing: true,
  allowedHosts: Object.freeze([]) as readonly string[],
  liveReload: true,
  watchIgnore: Object.freeze(['**/node_modules/**', '**/.git/**']) as readonly string[],
  spaFallback: '',
  forwardConsole: true,
  app: '',
  appDir: '',
  appMount: '/',
  python: 'python3',
  appThreads: 8,
  appTimeout: 30,
  proxy: Object.freeze({}) as Readonly<Record<string, string>>,
  proxyTimeout: 30,
  proxyKeepHost: false,
});

/**
 * Tells the server about changes below `root` (the resolved root) by calling `notify` with
 * absolute paths; what it returns stops it. The CLI passes a tree watcher, the extension a VS
 * Code file watcher, so the server owns watching without knowing which kind it got.
 */
export type ChangeSource = (root: string, notify: (paths: readonly string[]) => void) => Disposable;

/** Everything a server needs: the user's settings plus what the program embedding it provides. */
export interface ServerOptions extends Partial<Omit<ServerSettings, 'root'>> {
  readonly root: string;
  /** When the port is taken, try the next ones (up to this many). Default 20; 0 disables. */
  readonly portAttempts?: number;
  /**
   * Where file changes come from: the root's while live reload is on, the app folder's while an
   * app runs (a changed .py file replaces its process). Without one, pages never reload.
   */
  readonly changes?: ChangeSource;
  /**
   * Text to serve in place of files on disk (the extension's unsaved editors); its changes reload
   * pages as file changes do. The CLI has none.
   */
  readonly overlay?: ContentOverlay;
  /** Handlers consulted before the static file handler. */
  readonly handlers?: readonly Handler[];
  /** Receives one record per request. */
  readonly logger?: RequestLogger;
  readonly limits?: Partial<Limits>;
  /**
   * Receives what the app has to say: when it (re)started and how long that took, why it could
   * not, and what it printed or wrote to wsgi.errors. Without one, these lines are dropped.
   */
  readonly appLog?: (line: string) => void;
  /**
   * Receives each line a served page writes to its console, while `forwardConsole` and
   * `liveReload` are on (at most 100 a second, then one line saying how many were dropped).
   * Without one, pages do not forward at all. Format one with `formatConsoleEntry`.
   */
  readonly onConsole?: (entry: ConsoleEntry) => void;
  /**
   * Told of the changed paths live reload announces to pages (saved files, and with `typing`
   * unsaved text), after `watchIgnore`: a front end can reload what has no live-reload client,
   * such as an SVG or a text file its own browser shows.
   */
  readonly onAnnounced?: (paths: readonly string[], typing: boolean) => void;
}

/** How many ports after a taken one are tried. */
export const DEFAULT_PORT_ATTEMPTS = 20;
