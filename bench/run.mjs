// `npm run bench`: Tiny Server against node:http + sirv, nginx and python's http.server, with wrk.
// See bench/README.md for what is measured and why. Progress goes to stderr, the report to stdout.
//
// Options: --quick (smoke run: one short round, 1,000 idle connections), --only=tiny,nginx,
// --apps (a hello-world WSGI app behind Tiny Server, gunicorn and wsgiref instead of files),
// --proxy (1 KiB and 100 MiB from an upstream nginx through Tiny Server's proxy, nginx proxy_pass, http-proxy),
// BENCH_DURATION=<seconds per round>, BENCH_ROUNDS=<rounds per load>,
// BENCH_TINY_CLI=<path to a CLI other than dist/cli.js>, BENCH_TINY_BASE_CLI=<another build, as one more proxy in --proxy>.
import { request } from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import { cleanup, installCleanupHandlers, stop } from './procs.mjs';
import { createSite, BIG_PATH, BIG_SIZE, HTML_PATH, HTML_SIZE } from './site.mjs';
import { PEERS, HOST, nginxBin, pythonBin } from './servers.mjs';
import { APP_PEERS, APP_PATH, APP_BODY_SIZE, appPython, createAppSite, gunicornBin } from './apps.mjs';
import { proxyPeers, proxyReport, upstreamPeer } from './proxy.mjs';
import { runWrk, wrkBin, describeErrors } from './wrk.mjs';
import { runIdle } from './idle.mjs';
import {
  appsRatioTable, appsResultsTable, appsTargetsTable, machineInfo, ratioTable, resultsTable, targetsTable,
} from './report.mjs';
import { commandLine, processTree } from './procs.mjs';

function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const apps = argv.includes('--apps');
  const proxy = argv.includes('--proxy');
  let upstream = 0;
  const known = apps ? APP_PEERS : proxy ? proxyPeers(() => upstream) : PEERS;
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean);
  const unknown = argv.filter((a) => a !== '--quick' && a !== '--apps' && a !== '--proxy' && !a.startsWith('--only='));
  if (unknown.length > 0) {
    console.error(`Unknown option ${unknown[0]}. Usage: node bench/run.mjs [--quick] [--apps | --proxy] [--only=${known.map((p) => p.id).join(',')}]`);
    process.exit(2);
  }
  for (const id of only ?? []) {
    if (!known.some((p) => p.id === id)) {
      console.error(`Unknown server "${id}" in --only; known: ${known.map((p) => p.id).join(', ')}`);
      process.exit(2);
    }
  }
  const duration = Number(process.env.BENCH_DURATION ?? (quick ? 2 : 5));
  if (!(duration > 0)) {
    console.error(`BENCH_DURATION must be a positive number of seconds, got "${process.env.BENCH_DURATION}"`);
    process.exit(2);
  }
  const rounds = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`BENCH_ROUNDS must be a whole number of rounds, at least 1, got "${process.env.BENCH_ROUNDS}"`);
    process.exit(2);
  }
  const setUpstream = (port) => {
    upstream = port;
  };
  return { quick, apps, proxy, setUpstream, peers: known, only, durationS: duration, rounds, warmupS: quick ? 1 : 2, idleCount: quick ? 1000 : 10_000 };
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

/** The three loads, each run in rounds with the servers taking turns. */
const LOADS = [
  { key: 'html50', label: '1 KiB, 50 connections', path: HTML_PATH, connections: 50, timeoutS: 5 },
  { key: 'html500', label: '1 KiB, 500 connections', path: HTML_PATH, connections: 500, timeoutS: 5 },
  // A 100 MiB response can take seconds on a slow server: wrk must not count it as a timeout.
  { key: 'big', label: '100 MiB, 4 connections', path: BIG_PATH, connections: 4, timeoutS: 30 },
];

/** `--apps`: the hello-world app, keep-alive, 50 connections (wrk reuses connections where the server keeps them). */
const APP_LOADS = [
  { key: 'html50', label: 'hello app, 50 connections', path: APP_PATH, connections: 50, timeoutS: 5 },
];

const measureOf = (load, run) => (load.key === 'big' ? run.bytesPerSec : run.reqPerSec);

/**
 * One result from a load's rounds: the median round by throughput (its latency and CPU per
 * request too), errors summed over every round, the peak RSS of all rounds.
 */
function combineRounds(load, runs) {
  const sorted = [...runs].sort((a, b) => measureOf(load, a) - measureOf(load, b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const sum = (pick) => runs.reduce((total, run) => total + pick(run), 0);
  return {
    ...median,
    rounds: runs.map((run) => measureOf(load, run)),
    peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)),
    non2xx3xx: sum((run) => run.non2xx3xx),
    socketErrors: {
      connect: sum((run) => run.socketErrors.connect),
      read: sum((run) => run.socketErrors.read),
      write: sum((run) => run.socketErrors.write),
      timeout: sum((run) => run.socketErrors.timeout),
    },
  };
}

