// The upstream behind the UI test's tinyServer.proxy: a raw node:net server on loopback that
// answers every GET with a small HTML page naming the path it was asked for, keep-alive, so the
// test sees the proxy reach another process as it would reach a developer's API or dev server.
import { createServer } from 'node:net';

export const UPSTREAM_HEADING = 'Hello from the upstream';

function pageFor(path) {
  const body = Buffer.from(
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>Upstream</title></head>\n' +
    `<body><h1 id="greeting">${UPSTREAM_HEADING}</h1><p>You asked for ${path.replace(/[<>&"]/g, '')}</p></body></html>\n`,
  );
  const head = `HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Starts the upstream on a free port of 127.0.0.1; `requests` collects the request lines it answered. */
export async function startUpstream() {
  const requests = [];
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let end;
      // Bodiless requests only (the Simple Browser navigates with GET).
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        const requestLine = pending.slice(0, pending.indexOf('\r\n'));
        pending = pending.slice(end + 4);
        requests.push(requestLine);
        socket.write(pageFor(requestLine.split(' ')[1] ?? '/'));
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
