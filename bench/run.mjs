// `npm run bench`: Tiny Server against node:http + sirv, nginx and python's http.server, with wrk.
// See bench/README.md for what is measured and why. Progress goes to stderr, the report to stdout.
//
// Options: --quick (smoke run: short loads, 1,000 idle connections), --only=tiny,nginx,
// BENCH_DURATION=<seconds per load>, BENCH_TINY_CLI=<path to a CLI other than dist/cli.js>.
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { cleanup, installCleanupHandlers, stop } from './procs.mjs';
import { createSite, BIG_PATH, BIG_SIZE, HTML_PATH, HTML_SIZE } from './site.mjs';
import { PEERS, HOST, nginxBin, pythonBin } from './servers.mjs';
import { runWrk, wrkBin, describeErrors } from './wrk.mjs';
import { runIdle } from './idle.mjs';
import { machineInfo, ratioTable, resultsTable, targetsTable } from './report.mjs';

function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean);
  const unknown = argv.filter((a) => a !== '--quick' && !a.startsWith('--only='));
  if (unknown.length > 0) {
    console.error(`Unknown option ${unknown[0]}. Usage: node bench/run.mjs [--quick] [--only=${PEERS.map((p) => p.id).join(',')}]`);
    process.exit(2);
  }
  for (const id of only ?? []) {
    if (!PEERS.some((p) => p.id === id)) {
      console.error(`Unknown server "${id}" in --only; known: ${PEERS.map((p) => p.id).join(', ')}`);
      process.exit(2);
    }
  }
  const duration = Number(process.env.BENCH_DURATION ?? (quick ? 2 : 8));
  if (!(duration > 0)) {
    console.error(`BENCH_DURATION must be a positive number of seconds, got "${process.env.BENCH_DURATION}"`);
    process.exit(2);
  }
  return { quick, only, durationS: duration, warmupS: quick ? 1 : 2, idleCount: quick ? 1000 : 10_000 };
}

const progress = (text) => process.stderr.write(`${text}\n`);

