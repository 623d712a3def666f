import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { IdTable } from '../churn';
import { readInto } from '../socket';
import { FRAME, FrameDecoder, TurnBatch, encodeFrame, encodeHeader, type Frame } from './frames';
import { parseStart, splitResponse } from './heads';
import { forwardLines } from './output-lines';
import { GROUPS, ProcessGroup } from './process-group';

/** What one request's side of the bridge hears from the app. */
export interface ExchangeSink {
  /** `head` is START's: the status line's text, then each field's name and value (see frames.ts). */
  onStart(head: readonly string[]): void;
  /** A chunk of its own (not a view of a read buffer), which the sink may keep. */
  onBody(chunk: Buffer): void;
  onEnd(): void;
  /** START, BODY and END at once (a RESPONSE frame); `body` is its own, as for onBody. */
  onResponse(head: readonly string[], body: Buffer): void;
  /** The app raised; `started` says whether START was already received. */
  onError(message: string, traceback: string): void;
  /** The bridge may take this many more request body bytes. */
  onGrant(bytes: number): void;
  /** The bridge process is gone (crashed, killed, or a protocol error). */
  onGone(reason: string): void;
}

/** How to start a bridge: the program, its arguments and environment (see kinds.ts). */
export interface BridgeCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the server's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** The app's folder: the process's working folder. */
  readonly cwd: string;
  /** What to do when `command` is missing, e.g. "set the Python interpreter to use". */
  readonly missingHint: string;
  /** How many requests the process runs at once, when a pool bounds it (a WSGI app's threads). */
  readonly workers?: number;
}

export interface BridgeSpawnOptions extends BridgeCommand {
  /** A line for the server's log: the app's output and wsgi.errors, prefixed. */
  readonly log: (line: string) => void;
}

/** How starting the app ended. */
export type StartOutcome =
  /** `runtime` names what runs the app, e.g. "Python 3.11.7" or "Node 20.20.2". */
  | { readonly ok: true; readonly pid: number; readonly runtime: string; readonly ms: number }
  | { readonly ok: false; readonly message: string; readonly traceback: string };

/** How long a stopping bridge (or a process the app left behind) gets after it is asked to end before it is killed. */
const KILL_AFTER_MS = 2000;

/**
 * One process running a bridge and the app (wsgi_bridge.py under Python, fetch_bridge.js under Node). Requests are multiplexed over its pipes
 * by id; the process is stopped with `stop()` (pipe closed, then SIGTERM, then SIGKILL), or
 * `retire()` (stopped once the requests in flight have finished).
 */
export class BridgeProcess {
  readonly started: Promise<StartOutcome>;
  /** What `started` resolved to, once it has: read without awaiting on every request. */
  outcome: StartOutcome | undefined;
  private readonly child: ChildProcess;
  private readonly input: Writable;
  private readonly sinks = new IdTable<ExchangeSink>();
  private nextId = 1;
  private gone: string | undefined;
  private retiring = false;
  /** Frames written in this turn of the event loop. */
  private readonly batch: TurnBatch;
  /**
   * Resolves when the process has exited and what it started has ended too (its process group
   * is empty, or was killed KILL_AFTER_MS after the exit; see endGroup), or it never started.
   */
  readonly exited: Promise<void>;
  /** Resolves with `goneReason` as soon as the process can take no more requests (see fail). */
  readonly ended: Promise<string>;
  private settleEnded: (reason: string) => void = () => undefined;
  private settleStart: (outcome: StartOutcome) => void = () => undefined;
  /** Set while a PING waits for its PONG (see probe). */
  private probeTimer: NodeJS.Timeout | undefined;
  /** The process's group: what the app started (see endGroup). */
  private readonly group: ProcessGroup;
  /** When a stop kills what is left of the process and its group (see stop). */
  private stopDeadline: number | undefined;
  /** Requests that timed out and were abandoned while the app may still run them (see overdue). */
  private readonly overdueIds = new Set<number>();

