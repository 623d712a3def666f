import { PassThrough } from 'node:stream';
import type { Disposable, Request, Response } from '../handler';
import { hostName, isLoopbackHost } from '../host-check';

/** How long a browser waits before reconnecting (the `retry:` field of Server-Sent Events). */
const RETRY_MS = 500;
/** A comment line this often keeps proxies and NATs from closing an idle stream. */
const HEARTBEAT_MS = 20_000;
/** A client that has not read this much queued data is dropped rather than buffered forever. */
const MAX_QUEUED_BYTES = 256 * 1024;

/** How many recent changes a hello event repeats (see EventChannel.open). */
const RECENT_CHANGES = 32;

/** One change, numbered in the order the channel sent it (from 1, per process). */
export interface ChangeEvent {
  readonly type: 'change';
  readonly seq: number;
  readonly paths: readonly string[];
  /** Every path is unsaved text (a pause in typing): a page that must reload for it waits for more quiet. */
  readonly typing?: true;
}

/** What the channel sends; each becomes one `data:` line of JSON. */
export type ReloadEvent = { readonly type: 'hello'; readonly id: string; readonly recent: readonly ChangeEvent[] } | ChangeEvent;

/** One Server-Sent Events frame (HTML Living Standard 9.2.6); JSON has no raw line breaks. */
export function formatEvent(event: ReloadEvent): string {
  return `data: ${JSON.stringify(event)}\n\n`;
}

/**
 * The broadcast side of live reload: every open page holds one stream (a chunked response that
 * never ends) and receives each event as it is written.
 */
export class EventChannel implements Disposable {
  private readonly streams = new Set<PassThrough>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly recent: ChangeEvent[] = [];
  private seq = 0;

  constructor(
    /** Differs per process, so a page that reconnects to a restarted server knows to reload. */
    private readonly instanceId: string,
    private readonly heartbeatMs = HEARTBEAT_MS,
  ) {}

  /**
   * Opens a stream: the retry interval and a hello event go out at once. The hello repeats the
   * last changes, numbered: a page that reloaded for change N and connects after N+1 went out
   * (while it was loading, with no stream to hear it) finds N+1 there and applies it, instead of
   * showing the text typed before the last keystroke until the next change.
   */
  open(): Response {
    const stream = new PassThrough();
    stream.write(`retry: ${RETRY_MS}\n` + formatEvent({ type: 'hello', id: this.instanceId, recent: this.recent }));
    this.streams.add(stream);
    // The connection destroys the stream when the client goes away or the request was HEAD.
    stream.once('close', () => this.forget(stream));
    stream.on('error', () => this.forget(stream));
    this.startHeartbeat();
    return {
      status: 200,
      headers: {
        'Content-Type': 'text/event-stream',
        'X-Content-Type-Options': 'nosniff',
        // no-transform (RFC 9111 section 5.2.2.6): a compressing proxy such as code-server's
        // port proxy otherwise buffers the never-ending stream and no event reaches the page.
        'Cache-Control': 'no-cache, no-transform',
        // Asks buffering reverse proxies (nginx and others that honour it) to pass events at once.
        'X-Accel-Buffering': 'no',
      },
      // Endless: the connection reads no request behind it, drops a client that ends its side
      // at once, and counts it against the server's maxEventStreams (503 beyond, and the client
      // script retries with a growing delay).
      body: { kind: 'stream', stream, endless: true },
    };
  }

  /** Sends a change to every open stream, numbered, and keeps it for the next hellos. */
  broadcastChange(paths: readonly string[], typing = false): void {
    this.seq += 1;
    const event: ChangeEvent = typing ? { type: 'change', seq: this.seq, paths, typing } : { type: 'change', seq: this.seq, paths };
    this.recent.push(event);
    if (this.recent.length > RECENT_CHANGES) this.recent.shift();
    this.send(formatEvent(event));
  }

  dispose(): void {
    this.stopHeartbeat();
    for (const stream of [...this.streams]) stream.end();
    this.streams.clear();
  }

  private send(text: string): void {
    for (const stream of this.streams) {
      if (stream.writableLength > MAX_QUEUED_BYTES) stream.destroy();
      else stream.write(text);
    }
  }

  private forget(stream: PassThrough): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) this.stopHeartbeat();
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => this.send(': ping\n\n'), this.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}

/**
 * Why a request may not open the channel, or undefined when it may. Only the server's own pages
 * may listen: with Fetch Metadata the browser tells whether the request comes from the same
 * origin, which stays true behind a path-prefix proxy that rewrites `Host`. Browsers without it
 * send `Origin` on cross-origin requests; that origin must then be the server's host (as `Host`
 * or `X-Forwarded-Host` name it) or a loopback name. `Origin: null` (sandboxed frames, file:
 * pages) is refused.
 */
export function refusalReason(request: Request, what = 'Reload channel'): string | undefined {
  const site = request.headers.get('sec-fetch-site');
  if (site !== undefined) {
    const value = site.trim().toLowerCase();
    return value === 'same-origin' || value === 'none' ? undefined : `${what} refused a ${value} request`;
  }
  const origin = request.headers.get('origin');
  if (origin === undefined) return undefined;
  let host: string;
  try {
    host = new URL(origin).host.toLowerCase();
  } catch {
    return `${what} refused origin ${origin}`;
  }
  const allowed = [request.headers.get('host'), request.headers.get('x-forwarded-host')];
  if (allowed.some((h) => h?.trim().toLowerCase() === host) || isLoopbackHost(hostName(host))) return undefined;
  return `${what} refused origin ${origin}`;
}
