import { realpathSync } from 'node:fs';
import * as vscode from 'vscode';
import type { Disposable } from '../server/handler';
import type { ContentOverlay, OverlayContent } from '../server/static';
import { DisposableOwner } from './dispose';

/** A pause in typing this long sends the text to the pages (one update per pause, not per key). */
export const TYPING_PAUSE_MS = 150;

/** VS Code's ids for UTF-8 without and with a byte order mark. */
const UTF8_ENCODINGS = new Set(['utf8', 'utf8bom']);
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * UTF-8 (most pages) is encoded here rather than through `workspace.encode`, which is a round trip
 * to the workbench: in VS Code for the Web and code-server that is a trip through the browser,
 * on the way from a keystroke to the updated page.
 */
function encodeUtf8(text: string, encoding: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  return encoding === 'utf8bom' ? Buffer.concat([UTF8_BOM, bytes]) : bytes;
}

/**
 * `workspace.encode` and `TextDocument.encoding` (VS Code 1.100): typed by hand, since the
 * extension supports older versions, where they are missing and unsaved text is not served.
 */
interface EncodingApi {
  encode(content: string, options: { readonly encoding: string }): Thenable<Uint8Array>;
}

/**
 * The unsaved text of open editors, for the server (see ContentOverlay): each dirty file-backed
 * document, encoded back in the document's own encoding, by real path. A document leaves it when
 * saved, reverted or closed, and the pages then get the file on disk again.
 */
export class EditorOverlay extends DisposableOwner implements ContentOverlay {
  private readonly contents = new Map<string, OverlayContent>();
  /** Real path of each document it tracks, by document URI. */
  private readonly realPaths = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly emitter = this._register(new vscode.EventEmitter<readonly string[]>());
  private readonly encoding: EncodingApi | undefined;

  constructor() {
    super();
    const workspace = vscode.workspace as unknown as Partial<EncodingApi>;
    this.encoding = typeof workspace.encode === 'function' ? (workspace as EncodingApi) : undefined;
    if (this.encoding === undefined) return;
    this._register(vscode.workspace.onDidChangeTextDocument((event) => this.schedule(event.document)));
    this._register(vscode.workspace.onDidSaveTextDocument((document) => this.drop(document, true)));
    this._register(vscode.workspace.onDidCloseTextDocument((document) => this.drop(document)));
    // A language mode change closes the document and opens it again, unsaved text and all.
    this._register(vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document)));
    for (const document of vscode.workspace.textDocuments) this.schedule(document);
  }

  /** False on VS Code versions without the encoding API: edits then reach pages on save only. */
  get supported(): boolean {
    return this.encoding !== undefined;
  }

  get size(): number {
    return this.contents.size;
  }

  get(realPath: string): OverlayContent | undefined {
    return this.contents.get(realPath);
  }

  onDidChange(listener: (realPaths: readonly string[]) => void): Disposable {
    return this.emitter.event(listener);
  }

  override dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    super.dispose();
  }

  private schedule(document: vscode.TextDocument): void {
    if (document.uri.scheme !== 'file') return;
    const key = document.uri.toString();
    const pending = this.timers.get(key);
    if (pending !== undefined) clearTimeout(pending);
    this.timers.set(key, setTimeout(() => void this.update(document), TYPING_PAUSE_MS));
  }

  /** Takes the document's text as it is after the pause: dirty text in, clean text out. */
  private async update(document: vscode.TextDocument): Promise<void> {
    const key = document.uri.toString();
    this.timers.delete(key);
    if (!document.isDirty || document.isClosed) {
      this.drop(document);
      return;
    }
    const realPath = this.realPathOf(document);
    if (realPath === undefined || this.encoding === undefined) return;
    const version = document.version;
    const encoding = (document as unknown as { readonly encoding?: string }).encoding ?? 'utf8';
    let bytes: Uint8Array;
    try {
      bytes = UTF8_ENCODINGS.has(encoding) ? encodeUtf8(document.getText(), encoding) : await this.encoding.encode(document.getText(), { encoding });
    } catch {
      return; // text the encoding cannot hold: the pages keep what they had until it can be saved
    }
    // Typed into again while encoding: the newer text is scheduled already.
    if (document.version !== version || document.isClosed || !document.isDirty) return;
    this.contents.set(realPath, { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), modifiedMs: Date.now() });
    this.emitter.fire([realPath]);
  }

  /**
   * Forgets the document's unsaved text; pages are told, unless it was `saved` as the very text
   * they show: the file watcher announces the save itself, and a second event for the same text
   * reloaded a page with scripts twice.
   */
  private drop(document: vscode.TextDocument, saved = false): void {
    const key = document.uri.toString();
    const pending = this.timers.get(key);
    if (pending !== undefined) clearTimeout(pending);
    this.timers.delete(key);
    const realPath = this.realPaths.get(key);
    if (document.isClosed) this.realPaths.delete(key);
    if (realPath === undefined) return;
    const shown = this.contents.get(realPath);
    if (shown === undefined) return;
    this.contents.delete(realPath);
    if (!(saved && this.isText(shown.bytes, document))) this.emitter.fire([realPath]);
  }

  /** Whether `bytes` are the document's text in its encoding (checked for UTF-8 only, which is encoded here). */
  private isText(bytes: Buffer, document: vscode.TextDocument): boolean {
    const encoding = (document as unknown as { readonly encoding?: string }).encoding ?? 'utf8';
    return UTF8_ENCODINGS.has(encoding) && Buffer.from(encodeUtf8(document.getText(), encoding)).equals(bytes);
  }

  /** The server asks by real path (links resolved); a file not on disk yet has none and is never served. */
  private realPathOf(document: vscode.TextDocument): string | undefined {
    const key = document.uri.toString();
    const known = this.realPaths.get(key);
    if (known !== undefined) return known;
    try {
      const realPath = realpathSync.native(document.uri.fsPath);
      this.realPaths.set(key, realPath);
      return realPath;
    } catch {
      return undefined;
    }
  }
}
