import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, linkSync, openSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import type { RequestLogRecord } from '../../src/server/log';
import { startLogged, waitFor } from './helpers/server';
import { createFixtureSite, type FixtureSite } from './helpers/fixture-site';
import { exchange, parseResponses, type RawResponse } from './helpers/raw';
import { startSwapper, type Swap, type SwapPlan } from './helpers/swapper';

// A served file is swapped, by another thread, for a link out of the root, a FIFO or a link to
// /dev/zero while it is requested in a loop. Each scenario swaps for SWAP_MS.

const SECRET = 'OUTSIDE-THE-ROOT-';
const SWAP_MS = 1500;
const PARALLEL = 4;
const BATCH = 16;
const BIG = 512 * 1024;
const unix = process.platform !== 'win32';

interface Request {
  readonly target: string;
  readonly method?: string;
  /** More header lines, each ending in CRLF. */
  readonly extra?: string;
}

interface Hostile {
  readonly site: FixtureSite;
  readonly records: RequestLogRecord[];
  /** One request on its own connection. */
  request(request: Request): Promise<RawResponse>;
  /** Requests pipelined on one connection (HEAD requests first), answers in order. */
  batch(requests: readonly Request[]): Promise<RawResponse[]>;
}

/** Entries in /proc/self/fd: the descriptors this process (client and server) holds; Linux only. */
function openDescriptors(): number | undefined {
  return process.platform === 'linux' ? readdirSync('/proc/self/fd').length : undefined;
}

/**
 * Serves a fixture site on a real socket and, after closing the server, checks that every file
 * descriptor opened meanwhile was closed again (closing is asynchronous, so it is polled).
 */