/**
 * Runs `load` in rounds; in each round every running server gets one turn, so a machine that
 * speeds up or slows down during the bench affects every server alike.
 */
async function measureLoad(load, running, options) {
  const runs = new Map([...running.keys()].map((result) => [result, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const [result, server] of running) {
      if (result.error) continue;
      try {
        const url = `http://${HOST}:${server.port}${load.path}`;
        const run = await runWrk({ pids: server.pids, otherPids: options.upstreamPids, url, connections: load.connections, durationS: options.durationS, timeoutS: load.timeoutS });
        runs.get(result).push(run);
        progress(summary(`${load.label}, round ${round}/${options.rounds}, ${result.peer.name}`, run));
      } catch (error) {
        result.error = error.message;
        progress(`  ${result.peer.name} failed: ${error.message}`);
      }
    }
  }
  for (const [result, list] of runs) {
    if (list.length > 0) result[load.key] = combineRounds(load, list);
  }
}

/** Starts every available server, checks that it serves `files`, and warms it up on the first. */
async function startAll(results, root, files, options) {
  const running = new Map();
  for (const result of results) {
    const { peer } = result;
    const missing = peer.missing();
    if (missing) {
      progress(`${peer.name}: ${missing}`);
      result[peer.mandatory ? 'error' : 'skipped'] = missing;
      continue;
    }
    let server;
    try {
      server = await peer.start(root);
      running.set(result, server);
      progress(`${peer.name}: listening on ${HOST}:${server.port}, pids ${server.pids.join(' ')}`);
      await checkServes(server.port, peer.name, files);
      // Processes started on demand (Tiny Server's Python bridge, gunicorn's worker) count too.
      server.pids = processTree(server.child.pid);
      const url = `http://${HOST}:${server.port}${files[0][0]}`;
      await runWrk({ pids: server.pids, url, connections: 50, durationS: options.warmupS, timeoutS: 5 });
    } catch (error) {
      result.error = error.message;
      progress(`  ${peer.name} failed: ${error.message}`);
    }
  }
  return running;
}

async function measureIdle({ port, pids }, options, result) {
  result.idle = await runIdle({ port, host: HOST, count: options.idleCount, path: HTML_PATH, pids });
  const i = result.idle;
  progress(`  ${i.requested} idle connections: ${i.ok} answered, ${i.failed} failed, ${i.openAtSample} open at sample, `
    + `opened in ${i.elapsedMs} ms, RSS ${(i.rssBeforeBytes / 1e6).toFixed(1)} -> ${(i.rssBytes / 1e6).toFixed(1)} MB`
    + `${i.note ? ` (${i.note})` : ''}`);
}

/**
 * The idle test on a fresh instance of each server: garbage left by the 100 MiB load would
 * otherwise count as connection memory. Only the page is fetched before it.
 */
async function idleTests(results, root, options) {
  for (const result of results) {
    const { peer } = result;
    if (result.error || result.skipped) continue;
    if (!peer.idle) {
      progress(`${peer.name}: idle connections skipped (HTTP/1.0 server with a tiny listen backlog)`);
      continue;
    }
    let server;
    try {
      server = await peer.start(root);
      progress(`${peer.name}: fresh instance for the idle test on ${HOST}:${server.port}`);
      await checkServes(server.port, peer.name, [[HTML_PATH, HTML_SIZE]]);
      await measureIdle(server, options, result);
    } catch (error) {
      result.error = error.message;
      progress(`  ${peer.name} failed: ${error.message}`);
    } finally {
      if (server) await stop(server.child);
    }
  }
}

/** `--apps`: the WSGI app on every app server, one load, its own tables. */
async function mainApps(options) {
  console.log(`# Tiny Server benchmark: WSGI apps${options.quick ? ' (quick)' : ''}\n`);
  console.log(machineInfo({ nginxBin, pythonBin, wrkBin }));
  console.log(`- app python (every server, Tiny Server with --python): ${appPython}, ${commandLine(appPython, ['--version']) ?? 'not found'}`);
  console.log(`- gunicorn: ${gunicornBin ? commandLine(gunicornBin, ['--version']) : 'not installed'}`);
  console.log(`- load: GET ${APP_PATH} (hello world, ${APP_BODY_SIZE} bytes), ${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.durationS} s per server, `
    + `the servers taking turns, after a ${options.warmupS} s warm-up; wrk -t1 -c50 (keep-alive); the median round is reported\n`);
  const root = createAppSite();
  const results = options.peers.filter((p) => !options.only || options.only.includes(p.id)).map((peer) => ({ peer }));
  progress(`Starting the servers (load average ${loadavg()[0].toFixed(2)})`);
  const running = await startAll(results, root, [[APP_PATH, APP_BODY_SIZE]], options);
  try {
    for (const load of APP_LOADS) await measureLoad(load, running, options);
  } finally {
    for (const server of running.values()) await stop(server.child);
  }
  console.log(`## Results\n\n${appsResultsTable(results)}\n`);
  console.log('MB = 10^6 bytes. RSS is VmRSS summed over the server\'s processes (Tiny Server: node and its Python bridge; '
    + 'gunicorn: master and worker), peak of 100 ms samples during the load. Server CPU is user + system time of those processes '
    + `divided by completed requests. Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} `
    + '(the bench itself keeps about 2 cores busy; well above 2 means other work shared them).\n');
  console.log(`## Ratios\n\n${appsRatioTable(results)}\n`);
  console.log(`## Targets (reported, not enforced)\n\n${appsTargetsTable(results)}`);
  return results;
}

/** `--proxy`: the site from one upstream nginx through each proxy; 1 KiB at 50 connections and 100 MiB at 4. */
async function mainProxy(options) {
  console.log(`# Tiny Server benchmark: reverse proxies${options.quick ? ' (quick)' : ''}\n`);
  console.log(machineInfo({ nginxBin, pythonBin, wrkBin }));
  console.log(`- upstream: nginx (1 worker) serving ${HTML_PATH} (${HTML_SIZE} bytes) and ${BIG_PATH} (100 MiB) to every proxy`);
  console.log(`- loads: ${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.durationS} s per proxy, the proxies taking turns, `
    + `after a ${options.warmupS} s warm-up; wrk -t1; the median round is reported\n`);
  if (upstreamPeer === undefined || upstreamPeer.missing()) throw new Error('The proxy bench needs nginx as the upstream: apt-get install nginx-light');
  progress('Creating the temp site (100 MiB file)');
  const root = await createSite();
  const upstream = await upstreamPeer.start(root);
  options.setUpstream(upstream.port);
  // Its CPU per request is reported with each proxy's: what a proxy leaves to the upstream and wrk.
  options.upstreamPids = upstream.pids;
  const results = options.peers.filter((p) => !options.only || options.only.includes(p.id)).map((peer) => ({ peer }));
  const running = await startAll(results, root, [[HTML_PATH, HTML_SIZE], [BIG_PATH, BIG_SIZE]], options);
  try {
    for (const load of LOADS.filter((l) => l.key !== 'html500')) await measureLoad(load, running, options);
  } finally {
    for (const server of running.values()) await stop(server.child);
    await stop(upstream.child);
  }
  console.log(proxyReport(results, availableParallelism()));
  console.log(`\nLoad average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (wrk, the proxy and the upstream share the cores).`);
  return results;
}

async function mainFiles(options) {
  console.log(`# Tiny Server benchmark${options.quick ? ' (quick)' : ''}\n`);
  console.log(machineInfo({ nginxBin, pythonBin, wrkBin }));
  console.log(`- loads: ${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.durationS} s per server, the servers taking turns, `
    + `after a ${options.warmupS} s warm-up; wrk -t1; the median round is reported; idle test: ${options.idleCount} connections\n`);
  progress('Creating the temp site (100 MiB file)');
  const root = await createSite();
  const results = options.peers.filter((p) => !options.only || options.only.includes(p.id)).map((peer) => ({ peer }));
  progress(`Starting the servers (load average ${loadavg()[0].toFixed(2)})`);
  const running = await startAll(results, root, [[HTML_PATH, HTML_SIZE], [BIG_PATH, BIG_SIZE]], options);
  try {
    for (const load of LOADS) await measureLoad(load, running, options);
  } finally {
    for (const server of running.values()) await stop(server.child);
  }
  await idleTests(results, root, options);
  console.log(`## Results\n\n${resultsTable(results, options.idleCount)}\n`);
  console.log('MB = 10^6 bytes. RSS is VmRSS summed over the server\'s processes (nginx: master + worker), '
    + 'peak of 100 ms samples during the three loads. The idle test runs on a fresh instance; '
    + 'its cell shows the growth over that instance before the connections. Server CPU is user + system time of those processes '
    + `divided by completed requests. Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} `
    + '(the bench itself keeps about 2 cores busy; well above 2 means other work shared them).\n');
  console.log(`## Ratios\n\n${ratioTable(results)}\n`);
  console.log(`## Targets (reported, not enforced)\n\n${targetsTable(results, options.idleCount)}`);
  return results;
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (!wrkBin) {
    console.error('wrk not installed: apt-get install wrk');
    process.exit(1);
  }
  installCleanupHandlers();
  const results = await (options.apps ? mainApps(options) : options.proxy ? mainProxy(options) : mainFiles(options));
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
