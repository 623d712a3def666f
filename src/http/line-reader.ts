import { LF } from './header-fields';
import { ByteView } from './scan';

/**
 * Bytes decoded to text at once: a head and its first chunk-size lines usually fit, and a large
 * body is not decoded whole.
 */
const WINDOW = 4096;
const NO_VIEW = new ByteView(Buffer.alloc(0));

/** Where the lines a LineReader finds go. */
export interface LineSink {
  /**
   * A whole line: `s[start, stop)`, whose last char is its line feed; `view.bytes[k + delta]` is
   * the byte behind `s[k]` (scanning bytes is cheaper than scanning chars).
   */
  completeLine(s: string, start: number, stop: number, view: ByteView, delta: number): void;
  /** The `n` bytes of a line still without its line feed, as text: checked against the limits. */
  partialLine(s: string, n: number): void;
}

/**
 * The text lines of an incremental parser's input, read from one latin1 window of each input (a
 * head costs one decoding, not one per line). A line cut by the window's edge starts a fresh
 * window, one longer than a window is decoded on its own, and one the input ends inside is kept
 * as bytes (up to `maxKept`, past which it breaks a limit anyway) until the rest comes.
 */
export class LineReader {
  private window = '';
  /** The input `window` was decoded from; the window is valid only while it is the input read. */
  private windowInput: Buffer | null = null;
  private windowStart = 0;
  /** The view of the input being read, made once per input rather than once per line. */
  private view = NO_VIEW;
  private line: Buffer = Buffer.alloc(0);
  private lineLength = 0;

  constructor(private readonly maxKept: number) {}

  /** Reads one line of `input` from `offset` into `sink`, or keeps the partial line it ends with; returns where it stopped. */
  read(input: Buffer, offset: number, sink: LineSink): number {
    if (this.lineLength > 0) return this.finishPartialLine(input, offset, sink);
    if (input !== this.windowInput || offset < this.windowStart || offset >= this.windowStart + this.window.length) {
      this.decodeWindow(input, offset);
    }
    const base = this.windowStart;
    const lf = this.window.indexOf('\n', offset - base);
    if (lf >= 0) {
      sink.completeLine(this.window, offset - base, lf + 1, this.view, base);
      return base + lf + 1;
    }
    if (base + this.window.length < input.length) {
      // The window ends inside this line: a fresh window starts at it, unless the line is
      // longer than a window, which is read as a string of its own.
      if (offset > base) {
        this.decodeWindow(input, offset);
        return offset;
      }
      const end = input.indexOf(LF, offset);
      if (end >= 0) {
        sink.completeLine(input.toString('latin1', offset, end + 1), 0, end + 1 - offset, this.view, offset);
        return end + 1;
      }
    }
    // No line feed before the end of the input: the line is kept until the rest comes.
    this.keep(input, offset, input.length);
    sink.partialLine(this.line.toString('latin1', 0, this.lineLength), this.lineLength);
    return input.length;
  }

  /**
   * Forgets the window and the view, so that neither keeps an input alive, nor is taken for the
   * next input's when a callback threw (the same buffer may come back with other bytes).
   */
  release(): void {
    this.windowInput = null;
    this.window = '';
    this.view = NO_VIEW;
  }

  /** Drops a kept partial line (the parser failed). */
  dropPartial(): void {
    this.lineLength = 0;
  }

  /** Completes the kept partial line with `input` up to its line feed, if there is one. */
  private finishPartialLine(input: Buffer, offset: number, sink: LineSink): number {
    const lf = input.indexOf(LF, offset);
    const end = lf < 0 ? input.length : lf + 1;
    this.keep(input, offset, end);
    const length = this.lineLength;
    const line = this.line.toString('latin1', 0, length);
    if (lf < 0) {
      sink.partialLine(line, length);
      return end;
    }
    this.lineLength = 0;
    sink.completeLine(line, 0, length, new ByteView(this.line), 0);
    return end;
  }

  private decodeWindow(input: Buffer, offset: number): void {
    if (this.view.bytes !== input) this.view = new ByteView(input);
    this.windowInput = input;
    this.windowStart = offset;
    this.window = input.toString('latin1', offset, Math.min(input.length, offset + WINDOW));
  }

  /** Copies a partial line, at most `maxKept` bytes of it. */
  private keep(input: Buffer, start: number, end: number): void {
    const length = Math.min(end - start, this.maxKept - this.lineLength);
    if (this.lineLength + length > this.line.length) {
      const grown = Buffer.alloc(Math.max(256, 2 * (this.lineLength + length)));
      this.line.copy(grown, 0, 0, this.lineLength);
      this.line = grown;
    }
    input.copy(this.line, this.lineLength, start, start + length);
    this.lineLength += length;
  }
}