/** GETs `path` with a fresh connection; resolves with the status and body length. */
function probe(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path, agent: false, timeout: 10_000 }, (res) => {
      let length = 0;
      res.on('data', (chunk) => { length += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode, length }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Checks that the server answers the test files with 200 and the expected sizes. */
async function checkServes(port, name, files) {
  for (const [path, size] of files) {
    const { status, length } = await probe(port, path);
    if (status !== 200) throw new Error(`GET ${path} answered ${status}, expected 200`);
    if (length !== size) progress(`  warning: ${name} sent ${length} bytes for ${path}, the file has ${size}`);
  }
}

function summary(label, r) {
  return `  ${label}: ${Math.round(r.reqPerSec)} req/s, ${(r.bytesPerSec / 1e6).toFixed(1)} MB/s, `
    + `p99 ${r.p99Ms.toFixed(2)} ms, server CPU ${r.cpuUsPerRequest.toFixed(1)} µs/req, errors ${describeErrors(r)}, peak RSS ${(r.peakRssBytes / 1e6).toFixed(1)} MB`;
}

/** The three wrk loads against one running server; each result is kept even if a later one fails. */
async function measureLoads({ port, pids }, options, result) {
  const html = `http://${HOST}:${port}${HTML_PATH}`;
  const base = { pids, timeoutS: 5 };
  await runWrk({ ...base, url: html, connections: 50, durationS: options.warmupS });
  result.html50 = await runWrk({ ...base, url: html, connections: 50, durationS: options.durationS });
  progress(summary('1 KiB, 50 connections', result.html50));
  result.html500 = await runWrk({ ...base, url: html, connections: 500, durationS: options.durationS });
  progress(summary('1 KiB, 500 connections', result.html500));
  const bigUrl = `http://${HOST}:${port}${BIG_PATH}`;
  // A 100 MiB response can take seconds on a slow server: wrk must not count it as a timeout.
  result.big = await runWrk({ pids, url: bigUrl, connections: 4, durationS: options.durationS, timeoutS: 30 });
  progress(summary('100 MiB, 4 connections', result.big));
}

async function measureIdle({ port, pids }, options, result) {
  result.idle = await runIdle({ port, host: HOST, count: options.idleCount, path: HTML_PATH, pids });
  const i = result.idle;
  progress(`  ${i.requested} idle connections: ${i.ok} answered, ${i.failed} failed, ${i.openAtSample} open at sample, `
    + `opened in ${i.elapsedMs} ms, RSS ${(i.rssBeforeBytes / 1e6).toFixed(1)} -> ${(i.rssBytes / 1e6).toFixed(1)} MB`
    + `${i.note ? ` (${i.note})` : ''}`);
}

/** Starts `peer`, checks that it serves `files`, runs `fn` against it, and always stops it. */
async function withServer(peer, root, files, fn) {
  let running;
  try {
    running = await peer.start(root);
    progress(`  listening on ${HOST}:${running.port}, pids ${running.pids.join(' ')}`);
    await checkServes(running.port, peer.name, files);
    await fn(running);
  } finally {
    if (running) await stop(running.child);
  }
}

/**
 * Measures one server; failures end up in the result, not as exceptions. The idle test gets a
 * fresh instance: garbage left by the 100 MiB load would otherwise count as connection memory.
 */
async function benchPeer(peer, root, options) {
  const result = { peer };
  const missing = peer.missing();
  if (missing) {
    progress(`${peer.name}: ${missing}`);
    result[peer.mandatory ? 'error' : 'skipped'] = missing;
    return result;
  }
  progress(`${peer.name}: starting (load average ${loadavg()[0].toFixed(2)})`);
  try {
    const allFiles = [[HTML_PATH, HTML_SIZE], [BIG_PATH, BIG_SIZE]];
    await withServer(peer, root, allFiles, (running) => measureLoads(running, options, result));
    if (peer.idle) {
      progress(`${peer.name}: restarting for the idle test`);
      // Only the page: buffers from a 100 MiB response would inflate the baseline.
      await withServer(peer, root, [[HTML_PATH, HTML_SIZE]], (running) => measureIdle(running, options, result));
    } else {
      progress('  idle connections: skipped (HTTP/1.0 server with a tiny listen backlog)');
    }
  } catch (error) {
    result.error = error.message;
    progress(`  ${peer.name} failed: ${error.message}`);
  }
  return result;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (!wrkBin) {
    console.error('wrk not installed: apt-get install wrk');
    process.exit(1);
  }
  installCleanupHandlers();
  const peers = PEERS.filter((p) => !options.only || options.only.includes(p.id));
  console.log(`# Tiny Server benchmark${options.quick ? ' (quick)' : ''}\n`);
  console.log(machineInfo({ nginxBin, pythonBin, wrkBin }));
  console.log(`- loads: ${options.durationS} s each after a ${options.warmupS} s warm-up, wrk -t1; idle test: ${options.idleCount} connections\n`);
  progress('Creating the temp site (100 MiB file)');
  const root = await createSite();
  const results = [];
  for (const peer of peers) results.push(await benchPeer(peer, root, options));
  console.log(`## Results\n\n${resultsTable(results, options.idleCount)}\n`);
  console.log('MB = 10^6 bytes. RSS is VmRSS summed over the server\'s processes (nginx: master + worker), '
    + 'peak of 100 ms samples during the three loads. The idle test runs on a fresh instance; '
    + 'its cell shows the growth over that instance before the connections. Server CPU is user + system time of those processes '
    + `divided by completed requests. Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} `
    + '(the bench itself keeps about 2 cores busy; well above 2 means other work shared them).\n');
  console.log(`## Ratios\n\n${ratioTable(results)}\n`);
  console.log(`## Targets (reported, not enforced)\n\n${targetsTable(results, options.idleCount)}`);
  const failed = results.filter((r) => r.peer.mandatory && r.error);
  return failed.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error);
} finally {
  cleanup();
}
process.exit(code);
