import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Exposes gc() to this test process only (node --test runs each file in a process of its own).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/**
 * Buffer memory of this process after full collections: what is really held, not garbage. V8
 * frees the memory of collected buffers on a background thread, so it collects again after a pause.
 */
export async function bufferBytes(): Promise<number> {
  collect();
  await new Promise((resolve) => setTimeout(resolve, 20));
  collect();
  return process.memoryUsage().arrayBuffers;
}
