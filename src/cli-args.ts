import { resolve } from 'node:path';
import { appKind } from './server/app';
import { parseUpstream } from './server/proxy';
import { DEFAULT_SETTINGS, type ServerSettings } from './server/options';
import { spaFallbackUrlPath } from './server/static';

/** What a `tiny-server` command line asks for: the server's settings, and the CLI's own flag. */
export interface CliRun {
  readonly settings: ServerSettings;
  /** Do not print a line per request. */
  readonly quiet: boolean;
}

export type ParsedArgs =
  | ({ readonly kind: 'run' } & CliRun)
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

export const USAGE = `Usage: tiny-server [root] [options]

Serves the folder <root> (default: the current folder) over HTTP with live reload.

Options:
  -p, --port N          port to listen on (default ${DEFAULT_SETTINGS.port}; a taken port moves to the next
                        free one; 0 takes any free port)
  -H, --host ADDR       address to bind (default ${DEFAULT_SETTINGS.host}; 0.0.0.0 exposes the folder
                        to the network)
      --no-reload       do not inject the live-reload client into HTML pages
      --no-console      do not print what served pages write to their console
      --dotfiles        serve files and folders whose name starts with a dot
      --no-listing      answer 404 instead of listing folders without index.html
      --allow-host NAME accept requests for this Host name too (repeatable)
      --watch-ignore G  changes to paths matching this glob do not reload pages (repeatable;
                        ${DEFAULT_SETTINGS.watchIgnore.join(' and ')} always)
      --spa [FILE]      single-page app: page loads of routes no file answers get FILE
                        (default index.html; FILE is taken when it ends in .html or .htm,
                        or given as --spa=FILE)
      --app MOD:CALL    run this WSGI app (e.g. app:app) for requests no file answers
      --app FILE.mjs    or this Fetch-standard JavaScript app (.js, .mjs, .cjs; e.g. a Hono app)
      --app-dir DIR     folder the app is imported from (default: the root)
      --app-mount PATH  send only paths below this prefix to the app (e.g. /api)
      --python PATH     Python interpreter for the app (default ${DEFAULT_SETTINGS.python})
      --app-threads N   requests the app runs at once (default ${DEFAULT_SETTINGS.appThreads})
      --app-timeout S   seconds the app may take to answer before 504 (default ${DEFAULT_SETTINGS.appTimeout})
      --proxy PREFIX=URL
                        forward requests below PREFIX to an http:// upstream (repeatable), e.g.
                        --proxy /api=http://127.0.0.1:3000; --proxy /=URL forwards everything
      --proxy-timeout S seconds an upstream may stay silent before 504 (default ${DEFAULT_SETTINGS.proxyTimeout})
      --proxy-keep-host send the browser's Host to the upstream instead of the upstream's own
  -q, --quiet           do not print a line per request
  -h, --help            show this help
  -v, --version         show the version`;

/** What a bare `--spa` serves. */
const SPA_DEFAULT = 'index.html';

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port <= 65535 ? port : undefined;
}

/** Options that are on or off: `--dotfiles=false` is an error, never taken as `--dotfiles`. */
const SWITCHES = new Set(['--help', '--version', '--proxy-keep-host', '--no-reload', '--no-console', '--dotfiles', '--no-listing', '--quiet']);

/**
 * Parses argv (without node and the script) into the server's settings, relative paths resolved
 * against `cwd`; errors are values with a message for the user.
 */
