/**
 * The API that `activate()` returns. Other extensions (and the integration tests) reach it with
 *
 * ```ts
 * const api = await vscode.extensions.getExtension<TinyServerApi>('tiny-server.tiny-server')!.activate();
 * ```
 *
 * It only describes and controls servers; it never prompts, opens browsers or writes settings.
 */
import type * as vscode from 'vscode';

/** A snapshot of one running server. */
export interface ServerInfo {
  /** The workspace folder the server belongs to (one server per folder). */
  readonly folder: vscode.Uri;
  /** The folder being served: the workspace folder or its `tinyServer.root` subfolder. */
  readonly root: vscode.Uri;
  /** The address the server is bound to, e.g. `127.0.0.1` or `0.0.0.0`. */
  readonly host: string;
  /** The port the server really listens on. */
  readonly port: number;
  /** The port the settings asked for; differs from `port` when that one was taken. */
  readonly requestedPort: number;
  /**
   * An address a browser on this machine can open, e.g. `http://127.0.0.1:8000/`. For servers
   * bound to every interface it names the loopback address. Pass it through
   * `vscode.env.asExternalUri` before handing it to a webview or a remote client.
   */
  readonly url: string;
  /** Requests answered when the snapshot was taken. */
  readonly requestCount: number;
  /**
   * The app (`tinyServer.app`, WSGI or Fetch) as a sentence, e.g. "app:app restarted at 14:02:11 in 793 ms";
   * undefined when the server runs no app.
   */
  readonly app: string | undefined;
}

/** What starting a server led to. Failures are values; `message` says what failed. */
export type StartOutcome =
  | { readonly ok: true; readonly server: ServerInfo }
  | { readonly ok: false; readonly message: string };

export interface TinyServerApi {
  /** The servers running now, in the order they started. */
  servers(): readonly ServerInfo[];
  /**
   * Starts the server of a workspace folder (given as the folder or as any path inside it) with
   * its current settings, or answers the running one. Shows the same notifications as the Start
   * command but opens no browser.
   */
  start(folder: vscode.Uri): Promise<StartOutcome>;
  /** Stops the server of a folder (or of the folder a path is in); resolves once its port is free. */
  stop(folder: vscode.Uri): Promise<void>;
  /** Stops every server; resolves once all their ports are free. */
  stopAll(): Promise<void>;
  /** Fires after a server started, stopped or restarted. */
  readonly onDidChangeServers: vscode.Event<void>;
  /**
   * Fires with each line written to the "Tiny Server" output channel, without the channel's
   * timestamp and level: request lines (batched, so they arrive up to ~50 ms late), start, stop
   * and failure messages. Trace-level header dumps are not included.
   */
  readonly onDidLog: vscode.Event<string>;
}
