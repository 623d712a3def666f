// Baseline peer: the usual Node static server, node:http plus sirv, in production mode.
// Usage: node bench/sirv-server.mjs <root> <port> [host]
import http from 'node:http';
import sirv from 'sirv';

const [root, port, host = '127.0.0.1'] = process.argv.slice(2);
if (!root || !port) {
  console.error('Usage: node bench/sirv-server.mjs <root> <port> [host]');
  process.exit(2);
}

const server = http.createServer(sirv(root, { dev: false, etag: true }));
server.listen(Number(port), host);
// Exit at once: keep-alive connections left by the load generator would delay a graceful close.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