async function withHostileServer(files: Record<string, string | Buffer>, run: (hostile: Hostile) => Promise<void>): Promise<void> {
  const site = createFixtureSite(files);
  const before = openDescriptors();
  const { server, records } = await startLogged({ root: site.root });
  const { port } = server;
  const batch = async (requests: readonly Request[]): Promise<RawResponse[]> => {
    const raw = requests.map(({ target, method = 'GET', extra = '' }, i) => {
      const close = i === requests.length - 1 ? 'Connection: close\r\n' : '';
      return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}${close}\r\n`;
    });
    const heads = requests.filter((r) => r.method === 'HEAD').length;
    const responses = parseResponses(await exchange(port, raw.join(''), 10_000), heads);
    assert.equal(responses.length, requests.length, 'one response to each request');
    return responses;
  };
  const request = async (one: Request): Promise<RawResponse> => (await batch([one]))[0] as RawResponse;
  try {
    await run({ site, records, request, batch });
  } finally {
    await server.close();
    site.remove();
  }
  if (before === undefined) return;
  const deadline = Date.now() + 2000;
  while (openDescriptors() !== before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(openDescriptors(), before, 'every file descriptor opened while serving is closed again');
}

/**
 * Sends `requests` over and over from PARALLEL loops until `untilMs`, pipelined BATCH at a time
 * on one connection (many more requests than a connection each); `check` sees every answer.
 */
async function hammer(
  hostile: Hostile,
  requests: readonly Request[],
  untilMs: number,
  check: (request: Request, response: RawResponse) => void,
): Promise<void> {
  const batch = Array.from({ length: BATCH }, (_, i) => requests[i % requests.length] as Request);
  batch.sort((a, b) => Number(b.method === 'HEAD') - Number(a.method === 'HEAD'));
  const loop = async (): Promise<void> => {
    while (Date.now() < untilMs) {
      const responses = await hostile.batch(batch);
      responses.forEach((response, i) => check(batch[i] as Request, response));
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, loop));
}

/** Requests `/other.txt` one after another until `untilMs`; resolves with the slowest answer in ms. */
async function slowestAnswer(hostile: Hostile, untilMs: number): Promise<number> {
  let slowest = 0;
  while (Date.now() < untilMs) {
    const started = performance.now();
    const response = await hostile.request({ target: '/other.txt' });
    slowest = Math.max(slowest, performance.now() - started);
    assert.equal(response.body.toString(), 'other');
  }
  return slowest;
}

/** Swaps `plan.target` in a worker while `during` runs; `final` is in place when it resolves. */
async function whileSwapping(plan: Omit<SwapPlan, 'durationMs'>, during: (untilMs: number) => Promise<void>): Promise<number> {
  const swapper = startSwapper({ ...plan, durationMs: SWAP_MS });
  try {
    await during(Date.now() + SWAP_MS);
    return await swapper.swapped;
  } finally {
    await swapper.stop();
  }
}

/** A file outside the root (in the fixture's base folder) holding `content`. */
function outside(site: FixtureSite, name: string, content: string | Buffer): string {
  const path = join(site.base, name);
  writeFileSync(path, content);
  return path;
}

/** Puts a hard link of `source` at `target` in one rename. */
function restore(source: string, target: string): void {
  linkSync(source, `${target}.restore`);
  renameSync(`${target}.restore`, target);
}

test('a file swapped for a link out of the root is never served, nor cached, nor streamed', { skip: !unix }, async () => {
  const small = 'inside '.repeat(20);
  const big = Buffer.alloc(BIG, 'i');
  await withHostileServer({ 'small.txt': small, 'big.bin': big, 'other.txt': 'other' }, async (hostile) => {
    const { site } = hostile;
    const secretSmall = outside(site, 'secret.txt', SECRET.repeat(8));
    const secretBig = outside(site, 'secret.bin', Buffer.alloc(BIG, SECRET));
    const insideSmall = outside(site, 'small.src', small);
    const insideBig = outside(site, 'big.src', big);
    const statuses = new Map<string, number[]>();
    const leaks = new Map<string, number>();
    const requests: Request[] = [
      { target: '/small.txt' },
      { target: '/big.bin' },
      { target: '/big.bin', method: 'HEAD' },
      { target: '/big.bin', extra: 'Range: bytes=1000-1999\r\n' },
    ];
    const rounds = await whileSwapping(
      {
        targets: [
          { target: site.path('small.txt'), swaps: [{ hardlink: insideSmall }, { link: secretSmall }], final: { link: secretSmall } },
          { target: site.path('big.bin'), swaps: [{ hardlink: insideBig }, { link: secretBig }], final: { link: secretBig } },
        ],
      },
      (untilMs) =>
        hammer(hostile, requests, untilMs, (request, response) => {
          const key = `${request.method ?? 'GET'} ${request.target}${request.extra === undefined ? '' : ' (range)'}`;
          if (response.body.toString('latin1').includes(SECRET)) leaks.set(key, (leaks.get(key) ?? 0) + 1);
          statuses.set(key, [...(statuses.get(key) ?? []), response.status]);
        }),
    );
    assert.ok(rounds > 100, 'the files were swapped while requested');
    assert.deepEqual(Object.fromEntries(leaks), {}, 'answers that carried the outside file, by request');
    // Positive control: the race was run, both the file and the link were met.
    for (const key of ['GET /small.txt', 'GET /big.bin']) {
      const seen = statuses.get(key) ?? [];
      assert.ok(seen.includes(200) && seen.includes(404), `${key} met both the file and the link: ${[...new Set(seen)].join(', ')}`);
    }
    // The links stay in place: nothing cached or half-open may answer for them now.
    for (const target of ['/small.txt', '/big.bin']) {
      const response = await hostile.request({ target });
      assert.equal(response.status, 404, target);
      assert.ok(!response.body.toString('latin1').includes(SECRET), `${target} answered with the outside file after the race`);
    }
    restore(insideSmall, site.path('small.txt'));
    restore(insideBig, site.path('big.bin'));
    assert.equal((await hostile.request({ target: '/small.txt' })).body.toString(), small);
    assert.ok((await hostile.request({ target: '/big.bin' })).body.equals(big));
  });
});

test('a file swapped for a FIFO never blocks the server', { skip: !unix }, async () => {
  await withHostileServer({ 'page.txt': 'page', 'other.txt': 'other' }, async (hostile) => {
    const { site } = hostile;
    const fifo = join(site.base, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const inside = outside(site, 'page.src', 'page');
    const seen = new Set<number>();
    let slowest = 0;
    let wrong = 0;
    await whileSwapping(
      {
        targets: [{ target: site.path('page.txt'), swaps: [{ hardlink: inside }, { hardlink: fifo }], final: { hardlink: fifo } }],
        fifos: [fifo],
        // A server stuck in open() of the FIFO stays stuck this long, well past the bound below.
        unblockAfterMs: 4000,
      },
      async (untilMs) => {
        const [, slow] = await Promise.all([
          hammer(hostile, [{ target: '/page.txt' }], untilMs, (_, response) => {
            seen.add(response.status);
            if (response.status === 200 && response.body.toString() !== 'page') wrong++;
          }),
          slowestAnswer(hostile, untilMs),
        ]);
        slowest = slow;
      },
    );
    // Generous for a loaded 2-core machine; a server blocked in open() stalls for over 4 s.
    assert.ok(slowest < 2000, `other requests were answered promptly during the race (slowest ${slowest.toFixed(0)} ms)`);
    assert.equal(wrong, 0, 'answers with 200 and not the file');
    assert.ok(seen.has(200) && seen.has(404), `the file and the FIFO were both met: ${[...seen].join(', ')}`);
    const started = performance.now();
    assert.equal((await hostile.request({ target: '/page.txt' })).status, 404);
    assert.ok(performance.now() - started < 2000, 'the FIFO itself is refused at once');
    const reasons = hostile.records.filter((record) => record.target === '/page.txt' && record.status === 404).map((r) => r.reason);
    assert.ok(reasons.some((reason) => reason?.includes('FIFO')), `the log says why: ${reasons.slice(-3).join(' | ')}`);
  });
});

test('a FIFO in the folder is a 404 without being opened: a writer waiting on it stays waiting', { skip: !unix }, async () => {
  await withHostileServer({ 'page.txt': 'page' }, async (hostile) => {
    const fifo = hostile.site.path('pipe');
    execFileSync('mkfifo', [fifo]);
    // The shell's open for writing returns only once someone opens the FIFO for reading.
    const writer = spawn('sh', ['-c', 'exec 3>"$0"; echo opened', fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    writer.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const response = await hostile.request({ target: '/pipe' });
      assert.equal(response.status, 404);
      assert.match(hostile.records.at(-1)?.reason ?? '', /is a FIFO, not a regular file or folder/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(output, '', 'the server never opened the FIFO');
      // Control: an open for reading is what wakes the writer.
      closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
      await waitFor(() => output === 'opened\n', 3000, 'the writer to get past its open');
    } finally {
      writer.kill();
    }
  });
});

test('a file swapped for a link to /dev/zero is never read without end', { skip: !unix || !existsSync('/dev/zero') }, async () => {
  await withHostileServer({ 'zero.txt': 'zero', 'other.txt': 'other' }, async (hostile) => {
    const { site } = hostile;
    const inside = outside(site, 'zero.src', 'zero');
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    let longest = 0;
    const seen = new Set<number>();
    const zero: Swap = { link: '/dev/zero' };
    await whileSwapping(
      { targets: [{ target: site.path('zero.txt'), swaps: [{ hardlink: inside }, zero], final: zero }], maxRssGrowth: 1024 * 1024 * 1024 },
      (untilMs) =>
        hammer(hostile, [{ target: '/zero.txt' }], untilMs, (_, response) => {
          rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
          seen.add(response.status);
          longest = Math.max(longest, response.body.length);
        }),
    );
    assert.ok(seen.has(200) && seen.has(404), `the file and the link were both met: ${[...seen].join(', ')}`);
    assert.ok(longest < 64 * 1024, `no answer is longer than the file or an error page (longest ${longest} bytes)`);
    assert.ok(rssPeak - rssBefore < 200 * 1024 * 1024, `memory stays bounded (RSS grew by ${((rssPeak - rssBefore) / 1048576).toFixed(0)} MB)`);
    assert.equal((await hostile.request({ target: '/zero.txt' })).status, 404);
  });
});
