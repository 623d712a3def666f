// The temp site every server serves: two 1 KiB HTML pages and one 100 MiB binary.
import { createWriteStream, writeFileSync, chmodSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeTempDir } from './procs.mjs';

export const HTML_PATH = '/page.html';
export const BIG_PATH = '/big.bin';
export const HTML_SIZE = 1024;
export const BIG_SIZE = 100 * 1024 * 1024;

/** An HTML page of exactly `size` bytes (ASCII, so bytes equal characters). */
function htmlPage(title, size) {
  const head = `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${title}</title></head>\n<body>\n<p>`;
  const tail = '</p>\n</body>\n</html>\n';
  const filler = 'Tiny Server benchmark page. '.repeat(64).slice(0, size - head.length - tail.length);
  return head + filler + tail;
}

/**
 * Writes big.bin through a stream, one 1 MiB chunk at a time with backpressure, so the 100 MiB
 * never sit in memory. Random bytes keep any compression from flattering a server.
 */
async function writeBigFile(path, size) {
  const chunk = randomBytes(1024 * 1024);
  const out = createWriteStream(path);
  for (let written = 0; written < size; written += chunk.length) {
    const piece = size - written < chunk.length ? chunk.subarray(0, size - written) : chunk;
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Creates the site in a temp dir (removed by `cleanup()`) and returns its root. */
export async function createSite() {
  const root = makeTempDir('tiny-bench-site-');
  for (const [name, title] of [['index.html', 'Index'], ['page.html', 'Page']]) {
    writeFileSync(join(root, name), htmlPage(title, HTML_SIZE));
  }
  await writeBigFile(join(root, 'big.bin'), BIG_SIZE);
  for (const name of ['index.html', 'page.html', 'big.bin']) chmodSync(join(root, name), 0o644);
  return root;
}
