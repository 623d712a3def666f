import { readFileSync } from 'node:fs';

/** The connection cap where the descriptor limit is unknown or large: what memory allows. */
const MAX_CONNECTIONS = 20_000;
/** Descriptors kept for the process itself (see `connectionBudget`). */
const RESERVED_FDS = 256;
/** Event streams never take more than this many connections (see `connectionBudget`). */
const MAX_EVENT_STREAMS = 1_000;

/** How many connections of each kind a server accepts; see `connectionBudget`. */
export interface ConnectionBudget {
  readonly maxConnections: number;
  readonly maxRefusing: number;
  readonly maxEventStreams: number;
}

/**
 * The soft open-file limit (RLIMIT_NOFILE) of this process, or undefined where it cannot be read.
 * Node has no API for it; Linux shows it in /proc/self/limits (Node itself raises the soft limit
 * to the hard one at startup, and that file shows the raised value).
 */
export function openFileLimit(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return parseOpenFileLimit(readFileSync('/proc/self/limits', 'latin1'));
  } catch {
    return undefined;
  }
}

/** The soft limit from the text of /proc/<pid>/limits: `Max open files  20000  20000  files`. */
export function parseOpenFileLimit(text: string): number | undefined {
  const match = /^Max open files\s+(\d+)\s/m.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The default caps for a process that may open `fileLimit` descriptors. A connection past the
 * descriptor limit cannot even be accepted and is reset, so the caps leave room for:
 * - the process itself: stdio, the listening sockets, libuv's epoll, eventfd and signal pipe, the
 *   watcher's inotify descriptor (one for all folders), log files, and in the extension host
 *   VS Code's own: RESERVED_FDS, or a quarter of a small limit;
 * - of the rest, a quarter for what connections open and for refusing them: a response opens
 *   one file or folder at a time (one eighth, so that many responses can stream files at once;
 *   past that an open fails with a 500, not a reset), and a refused socket holds its descriptor
 *   while its 503 drains, up to the linger time (one eighth, `maxRefusing`);
 * - three quarters for connections. Budgeting a file for every connection would halve the cap
 *   (below the 10,000 idle connections the benchmark holds at a 20,000 limit) for a case that
 *   needs every client to download a large file at the same moment.
 * Never above MAX_CONNECTIONS, which bounds memory. Event streams may take a quarter of the
 * connections, at most MAX_EVENT_STREAMS: a browser holds one per server (its pages share it).
 */
export function connectionBudget(fileLimit: number | undefined): ConnectionBudget {
  const usable = fileLimit === undefined ? Infinity : fileLimit - Math.min(RESERVED_FDS, Math.floor(fileLimit / 4));
  const maxConnections = Math.max(1, Math.min(MAX_CONNECTIONS, Math.floor((usable * 3) / 4)));
  return {
    maxConnections,
    maxRefusing: Math.max(1, Math.min(Math.ceil(maxConnections / 4), Math.floor(usable / 8))),
    maxEventStreams: Math.max(1, Math.min(MAX_EVENT_STREAMS, Math.floor(maxConnections / 4))),
  };
}
