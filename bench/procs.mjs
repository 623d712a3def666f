// Child processes, temp dirs and their cleanup, plus the /proc readings the bench needs.
// Every child and temp dir goes through this module so that one handler can remove them all,
// whether the bench ends normally, throws, or is interrupted with Ctrl-C.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set();
const tempDirs = new Set();

/** A fresh temp dir, removed by `cleanup()`; readable by others because nginx workers may run as nobody. */
export function makeTempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  tempDirs.add(dir);
  return dir;
}

/**
 * Spawns `cmd args` in its own process group (so the whole tree can be signalled at once) with the
 * soft file descriptor limit raised to the hard one: the idle test needs more than 10,000 sockets.
 * `exec` keeps the pid, so `child.pid` is the program itself, not the shell.
 */
export function spawnTracked(cmd, args, { stdin = 'ignore', stdout = 'ignore', stderr = 'ignore', cwd } = {}) {
  const script = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';
  const child = spawn('/bin/sh', ['-c', script, 'sh', cmd, ...args], {
    stdio: [stdin, stdout, stderr],
    detached: true,
    cwd,
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves once `child` has exited, or after `ms` (whichever comes first). */
export function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Signals a tracked child's process group; SIGKILL after `graceMs` if it is still there. */
export async function stop(child, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // A worker outliving its master (nginx) would keep the port: make sure the group is gone.
  signalGroup(child, 'SIGKILL');
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Kills every tracked child and removes every temp dir; synchronous so it can run in an exit handler. */
export function cleanup() {
  for (const child of children) signalGroup(child, 'SIGKILL');
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Runs `cleanup()` on exit, on SIGINT/SIGTERM/SIGHUP (exit 130/143/129) and on an uncaught error. */
export function installCleanupHandlers() {
  process.on('exit', cleanup);
  const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
  for (const [signal, code] of Object.entries(codes)) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers and removing temp files\n`);
      cleanup();
      process.exit(code);
    });
  }
}

/** A free TCP port on `host`, found by binding port 0 and closing again. */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `host:port` accepts a TCP connection; rejects after `timeoutMs` or if `child` exits. */
export async function waitForPort(port, host, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Process exited with ${child.exitCode ?? child.signalCode} before accepting connections`);
    }
    if (await canConnect(port, host)) return;
    await sleep(100);
  }
  throw new Error(`Nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
}

function canConnect(port, host) {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `pid` and all its descendants (nginx: master and worker), from the ppid field of /proc/<pid>/stat. */
export function processTree(pid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name in parentheses may contain spaces: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(fields[1]));
    } catch {
      // The process ended while we were reading.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Sum of VmRSS over `pids`, in bytes; a process that has ended counts as 0. */
export function rssBytes(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // The process ended.
    }
  }
  return total;
}

let ticksPerSecond;

/** Clock ticks per second, the unit of the CPU times in /proc/<pid>/stat. */
export function clockTicks() {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/**
 * CPU time (user + system) used so far by `pids`, in seconds, from fields 14 and 15 of
 * /proc/<pid>/stat. It depends less than req/s on what else the shared machine is doing.
 */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended.
    }
  }
  return ticks / clockTicks();
}

/** Soft limit on open files of a running process, from /proc/<pid>/limits. */
export function openFileLimit(pid) {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!match || match[1] === 'unlimited') return Infinity;
  return Number(match[1]);
}

/** Hard limit on open files for processes this bench starts (`ulimit -Hn`). */
export function hardOpenFileLimit() {
  const out = execFileSync('/bin/sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? Infinity : Number(out);
}

/** First line a command prints (stdout, else stderr: nginx -v), or undefined when it cannot run. */
export function commandLine(cmd, args) {
  const out = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  if (out.error) return undefined;
  const text = (out.stdout.trim() || out.stderr.trim()).split('\n')[0];
  return text || undefined;
}

/** Absolute path of `name` on PATH, or undefined. */
export function which(name) {
  try {
    return execFileSync('/bin/sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
