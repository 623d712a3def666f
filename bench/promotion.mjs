// `node bench/promotion.mjs [--proxy]`: how much of what the server allocates per request V8
// promotes to the old generation, round by round, when load comes in bursts with idle pauses
// between them (as in `npm run bench`, where the servers take turns). A server that keeps
// requests alive by accident (README, "Fetch apps": a Map whose old tables chain together)
// promotes about a kilobyte per request and runs a full collection every half second from the
// first idle pause on; a healthy one promotes a few bytes.
//
// Runs the bench's hello Fetch app behind `dist/cli.js` (BENCH_TINY_CLI to use another build)
// with `--trace-gc-nvp`, or with `--proxy` the same app behind a second Tiny Server proxying to
// it. Prints req/s, the server's CPU and bytes promoted per request, and full collections. The
// request log stays on, as in the bench: its buffers are what first fills the old generation
// enough for a full collection. Its lines share stdout, a temporary file, with V8's trace.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAppSite } from './apps.mjs';
import { freePort, makeTempDir, processTree, spawnTracked, stop, waitForPort } from './procs.mjs';
import { HOST, tinyCli } from './servers.mjs';
import { runWrk, wrkBin } from './wrk.mjs';

const ROUNDS = 5;
const LOAD_S = 4;
const PAUSE_MS = 4000;

async function tiny(args, traceFile) {
  const port = await freePort(HOST);
  const fd = openSync(traceFile ?? '/dev/null', 'w');
  const flags = traceFile === undefined ? [] : ['--trace-gc-nvp'];
  const child = spawnTracked(process.execPath, [...flags, tinyCli, ...args, '--port', String(port), '--host', HOST], { stdout: fd });
  closeSync(fd);
  await waitForPort(port, HOST, child);
  return { child, port };
}

/** Sums the scavenges' promoted bytes and counts the full collections in `text`. */
function collections(text) {
  let promoted = 0;
  let full = 0;
  for (const line of text.split('\n')) {
    if (!line.includes('pause=')) continue;
    if (/ gc=s /.test(line)) promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
    else full++;
  }
  return { promoted, full };
}

async function main() {
  if (wrkBin === undefined) throw new Error('wrk not installed: apt-get install wrk');
  const proxy = process.argv.includes('--proxy');
  const root = createAppSite();
  const traceFile = join(makeTempDir('tiny-bench-promotion-'), 'trace.txt');
  const app = await tiny([root, '--no-reload', '--app', 'hello.mjs'], proxy ? undefined : traceFile);
  const front = proxy ? await tiny([makeTempDir('tiny-bench-empty-'), '--no-reload', '--proxy', `/=http://${HOST}:${app.port}`], traceFile) : app;
  const url = `http://${HOST}:${front.port}/hello`;
  const pids = processTree(front.child.pid);
  console.log(`# GC promotion per request: ${proxy ? 'Tiny Server --proxy in front of ' : ''}Tiny Server --app hello.mjs (${tinyCli})\n`);
  console.log(`${ROUNDS} rounds of wrk -t1 -c50 for ${LOAD_S} s with ${PAUSE_MS / 1000} s pauses; promoted bytes from --trace-gc-nvp of the server${proxy ? ' in front' : ''}.\n`);
  console.log('| round | req/s | server CPU µs/req | promoted bytes/req | full collections |\n|---:|---:|---:|---:|---:|');
  try {
    await runWrk({ url, connections: 50, durationS: 2, timeoutS: 5, pids });
    for (let round = 1; round <= ROUNDS; round++) {
      await sleep(PAUSE_MS);
      const before = collections(readFileSync(traceFile, 'utf8'));
      const result = await runWrk({ url, connections: 50, durationS: LOAD_S, timeoutS: 5, pids });
      const after = collections(readFileSync(traceFile, 'utf8'));
      const perRequest = (after.promoted - before.promoted) / result.requests;
      console.log(`| ${round} | ${Math.round(result.reqPerSec).toLocaleString('en-US')} | ${result.cpuUsPerRequest.toFixed(1)} | ${perRequest.toFixed(0)} | ${after.full - before.full} |`);
    }
  } finally {
    await stop(front.child);
    if (front !== app) await stop(app.child);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