  constructor(private readonly options: BridgeSpawnOptions) {
    const startedAt = performance.now();
    this.started = new Promise((done) => {
      this.settleStart = (outcome) => {
        this.settleStart = () => undefined;
        this.outcome = outcome.ok ? { ...outcome, ms: Math.round(performance.now() - startedAt) } : outcome;
        done(this.outcome);
      };
    });
    this.child = spawn(options.command, options.args, {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      // Its own process group, so that what the app starts (a subprocess, a multiprocessing
      // worker) ends with it (see endGroup). Windows has no process groups to signal.
      detached: GROUPS,
    });
    this.input = this.child.stdio[3] as Writable;
    this.batch = new TurnBatch(this.input);
    const output = this.child.stdio[4] as Socket;
    this.input.on('error', () => undefined);
    const decoder = new FrameDecoder((frame) => this.onFrame(frame));
    // Frames are read from the shared buffer: what outlives the read (a body chunk) is copied.
    readInto(output, (chunk) => {
      const error = decoder.push(chunk);
      if (error !== undefined) this.broken(`the bridge broke the protocol: ${error.message}`);
    });
    output.on('error', () => undefined);
    forwardLines(this.child.stdout, (line) => options.log(`stdout: ${line}`));
    forwardLines(this.child.stderr, (line) => options.log(`stderr: ${line}`));
    // The process's own exit, then its group's end, not 'close': that waits for every copy of its
    // pipes, which a process the app started may hold as long as it runs.
    const pipes = [this.child.stdout, this.child.stderr, output, this.input];
    this.group = new ProcessGroup(this.child.pid);
    this.ended = new Promise((done) => (this.settleEnded = done));
    this.exited = new Promise((done) => {
      this.child.once('exit', () => void this.endGroup(pipes).then(done));
      // A program that could not be run (ENOENT) never exits: it never started.
      this.child.once('error', () => {
        if (this.child.pid === undefined) done();
      });
    });
    this.child.once('error', (error) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      this.fail(missing ? `cannot run ${options.command}: no such program (${options.missingHint})` : `cannot run ${options.command}: ${error.message}`);
    });
    this.child.once('exit', (code, signal) => this.fail(signal === null ? `the app process exited with code ${code}` : `the app process was killed by ${signal}`));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Why the process can take no more requests, or undefined while it can. */
  get goneReason(): string | undefined {
    return this.gone;
  }

  get inFlight(): number {
    return this.sinks.size;
  }

  /** Registers a request; frames for its id go to `sink` until it ends. */
  open(sink: ExchangeSink): number {
    const id = this.nextId++;
    this.sinks.set(id, sink);
    return id;
  }

  /**
   * Forgets a request (ended, failed or abandoned); a retiring process stops after its last. A
   * request the app ended (END, RESPONSE, ERROR) is forgotten here before its sink hears of it.
   */
  close(id: number): void {
    this.sinks.delete(id);
    if (this.retiring && this.sinks.size === 0) void this.stop();
  }

  /**
   * Writes a frame, in this turn's batch (see TurnBatch; once the process is gone the batch
   * drops it). The pipe buffers what it cannot take at once; credit bounds the body bytes in
   * flight, so the caller need not wait.
   */
  send(frame: Buffer): void {
    this.batch.push(frame);
  }

  /** A BODY frame: header and payload queued one after the other, the payload not copied here. */
  sendBody(id: number, payload: Buffer): void {
    this.batch.push(encodeHeader(FRAME.body, id, payload.length));
    this.batch.push(payload);
  }

  sendEmpty(type: (typeof FRAME)[keyof typeof FRAME], id: number): void {
    this.send(encodeFrame(type, id));
  }

  /**
   * Stops taking requests; the process ends once the ones in flight have finished, or after
   * `graceMs` (an endless stream, a request that never ends) whichever comes first.
   */
  retire(graceMs: number): void {
    this.retiring = true;
    if (this.sinks.size === 0) void this.stop();
    else setTimeout(() => void this.stop(), graceMs).unref();
  }

