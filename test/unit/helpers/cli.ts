import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const CLI = resolve(__dirname, '..', '..', '..', 'dist', 'cli.js');

/** A CLI process started by runCli, with its output split into lines (stderr prefixed). */
export interface Running {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

/** Starts dist/cli.js with `args`; with `fileLimit`, under that open-file limit (`ulimit -n`, soft and hard). */
export function runCli(args: string[], fileLimit?: number): Running {
  assert.ok(existsSync(CLI), `${CLI} is missing: run "npm run compile" first`);
  const command = [process.execPath, CLI, ...args];
  const child =
    fileLimit === undefined
      ? spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `ulimit -n ${fileLimit} && exec "$@"`, 'sh', ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => lines.push(`stderr: ${chunk.toString().trim()}`));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, lines, exited };
}

/** Resolves with the first output line matching `pattern`; fails with every line after `timeoutMs`. */
export async function waitForLine(running: Running, pattern: RegExp, timeoutMs = 5000): Promise<string> {
  const started = Date.now();
  for (;;) {
    const line = running.lines.find((l) => pattern.test(l));
    if (line !== undefined) return line;
    if (Date.now() - started > timeoutMs) throw new Error(`No line matching ${pattern} in ${JSON.stringify(running.lines)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
