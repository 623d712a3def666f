// `npm run bench -- --proxy`: 1 KiB and 100 MiB answered by an upstream nginx, through Tiny
// Server's proxy, through nginx's own proxy_pass, through http-proxy on node:http, and through a
// node:net relay that parses nothing (the floor for any proxy in Node).
//
// Fairness choices:
// - The upstream is the same nginx (one worker, serving the bench site) for every proxy, started
//   once, so the three proxies differ only in themselves.
// - The nginx proxy runs one worker and keeps upstream connections alive (`keepalive 64`,
//   HTTP/1.1, `Connection ""`), with its access log to /dev/null; Tiny Server keeps its request
//   log on, to /dev/null; http-proxy uses a keep-alive agent.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, makeTempDir, processTree } from './procs.mjs';
import { HOST, PEERS, launch, nginxBin, tinyCli } from './servers.mjs';

/** The upstream nginx: the file peer, started once by the bench before the proxies. */
export const upstreamPeer = PEERS.find((peer) => peer.id === 'nginx');

function nginxProxyConf(prefix, port, upstreamPort) {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log /dev/null;
  keepalive_requests 100000;
  upstream site { server ${HOST}:${upstreamPort}; keepalive 64; }
  server {
    listen ${HOST}:${port};
    location / {
      proxy_pass http://site;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Not a proxy: a relay that copies bytes between each client connection and one upstream
 * connection of its own, parsing nothing (no Host, no Via, no pool, no log). It reads the way
 * Tiny Server does (every socket into one buffer through Node's `onread`, no 'data' events:
 * src/server/socket.ts) and copies each read before writing it, so its rate is about the most
 * a proxy on node:net can reach on this machine: two reads and two writes per request.
 */
const RELAY_SCRIPT = `
const net = require('node:net');
const [upstreamPort, port, host] = process.argv.slice(2);
const shared = Buffer.allocUnsafe(64 * 1024);
// An accepted socket gets what \`onread\` sets on a connecting one (see src/server/socket.ts).
function readIntoShared(socket, callback) {
  const keys = Object.getOwnPropertySymbols(socket);
  const buffer = keys.find((key) => key.description === 'kBuffer');
  const onread = keys.find((key) => key.description === 'kBufferCb');
  if (buffer === undefined || onread === undefined || typeof socket._handle?.useUserBuffer !== 'function') throw new Error('this Node has no onread for accepted sockets');
  socket[buffer] = shared;
  socket[onread] = callback;
  socket._handle.useUserBuffer(shared);
}
net.createServer({ pauseOnConnect: true, noDelay: true }, (client) => {
  const copy = (length) => Buffer.from(shared.subarray(0, length));
  const upstream = net.connect({ port: Number(upstreamPort), host, noDelay: true, onread: { buffer: shared, callback: (length) => {
    if (!client.write(copy(length))) upstream.pause();
  } } });
  readIntoShared(client, (length) => {
    if (!upstream.write(copy(length))) client.pause();
  });
  client.resume();
  client.on('drain', () => upstream.resume());
  upstream.on('drain', () => client.resume());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
}).listen(Number(port), host);
`;

const HTTP_PROXY_SCRIPT = `
const http = require('node:http');
const httpProxy = require(${JSON.stringify(join(repoRoot, 'node_modules', 'http-proxy'))});
const [target, port, host] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on('error', (error, req, res) => { res.writeHead(502); res.end(String(error)); });
http.createServer((req, res) => proxy.web(req, res)).listen(Number(port), host);
`;

/** Tiny Server's proxy from the CLI at `cli`. */
function tinyProxyPeer(id, name, cli, upstreamPort) {
  return {
    id,
    name,
    mandatory: true,
    missing: () => undefined,
    async start() {
      const port = await freePort(HOST);
      const root = makeTempDir('tiny-bench-proxy-root-');
      const args = [cli, root, '--port', String(port), '--host', HOST, '--no-reload', '--proxy', `/=http://${HOST}:${upstreamPort()}`];
      return launch(id, process.execPath, args, port);
    },
  };
}

/**
 * The proxies, each in front of the upstream at `upstreamPort()`. BENCH_TINY_BASE_CLI=<cli.js of
 * another build> adds that build as one more proxy, for a before/after in the same run.
 */
export function proxyPeers(upstreamPort) {
  const base = process.env.BENCH_TINY_BASE_CLI;
  return [
    tinyProxyPeer('tiny', 'Tiny Server --proxy', tinyCli, upstreamPort),
    ...(base === undefined ? [] : [tinyProxyPeer('tiny-base', 'Tiny Server --proxy (BENCH_TINY_BASE_CLI)', base, upstreamPort)]),
    {
      id: 'nginx-proxy',
      name: 'nginx proxy_pass (1 worker, upstream keepalive)',
      mandatory: false,
      missing: () => (nginxBin ? undefined : 'nginx not installed: apt-get install nginx-light'),
      async start() {
        const port = await freePort(HOST);
        const prefix = makeTempDir('tiny-bench-nginx-proxy-');
        mkdirSync(join(prefix, 'logs'), { recursive: true });
        const conf = join(prefix, 'nginx.conf');
        writeFileSync(conf, nginxProxyConf(prefix, port, upstreamPort()));
        const running = await launch('nginx-proxy', nginxBin, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], port);
        for (let i = 0; i < 20 && running.pids.length < 2; i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          running.pids = processTree(running.child.pid);
        }
        return running;
      },
    },
    nodeScriptPeer('node-relay', 'node:net byte relay (parses nothing: the floor for a Node proxy)', RELAY_SCRIPT, () => [String(upstreamPort())]),
    nodeScriptPeer('http-proxy', 'http-proxy on node:http (keep-alive agent)', HTTP_PROXY_SCRIPT, () => [`http://${HOST}:${upstreamPort()}`]),
  ];
}

/** A peer that runs `script` (written to a temp dir) on this Node: `node script <upstream...> <port> <host>`. */
function nodeScriptPeer(id, name, script, upstreamArgs) {
  return {
    id,
    name,
    mandatory: false,
    missing: () => undefined,
    async start() {
      const port = await freePort(HOST);
      const file = join(makeTempDir(`tiny-bench-${id}-`), 'peer.cjs');
      writeFileSync(file, script);
      return launch(id, process.execPath, [file, ...upstreamArgs(), String(port), HOST], port);
    },
  };
}

const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

const perRequest = (value) => (Number.isFinite(value) ? value.toFixed(1) : '–');

/**
 * What the machine leaves a proxy: wrk and the upstream run on the same cores, so their CPU per
 * request bounds every proxy's throughput, and decides how much CPU a proxy may spend per request
 * to reach a given rate. From the 50-connection run of `result` (Tiny Server's).
 */
function machineBudget(result, node, nginx, cores) {
  const run = result?.html50;
  if (run === undefined || run.otherCpuUsPerRequest === undefined || !Number.isFinite(run.wrkCpuUsPerRequest)) return [];
  const rest = run.wrkCpuUsPerRequest + run.otherCpuUsPerRequest;
  const ceiling = (cores * 1e6) / rest;
  const lines = [
    '## What this machine allows', '',
    `- wrk and the upstream nginx used ${rest.toFixed(1)} µs of CPU per request (${run.wrkCpuUsPerRequest.toFixed(1)} + ${run.otherCpuUsPerRequest.toFixed(1)}, in Tiny Server's run) on the same ${cores} cores as the proxy:`
      + ` a proxy that cost nothing would reach about ${Math.round(ceiling).toLocaleString('en-US')} req/s here.`,
  ];
  const nodeRate = node?.html50?.reqPerSec;
  if (nodeRate !== undefined) {
    const needed = 3 * nodeRate;
    const allowed = (cores * 1e6) / needed - rest;
    lines.push(`- 3× http-proxy is ${Math.round(needed).toLocaleString('en-US')} req/s: a proxy may then spend ${allowed > 0 ? `${allowed.toFixed(1)} µs` : 'nothing (below zero)'} of CPU per request`
      + `${nginx?.html50 ? `; nginx proxy_pass spent ${nginx.html50.cpuUsPerRequest.toFixed(1)} µs and reached ${ratio(nginx.html50.reqPerSec, nodeRate)} http-proxy` : ''}.`);
  }
  const cpu = (r) => r?.html50?.cpuUsPerRequest;
  if (cpu(node) !== undefined) {
    lines.push(`- Where wrk and the upstream had cores of their own, throughput would follow CPU per request: http-proxy ÷ Tiny Server ${ratio(cpu(node), cpu(result))}`
      + `${cpu(nginx) === undefined ? '' : `, http-proxy ÷ nginx proxy_pass ${ratio(cpu(node), cpu(nginx))}, nginx proxy_pass ÷ Tiny Server ${ratio(cpu(nginx), cpu(result))}`}.`);
  }
  return [...lines, ''];
}

/** The budget's section with the floor's line in it (under its heading, before its blank line); the heading alone when the budget has nothing to say. */
function allowed(budget, floor) {
  if (floor.length === 0) return budget;
  if (budget.length === 0) return ['## What this machine allows', '', ...floor];
  return [...budget.slice(0, -1), ...floor];
}

/** How far the byte relay, which parses nothing, got: the most a proxy on node:net can reach here. */
function nodeFloor(relay, nginx, tiny) {
  const rate = relay?.html50?.reqPerSec;
  if (rate === undefined) return [];
  return [
    `- The byte relay, which copies bytes and parses nothing, reached ${Math.round(rate).toLocaleString('en-US')} req/s: ${ratio(rate, nginx?.html50?.reqPerSec)} nginx proxy_pass,`
      + ` spending ${perRequest(relay.html50.cpuUsPerRequest)} µs of CPU per request on two reads and two writes, the least a proxy on node:net does;`
      + ` Tiny Server reached ${ratio(tiny?.html50?.reqPerSec, rate)} of its rate.`,
    '',
  ];
}

/** Results, ratios and targets for `--proxy` on a machine with `cores` cores. */
export function proxyReport(results, cores) {
  const rows = results.map((r) => {
    if (r.skipped || r.error) return `| ${r.peer.name} | ${r.skipped ?? `failed: ${(r.error ?? '').split('\n')[0]}`} | | | | |`;
    const small = r.html50;
    const big = r.big;
    return `| ${r.peer.name} | ${small ? Math.round(small.reqPerSec).toLocaleString('en-US') : '–'} | ${small ? `${small.p99Ms.toFixed(2)} ms` : '–'}`
      + ` | ${big ? (big.bytesPerSec / 1e6).toFixed(0) : '–'} | ${small ? small.cpuUsPerRequest.toFixed(1) : '–'}`
      + ` | ${small ? `${perRequest(small.wrkCpuUsPerRequest)} + ${perRequest(small.otherCpuUsPerRequest)}` : '–'} |`;
  });
  const get = (id) => results.find((r) => r.peer.id === id);
  const tiny = get('tiny');
  const nginx = get('nginx-proxy');
  const node = get('http-proxy');
  const target = (label, value, min) => `| ${label} | ${value} | ${value === 'n/a' ? 'not measured' : Number.parseFloat(value) >= min ? 'met' : 'missed'} |`;
  return [
    '## Results', '',
    '| Proxy | req/s 1 KiB (50c) | p99 (50c) | 100 MiB MB/s (4c) | proxy CPU µs/req (50c) | wrk + upstream CPU µs/req (50c) |', '|---|---:|---:|---:|---:|---:|', ...rows, '',
    ...allowed(machineBudget(tiny, node, nginx, cores), nodeFloor(get('node-relay'), nginx, tiny)),
    '## Targets (reported, not enforced)', '',
    '| Target | Measured | Result |', '|---|---|---|',
    target('req/s 50c ≥ 1.0× nginx proxy_pass', ratio(tiny?.html50?.reqPerSec, nginx?.html50?.reqPerSec), 1),
    target('req/s 50c ≥ 3× http-proxy', ratio(tiny?.html50?.reqPerSec, node?.html50?.reqPerSec), 3),
    target('100 MiB MB/s ≥ 1.0× nginx proxy_pass', ratio(tiny?.big?.bytesPerSec, nginx?.big?.bytesPerSec), 1),
    target('p99 50c no worse than nginx proxy_pass (nginx p99 ÷ Tiny p99 ≥ 1)', ratio(nginx?.html50?.p99Ms, tiny?.html50?.p99Ms), 1),
  ].join('\n');
}
