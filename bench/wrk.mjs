// Runs one wrk load and samples the server's memory while it runs.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, rssBytes, spawnTracked, which } from './procs.mjs';

const reportScript = join(dirname(fileURLToPath(import.meta.url)), 'wrk-report.lua');
const RSS_SAMPLE_MS = 100;

export const wrkBin = which('wrk');

/**
 * @typedef {object} LoadResult
 * @property {number} requests
 * @property {number} reqPerSec
 * @property {number} bytesPerSec
 * @property {number} p50Ms
 * @property {number} p99Ms
 * @property {{ connect: number, read: number, write: number, timeout: number }} socketErrors
 * @property {number} non2xx3xx Responses with another status (wrk's "Non-2xx or 3xx responses").
 * @property {number} peakRssBytes Highest summed VmRSS of the server's processes during the run.
 * @property {number} cpuUsPerRequest Server CPU time (user + system) per completed request, in µs.
 */

/**
 * One wrk run with a single thread: the machine has 2 cores, and a second wrk thread would take
 * CPU from the server under test.
 * @returns {Promise<LoadResult>}
 */
export async function runWrk({ url, connections, durationS, timeoutS, pids }) {
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, `--timeout`, `${timeoutS}s`, '-s', reportScript, url];
  const child = spawnTracked(wrkBin, args, { stdout: 'pipe', stderr: 'pipe' });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text) => { output += text; });
  child.stderr.setEncoding('utf8').on('data', (text) => { output += text; });
  const cpuBefore = cpuSeconds(pids);
  let peak = rssBytes(pids);
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(pids)); }, RSS_SAMPLE_MS);
  const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)));
  clearInterval(sampler);
  const cpu = cpuSeconds(pids) - cpuBefore;
  const line = output.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk ${args.join(' ')} failed (${code}):\n${output.trim()}`);
  }
  return toResult(JSON.parse(line.slice('BENCH_JSON '.length)), peak, cpu);
}

function toResult(raw, peakRssBytes, cpu) {
  const seconds = raw.durationUs / 1e6;
  return {
    requests: raw.requests,
    reqPerSec: raw.requests / seconds,
    bytesPerSec: raw.bytes / seconds,
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    socketErrors: { connect: raw.connect, read: raw.read, write: raw.write, timeout: raw.timeout },
    non2xx3xx: raw.status,
    peakRssBytes,
    cpuUsPerRequest: raw.requests > 0 ? (cpu * 1e6) / raw.requests : NaN,
  };
}

/** Total of socket errors and bad statuses in a result. */
export function errorCount(result) {
  const e = result.socketErrors;
  return e.connect + e.read + e.write + e.timeout + result.non2xx3xx;
}

/** "connect 3, timeout 12, non-2xx 5", or "0". */
export function describeErrors(result) {
  const parts = Object.entries(result.socketErrors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  if (result.non2xx3xx > 0) parts.push(`non-2xx ${result.non2xx3xx}`);
  return parts.length === 0 ? '0' : parts.join(', ');
}
