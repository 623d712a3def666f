import { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { Request } from '../handler';
import type { BridgeProcess } from './bridge-process';
import { BODY_CHUNK, FRAME, WINDOW } from './frames';

/**
 * Sends a request body to the bridge within the credit it grants: a buffered body in slices, a
 * streamed one (Request.bodyStream) paused whenever the credit runs out, then END.
 */
export class Upload {
  private credit = WINDOW;
  /** Bytes that wait for credit. */
  private held: Buffer | undefined;
  private sourceEnded: boolean;
  private done = false;
  private readonly source: Readable | undefined;

  constructor(
    private readonly bridge: BridgeProcess,
    private readonly id: number,
    request: Request,
    onFailed: (message: string) => void,
    /** The whole body went out (END): from here on, waiting is the app's time only. */
    private readonly onSent: () => void = () => undefined,
  ) {
    const source = request.bodyStream;
    this.source = source;
    this.sourceEnded = source === undefined;
    if (source === undefined) {
      if (request.body.length > 0) this.held = request.body;
    } else {
      source.on('data', (chunk: Buffer) => {
        this.held = chunk;
        this.flush();
        if (this.held !== undefined) source.pause();
      });
      source.once('end', () => {
        this.sourceEnded = true;
        this.flush();
      });
      source.once('error', (error) => {
        if (!this.done) onFailed(error.message);
      });
    }
    this.flush();
  }

  grant(bytes: number): void {
    this.credit += bytes;
    this.flush();
    if (this.held === undefined && !this.done) this.source?.resume();
  }

  /**
   * Whether the body waits on the client now: more is to come and nothing is held back for
   * credit. That time is the client's pace, not the app's, so the app's timeout does not count it
   * (a client that stops sending is the connection's body timeout's to end).
   */
  get waitingOnClient(): boolean {
    return !this.sourceEnded && this.held === undefined && !this.done;
  }

  /** The request was abandoned: nothing more is sent. */
  stop(): void {
    this.done = true;
    this.held = undefined;
  }

  private flush(): void {
    while (this.held !== undefined && this.credit > 0 && !this.done) {
      const held = this.held;
      const size = Math.min(BODY_CHUNK, this.credit, held.length);
      this.bridge.sendBody(this.id, size === held.length ? held : held.subarray(0, size));
      this.held = size === held.length ? undefined : held.subarray(size);
      this.credit -= size;
    }
    if (this.held === undefined && this.sourceEnded && !this.done) {
      this.done = true;
      this.bridge.sendEmpty(FRAME.end, this.id);
      this.onSent();
    }
  }
}
