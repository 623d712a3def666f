import * as vscode from 'vscode';
import { BatchedLines, formatReceived, formatRecord, type RequestLogRecord, type RequestLogger } from '../server/log';
import { formatConsoleEntry, type ConsoleEntry } from '../server/reload';
import { DisposableOwner } from './dispose';

type Level = 'info' | 'warn' | 'error' | 'debug' | 'trace';

/** Level tags for queued lines; BatchedLines carries strings, so the level rides in front. */
const TAGS: Record<Level, string> = { info: 'I', warn: 'W', error: 'E', debug: 'D', trace: 'T' };
const LEVELS: Record<string, Level> = { I: 'info', W: 'warn', E: 'error', D: 'debug', T: 'trace' };

/**
 * The "Tiny Server" output channel. Request lines are batched (a benchmark answers tens of
 * thousands of requests a second, and each channel write costs the extension host work), while
 * lifecycle messages are written at once, after whatever request lines are still queued so the
 * channel stays in order.
 */
export class LogChannel extends DisposableOwner {
  readonly channel = this._register(vscode.window.createOutputChannel('Tiny Server', { log: true }));
  private readonly lineEmitter = this._register(new vscode.EventEmitter<string>());
  /** Each line written, without timestamp and level; trace-level header dumps excluded. */
  readonly onDidLog = this.lineEmitter.event;
  private readonly batch = new BatchedLines((lines) => this.writeBatch(lines));

  override dispose(): void {
    this.batch.dispose();
    super.dispose();
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  show(): void {
    this.channel.show(true);
  }

  /** A logger for one server; `label` (the folder name) starts each of its lines. */
  requestLogger(label: string): RequestLogger {
    return { log: (record) => this.logRequest(label, record) };
  }

  /**
   * A console line of a page that `label`'s server served, at its own level, in order with the
   * request lines. Source files are named by absolute path, which the Output view makes a link.
   */
  logPageConsole(label: string, entry: ConsoleEntry): void {
    this.batch.push(`${TAGS[entry.level]}[${label}] ${formatConsoleEntry(entry, (file) => file)}`);
  }

  private logRequest(label: string, record: RequestLogRecord): void {
    const level: Level = record.status >= 500 ? 'error' : record.status >= 400 ? 'warn' : 'info';
    this.batch.push(`${TAGS[level]}[${label}] ${formatRecord(record)}`);
    // Formatting headers costs time per request; do it only when someone reads them.
    if (this.channel.logLevel === vscode.LogLevel.Trace && record.headers.length > 0) {
      const fields = record.headers;
      const lines: string[] = [];
      // Fields as received, escaped like the request line: a value may carry any byte 0x80-0xFF.
      for (let i = 0; i + 1 < fields.length; i += 2) lines.push(`    ${formatReceived(fields[i] ?? '')}: ${formatReceived(fields[i + 1] ?? '')}`);
      const headers = lines.join('\n');
      this.batch.push(`${TAGS.trace}[${label}] request headers\n${headers}`);
    }
  }

  private write(level: Level, message: string): void {
    // Servers closed at deactivation may finish after VS Code disposed the channel.
    if (this.isDisposed) return;
    this.batch.flush();
    this.emit(level, message);
  }

  private writeBatch(lines: readonly string[]): void {
    if (this.isDisposed) return;
    for (const line of lines) this.emit(LEVELS[line.charAt(0)] ?? 'info', line.slice(1));
  }

  private emit(level: Level, message: string): void {
    this.channel[level](message);
    if (level !== 'trace') this.lineEmitter.fire(message);
  }
}
