import * as vscode from 'vscode';
import { exposureWarning, isLoopbackHost } from '../server/host-check';
import { isAppSpec, type AppStatus } from '../server/app';
import { DEFAULT_SETTINGS, type ChangeSource } from '../server/options';
import { startServer, type StartResult, type TinyServer } from '../server/server';
import type { ServerInfo, StartOutcome } from './api';
import { DisposableOwner } from './dispose';
import { EditorOverlay } from './editor-overlay';
import type { LogChannel } from './log-channel';
import { onInterpreterChanged, selectedInterpreter } from './python';
import { needsRestart, pythonIsSet, readSettings, SECTION, type FolderSettings, type SettingsResult } from './settings';

/** One running server and what belongs to it. */
export interface RunningServer {
  readonly folder: vscode.WorkspaceFolder;
  readonly server: TinyServer;
  readonly settings: FolderSettings;
}

/**
 * Runs at most one server per workspace folder. Operations on the same folder run one after
 * the other (a restart never races a stop), operations on different folders run side by side.
 * It never writes settings: a taken port is reported, not persisted.
 */
export class ServerManager extends DisposableOwner {
  private readonly running = new Map<string, RunningServer>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly changeEmitter = this._register(new vscode.EventEmitter<void>());
  /** Fires after a server started or stopped. */
  readonly onDidChangeServers = this.changeEmitter.event;
  private warnedAboutTrust = false;
  private warnedAboutNetwork = false;
  /** Unsaved editor text, kept while a running server serves it (`tinyServer.updateOn`: change). */
  private overlay: EditorOverlay | undefined;
  /** Set once a server's app runs on the Python extension's interpreter, which may change. */
  private interpreterWatch: Promise<unknown> | undefined;

