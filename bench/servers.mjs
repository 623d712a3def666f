// The servers under test. Each peer knows whether it can run here and how to start on a port.
//
// Fairness choices (documented in bench/README.md):
// - Tiny Server keeps its request log on, written to /dev/null; nginx writes its access log to
//   /dev/null too, so both pay for formatting and writing one line per request.
// - nginx runs a master and one worker (2 cores: the other one is wrk's), sendfile and tcp_nopush on,
//   keepalive_requests high enough that wrk's connections are never recycled mid-run.
import { existsSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort, makeTempDir, processTree, spawnTracked, waitForPort, which, hardOpenFileLimit,
} from './procs.mjs';

const HOST = '127.0.0.1';
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @typedef {{ child: import('node:child_process').ChildProcess, port: number, pids: number[], logFile: string }} Running */

/** Starts a tracked process, waits until its port accepts connections, and notes its process tree. */
export async function launch(name, cmd, args, port) {
  const logDir = makeTempDir(`tiny-bench-${name}-`);
  const logFile = join(logDir, 'stderr.log');
  const fd = openSync(logFile, 'w');
  // stdout goes to /dev/null ('ignore'): a request log is still written, at the cost of a write().
  const child = spawnTracked(cmd, args, { stdout: 'ignore', stderr: fd });
  closeSync(fd);
  try {
    await waitForPort(port, HOST, child);
  } catch (error) {
    const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
    throw new Error(`${error.message}${log ? `\n${log}` : ''}`, { cause: error });
  }
  return { child, port, pids: processTree(child.pid), logFile };
}

export const tinyCli = process.env.BENCH_TINY_CLI ?? join(repoRoot, 'dist', 'cli.js');

/** Starts a build of Tiny Server's CLI on a free port. */
async function startTiny(id, cli, root) {
  const port = await freePort(HOST);
  const args = [cli, root, '--port', String(port), '--host', HOST, '--no-reload'];
  return launch(id, process.execPath, args, port);
}

const tiny = {
  id: 'tiny',
  name: 'Tiny Server',
  mandatory: true,
  idle: true,
  missing: () => (existsSync(tinyCli) ? undefined : `${tinyCli} not found: run npm run compile`),
  start: (root) => startTiny('tiny', tinyCli, root),
};

// An earlier build of Tiny Server (e.g. `git worktree add /tmp/before <commit>`, built there),
// measured in the same run, so a change is compared before and after under the same conditions.
const baselineCli = process.env.BENCH_BASELINE_CLI;

const baseline = {
  id: 'baseline',
  name: 'Tiny Server (baseline build)',
  mandatory: false,
  idle: true,
  missing: () => (existsSync(baselineCli) ? undefined : `${baselineCli} not found`),
  start: (root) => startTiny('baseline', baselineCli, root),
};

const sirv = {
  id: 'sirv',
  name: 'node:http + sirv',
  mandatory: true,
  idle: true,
  missing: () => undefined,
  async start(root) {
    const port = await freePort(HOST);
    const script = join(repoRoot, 'bench', 'sirv-server.mjs');
    return launch('sirv', process.execPath, [script, root, String(port), HOST], port);
  },
};

const nginxBin = which('nginx') ?? ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => existsSync(p));

/** What production static configs add: cached descriptors and stats, and a batched access log. */
const TUNED_NGINX = `access_log /dev/null combined buffer=64k flush=1s;
  open_file_cache max=1000;
  open_file_cache_valid 60s;`;

/** A self-contained nginx.conf: every path nginx writes (pid, logs, temp dirs) lives in `prefix`. */
function nginxConf(prefix, root, port, tuned) {
  const hard = hardOpenFileLimit();
  const files = Number.isFinite(hard) ? hard : 65536;
  const mimeTypes = existsSync('/etc/nginx/mime.types')
    ? 'include /etc/nginx/mime.types;'
    : 'types { text/html html; application/octet-stream bin; }';
  return `worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
worker_rlimit_nofile ${files};
events { worker_connections ${Math.max(1024, files - 100)}; }
http {
  ${mimeTypes}
  default_type application/octet-stream;
  ${tuned ? TUNED_NGINX : 'access_log /dev/null;'}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  server {
    listen ${HOST}:${port};
    root ${root};
    index index.html;
  }
}
`;
}

/**
 * nginx as the bench has always run it (every request opens, stats and sendfiles the file, and
 * writes its log line at once), and `tuned`: as production configures a static server, with
 * `open_file_cache` (descriptors and stats kept between requests) and the access log written in
 * 64 KiB batches, as Tiny Server batches its log.
 */
const nginxPeer = (tuned) => ({
  id: tuned ? 'nginx-tuned' : 'nginx',
  name: tuned ? 'nginx (open_file_cache, buffered log)' : 'nginx',
  mandatory: false,
  idle: !tuned,
  missing: () => (nginxBin ? undefined : 'nginx not installed: apt-get install nginx-light'),
  async start(root) {
    const port = await freePort(HOST);
    const prefix = makeTempDir('tiny-bench-nginx-');
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(conf, nginxConf(prefix, root, port, tuned));
    // -p keeps nginx's default temp paths (client_body_temp, ...) inside the prefix; -e the startup log.
    const args = ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')];
    const running = await launch('nginx', nginxBin, args, port);
    // The worker may appear a moment after the master starts listening.
    for (let i = 0; i < 20 && running.pids.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      running.pids = processTree(running.child.pid);
    }
    return running;
  },
});
const nginx = nginxPeer(false);
const nginxTuned = nginxPeer(true);

const pythonBin = which('python3');

const python = {
  id: 'python',
  name: 'python3 -m http.server',
  mandatory: false,
  // HTTP/1.0 and a listen backlog of 5: it cannot hold 10,000 idle connections.
  idle: false,
  missing: () => (pythonBin ? undefined : 'python3 not installed: apt-get install python3'),
  async start(root) {
    const port = await freePort(HOST);
    const args = ['-m', 'http.server', String(port), '--bind', HOST, '--directory', root];
    return launch('python', pythonBin, args, port);
  },
};

// The baseline takes part only when BENCH_BASELINE_CLI names a build.
export const PEERS = [tiny, ...(baselineCli === undefined ? [] : [baseline]), sirv, nginxTuned, nginx, python];
export { HOST, nginxBin, pythonBin };
