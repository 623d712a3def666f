import type { Disposable } from '../handler';
import type { MediaType } from './content-type';
import { contentTypeOf } from './declared-type';
import { contentTag } from './file-cache';
import { Document, fileMeta } from './representation';

/** Bytes to serve instead of a file's (an editor's unsaved text), and when they last changed. */
export interface OverlayContent {
  readonly bytes: Buffer;
  readonly modifiedMs: number;
}

/**
 * Content that takes the place of files on disk: the extension's unsaved editors, encoded in
 * each file's own encoding. The server stays free of `vscode`: it only asks by real path, and
 * only for a path it has resolved and opened inside its root as a regular file, so an overlay
 * can never add a file, serve one outside the root, or serve an untitled editor.
 */
export interface ContentOverlay {
  /** How many files it holds; while 0, requests never ask `get`. */
  readonly size: number;
  /** The content for the file at `realPath` (links resolved), or undefined to serve the disk's. */
  get(realPath: string): OverlayContent | undefined;
  /**
   * Calls `listener` with the real paths whose content was set, changed or dropped, once the
   * content has settled (after a pause in typing): pages are told at once.
   */
  onDidChange(listener: (realPaths: readonly string[]) => void): Disposable;
}

/** What the static handler serves a document from: a cached file, or overlay content. */
export interface Servable {
  /** The request path (the live-reload rewriter's urlPath). */
  readonly key: string;
  readonly media: MediaType;
  readonly raw: Document;
  rewritten: Document | undefined;
}

/** Documents made once per overlay content and request path; they are small and few (open editors). */
export class OverlayDocuments {
  /** `pageVaries`: FileMeta.varies of pages, as in FileCache. */
  constructor(private readonly pageVaries?: string) {}

  private readonly made = new Map<string, { readonly content: OverlayContent; readonly servable: Servable }>();

  servable(key: string, media: MediaType, content: OverlayContent): Servable {
    const known = this.made.get(key);
    if (known !== undefined && known.content === content) return known.servable;
    const contentType = contentTypeOf(media, content.bytes);
    const meta = fileMeta(content.modifiedMs, contentType, media.compressible, media.html ? this.pageVaries : undefined);
    // The tag hashes the bytes, as for files: unsaved text never shares a validator with the saved file.
    const raw = new Document(content.bytes, contentTag(content.bytes), meta, () => undefined);
    const servable: Servable = { key, media, raw, rewritten: undefined };
    // A handful of editors, each typed into: an old version is never asked for again.
    if (this.made.size >= 256) this.made.clear();
    this.made.set(key, { content, servable });
    return servable;
  }

  clear(): void {
    this.made.clear();
  }
}
