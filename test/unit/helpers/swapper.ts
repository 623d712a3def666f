import { Worker } from 'node:worker_threads';

/** What the swapper puts at the target path: a symlink to `link`, or a hard link of `hardlink`. */
export type Swap = { readonly link: string } | { readonly hardlink: string };

/** One path to swap: `swaps` are put at `target` in turn, each by an atomic rename. */
export interface SwapTarget {
  readonly target: string;
  readonly swaps: readonly Swap[];
  /** Left at `target` when swapping stops. */
  readonly final: Swap;
}

export interface SwapPlan {
  /** Swapped in lockstep, as fast as one thread can, for `durationMs`. */
  readonly targets: readonly SwapTarget[];
  readonly durationMs: number;
  /**
   * FIFOs opened for writing (and closed) from `unblockAfterMs` after swapping until `stop()`:
   * a server blocked in a blocking open() of one of them then gets EOF instead of hanging the
   * test for ever, having been blocked for at least that long.
   */
  readonly fifos?: readonly string[];
  readonly unblockAfterMs?: number;
  /**
   * Kills this process when its RSS grows by more than this many bytes: a server that reads
   * `/dev/zero` without end would otherwise take the machine down before the test can fail.
   */
  readonly maxRssGrowth?: number;
}

export interface Swapper {
  /** Resolves with the number of rounds of swaps once swapping is over and every `final` is in place. */
  readonly swapped: Promise<number>;
  /** Ends the worker (after `swapped`); resolves when it has exited. */
  stop(): Promise<void>;
}

// Plain JavaScript run in a worker thread: a thread of its own, so that swaps land between the
// synchronous file-system calls of a request, as another process's would.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { targets, durationMs, fifos, unblockAfterMs, maxRssGrowth, stopFlag } = workerData;
const stop = new Int32Array(stopFlag);
const startRss = process.memoryUsage.rss();
function put(target, swap) {
  const tmp = target + '.swap';
  fs.rmSync(tmp, { force: true });
  if (swap.link !== undefined) fs.symlinkSync(swap.link, tmp);
  else fs.linkSync(swap.hardlink, tmp);
  fs.renameSync(tmp, target);
}
const rounds = Math.max(...targets.map((t) => t.swaps.length));
function watchdog() {
  if (maxRssGrowth === undefined || process.memoryUsage.rss() - startRss <= maxRssGrowth) return;
  fs.writeSync(2, 'swapper: RSS grew by more than ' + maxRssGrowth + ' bytes; killing the test process\\n');
  process.kill(process.pid, 'SIGKILL');
}
let count = 0;
const end = Date.now() + durationMs;
while (Date.now() < end) {
  for (let round = 0; round < rounds; round++) {
    for (const { target, swaps } of targets) put(target, swaps[round % swaps.length]);
  }
  if (++count % 32 === 0) watchdog();
}
for (const { target, final } of targets) put(target, final);
parentPort.postMessage(count);
const unblockAt = Date.now() + unblockAfterMs;
const deadline = Date.now() + 60000;
while (Atomics.load(stop, 0) === 0 && Date.now() < deadline) {
  for (const fifo of Date.now() < unblockAt ? [] : fifos) {
    try { fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); } catch {}
  }
  watchdog();
  Atomics.wait(stop, 0, 0, 10);
}
`;

/** Starts swapping `plan.targets` in a worker thread. */
export function startSwapper(plan: SwapPlan): Swapper {
  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { ...plan, fifos: plan.fifos ?? [], unblockAfterMs: plan.unblockAfterMs ?? 0, stopFlag },
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const swapped = new Promise<number>((resolve, reject) => {
    worker.once('message', (count: number) => resolve(count));
    worker.once('error', reject);
    void exited.then(() => reject(new Error('The swapper ended before swapping was over')));
  });
  return {
    swapped,
    stop: async () => {
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      Atomics.notify(new Int32Array(stopFlag), 0);
      await exited;
    },
  };
}
