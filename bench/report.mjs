// Markdown output: machine info, the results table, ratios against Tiny Server, and the targets.
import { cpus, loadavg, release } from 'node:os';
import { availableParallelism } from 'node:os';
import { commandLine, hardOpenFileLimit } from './procs.mjs';
import { describeErrors, errorCount } from './wrk.mjs';

const MB = 1e6;

/** @typedef {{ peer: { id: string, name: string }, html50?: any, html500?: any, big?: any, idle?: any, error?: string, skipped?: string }} ServerResult */

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtMB = (bytes) => `${(bytes / MB).toFixed(1)} MB`;
const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a');

/** Machine and tool versions, so a reader can tell what produced the numbers. */
export function machineInfo({ nginxBin, pythonBin, wrkBin }) {
  const cpu = cpus()[0]?.model ?? 'unknown';
  const lines = [
    `- nproc: ${availableParallelism()} (${cpu})`,
    `- kernel: Linux ${release()}, load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `- node: ${process.version}`,
    `- nginx: ${nginxBin ? commandLine(nginxBin, ['-v']) : 'not installed'}`,
    `- python3: ${pythonBin ? commandLine(pythonBin, ['--version']) : 'not installed'}`,
    `- wrk: ${wrkBin ? commandLine(wrkBin, ['--version']) : 'not installed'}`,
    `- open file limit (hard, raised to for every child): ${hardOpenFileLimit()}`,
  ];
  return lines.join('\n');
}

function idleCell(idle) {
  if (!idle) return 'skipped';
  const open = idle.openAtSample < idle.requested ? `, ${fmtInt(idle.openAtSample)}/${fmtInt(idle.requested)} open` : '';
  const growth = idle.rssBytes - idle.rssBeforeBytes;
  return `${fmtMB(idle.rssBytes)} (${growth >= 0 ? '+' : '−'}${fmtMB(Math.abs(growth))}${open})`;
}

function peakRss(result) {
  const runs = [result.html50, result.html500, result.big].filter(Boolean);
  return runs.length === 0 ? undefined : Math.max(...runs.map((r) => r.peakRssBytes));
}

function row(result) {
  const { html50, html500, big } = result;
  if (result.skipped || result.error) {
    const why = result.skipped ?? `failed: ${result.error.split('\n')[0]}`;
    return `| ${result.peer.name} | ${why} | | | | | | | |`;
  }
  const errors50 = html50 && errorCount(html50) > 0 ? ` (errors: ${describeErrors(html50)})` : '';
  const bigErrors = big && errorCount(big) > 0 ? ` (errors: ${describeErrors(big)})` : '';
  const peak = peakRss(result);
  return `| ${result.peer.name} | ${html50 ? fmtInt(html50.reqPerSec) + errors50 : '–'} | ${html50 ? html50.p99Ms.toFixed(2) + ' ms' : '–'}`
    + ` | ${html50 ? html50.cpuUsPerRequest.toFixed(1) : '–'}`
    + ` | ${html500 ? fmtInt(html500.reqPerSec) : '–'} | ${html500 ? describeErrors(html500) : '–'}`
    + ` | ${big ? (big.bytesPerSec / MB).toFixed(0) + bigErrors : '–'} | ${peak === undefined ? '–' : fmtMB(peak)}`
    + ` | ${idleCell(result.idle)} |`;
}

/** The main table: one row per server. */
export function resultsTable(results, idleCount) {
  const header = `| Server | req/s (50c) | p99 (50c) | server CPU µs/req (50c) | req/s (500c) | errors (500c) | 100 MiB file MB/s (4c) | peak RSS under load | RSS with ${fmtInt(idleCount)} idle |`;
  return [header, '|---|---:|---:|---:|---:|---|---:|---:|---:|', ...results.map(row)].join('\n');
}

const ratio = (a, b) => (a && b ? a / b : NaN);

/** Ratios of every peer against Tiny Server, each column labelled with its direction. */
export function ratioTable(results) {
  const tiny = results.find((r) => r.peer.id === 'tiny');
  const peers = results.filter((r) => r.peer.id !== 'tiny' && r.html50);
  if (!tiny?.html50 || peers.length === 0) return '(no ratios: Tiny Server or every peer is missing)';
  const lines = [
    '| Peer | req/s 50c: Tiny ÷ peer | req/s 500c: Tiny ÷ peer | 100 MiB MB/s: Tiny ÷ peer | p99 50c: peer ÷ Tiny | CPU/req 50c: peer ÷ Tiny | peak RSS: Tiny ÷ peer |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const p of peers) {
    lines.push(`| ${p.peer.name} | ${fmtRatio(ratio(tiny.html50?.reqPerSec, p.html50?.reqPerSec))}`
      + ` | ${fmtRatio(ratio(tiny.html500?.reqPerSec, p.html500?.reqPerSec))}`
      + ` | ${fmtRatio(ratio(tiny.big?.bytesPerSec, p.big?.bytesPerSec))}`
      + ` | ${fmtRatio(ratio(p.html50?.p99Ms, tiny.html50?.p99Ms))}`
      + ` | ${fmtRatio(ratio(p.html50?.cpuUsPerRequest, tiny.html50?.cpuUsPerRequest))}`
      + ` | ${fmtRatio(ratio(peakRss(tiny), peakRss(p)))} |`);
  }
  lines.push('', 'Throughput columns: above 1× means Tiny Server is faster. p99 and CPU/req: above 1× means Tiny Server answers sooner or spends less CPU per request. RSS: below 1× means Tiny Server uses less memory.');
  return lines.join('\n');
}

/** One target line: measured ratio against `floor`, SKIP when a side is missing. */
function ratioTarget(label, tinyRun, peerRun, pick, floor, needZeroErrors) {
  if (!tinyRun || !peerRun) return `| ${label} | n/a (not measured) | SKIP |`;
  const r = pick(tinyRun) / pick(peerRun);
  const errors = needZeroErrors ? errorCount(tinyRun) : 0;
  const measured = `${fmtRatio(r)}${needZeroErrors ? `, Tiny Server errors: ${describeErrors(tinyRun)}` : ''}`;
  return `| ${label} | ${measured} | ${r >= floor && errors === 0 ? 'PASS' : 'FAIL'} |`;
}

/** The performance targets, each marked PASS, FAIL, SKIP or INCOMPLETE; reported, not enforced. */
export function targetsTable(results, idleCount) {
  const by = (id) => results.find((r) => r.peer.id === id);
  const tiny = by('tiny') ?? {};
  const sirv = by('sirv') ?? {};
  const nginx = by('nginx') ?? {};
  const tuned = by('nginx-tuned') ?? {};
  const rps = (r) => r.reqPerSec;
  const lines = ['| Target | Measured | Result |', '|---|---|---|',
    ratioTarget('req/s 50c ≥ 5× sirv', tiny.html50, sirv.html50, rps, 5, false),
    ratioTarget('req/s 50c ≥ 1.0× nginx (open_file_cache, buffered log)', tiny.html50, tuned.html50, rps, 1, false),
    ratioTarget('req/s 500c ≥ 1.0× nginx (open_file_cache, buffered log), zero errors', tiny.html500, tuned.html500, rps, 1, true),
    ratioTarget('req/s 50c ≥ 1.0× nginx', tiny.html50, nginx.html50, rps, 1, false),
    ratioTarget('req/s 500c ≥ 5× sirv, zero errors', tiny.html500, sirv.html500, rps, 5, true),
    ratioTarget('req/s 500c ≥ 1.0× nginx, zero errors', tiny.html500, nginx.html500, rps, 1, true),
    ratioTarget('100 MiB MB/s ≥ 1.0× nginx', tiny.big, nginx.big, (r) => r.bytesPerSec, 1, false),
    idleTarget(tiny.idle, idleCount)];
  return lines.join('\n');
}

function idleTarget(idle, idleCount) {
  const label = `RSS with ${fmtInt(idleCount)} idle connections < 100 MB`;
  if (!idle) return `| ${label} | n/a (not measured) | SKIP |`;
  const complete = idle.ok === idle.requested && idle.openAtSample >= idle.requested * 0.95 && idle.requested === idleCount;
  const verdict = idle.rssBytes >= 100 * MB ? 'FAIL' : complete ? 'PASS' : 'INCOMPLETE';
  return `| ${label} | ${idleCell(idle)}, ${fmtInt(idle.ok)} answered, opened in ${fmtInt(idle.elapsedMs)} ms | ${verdict} |`;
}

/** `--apps`: one row per server for the hello-world app, 50 connections. */
export function appsResultsTable(results) {
  const header = '| Server | req/s (50c) | p99 (50c) | server CPU µs/req (50c) | errors (50c) | peak RSS under load |';
  const rows = results.map((result) => {
    const run = result.html50;
    if (result.skipped || result.error || !run) {
      return `| ${result.peer.name} | ${result.skipped ?? `failed: ${(result.error ?? 'not measured').split('\n')[0]}`} | | | | |`;
    }
    return `| ${result.peer.name} | ${fmtInt(run.reqPerSec)} | ${run.p99Ms.toFixed(2)} ms | ${run.cpuUsPerRequest.toFixed(1)}`
      + ` | ${describeErrors(run)} | ${fmtMB(run.peakRssBytes)} |`;
  });
  return [header, '|---|---:|---:|---:|---|---:|', ...rows].join('\n');
}

/** Fetch app peers are compared with Tiny Server running the Fetch app, the others with it running the WSGI app. */
const FETCH_PEERS = new Set(['hono-node', 'tiny-fetch-baseline']);

/** `--apps`: ratios of every peer against Tiny Server running the same kind of app (WSGI or Fetch). */
export function appsRatioTable(results) {
  const own = (id) => results.find((r) => r.peer.id === id)?.html50;
  const rows = results
    .filter((r) => r.peer.id !== 'tiny' && r.peer.id !== 'tiny-fetch' && r.html50)
    .map((r) => ({ ...r, tiny: own(FETCH_PEERS.has(r.peer.id) ? 'tiny-fetch' : 'tiny') }))
    .filter((r) => r.tiny !== undefined);
  if (rows.length === 0) return '(no ratios: Tiny Server or every peer is missing)';
  const lines = [
    '| Peer | req/s 50c: Tiny ÷ peer | p99 50c: peer ÷ Tiny | CPU/req 50c: peer ÷ Tiny | peak RSS: Tiny ÷ peer |',
    '|---|---:|---:|---:|---:|',
    ...rows.map(({ peer, html50: p, tiny }) => `| ${peer.name} | ${fmtRatio(tiny.reqPerSec / p.reqPerSec)}`
      + ` | ${fmtRatio(p.p99Ms / tiny.p99Ms)} | ${fmtRatio(p.cpuUsPerRequest / tiny.cpuUsPerRequest)}`
      + ` | ${fmtRatio(tiny.peakRssBytes / p.peakRssBytes)} |`),
    '', 'Tiny Server is the one running the same app as the peer: the WSGI app for gunicorn and wsgiref, the Fetch app for the others.'
      + ' Above 1× means Tiny Server is faster, answers sooner or spends less CPU per request; RSS below 1× means it uses less memory.',
  ];
  return lines.join('\n');
}

/** `--apps`: the WSGI targets, reported, not enforced. */
export function appsTargetsTable(results) {
  const run = (id) => results.find((r) => r.peer.id === id)?.html50;
  const tiny = run('tiny');
  const sync = run('gunicorn-sync');
  const gthread = run('gunicorn-gthread');
  const rps = (r) => r.reqPerSec;
  // p99: the peer's over Tiny Server's, so "no worse" is a ratio of at least 1.
  const p99 = (r) => r.p99Ms;
  return ['| Target | Measured | Result |', '|---|---|---|',
    ratioTarget('req/s 50c ≥ 1.5× gunicorn sync (1 worker)', tiny, sync, rps, 1.5, false),
    ratioTarget('req/s 50c ≥ 1.0× gunicorn gthread', tiny, gthread, rps, 1, false),
    ratioTarget('p99 50c no worse than gunicorn sync (sync p99 ÷ Tiny p99 ≥ 1)', sync, tiny, p99, 1, false),
    ratioTarget('p99 50c no worse than gunicorn gthread (gthread p99 ÷ Tiny p99 ≥ 1)', gthread, tiny, p99, 1, false),
    ratioTarget('Fetch app: req/s 50c ≥ 1.0× @hono/node-server', run('tiny-fetch'), run('hono-node'), rps, 1, false),
  ].join('\n');
}
