/** Command-line options of `tiny-server`. */
export interface CliOptions {
  readonly root: string;
  readonly host: string;
  readonly port: number;
  readonly liveReload: boolean;
  readonly showDotfiles: boolean;
  readonly directoryListing: boolean;
  readonly allowedHosts: readonly string[];
  readonly quiet: boolean;
}

export type ParsedArgs =
  | { readonly kind: 'run'; readonly options: CliOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

export const USAGE = `Usage: tiny-server [root] [options]

Serves the folder <root> (default: the current folder) over HTTP with live reload.

Options:
  -p, --port N          port to listen on (default 8000; a taken port moves to the next
                        free one; 0 takes any free port)
  -H, --host ADDR       address to bind (default 127.0.0.1; 0.0.0.0 exposes the folder
                        to the network)
      --no-reload       do not inject the live-reload client into HTML pages
      --dotfiles        serve files and folders whose name starts with a dot
      --no-listing      answer 404 instead of listing folders without index.html
      --allow-host NAME accept requests for this Host name too (repeatable)
  -q, --quiet           do not print a line per request
  -h, --help            show this help
  -v, --version         show the version`;

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port <= 65535 ? port : undefined;
}

/** Parses argv (without node and the script); errors are values with a message for the user. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  let root: string | undefined;
  let host = '127.0.0.1';
  let port = 8000;
  let liveReload = true;
  let showDotfiles = false;
  let directoryListing = true;
  let quiet = false;
  const allowedHosts: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
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
      case '--no-reload':
        liveReload = false;
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
    options: { root: root ?? '.', host, port, liveReload, showDotfiles, directoryListing, allowedHosts, quiet },
  };
}
