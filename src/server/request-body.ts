import { Readable } from 'node:stream';

/**
 * A request body handed to the handler while it still arrives (`Request.bodyStream`), for
 * handlers that forward it (a WSGI app) instead of reading it whole. Backpressure reaches the
 * client: when the handler reads slower than the client sends, the connection stops reading
 * the socket until the handler asks for more.
 */
const ignore = (): void => undefined;

export class RequestBody extends Readable {
  /** The whole body arrived (the parser reached the end of the message). */
  complete = false;

  constructor(
    private readonly pauseSource: () => void,
    private readonly resumeSource: () => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
    // The connection ends a body with an error when the client leaves or sends a bad chunk. A
    // handler that answered without reading it (a 403, a 405) listens to nothing: without a
    // listener of its own, that error would be uncaught and stop the server. Readers still get it.
    this.on('error', ignore);
  }

  /** @internal parser side: the next piece of the body. */
  add(chunk: Buffer): void {
    if (!this.push(chunk)) this.pauseSource();
  }

  /** @internal parser side: the body ended. */
  finish(): void {
    this.complete = true;
    this.push(null);
  }

  override _read(): void {
    this.resumeSource();
  }
}