export function parseArgs(argv: readonly string[], cwd = process.cwd()): ParsedArgs {
  let root: string | undefined;
  let { host, port, liveReload, forwardConsole, spaFallback, showDotfiles, directoryListing, app, appDir, appMount, python, appThreads, appTimeout, proxyTimeout, proxyKeepHost } =
    DEFAULT_SETTINGS;
  const proxy: Record<string, string> = {};
  let quiet = false;
  const allowedHosts: string[] = [];
  const watchIgnore = [...DEFAULT_SETTINGS.watchIgnore];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    // A value is the next argument unless that is another option (`--host --port 8080` lacks one).
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) return undefined;
      i++;
      return next;
    };
    if (inline !== undefined && SWITCHES.has(flag)) return { kind: 'error', message: `${flag} takes no value (got ${arg})` };
    switch (flag) {
      case '-h':
      case '--help':
        return { kind: 'help' };
      case '-v':
      case '--version':
        return { kind: 'version' };
      case '-p':
      case '--port': {
        const raw = value();
        if (raw === undefined) return { kind: 'error', message: `Missing port after ${flag}` };
        const parsed = parsePort(raw);
        if (parsed === undefined) return { kind: 'error', message: `Invalid port ${JSON.stringify(raw ?? '')}: expected a number from 0 to 65535` };
        port = parsed;
        break;
      }
      case '-H':
      case '--host': {
        const raw = value();
        if (raw === undefined || raw === '') return { kind: 'error', message: 'Missing address after --host' };
        host = raw;
        break;
      }
      case '--allow-host': {
        const raw = value();
        if (raw === undefined || raw === '') return { kind: 'error', message: 'Missing host name after --allow-host' };
        allowedHosts.push(raw);
        break;
      }
      case '--watch-ignore': {
        const glob = value();
        if (glob === undefined || glob === '') return { kind: 'error', message: 'Missing glob after --watch-ignore' };
        watchIgnore.push(glob);
        break;
      }
      case '--spa': {
        // FILE is optional: a next argument is taken only when it names a page, not a root folder.
        const next = argv[i + 1];
        const raw = inline ?? (next !== undefined && !next.startsWith('-') && /\.html?$/i.test(next) ? argv[++i] : SPA_DEFAULT);
        if (raw === undefined || spaFallbackUrlPath(raw) === undefined) return { kind: 'error', message: `Invalid SPA fallback ${JSON.stringify(raw ?? '')}: expected a file relative to the root, e.g. index.html` };
        spaFallback = raw;
        break;
      }
      case '--app': {
        const raw = value();
        if (raw === undefined || appKind(raw) === undefined) return { kind: 'error', message: `Invalid app ${JSON.stringify(raw ?? '')}: expected module:callable (a WSGI app, e.g. app:app) or a .js, .mjs or .cjs file in the app folder (a Fetch app, e.g. server.mjs)` };
        app = raw;
        break;
      }
      case '--app-dir': {
        const raw = value();
        if (raw === undefined || raw === '') return { kind: 'error', message: 'Missing folder after --app-dir' };
        appDir = resolve(cwd, raw);
        break;
      }
      case '--app-mount': {
        const raw = value();
        if (raw === undefined || !raw.startsWith('/')) return { kind: 'error', message: `Invalid mount ${JSON.stringify(raw ?? '')}: expected a path such as /api` };
        appMount = raw;
        break;
      }
      case '--python': {
        const raw = value();
        if (raw === undefined || raw === '') return { kind: 'error', message: 'Missing interpreter after --python' };
        python = raw;
        break;
      }
      case '--app-threads':
      case '--app-timeout':
      case '--proxy-timeout': {
        const raw = value();
        const parsed = raw !== undefined && /^\d{1,4}$/.test(raw) ? Number(raw) : 0;
        if (parsed < 1) return { kind: 'error', message: `Invalid ${flag.slice(2)} ${JSON.stringify(raw ?? '')}: expected a whole number from 1 to 9999` };
        if (flag === '--app-threads') appThreads = parsed;
        else if (flag === '--app-timeout') appTimeout = parsed;
        else proxyTimeout = parsed;
        break;
      }
      case '--proxy': {
        const raw = value() ?? '';
        const equals = raw.indexOf('=');
        const prefix = raw.slice(0, equals);
        if (equals < 0 || !prefix.startsWith('/')) return { kind: 'error', message: `Invalid proxy ${JSON.stringify(raw)}: expected PREFIX=URL, e.g. /api=http://127.0.0.1:3000` };
        const upstream = parseUpstream(raw.slice(equals + 1));
        if (typeof upstream === 'string') return { kind: 'error', message: `Invalid proxy for ${prefix}: ${upstream}` };
        proxy[prefix] = raw.slice(equals + 1);
        break;
      }
      case '--proxy-keep-host':
        proxyKeepHost = true;
        break;
      case '--no-reload':
        liveReload = false;
        break;
      case '--no-console':
        forwardConsole = false;
        break;
      case '--dotfiles':
        showDotfiles = true;
        break;
      case '--no-listing':
        directoryListing = false;
        break;
      case '-q':
      case '--quiet':
        quiet = true;
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') return { kind: 'error', message: `Unknown option ${arg}` };
        if (root !== undefined) return { kind: 'error', message: `Only one root folder may be given, got ${root} and ${arg}` };
        root = arg;
    }
  }
  return {
    kind: 'run',
    settings: {
      root: resolve(cwd, root ?? '.'),
      host,
      port,
      liveReload,
      spaFallback,
      forwardConsole,
      showDotfiles,
      directoryListing,
      allowedHosts,
      watchIgnore,
      app,
      appDir,
      appMount,
      python,
      appThreads,
      appTimeout,
      proxy,
      proxyTimeout,
      proxyKeepHost,
    },
    quiet,
  };
}
