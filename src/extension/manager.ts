import * as vscode from 'vscode';
import { exposureWarning, isLoopbackHost } from '../server/host-check';
import { isAppSpec, type AppStatus } from '../server/app';
import { DEFAULT_SETTINGS, type ChangeSource } from '../server/options';
import { startServer, type StartResult, type TinyServer } from '../server/server';
import { spaFallbackProblem } from '../server/static';
import type { ServerInfo, StartOutcome } from './api';
import { DisposableOwner } from './dispose';
import { ClientlessReload } from './clientless-reload';
import { EditorOverlay } from './editor-overlay';
import type { LogChannel } from './log-channel';
import { onInterpreterChanged, selectedInterpreter } from './python';
import { needsRestart, pythonIsSet, readSettings, SECTION, type FolderSettings, type SettingsResult } from './settings';

/** One running server and what belongs to it. */
export interface RunningServer {
  readonly folder: vscode.WorkspaceFolder;
  readonly server: TinyServer;
  readonly settings: FolderSettings;
  /** Whether it serves unsaved editor text, and so holds a use of the manager's overlay. */
  readonly usesOverlay: boolean;
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
  /** Shows a changed file again in the Simple Browser when it has no live-reload client (an SVG, a text file). */
  private readonly clientless = this._register(new ClientlessReload());
  /** Fires after a server started or stopped. */
  readonly onDidChangeServers = this.changeEmitter.event;
  private warnedAboutTrust = false;
  private warnedAboutNetwork = false;
  /** Unsaved editor text, kept while a server serves it (`tinyServer.updateOn`: change). */
  private overlay: EditorOverlay | undefined;
  /** Servers, starting or running, that hold the overlay; it is dropped when none does. */
  private overlayUsers = 0;
  /** Host names a port forwarder gave each folder's server (see allowHost), by folder URI. */
  private readonly forwardedHosts = new Map<string, Set<string>>();
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

  /**
   * Lets the server of `folder` answer requests addressed to `host`, the name a port forwarder
   * gave its address (see browser.ts, externalUri), now and after any restart of it.
   */
  allowHost(folder: vscode.Uri, host: string): void {
    const key = folder.toString();
    const hosts = this.forwardedHosts.get(key) ?? new Set<string>();
    this.forwardedHosts.set(key, hosts.add(host));
    this.get(folder)?.server.allowHost(host);
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

  /**
   * Stops every server, for `deactivate`. VS Code disposes the manager right after calling
   * `deactivate`, without waiting for it, so the servers are taken from the table here at once
   * and closed directly instead of through each folder's queue of operations.
   */
  shutdown(): Promise<void> {
    const entries = this.list();
    this.running.clear();
    const closing = entries.map(async (entry) => {
      await entry.server.close();
      this.log.info(`[${entry.folder.name}] Stopped the server on port ${entry.server.port}`);
    });
    return Promise.all(closing).then(() => undefined);
  }

  /** Closes every server without waiting (`shutdown` has taken them when VS Code deactivated). */
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

    const overlay = settings.updateOn === 'change' && settings.server.liveReload ? this.acquireOverlay() : undefined;
    const result = await startSafely({
      ...settings.server,
      app: this.trustedApp(folder, settings.server.app),
      logger: this.log.requestLogger(folder.name),
      changes: watchFiles,
      ...(overlay === undefined ? {} : { overlay }),
      appLog: (line) => this.log.info(`[${folder.name}] ${line}`),
      onConsole: (entry) => this.log.logPageConsole(folder.name, entry),
      onAnnounced: (paths) => this.clientless.changed(paths, (path) => this.get(folder.uri)?.server.urlOf(path), (host) => this.allowHost(folder.uri, host)),
    });
    if (!result.ok) {
      if (overlay !== undefined) this.releaseOverlay();
      return this.failed(folder, result.error.message);
    }
    const server = result.server;
    if (this.isDisposed) {
      await server.close();
      return { ok: false, message: 'Tiny Server was shut down while the server was starting' };
    }
    for (const host of this.forwardedHosts.get(folder.uri.toString()) ?? []) server.allowHost(host);
    const entry: RunningServer = { folder, server, settings, usesOverlay: overlay !== undefined };
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
    if (entry.usesOverlay) this.releaseOverlay();
    this.log.info(`[${entry.folder.name}] Stopped the server on port ${entry.server.port}`);
    this.changed();
  }

  private announce(entry: RunningServer): void {
    const { folder, server } = entry;
    this.log.info(`[${folder.name}] Serving ${server.root} at ${server.url} (bound to ${server.host})`);
    const { spaFallback, showDotfiles } = entry.settings.server;
    const spaProblem = spaFallback === '' ? undefined : spaFallbackProblem(server.realRoot, spaFallback, showDotfiles);
    if (spaProblem !== undefined) this.log.warn(`[${folder.name}] Setting tinyServer.spaFallback: ${spaProblem}`);
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

  /**
   * A use of the overlay, made when a server first needs it; unsupported VS Code versions say so
   * once. Counted from before the server starts, so that another folder's failed start or stop
   * meanwhile cannot drop the overlay this one is being given.
   */
  private acquireOverlay(): EditorOverlay | undefined {
    if (this.overlay === undefined) {
      this.overlay = new EditorOverlay();
      if (!this.overlay.supported) {
        this.log.warn('Pages update when files are saved: this VS Code has no encoding API (1.100 or later), which serving unsaved text in each file\'s own encoding needs');
      }
    }
    if (!this.overlay.supported) return undefined;
    this.overlayUsers += 1;
    return this.overlay;
  }

  /** Gives back a use of the overlay, which is dropped once no server holds one. */
  private releaseOverlay(): void {
    this.overlayUsers -= 1;
    if (this.overlayUsers > 0 || this.overlay === undefined) return;
    this.overlay.dispose();
    this.overlay = undefined;
  }

  private onSettingsChanged(event: vscode.ConfigurationChangeEvent): void {
    for (const entry of this.list()) {
      // files.watcherExclude is part of what a server ignores (settings.ts, watchIgnoreOf).
      const affected = event.affectsConfiguration(SECTION, entry.folder.uri) || event.affectsConfiguration('files.watcherExclude', entry.folder.uri);
      if (affected) void this.restartIfChanged(entry, 'its settings changed');
    }
  }

  /**
   * Restarts a server whose settings now shape it differently; settings that only the extension
   * reads while it runs (followEditor, openOnStart) are taken without a restart.
   */
  private async restartIfChanged(entry: RunningServer, why: string): Promise<void> {
    const read = await this.settingsOf(entry.folder);
    // The server may have taken other settings meanwhile (an earlier change read faster): the
    // comparison is with what it has now, and a server started since is left alone.
    const current = this.get(entry.folder.uri);
    if (current === undefined || current.server !== entry.server) return;
    if (read.ok && !needsRestart(current.settings, read.settings)) {
      this.running.set(entry.folder.uri.toString(), { ...current, settings: read.settings });
      return;
    }
    await this.restart(entry.folder, why);
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
    case 'stopped':
      return `${spec} stopped at ${at} (${status.message}); the next request starts it again`;
  }
}
