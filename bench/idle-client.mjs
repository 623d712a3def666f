// Holds many idle keep-alive connections to a server, run as its own process by bench/idle.mjs
// so its sockets count against its own file descriptor limit, not the bench's.
//
// Usage: node bench/idle-client.mjs <port> <host> <count> <path>
// Each connection sends one keep-alive GET, reads the whole response, then stays open and silent.
// stdout: one JSON line {"type":"ready",...} once every connection was tried; then, for each
// "status" line on stdin, {"type":"status","open":N}. "close" on stdin (or stdin closing) resets
// every socket (RST, so no TIME_WAIT is left behind) and exits.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const [port, host, countText, path] = process.argv.slice(2);
const count = Number(countText);
// Connections in flight at once: below the usual listen backlog of 511, so no SYN is dropped and
// retried a second later, which would stretch the opening phase past short keep-alive timeouts.
const IN_FLIGHT = 256;
const CONNECT_TIMEOUT_MS = 10_000;
// The bench never needs this process longer; it must not outlive a crashed parent.
const LIFETIME_MS = 180_000;

const sockets = new Set();
const stats = { ok: 0, failed: 0, badStatus: 0, firstError: undefined };

/** Resolves once `socket` received a complete response to its request, rejects on error or close. */
function awaitResponse(socket) {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk) => {
      data += chunk;
      const headerEnd = data.indexOf('\r\n\r\n');
      if (headerEnd === -1) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, headerEnd));
      if (length && data.length < headerEnd + 4 + Number(length[1])) return;
      socket.off('data', onData);
      resolve(data.slice(0, data.indexOf('\r\n')));
    };
    socket.setEncoding('latin1');
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('Connection closed before the response ended')));
  });
}

async function openOne() {
  const socket = connect({ port: Number(port), host });
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  socket.on('error', () => {});
  socket.on('end', () => socket.destroy());
  socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('No response within 10 s')));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  try {
    const statusLine = await awaitResponse(socket);
    socket.setTimeout(0);
    if (/^HTTP\/1\.[01] 200 /.test(statusLine)) stats.ok += 1;
    else stats.badStatus += 1;
  } catch (error) {
    stats.failed += 1;
    stats.firstError ??= error.message;
    socket.destroy();
  }
}

async function openAll() {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      await openOne();
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker));
}

function closeAllAndExit() {
  for (const socket of sockets) {
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }
  process.exit(0);
}

const started = Date.now();
setTimeout(closeAllAndExit, LIFETIME_MS).unref();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'status') process.stdout.write(`${JSON.stringify({ type: 'status', open: sockets.size })}\n`);
    if (line.trim() === 'close') closeAllAndExit();
  })
  .on('close', closeAllAndExit);
await openAll();
const ready = { type: 'ready', ...stats, open: sockets.size, elapsedMs: Date.now() - started };
process.stdout.write(`${JSON.stringify(ready)}\n`);
