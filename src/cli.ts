#!/usr/bin/env node
// `tiny-server [root] --port N`: the same server as the extension, from a terminal.
import { setFlagsFromString } from 'node:v8';
import { USAGE, parseArgs, type CliRun } from './cli-args';
import { BatchedRecords, type RequestLogger } from './server/log';
import { exposureWarning, isLoopbackHost } from './server/host-check';
import { formatConsoleEntry, relativeFile, watchTree, type ConsoleEntry } from './server/reload';
import type { ChangeSource, ServerSettings } from './server/options';
import { startServer } from './server/server';
import { spaFallbackProblem } from './server/static';

declare const TINY_SERVER_VERSION: string | undefined;

let clockSecond = -1;
let clockText = '';

/** `HH:MM:SS ` in local time, the prefix of a request line, formatted once a second. */
function clock(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== clockSecond) {
    clockSecond = second;
    clockText = `${new Date(ms).toTimeString().slice(0, 8)} `;
  }
  return clockText;
}

/** Writes request lines to stdout in batches, one write per batch. */
function stdoutLogger(): { logger: RequestLogger; lines: BatchedRecords } {
  const lines = new BatchedRecords(
    (bytes) => process.stdout.write(bytes),
    (record) => clock(record.time),
  );
  return { logger: { log: (record) => lines.push(record) }, lines };
}

/**
 * Keeps V8's young generation at its starting size (two 1 MiB semi-spaces) instead of letting a
 * burst of long-lived objects grow it to 16 MiB each: ten thousand idle keep-alive connections
 * then take about 20 MB less memory, for more frequent scavenges under load, about 0.4 µs of CPU
 * per request (README, "Benchmark"). V8 reads this flag each time it considers growing the
 * space, so setting it at startup takes effect; `--max-semi-space-size` does not.
 *
 * Not with an app or a proxy: their requests wait for another process across turns of the event
 * loop, so at 50 concurrent requests a 1 MiB space is scavenged every 150 or so, while a third
 * of what it holds is still in use; copying and promoting that took about a sixth of the
 * server's CPU per app request. V8 grows the space when so much survives.
 */
function keepYoungGenerationSmall(settings: ServerSettings): void {
  if (settings.app !== '' || Object.keys(settings.proxy).length > 0) return;
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** The CLI's change source: a tree watcher whose errors go to stderr. */
const watchFiles: ChangeSource = (root, notify) =>
  watchTree(root, notify, (message) => process.stderr.write(`tiny-server: live reload: ${message}\n`));

/**
 * Prints what a page wrote to its console, `HH:MM:SS [page LEVEL] ...`, files named relative to
 * the root: warnings and errors to stderr, the rest to stdout after the request lines before it.
 */
function consolePrinter(root: string, requests: BatchedRecords | undefined): (entry: ConsoleEntry) => void {
  return (entry) => {
    requests?.flush();
    const line = `${clock(Date.now())}[page ${entry.level}] ${formatConsoleEntry(entry, (file) => relativeFile(root, file))}\n`;
    (entry.level === 'warn' || entry.level === 'error' ? process.stderr : process.stdout).write(line);
  };
}

async function run({ settings, quiet }: CliRun): Promise<number> {
  keepYoungGenerationSmall(settings);
  const log = quiet ? undefined : stdoutLogger();
  const result = await startServer({
    ...settings,
    changes: watchFiles,
    appLog: (line) => process.stderr.write(`${line}\n`),
    onConsole: consolePrinter(settings.root, log?.lines),
    ...(log === undefined ? {} : { logger: log.logger }),
  });
  if (!result.ok) {
    process.stderr.write(`tiny-server: ${result.error.message}\n`);
    return 1;
  }
  const server = result.server;
  // The handlers come before the first line: whoever waits for "Serving" may stop us at once.
  const stopped = new Promise<number>((done) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void server.close().then(() => {
        log?.lines.flush();
        done(0);
      });
    };
    // `on`, not `once`: a second Ctrl-C while stopping would otherwise kill the CLI at once,
    // before it ended what an app started. The stop is bounded (2 s for an app's processes).
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // The terminal closed: an app's processes lead groups of their own, which its hangup misses.
    process.on('SIGHUP', stop);
  });
  process.stdout.write(`Serving ${server.root} at ${server.url}\n`);
  if (server.port !== server.requestedPort && server.requestedPort !== 0) {
    process.stdout.write(`Port ${server.requestedPort} was in use, so Tiny Server took port ${server.port}\n`);
  }
  if (!isLoopbackHost(server.host)) {
    process.stderr.write(`tiny-server: ${exposureWarning(server.host, '--allow-host NAME')}\n`);
  }
  const spaProblem = settings.spaFallback === '' ? undefined : spaFallbackProblem(server.realRoot, settings.spaFallback, settings.showDotfiles);
  if (spaProblem !== undefined) process.stderr.write(`tiny-server: ${spaProblem}\n`);
  return stopped;
}

async function main(): Promise<void> {
  // A reader of the output that went away (`tiny-server | head -1`) or a full disk does not stop
  // the server: what would go to the closed stream is dropped, and serving goes on.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const parsed = parseArgs(process.argv.slice(2));
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'version':
      process.stdout.write(`${typeof TINY_SERVER_VERSION === 'string' ? TINY_SERVER_VERSION : 'dev'}\n`);
      return;
    case 'error':
      process.stderr.write(`tiny-server: ${parsed.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    case 'run':
      process.exitCode = await run(parsed);
      // Everything is closed; do not let a stray handle keep a stopped server's process alive.
      setTimeout(() => process.exit(), 1000).unref();
  }
}

void main();
