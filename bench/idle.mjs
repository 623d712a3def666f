// The idle test: many keep-alive connections held open, then the server's memory is read.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { hardOpenFileLimit, openFileLimit, rssBytes, spawnTracked, stop, waitExit } from './procs.mjs';

const clientScript = join(dirname(fileURLToPath(import.meta.url)), 'idle-client.mjs');
// Descriptors a process needs besides the idle sockets (stdio, listener, files, epoll, ...).
const FD_HEADROOM = 64;
const READY_TIMEOUT_MS = 120_000;

/**
 * @typedef {object} IdleResult
 * @property {number} requested Connections the test tried to open.
 * @property {number} ok Connections that got a 200 response.
 * @property {number} failed Connections that failed before a response.
 * @property {number} badStatus Connections answered with another status.
 * @property {number} openAtSample Connections still open right after memory was read.
 * @property {number} elapsedMs Time to open all connections.
 * @property {number} rssBeforeBytes Server memory just before the test.
 * @property {number} rssBytes Server memory with the connections open.
 * @property {string | undefined} note Why fewer connections were tried, or the first failure.
 */

/** How many connections the descriptor limits allow, and why fewer than asked when so. */
function allowedCount(count, pids) {
  const serverLimit = Math.max(...pids.map((pid) => openFileLimit(pid)));
  const clientLimit = hardOpenFileLimit();
  const limit = Math.min(serverLimit, clientLimit) - FD_HEADROOM;
  if (limit >= count) return { count, note: undefined };
  const note = `capped to ${limit}: open file limit ${Math.min(serverLimit, clientLimit)} (raise with ulimit -n)`;
  return { count: Math.max(0, limit), note };
}

/** Reads JSON lines from the client until one has type `type`. */
function nextMessage(lines, type) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Idle client sent no ${type} within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const onLine = (line) => {
      const message = JSON.parse(line);
      if (message.type !== type) return;
      clearTimeout(timer);
      lines.off('line', onLine);
      resolve(message);
    };
    lines.on('line', onLine);
  });
}

/**
 * Opens `count` idle keep-alive connections and reads the server's RSS as soon as the last one
 * was answered: servers with a short keep-alive timeout (5 s) start closing the first ones soon.
 * `openAtSample` tells how many were really open when memory was read.
 * @returns {Promise<IdleResult>}
 */
export async function runIdle({ port, host, count, path, pids }) {
  const allowed = allowedCount(count, pids);
  const rssBeforeBytes = rssBytes(pids);
  const args = [clientScript, String(port), host, String(allowed.count), path];
  const child = spawnTracked(process.execPath, args, { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' });
  const lines = createInterface({ input: child.stdout });
  try {
    const ready = await nextMessage(lines, 'ready');
    const rss = rssBytes(pids);
    child.stdin.write('status\n');
    const status = await nextMessage(lines, 'status');
    return {
      requested: allowed.count,
      ok: ready.ok,
      failed: ready.failed,
      badStatus: ready.badStatus,
      openAtSample: status.open,
      elapsedMs: ready.elapsedMs,
      rssBeforeBytes,
      rssBytes: rss,
      note: allowed.note ?? (ready.firstError ? `first failure: ${ready.firstError}` : undefined),
    };
  } finally {
    // "close" lets the client reset its sockets itself; a signal would leave TIME_WAIT behind.
    if (child.stdin.writable) child.stdin.end('close\n');
    await waitExit(child, 5000);
    await stop(child);
  }
}
