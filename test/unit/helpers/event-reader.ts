import type { Socket } from 'node:net';
import { open } from './raw';

export const EVENTS = '/.tiny-server/reload/events';
export const SAME_ORIGIN = 'Sec-Fetch-Site: same-origin\r\n';

/** Reads an event stream off a raw socket: the response head, then `data:` events as they come. */
export class EventReader {
  private raw = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, extra = SAME_ORIGIN, method = 'GET'): Promise<EventReader> {
    const socket = await open(port);
    const reader = new EventReader(socket);
    socket.write(`${method} ${EVENTS} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}\r\n`);
    return reader;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once `ready()` holds, rejecting after `timeoutMs`. */
  async until<T>(ready: () => T | undefined, what: string, timeoutMs = 2000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (this.closed) throw new Error(`Stream closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; got ${JSON.stringify(this.raw.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Everything received so far, as text. */
  rawText(): string {
    return this.raw.toString('latin1');
  }

  head(): { status: number; headers: Map<string, string> } | undefined {
    const end = this.raw.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.raw.subarray(0, end).toString('latin1').split('\r\n');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status: Number(lines[0]?.split(' ')[1]), headers };
  }

  /** The chunked body decoded so far, and whether its last chunk has arrived. */
  body(): { text: string; ended: boolean } {
    const headEnd = this.raw.indexOf('\r\n\r\n');
    let offset = headEnd < 0 ? -1 : headEnd + 4;
    let text = '';
    while (offset >= 0) {
      const lineEnd = this.raw.indexOf('\r\n', offset);
      if (lineEnd < 0) break;
      const size = parseInt(this.raw.subarray(offset, lineEnd).toString('latin1'), 16);
      if (size === 0) return { text, ended: true };
      if (this.raw.length < lineEnd + 2 + size + 2) break;
      text += this.raw.subarray(lineEnd + 2, lineEnd + 2 + size).toString();
      offset = lineEnd + 2 + size + 2;
    }
    return { text, ended: false };
  }

  /** Every complete `data:` event so far, parsed. */
  events(): Array<Record<string, unknown>> {
    const frames = this.body().text.split('\n\n').slice(0, -1);
    return frames
      .flatMap((frame) => frame.split('\n').filter((line) => line.startsWith('data: ')))
      .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);
  }

  nthEvent(n: number, timeoutMs = 2000): Promise<Record<string, unknown>> {
    return this.until(() => this.events()[n], `event ${n}`, timeoutMs);
  }
}