  /**
   * Checks that the process still answers at all, after one of its requests timed out: the
   * reason may be the whole process, not the request (a JavaScript app runs on one event loop,
   * which a synchronous loop blocks for every request). Without a PONG within `ms` it is killed,
   * its requests in flight fail, and the next request starts another process.
   */
  probe(ms: number): void {
    if (this.gone !== undefined || this.probeTimer !== undefined) return;
    this.send(encodeFrame(FRAME.ping, 0));
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      const seconds = ms / 1000;
      this.options.log(`the app process did not answer for ${seconds} s after a request timed out (its event loop may be blocked), so it is killed`);
      this.broken(`the app process stopped answering (blocked for ${seconds} s after a request timed out)`);
    }, ms);
    this.probeTimer.unref();
  }

  /**
   * Request `id` timed out and was abandoned, but the app may still run it, holding one of the
   * process's workers until it returns. When every worker is held so (a deadlock, a call that
   * never returns), the process can answer nothing more, though it answers PING: it is killed,
   * and the next request starts another.
   */
  overdue(id: number): void {
    const workers = this.options.workers;
    if (workers === undefined || this.gone !== undefined) return;
    this.overdueIds.add(id);
    if (this.overdueIds.size < workers) return;
    this.options.log(`all ${workers} of the app's threads are still running requests that timed out, so it is killed`);
    this.broken(`every one of the app's ${workers} threads was still running a request that timed out`);
  }

  /** Ends the process: the closed pipe makes the bridge exit; SIGKILL if it does not. */
  async stop(): Promise<void> {
    this.fail('the app process was stopped');
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined && this.stopDeadline === undefined) {
      // One deadline for the process and its group alike (see endGroup). The process alone is
      // asked first: its exit ends what it started in order (multiprocessing's own hook stops a
      // pool before it terminates the workers; a SIGTERM to them all at once left its lock held).
      this.stopDeadline = Date.now() + KILL_AFTER_MS;
      this.input.end();
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!this.group.signal('SIGKILL')) this.child.kill('SIGKILL');
      }, KILL_AFTER_MS);
      await this.exited;
      clearTimeout(timer);
    }
    // Exited already (it crashed, or was killed as broken), or stopping: what it started may still be ending.
    await this.exited;
  }

  /**
   * The process has exited: what the app started and left running (its process group) is asked
   * to end, and killed at the stop's deadline, or KILL_AFTER_MS after the exit; then the pipes
   * those processes may still hold are closed here. Resolves once the group has ended, so that
   * nothing of the app outlives a stop, and a stop never waits longer than its deadline.
   */
  private async endGroup(pipes: ReadonlyArray<Readable | Writable | null>): Promise<void> {
    const killed = await this.group.end(this.stopDeadline ?? Date.now() + KILL_AFTER_MS);
    if (!killed) return;
    for (const pipe of pipes) pipe?.destroy();
    this.options.log(`processes the app started (pid ${this.child.pid ?? '?'}'s group) did not end within ${KILL_AFTER_MS / 1000} s, so they were killed`);
  }

  private onFrame(frame: Frame): void {
    if (frame.id === 0) {
      this.onProcessFrame(frame);
      return;
    }
    const sink = this.sinks.get(frame.id);
    if (sink === undefined) {
      // A request already abandoned (timeout, client gone); one that timed out frees its worker as it ends.
      if (frame.type === FRAME.response || frame.type === FRAME.responseEnd || frame.type === FRAME.error) this.overdueIds.delete(frame.id);
      return;
    }
    switch (frame.type) {
      case FRAME.start: {
        const head = parseStart(frame.payload.toString('utf8'));
        if (head === undefined) this.broken('the bridge sent a malformed START frame');
        else sink.onStart(head);
        return;
      }
      case FRAME.response: {
        const parts = splitResponse(frame.payload);
        const head = parts === undefined ? undefined : parseStart(parts.head);
        if (parts === undefined || head === undefined) {
          this.broken('the bridge sent a malformed RESPONSE frame');
          return;
        }
        this.close(frame.id);
        sink.onResponse(head, Buffer.from(parts.body));
        return;
      }
      case FRAME.responseBody:
        sink.onBody(Buffer.from(frame.payload));
        return;
      case FRAME.responseEnd:
        this.close(frame.id);
        sink.onEnd();
        return;
      case FRAME.error: {
        const error = parseJson(frame.payload) as { message?: unknown; traceback?: unknown };
        this.close(frame.id);
        sink.onError(String(error.message ?? 'unknown error'), String(error.traceback ?? ''));
        return;
      }
      case FRAME.grant:
        sink.onGrant(frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : 0);
        return;
      case FRAME.log:
        this.options.log(`wsgi.errors: ${frame.payload.toString('utf8').trimEnd()}`);
        return;
      default:
        this.broken(`the bridge sent frame type 0x${frame.type.toString(16)}, which only the server sends`);
    }
  }

  private onProcessFrame(frame: Frame): void {
    if (frame.type === FRAME.pong) {
      clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
      return;
    }
    const info = parseJson(frame.payload) as Record<string, unknown>;
    if (frame.type === FRAME.ready) {
      const runtime = info.runtime === undefined ? `Python ${String(info.python)}` : String(info.runtime);
      this.settleStart({ ok: true, pid: Number(info.pid), runtime, ms: 0 });
    } else if (frame.type === FRAME.failed) {
      this.settleStart({ ok: false, message: String(info.message), traceback: String(info.traceback ?? '') });
    }
  }

  /** The process can serve no more: every request in flight hears why, once. */
  private fail(reason: string): void {
    if (this.gone !== undefined) return;
    this.gone = reason;
    this.settleEnded(reason);
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.batch.drop();
    this.settleStart({ ok: false, message: reason, traceback: '' });
    const sinks = this.sinks.values();
    this.sinks.clear();
    for (const sink of sinks) sink.onGone(reason);
  }

  /** A bridge that breaks the protocol cannot be trusted with another frame. */
  private broken(reason: string): void {
    this.fail(reason);
    this.child.kill('SIGKILL');
  }
}

function parseJson(payload: Buffer): unknown {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' && value !== null ? value : {};
  } catch {
    return {};
  }
}
