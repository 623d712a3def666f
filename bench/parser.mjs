// Micro-benchmark of the request parser: `node bench/parser.mjs [rounds]`.
// Bundles src/http/parser.ts with esbuild, then parses a typical browser GET (one request per
// chunk, as a keep-alive client sends them) and a pipelined burst. Reports the best of several
// half-second rounds of CPU time, which stays meaningful on a machine busy with other work,
// next to Node's own C parser (llhttp, through the binding node:http uses) on the same input.
import { createRequire } from 'node:module';
import * as esbuild from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const rounds = Number(process.argv[2] ?? 6);
const seconds = 0.5;
const dir = mkdtempSync(join(tmpdir(), 'parser-bench-'));
const outfile = join(dir, 'parser.mjs');
await esbuild.build({ entryPoints: ['src/http/parser.ts'], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'silent' });
const { RequestParser } = await import(pathToFileURL(outfile).href);
rmSync(dir, { recursive: true, force: true });

const request = Buffer.from(
  'GET /assets/css/site.css?v=3 HTTP/1.1\r\n' +
    'Host: localhost:8000\r\n' +
    'Connection: keep-alive\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n' +
    'Accept: text/css,*/*;q=0.1\r\n' +
    'Referer: http://localhost:8000/\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    '\r\n',
  'latin1',
);

let heads = 0;
const parser = new RequestParser(
  {
    onHead: () => heads++,
    onBody: () => {},
    onMessageEnd: () => {},
    onError: (e) => {
      throw new Error(e.message);
    },
  },
  { maxTargetLength: 8192, maxHeaderBytes: 16384, maxBodyBytes: 1 << 20 },
);

/** Runs `chunk` through the parser for about `seconds` of CPU time; returns requests per CPU second. */
function measure(chunk, requestsPerChunk, target = parser) {
  const batch = Math.max(1, Math.floor(20_000 / requestsPerChunk));
  const cpuSeconds = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const start = cpuSeconds();
  let chunks = 0;
  let now = start;
  while (now - start < seconds) {
    for (let i = 0; i < batch; i++) target.execute(chunk);
    chunks += batch;
    now = cpuSeconds();
  }
  return (chunks * requestsPerChunk) / (now - start);
}

const burst = Buffer.concat(Array(32).fill(request));
measure(request, 1); // warm up
for (const [label, chunk, count] of [
  [`one ${request.length}-byte GET per chunk`, request, 1],
  ['32 pipelined GETs per chunk', burst, 32],
]) {
  let rate = 0;
  for (let round = 0; round < rounds; round++) rate = Math.max(rate, measure(chunk, count));
  console.log(`${label}: ${(rate / 1e6).toFixed(2)} M requests per CPU second, ${(1e9 / rate).toFixed(0)} ns each`);
}
if (heads === 0) throw new Error('nothing was parsed');

// The reference: llhttp, including the cost of handing the head to JavaScript as node:http does.
const { HTTPParser } = createRequire(import.meta.url)('_http_common');
const reference = new HTTPParser();
reference.initialize(HTTPParser.REQUEST, {});
reference[HTTPParser.kOnHeadersComplete] = () => {};
reference[HTTPParser.kOnMessageComplete] = () => {};
let best = 0;
for (let round = 0; round < rounds; round++) best = Math.max(best, measure(request, 1, reference));
console.log(`llhttp, one GET per chunk: ${(best / 1e6).toFixed(2)} M requests per CPU second, ${(1e9 / best).toFixed(0)} ns each`);
