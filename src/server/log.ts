import type { HttpVersion } from '../http/types';

/** One record per parsed request (or per request that failed to parse). */
export interface RequestLogRecord {
  /** When the request started, in milliseconds since the epoch. */
  readonly time: number;
  /** Client address and port, e.g. `127.0.0.1:53122`. */
  readonly client: string;
  readonly method: string;
  readonly target: string;
  readonly version: HttpVersion | '-';
  readonly status: number;
  /** Bytes written for this response, head and body. */
  readonly bytes: number;
  readonly durationMs: number;
  /** For errors: why, e.g. "no file at /site/missing.html". */
  readonly reason?: string | undefined;
  /** Request header fields as received, for trace-level logs. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** Receives request records; implementations must be cheap and never throw. */
export interface RequestLogger {
  log(record: RequestLogRecord): void;
}

/** `GET /index.html HTTP/1.1 200 1234B 0.4ms` plus ` - reason` for errors. */
export function formatRecord(record: RequestLogRecord): string {
  const version = record.version === '-' ? '-' : `HTTP/${record.version}`;
  const line =
    `${record.client} ${record.method} ${record.target} ${version} ` +
    `${record.status} ${record.bytes}B ${record.durationMs.toFixed(1)}ms`;
  return record.reason === undefined ? line : `${line} - ${record.reason}`;
}

/**
 * Collects lines and hands them to `sink` in batches, at most once per `intervalMs`, so that
 * tens of thousands of requests a second cost one write per interval instead of one per request.
 */
export class BatchedLines {
  private lines: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: (lines: readonly string[]) => void,
    private readonly intervalMs = 50,
    private readonly maxPending = 10_000,
  ) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length >= this.maxPending) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    this.sink(lines);
  }

  dispose(): void {
    this.flush();
  }
}
