// Runs one wrk load and samples the server's memory while it runs.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clockTicks, cpuSeconds, rssBytes, spawnTracked, which } from './procs.mjs';

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
 * @property {number} wrkCpuUsPerRequest wrk's own CPU time per completed request, in µs.
 * @property {number | undefined} otherCpuUsPerRequest CPU time of `otherPids` (a proxy's upstream) per completed request, in µs.
 */

/**
 * One wrk run with a single thread: the machine has 2 cores, and a second wrk thread would take
 * CPU from the server under test.
 * @returns {Promise<LoadResult>}
 */
export async function runWrk({ url, connections, durationS, timeoutS, pids, otherPids }) {
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, `--timeout`, `${timeoutS}s`, '-s', reportScript, url];
  // wrk runs under a shell that, once wrk has exited, prints the CPU time of its reaped child
  // (cutime and cstime of its own /proc stat): wrk's whole run, read after the fact.
  const script = `"$@"; code=$?; echo "WRK_CPU_TICKS $(cut -d')' -f2 /proc/$$/stat)"; exit $code`;
  const child = spawnTracked('/bin/sh', ['-c', script, 'sh', wrkBin, ...args], { stdout: 'pipe', stderr: 'pipe' });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (text) => { output += text; });
  child.stderr.setEncoding('utf8').on('data', (text) => { output += text; });
  const cpuBefore = cpuSeconds(pids);
  const otherBefore = otherPids === undefined ? 0 : cpuSeconds(otherPids);
  let peak = rssBytes(pids);
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(pids)); }, RSS_SAMPLE_MS);
  const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)));
  clearInterval(sampler);
  const cpu = cpuSeconds(pids) - cpuBefore;
  const other = otherPids === undefined ? undefined : cpuSeconds(otherPids) - otherBefore;
  const lines = output.split('\n');
  const line = lines.find((l) => l.startsWith('BENCH_JSON '));
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk ${args.join(' ')} failed (${code}):\n${output.trim()}`);
  }
  const ticks = lines.find((l) => l.startsWith('WRK_CPU_TICKS '))?.slice('WRK_CPU_TICKS '.length).trim().split(' ');
  // After the command name, cutime and cstime are fields 16 and 17 of /proc/<pid>/stat: 13 and 14 here.
  const wrkCpu = ticks === undefined ? NaN : (Number(ticks[13]) + Number(ticks[14])) / clockTicks();
  return toResult(JSON.parse(line.slice('BENCH_JSON '.length)), peak, cpu, wrkCpu, other);
}

function toResult(raw, peakRssBytes, cpu, wrkCpu, otherCpu) {
  const seconds = raw.durationUs / 1e6;
  const perRequest = (total) => (raw.requests > 0 ? (total * 1e6) / raw.requests : NaN);
  return {
    requests: raw.requests,
    reqPerSec: raw.requests / seconds,
    bytesPerSec: raw.bytes / seconds,
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    socketErrors: { connect: raw.connect, read: raw.read, write: raw.write, timeout: raw.timeout },
    non2xx3xx: raw.status,
    peakRssBytes,
    cpuUsPerRequest: perRequest(cpu),
    wrkCpuUsPerRequest: perRequest(wrkCpu),
    otherCpuUsPerRequest: otherCpu === undefined ? undefined : perRequest(otherCpu),
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
