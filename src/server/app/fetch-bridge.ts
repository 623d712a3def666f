/*
 * Tiny Server's Fetch bridge: runs one JavaScript app written against the Fetch standard (the
 * `export default { fetch }` shape of Workers, Deno and Bun, a Hono app, or a function
 * `(request) => Response`) for the server that started it. Bundled on its own as
 * dist/fetch_bridge.js and run by the server as a child process (inside VS Code: the extension
 * host's own runtime, with ELECTRON_RUN_AS_NODE=1):
 *
 *     node fetch_bridge.js --app server.mjs --app-dir DIR
 *
 * It speaks the framed protocol of frames.ts over fd 3 (in) and fd 4 (out), as wsgi_bridge.py
 * does; stdout and stderr stay the app's own (console.log), which the server logs. Requests are
 * served concurrently (the app is asynchronous, so no pool): each is a `Request` whose body is a
 * `ReadableStream` fed under credit, and each `Response` body is read under the server's credit,
 * so neither direction holds more than a window per request.
 */
import { spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { IdTable } from '../churn';
import { Channel, Exchange, type FetchHandler } from './fetch-exchange';
import { headOf } from './heads';
import { describe } from './fetch-response';
import { FRAME, FrameDecoder, encodeFrame, encodeJsonFrame, type Frame } from './frames';
import { installLazyRequest } from './lazy-request';
import { installLightResponse } from './light-response';


/**
 * The app's handler: its default export (`module.exports` for CommonJS), `{ fetch }` or a
 * function; a CommonJS module compiled from TypeScript holds it one level down, in `default`.
 */
async function loadApp(spec: string, appDir: string): Promise<FetchHandler> {
  const loaded = (await import(pathToFileURL(resolve(appDir, spec)).href)) as { default?: unknown };
  let target = loaded.default;
  if (!hasFetch(target) && typeof target !== 'function' && typeof target === 'object' && target !== null && 'default' in target) {
    target = (target as { default: unknown }).default;
  }
  if (hasFetch(target)) return (request) => target.fetch(request, process.env, CONTEXT);
  if (typeof target === 'function') return (request) => (target as AppHandler)(request, process.env, CONTEXT);
  throw new TypeError(`${spec} has ${describe(target)} as its default export; a Fetch app exports { fetch(request) } or a function (request) => Response`);
}

function hasFetch(value: unknown): value is { fetch: AppHandler } {
  return typeof value === 'object' && value !== null && typeof (value as { fetch?: unknown }).fetch === 'function';
}

/** The handler's shape in Workers (and Hono's `app.fetch`): the request, the environment, the execution context. */
type AppHandler = (request: Request, env: NodeJS.ProcessEnv, context: ExecutionContext) => unknown;

interface ExecutionContext {
  waitUntil(promise: unknown): void;
  passThroughOnException(): void;
}

/**
 * What a Workers-style handler gets after the request, so that `ctx.waitUntil()` and Hono's
 * `c.executionCtx` work as under `wrangler dev`: the process environment as `env`, and a context
 * whose `waitUntil` lets the work run on (the process outlives the request) and reports its
 * failure in the log.
 */
const CONTEXT: ExecutionContext = Object.freeze({
  waitUntil(promise: unknown): void {
    void Promise.resolve(promise).catch((error: unknown) => console.error('A promise given to ctx.waitUntil() failed:', error));
  },
  passThroughOnException(): void {
    // Nothing to pass through to: a thrown error is the app's 500 page.
  },
});

/**
 * Where a syntax error in an ES module is. Node prints it (file and line, the line, a caret)
 * when an import fails at the top level, but keeps it from the error that `import()` rejects
 * with. A throwaway process imports the app that way and its report is taken. A module graph
 * whose static imports fail to parse is linked, never evaluated, so no app code runs there; only
 * a module the app loads with `import()` from its top level would run that level again.
 */
function syntaxErrorLocation(url: string, appDir: string): string {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(url)})`], {
    cwd: appDir,
    encoding: 'utf8',
    timeout: 10_000,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const report = typeof result.stderr === 'string' ? result.stderr : '';
  const end = report.search(/^SyntaxError/m);
  return end > 0 ? report.slice(0, end).trimEnd() : '';
}

/**
 * A SyntaxError from parsing an ES module, which says nothing of where: its stack starts with the
 * message (CommonJS puts the file and line before it) and has only Node's own frames (one raised
 * by running code, such as JSON.parse, has the app's file among them).
 */
function isUnplacedParseError(error: Error, stack: string): boolean {
  if (!(error instanceof SyntaxError) || !stack.startsWith('SyntaxError')) return false;
  const frames = stack.split('\n').filter((line) => line.trimStart().startsWith('at '));
  return frames.every((line) => line.includes('(node:') || line.trimStart().startsWith('at node:'));
}

/** Why the app could not be loaded, with where, for a syntax error in an ES module. */
function loadFailure(error: unknown, url: string, appDir: string): { message: string; traceback: string } {
  if (!(error instanceof Error)) return { message: describe(error), traceback: '' };
  const stack = error.stack ?? '';
  const location = isUnplacedParseError(error, stack) ? syntaxErrorLocation(url, appDir) : '';
  const where = location === '' ? '' : ` (${location.split('\n', 1)[0] ?? ''})`;
  return { message: `${error.name}: ${error.message}${where}`, traceback: location === '' ? stack : `${location}\n\n${stack}` };
}

/** The protocol is broken: nothing more can be trusted, so the process ends. */
function fatal(message: string): never {
  process.stderr.write(`fetch_bridge: ${message}\n`);
  process.exit(4);
}

/** Reads frames from fd 3 until the server closes it, then exits. */
function serve(handler: FetchHandler, channel: Channel, input: Socket): void {
  const exchanges = new IdTable<Exchange>();
  const decoder = new FrameDecoder((frame) => onFrame(frame));
  const onFrame = (frame: Frame): void => {
    if (frame.type >= 0x10) fatal(`Frame type 0x${frame.type.toString(16)} is one only the bridge sends`);
    if (frame.type === FRAME.ping) {
      channel.send(encodeFrame(FRAME.pong, 0));
      return;
    }
    if (frame.type === FRAME.request || frame.type === FRAME.requestAlone) {
      const id = frame.id;
      const head = headOf(frame.payload.toString('utf8'));
      if (head === undefined) fatal('The server sent a malformed REQUEST head');
      const exchange = new Exchange(id, head, channel);
      if (frame.type === FRAME.requestAlone) exchange.finishInput();
      // Answered at once (a handler that returns a Response), it is forgotten at once; else it
      // is found by id until it ends, before the frames after this one are read.
      const running = exchange.run(handler);
      if (running !== undefined) {
        exchanges.set(id, exchange);
        const forget = (): void => void exchanges.delete(id);
        void running.then(forget, forget);
      }
      return;
    }
    const exchange = exchanges.get(frame.id);
    if (exchange === undefined) return; // the request already ended; late frames are harmless
    if (frame.type === FRAME.body) exchange.feed(frame.payload);
    else if (frame.type === FRAME.end) exchange.finishInput();
    else if (frame.type === FRAME.abort) exchange.abort();
    else if (frame.type === FRAME.credit) exchange.grant(frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : 0);
  };
  input.on('data', (chunk: Buffer) => {
    const error = decoder.push(chunk);
    if (error !== undefined) fatal(error.message);
  });
  // The server closed the pipe or went away: nothing more can be answered.
  input.on('end', exit);
  input.on('error', exit);
}

/** This process's parent as it started: the server. */
const PARENT = process.ppid;
/** The server's pid (--server-pid): one that died right after starting this process is not its parent by now. */
const SERVER = Number(process.argv[process.argv.indexOf('--server-pid') + 1]) || PARENT;

/** Whether the server has gone (POSIX: on Windows a parent's end changes nothing here; the closed pipe says it). */
function serverGone(): boolean {
  if (process.platform === 'win32') return false;
  if (process.ppid !== PARENT) return true;
  if (SERVER === PARENT) return false;
  try {
    process.kill(SERVER, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Set once exit() began: the pipe's end and the server watch may both call it. */
let exiting = false;

/**
 * Ends the process, and asks what the app started to end as well: SIGTERM to this process's
 * group, which the server made it lead (POSIX). When the server is gone (this process has another
 * parent by now, a moment after the pipe closed), nobody else will end what ignores that: the
 * group is killed, this process with it.
 */
function exit(): void {
  if (exiting) return;
  exiting = true;
  process.on('SIGTERM', () => undefined);
  try {
    process.kill(-process.pid, 'SIGTERM');
  } catch {
    process.exit(0); // not a group leader (Windows has no groups): nothing more to ask
  }
  setTimeout(() => {
    if (!serverGone()) process.exit(0);
    setTimeout(() => {
      try {
        process.kill(-process.pid, 'SIGKILL');
      } catch {
        // gone already
      }
      process.exit(0);
    }, 250);
  }, 50);
}

/** Ends the process once the server is gone: also while the app loads, when nothing reads the pipe yet. */
function watchServer(): void {
  setInterval(() => {
    if (serverGone()) exit();
  }, 1000).unref();
}

function argument(name: string): string {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : process.argv[at + 1];
  if (value === undefined) fatal(`missing ${name}`);
  return value;
}

async function main(): Promise<void> {
  const spec = argument('--app');
  const appDir = argument('--app-dir');
  // Ctrl-C in a terminal reaches a process in the server's group (on Windows, where this process
  // has no group of its own); the server stops this process itself.
  process.on('SIGINT', () => undefined);
  watchServer();
  // An app's stray rejection or timer error is its bug, not a reason to drop every request in flight.
  process.on('unhandledRejection', (reason) => console.error('Unhandled rejection in the app:', reason));
  process.on('uncaughtException', (error) => console.error('Uncaught exception in the app:', error));
  const channel = new Channel(new Socket({ fd: 4, readable: false, writable: true }));
  process.chdir(appDir);
  // As in cli.ts: V8's young generation stays at two 1 MiB semi-spaces instead of growing to 16
  // MiB each under load.
  setFlagsFromString('--semi-space-growth-factor=1');
  installLazyRequest();
  installLightResponse();
  // A top-level await that never settles empties the event loop while the app loads (Node
  // itself would exit with 13, "unsettled top-level await"): the process says why, then exits.
  // 'beforeExit' comes only for an empty loop, never for an app's own process.exit().
  let loading = true;
  process.once('beforeExit', () => {
    if (!loading) return;
    loading = false;
    const message = `${spec} never finished loading: a top-level await in it, or in a module it imports, never settled`;
    channel.last(encodeJsonFrame(FRAME.failed, 0, { message, traceback: '' }), () => process.exit(3));
  });
  let handler: FetchHandler;
  try {
    handler = await loadApp(spec, appDir);
  } catch (error) {
    loading = false;
    channel.last(encodeJsonFrame(FRAME.failed, 0, loadFailure(error, pathToFileURL(resolve(appDir, spec)).href, appDir)), () => process.exit(3));
    return;
  }
  loading = false;
  channel.send(encodeJsonFrame(FRAME.ready, 0, { pid: process.pid, runtime: `Node ${process.versions.node}` }));
  serve(handler, channel, new Socket({ fd: 3, readable: true, writable: false }));
}

void main();
