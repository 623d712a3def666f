// Imported, not the globals: in Node the global Buffer and performance are getters, called on each use.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { HttpVersion, RequestHead } from '../http/types';
import type { ClientLink, Request, Response } from './handler';
import type { RequestLogRecord } from './log';
import type { ResponseFrame } from './send-body';
import type { RequestBody } from './request-body';

/**
 * One request from the moment it is parsed until its log line: what was asked, then how it is
 * answered. It is the queue entry while the request waits for its turn, and the response frame
 * (`ResponseFrame`) while it is answered, so answering allocates nothing more.
 */
export interface Exchange extends ResponseFrame {
  /** Undefined when the request could not be parsed far enough to have one. */
  readonly head: RequestHead | undefined;
  /** The answer decided before any handler: the error for a request that failed to parse or came too slowly. */
  readonly preset: Response | undefined;
  readonly body: Buffer;
  /** The body while it arrives, when bodies are streamed (Limits.streamBodies); `body` is then empty. */
  readonly bodyStream: RequestBody | undefined;
  /** Epoch milliseconds, for the log. */
  readonly startedAt: number;
  /** `performance.now()`, for the logged duration. */
  readonly startedHr: number;
  // Set when its turn comes.
  version: HttpVersion;
  isHead: boolean;
  keepAlive: boolean;
  date: string;
  /** The response never ends by itself and holds one of the server's event-stream slots. */
  endless: boolean;
}

export function newExchange(
  head: RequestHead | undefined,
  preset: Response | undefined,
  body: Buffer,
  startedAt: number,
  bodyStream?: RequestBody,
): Exchange {
  return {
    head,
    preset,
    body,
    bodyStream,
    startedAt,
    startedHr: performance.now(),
    version: head?.version ?? '1.1',
    isHead: head?.method === 'HEAD',
    keepAlive: false,
    date: '',
    endless: false,
  };
}

/** What a handler sees of a parsed request (one with a head). */
export function toRequest(exchange: Exchange, remoteAddress: string, remotePort: number, client: ClientLink): Request {
  const head = exchange.head as RequestHead;
  return {
    method: head.method,
    target: head.target,
    path: head.path,
    query: head.query,
    version: head.version,
    headers: head.headers,
    body: exchange.body,
    bodyStream: exchange.bodyStream,
    remoteAddress,
    remotePort,
    client,
    upgrade: head.upgrade,
  };
}

const UNPARSED_HEADERS: readonly string[] = [];

/** The log line of an answered request; `-` stands for what could not be parsed. */
export function logRecord(exchange: Exchange, client: string, status: number, bytes: number, reason: string | undefined): RequestLogRecord {
  const head = exchange.head;
  return {
    time: exchange.startedAt,
    client,
    method: head?.method ?? '-',
    target: head?.target ?? '-',
    version: head?.version ?? '-',
    status,
    bytes,
    durationMs: performance.now() - exchange.startedHr,
    headers: head?.rawHeaders ?? UNPARSED_HEADERS,
    reason,
  };
}

/** A stream body that never ends by itself (an event stream), see `StreamBody.endless`. */
export function isEndless(response: Response): boolean {
  const body = response.body;
  return body !== undefined && !Buffer.isBuffer(body) && body.kind === 'stream' && body.endless === true;
}
