import { mkdirSync, mkdtempSync, readSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Body, Request } from '../../../src/server/handler';

/** A temporary folder of files for tests; `remove()` it in `finally`. */
export interface FixtureSite {
  /** Real path of the site folder (tmpdir may itself be a symlink, e.g. on macOS). */
  readonly root: string;
  /** Real path of the temporary folder that holds `root`; siblings and outside targets go here. */
  readonly base: string;
  /** Absolute path of `relative` (slash-separated) inside the site. */
  path(relative: string): string;
  /** Writes a file, creating its folders; returns its absolute path. */
  write(relative: string, content: string | Buffer): string;
  mkdir(relative: string): string;
  /** Creates a symlink at `relative` inside the site pointing to `target` (absolute or relative). */
  symlink(relative: string, target: string, type?: 'file' | 'dir'): string;
  remove(): void;
}

/**
 * Builds a site in a fresh temporary folder: `<base>/site` holds `files`, and `<base>` is
 * free for things outside the root (a `site-evil` sibling, symlink targets).
 */
export function createFixtureSite(files: Readonly<Record<string, string | Buffer>> = {}): FixtureSite {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'tiny-server-site-')));
  const root = join(base, 'site');
  mkdirSync(root);
  const site: FixtureSite = {
    root,
    base,
    path: (relative) => join(root, ...relative.split('/')),
    write(relative, content) {
      const path = site.path(relative);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      return path;
    },
    mkdir(relative) {
      const path = site.path(relative);
      mkdirSync(path, { recursive: true });
      return path;
    },
    symlink(relative, target, type) {
      const path = site.path(relative);
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(target, path, type);
      return path;
    },
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
  for (const [relative, content] of Object.entries(files)) site.write(relative, content);
  return site;
}

/** A Request as the connection would hand it to a handler; `target` may carry a query. */
export function fakeRequest(
  target: string,
  init: { readonly method?: string; readonly headers?: Readonly<Record<string, string>> } = {},
): Request {
  const question = target.indexOf('?');
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(init.headers ?? {})) headers.set(name.toLowerCase(), value);
  return {
    method: init.method ?? 'GET',
    target,
    path: question < 0 ? target : target.slice(0, question),
    query: question < 0 ? '' : target.slice(question + 1),
    version: '1.1',
    headers,
    body: Buffer.alloc(0),
    remoteAddress: '127.0.0.1',
    remotePort: 50000,
  };
}

/** The bytes a response body stands for (a file body is read from its descriptor); empty when absent. */
export function bodyBytes(body: Body | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (body.kind === 'file') {
    const bytes = Buffer.alloc(body.end - body.start + 1);
    return bytes.subarray(0, readSync(body.fd, bytes, 0, bytes.length, body.start));
  }
  throw new Error('Stream bodies are not read by this helper');
}
