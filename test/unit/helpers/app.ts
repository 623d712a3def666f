import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The interpreter the app tests use: python3 on the PATH, as the server's default. */
export const PYTHON = 'python3';

/**
 * Fails the test with a clear message when python3 (or one of `modules`) is missing: a test that
 * needs Python never passes silently without it.
 */
export function requirePython(modules: readonly string[] = []): void {
  const probe = spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ') || 'pass'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error?.message ?? probe.stderr.trim().split('\n').pop() ?? '';
    const what = modules.length === 0 ? PYTHON : `${PYTHON} with ${modules.join(', ')}`;
    throw new Error(`This test needs ${what} on the PATH (Flask 3.1: pip install flask, or apt-get install python3-flask); ${why}`);
  }
}

/** A temporary folder (symlinks resolved) holding `files` (relative path to text); removed by `remove`. */
export function folderWith(files: Readonly<Record<string, string>>): { dir: string; remove: () => void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'tiny-app-')));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Process ids of bridge processes (Python or Node) whose command line mentions `marker` (an app folder), from /proc. */
export function bridgeProcesses(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if ((cmdline.includes('wsgi_bridge.py') || cmdline.includes('fetch_bridge.js')) && cmdline.includes(marker)) pids.push(Number(name));
  }
  return pids;
}

/** Process ids whose command line mentions `marker`, from /proc. */
export function processesMentioning(marker: string): number[] {
  return readdirSync('/proc').filter((name) => {
    if (!/^\d+$/.test(name)) return false;
    try {
      return readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker);
    } catch {
      return false;
    }
  }).map(Number);
}

/** V8's gc(), reached at run time so that the test can measure retained, not garbage, memory. */
export function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * Buffers and heap still referenced after full collections, in bytes. V8 frees the memory of
 * collected buffers on a background thread, so it collects until the figure settles.
 */
/**
 * Starts sampling `retained` every 50 ms, above what is retained now; the returned function stops
 * and resolves with the peak, in bytes.
 */
export async function sampleRetained(gc: () => void): Promise<() => Promise<number>> {
  const baseline = await retained(gc);
  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push((await retained(gc)) - baseline);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    sampling = false;
    await sampler;
    return Math.max(0, ...samples);
  };
}

export async function retained(gc: () => void): Promise<number> {
  // V8 releases collected buffers on a background thread, which may not have run yet (seen: 16 MB
  // of freed buffers still counted): collect again until three reads no longer fall (≤ 500 ms).
  let last = Infinity;
  let steady = 0;
  for (let i = 0; i < 20; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 25));
    const usage = process.memoryUsage();
    const now = usage.arrayBuffers + usage.heapUsed;
    // Three reads in a row that no longer fall: the sweeper has had its turn.
    steady = now >= last - 64 * 1024 ? steady + 1 : 0;
    last = Math.min(now, last);
    if (steady >= 2) break;
  }
  return last;
}

/**
 * Writes `size` bytes of 64 KiB blocks (each different) to `socket`, waiting for it to drain;
 * resolves with their SHA-256 in hex.
 */
export async function writeBlocks(socket: Socket, size: number): Promise<string> {
  const digest = createHash('sha256');
  const block = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent < size; sent += block.length) {
    block.fill(sent % 251);
    block.writeUInt32BE(sent, 0);
    digest.update(block);
    if (!socket.write(Buffer.from(block))) await new Promise((r) => socket.once('drain', r));
  }
  return digest.digest('hex');
}
