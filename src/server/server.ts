import type { Disposable } from './handler';
import type { ServerOptions } from './options';

/** Why a server could not start. */
export interface StartError {
  readonly code: 'root-missing' | 'root-not-directory' | 'root-unreadable' | 'no-free-port' | 'bind-failed';
  /** Sentence case, says what failed, e.g. "Port 8000 and the next 20 ports are in use". */
  readonly message: string;
}

export type StartResult =
  | { readonly ok: true; readonly server: TinyServer }
  | { readonly ok: false; readonly error: StartError };

/** A running server. */
export interface TinyServer extends Disposable {
  readonly root: string;
  readonly host: string;
  /** The port it really listens on. */
  readonly port: number;
  /** The port that was asked for (differs from `port` when it was taken). */
  readonly requestedPort: number;
  /** `http://<host>:<port>/` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Requests answered so far. */
  readonly requestCount: number;
  /** Connections open now. */
  readonly connectionCount: number;
  /** Tells live reload that these absolute file paths changed on disk. */
  notifyChanged(paths: readonly string[]): void;
  /** Stops listening and closes every connection at once; resolves when the port is free. */
  close(): Promise<void>;
}

/** Starts a server; failures are values, never exceptions. */
export async function startServer(options: ServerOptions): Promise<StartResult> {
  void options;
  throw new Error('Not implemented yet');
}