  constructor(private readonly log: LogChannel) {
    super();
    this._register(vscode.workspace.onDidChangeConfiguration((event) => this.onSettingsChanged(event)));
    this._register(
      vscode.workspace.onDidChangeWorkspaceFolders((event) => {
        for (const folder of event.removed) void this.stop(folder.uri);
        this.updateContextKeys();
      }),
    );
    // A server started in Restricted Mode serves files only; trust brings its app.
    this._register(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        for (const entry of this.list()) {
          if (entry.settings.server.app !== '') void this.restart(entry.folder, 'the workspace is trusted now, so its app can run');
        }
      }),
    );
    this.updateContextKeys();
  }

  /** Running servers in the order they started. */
  list(): readonly RunningServer[] {
    return [...this.running.values()];
  }

  get(folder: vscode.Uri): RunningServer | undefined {
    return this.running.get(folder.toString());
  }

  /** Starts the server of `folder`, or answers the one already running. */
  start(folder: vscode.WorkspaceFolder): Promise<StartOutcome> {
    return this.serialize(folder.uri, () => this.startNow(folder));
  }

  stop(folder: vscode.Uri): Promise<void> {
    return this.serialize(folder, () => this.stopNow(folder));
  }

  stopAll(): Promise<void> {
    return Promise.all(this.list().map((entry) => this.stop(entry.folder.uri))).then(() => undefined);
  }

  /** Stops and starts again with the current settings. */
  restart(folder: vscode.WorkspaceFolder, why: string): Promise<StartOutcome> {
    return this.serialize(folder.uri, async () => {
      this.log.info(`[${folder.name}] Restarting: ${why}`);
      await this.stopNow(folder.uri);
      return this.startNow(folder);
    });
  }

  /** Closes every server without waiting; `deactivate` has already awaited `stopAll()`. */
  override dispose(): void {
    for (const entry of this.running.values()) entry.server.dispose();
    this.running.clear();
    this.overlay?.dispose();
    this.overlay = undefined;
    super.dispose();
  }

  private async startNow(folder: vscode.WorkspaceFolder): Promise<StartOutcome> {
    const existing = this.get(folder.uri);
    if (existing !== undefined) return { ok: true, server: toInfo(existing) };
    if (folder.uri.scheme !== 'file') {
      return this.failed(folder, `Only folders on disk can be served, not ${folder.uri.toString()}`);
    }
    const read = await this.settingsOf(folder);
    if (!read.ok) return this.failed(folder, read.message);
    const settings = read.settings;
    this.warnIfPublic(settings.server.host);

    const overlay = settings.updateOn === 'change' && settings.server.liveReload ? this.editorOverlay() : undefined;
    const result = await startSafely({
      ...settings.server,
      app: this.trustedApp(folder, settings.server.app),
      logger: this.log.requestLogger(folder.name),
      changes: watchFiles,
      ...(overlay === undefined ? {} : { overlay }),
      appLog: (line) => this.log.info(`[${folder.name}] ${line}`),
      onConsole: (entry) => this.log.logPageConsole(folder.name, entry),
    });
    if (!result.ok) {
      this.releaseOverlay();
      return this.failed(folder, result.error.message);
    }
    const server = result.server;
    if (this.isDisposed) {
      await server.close();
      return { ok: false, message: 'Tiny Server was shut down while the server was starting' };
    }
    const entry: RunningServer = { folder, server, settings };
    this.running.set(folder.uri.toString(), entry);
    this.announce(entry);
    this.changed();
    return { ok: true, server: toInfo(entry) };
  }

  private async stopNow(folder: vscode.Uri): Promise<void> {
    const entry = this.get(folder);
    if (entry === undefined) return;
    this.running.delete(folder.toString());
    await entry.server.close();
    this.releaseOverlay();
    this.log.info(`[${entry.folder.name}] Stopped the server on port ${entry.server.port}`);
    this.changed();
  }

  private announce(entry: RunningServer): void {
    const { folder, server } = entry;
    this.log.info(`[${folder.name}] Serving ${server.root} at ${server.url} (bound to ${server.host})`);
    const { app, python } = entry.settings.server;
    if (server.appStatus !== undefined && isAppSpec(app)) {
      const chosen = pythonIsSet(folder) ? 'tinyServer.python' : python === DEFAULT_SETTINGS.python ? 'the default' : 'the interpreter selected in the Python extension';
      this.log.info(`[${folder.name}] The app ${app} runs on ${python} (${chosen})`);
    }
    if (server.requestedPort !== 0 && server.port !== server.requestedPort) {
      const message = `Port ${server.requestedPort} is in use, so Tiny Server listens on port ${server.port}`;
      this.log.warn(`[${folder.name}] ${message}`);
      void vscode.window.showInformationMessage(`${message}.`);
    }
  }

  private failed(folder: vscode.WorkspaceFolder, message: string): StartOutcome {
    this.log.error(`[${folder.name}] Could not start: ${message}`);
    void vscode.window
      .showErrorMessage(`Tiny Server could not start for ${folder.name}: ${message}`, 'Show Log')
      .then((choice) => {
        if (choice === 'Show Log') this.log.show();
      });
    return { ok: false, message };
  }

  /**
   * An app runs workspace code, so it runs only in a trusted workspace; in Restricted Mode the
   * files are still served and the log says once why the app did not start.
   */
  private trustedApp(folder: vscode.WorkspaceFolder, app: string): string {
    if (app === '' || vscode.workspace.isTrusted) return app;
    if (!this.warnedAboutTrust) {
      this.warnedAboutTrust = true;
      this.log.warn(`[${folder.name}] The app ${app} did not start: apps run workspace code, so they run only in trusted workspaces (Restricted Mode serves the files only)`);
    }
    return '';
  }

  /**
   * Binding beyond loopback is allowed, but the user hears once per session what it means (the
   * CLI warns for the same addresses).
   */
  private warnIfPublic(host: string): void {
    if (isLoopbackHost(host) || this.warnedAboutNetwork) return;
    this.warnedAboutNetwork = true;
    const message = exposureWarning(host, 'the tinyServer.allowedHosts setting');
    this.log.warn(message);
    void vscode.window.showWarningMessage(`${message}.`);
  }

  /** The overlay, made when a server first needs it; unsupported VS Code versions say so once. */
  private editorOverlay(): EditorOverlay | undefined {
    if (this.overlay === undefined) {
      this.overlay = new EditorOverlay();
      if (!this.overlay.supported) {
        this.log.warn('Pages update when files are saved: this VS Code has no encoding API (1.100 or later), which serving unsaved text in each file\'s own encoding needs');
      }
    }
    return this.overlay.supported ? this.overlay : undefined;
  }

  /** Drops the overlay once no running server serves unsaved text. */
  private releaseOverlay(): void {
    if (this.overlay === undefined) return;
    const inUse = this.list().some((entry) => entry.settings.updateOn === 'change' && entry.settings.server.liveReload);
    if (inUse) return;
    this.overlay.dispose();
    this.overlay = undefined;
  }

  private onSettingsChanged(event: vscode.ConfigurationChangeEvent): void {
    for (const entry of this.list()) {
      if (event.affectsConfiguration(SECTION, entry.folder.uri)) void this.restartIfChanged(entry, 'its settings changed');
    }
  }

  private async restartIfChanged(entry: RunningServer, why: string): Promise<void> {
    const read = await this.settingsOf(entry.folder);
    // openOnStart only matters at the next start; everything else shapes the running server.
    if (read.ok && !needsRestart(entry.settings, read.settings)) return;
    if (this.get(entry.folder.uri) === entry) await this.restart(entry.folder, why);
  }

  /**
   * The folder's settings, with the interpreter for a WSGI app: `tinyServer.python` when the user
   * set it, else the one selected in the Python extension, else `python3`.
   */
  private async settingsOf(folder: vscode.WorkspaceFolder): Promise<SettingsResult> {
    const read = readSettings(folder);
    if (!read.ok || !isAppSpec(read.settings.server.app) || pythonIsSet(folder)) return read;
    const python = await selectedInterpreter(folder.uri);
    if (python === undefined) return read;
    this.interpreterWatch ??= onInterpreterChanged(() => {
      for (const entry of this.list()) void this.restartIfChanged(entry, 'another Python interpreter was selected');
    }).then((subscription) => subscription !== undefined && this._register(subscription));
    return { ok: true, settings: { ...read.settings, server: { ...read.settings.server, python } } };
  }

  private changed(): void {
    this.updateContextKeys();
    this.changeEmitter.fire();
  }

  /** Context keys for `when` clauses in package.json. */
  private updateContextKeys(): void {
    const folders = vscode.workspace.workspaceFolders ?? [];
    const allRunning = folders.length > 0 && folders.every((folder) => this.get(folder.uri) !== undefined);
    void vscode.commands.executeCommand('setContext', 'tinyServer.running', this.running.size > 0);
    void vscode.commands.executeCommand('setContext', 'tinyServer.allRunning', allRunning);
  }

  private serialize<T>(folder: vscode.Uri, operation: () => Promise<T>): Promise<T> {
    const key = folder.toString();
    const previous = this.queues.get(key) ?? Promise.resolve();
    const result = previous.then(operation);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return result;
  }
}

