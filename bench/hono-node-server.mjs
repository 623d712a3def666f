// The bench's hello Fetch app (hello.mjs in the app site) on @hono/node-server, which adapts
// node:http to the Fetch standard: the peer for Tiny Server's `--app hello.mjs`.
//   node bench/hono-node-server.mjs <app folder> <host> <port>
import { serve } from '@hono/node-server';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, hostname, port] = process.argv.slice(2);
const app = (await import(pathToFileURL(join(root, 'hello.mjs')).href)).default;
serve({ fetch: app.fetch, hostname, port: Number(port) });
