import assert from 'node:assert/strict';
import type { RequestLogRecord } from '../../../src/server/log';
import { Listener } from '../../../src/server/listener';
import type { DeferringHandler } from '../../../src/server/handler';
import { DEFAULT_LIMITS, type Limits, type ServerOptions } from '../../../src/server/options';
import { startServer, type TinyServer } from '../../../src/server/server';

/** A started server and the log records it has written so far. */
export interface LoggedServer {
  readonly server: TinyServer;
  readonly records: RequestLogRecord[];
}

/**
 * Starts a server on a free loopback port with live reload off (unless `options` says otherwise),
 * collecting its request log; fails the test with the server's own message when it cannot start.
 */
export async function startLogged(options: ServerOptions): Promise<LoggedServer> {
  const records: RequestLogRecord[] = [];
  const started = await startServer({
    port: 0,
    portAttempts: 0,
    liveReload: false,
    logger: { log: (record) => records.push(record) },
    ...options,
  });
  assert.ok(started.ok, started.ok ? '' : started.error.message);
  return { server: started.server, records };
}

/** Runs `run` with a logged server (see startLogged) and closes it afterwards, also on failure. */
export async function withLogged(options: ServerOptions, run: (logged: LoggedServer) => Promise<void>): Promise<void> {
  const logged = await startLogged(options);
  try {
    await run(logged);
  } finally {
    await logged.server.close();
  }
}

/** Resolves once `condition()` holds; fails, saying `what`, when it does not within the time. */
export async function waitFor(condition: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs `run` with a bare Listener (no static files, no host check) on a free loopback port that
 * answers with `handlers`, collecting its log; closes it afterwards, also on failure.
 */
export async function withListener(
  handlers: DeferringHandler[],
  run: (port: number, records: RequestLogRecord[], listener: Listener) => Promise<void>,
  limits: Partial<Limits> = {},
  streamReads = false,
): Promise<void> {
  const records: RequestLogRecord[] = [];
  const result = await Listener.listen({
    streamReads,
    host: '127.0.0.1',
    port: 0,
    portAttempts: 0,
    limits: { ...DEFAULT_LIMITS, ...limits },
    handlers,
    log: (record) => records.push(record),
  });
  assert.ok(result.ok, 'listener started');
  try {
    await run(result.listener.port, records, result.listener);
  } finally {
    await result.listener.close();
  }
}