/** startServer reports failures as values; anything it throws is a bug, reported the same way. */
async function startSafely(options: Parameters<typeof startServer>[0]): Promise<StartResult> {
  try {
    return await startServer(options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: { code: 'bind-failed', message: `Unexpected failure: ${message}` } };
  }
}

/** The extension's change source: a VS Code file watcher on the served folder. */
const watchFiles: ChangeSource = (root, changed) => {
  const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), '**/*'));
  const notify = (uri: vscode.Uri): void => changed([uri.fsPath]);
  return vscode.Disposable.from(
    watcher,
    watcher.onDidChange(notify),
    watcher.onDidCreate(notify),
    watcher.onDidDelete(notify),
  );
};

export function toInfo(entry: RunningServer): ServerInfo {
  const { folder, server } = entry;
  return {
    folder: folder.uri,
    root: vscode.Uri.file(server.root),
    host: server.host,
    port: server.port,
    requestedPort: server.requestedPort,
    url: server.url,
    requestCount: server.requestCount,
    app: describeApp(entry.settings.server.app, server.appStatus),
  };
}

/** The app's state as the tooltip says it. */
function describeApp(spec: string, status: AppStatus | undefined): string | undefined {
  if (status === undefined) return undefined;
  const at = new Date(status.since).toLocaleTimeString();
  switch (status.state) {
    case 'starting':
      return `${spec} starting since ${at}`;
    case 'running':
      return `${spec} ${status.restarts === 0 ? 'started' : 'restarted'} at ${at} in ${status.startMs} ms`;
    case 'failed':
      return `${spec} could not start (${at}): ${status.message}`;
  }
}
