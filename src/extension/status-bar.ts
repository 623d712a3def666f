import * as vscode from 'vscode';
import { COMMAND } from './commands';
import { DisposableOwner } from './dispose';
import { toInfo, type ServerManager } from './manager';

/** How often the tooltip's request counts are refreshed while a server runs. */
const REFRESH_MS = 1000;

/**
 * The status-bar entry: `$(broadcast) Tiny Server` starts a server; `$(radio-tower) 8000` (one
 * port per running server) opens the server menu. The ports shown are the ones the servers
 * really listen on, which differ from the setting when a port was taken.
 */
export class StatusBar extends DisposableOwner {
  private readonly item = this._register(
    vscode.window.createStatusBarItem('tinyServer.status', vscode.StatusBarAlignment.Right, 100),
  );
  private timer: NodeJS.Timeout | undefined;
  /** The tooltip's content as last rendered, to skip rebuilding an unchanged tooltip. */
  private tooltipKey = '';

  constructor(private readonly manager: ServerManager) {
    super();
    this.item.name = 'Tiny Server';
    this._register(manager.onDidChangeServers(() => this.update()));
    this._register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.update()));
    this._register({ dispose: () => this.setRefreshing(false) });
    this.update();
  }

  private update(): void {
    const ports = this.manager.list().map((entry) => entry.server.port);
    if (ports.length === 0) this.showStopped();
    else this.showRunning(ports);
    this.setRefreshing(ports.length > 0);
    if ((vscode.workspace.workspaceFolders ?? []).length > 0) this.item.show();
    else this.item.hide();
  }

  private showStopped(): void {
    this.item.text = '$(broadcast) Tiny Server';
    this.item.tooltip = 'Start Tiny Server';
    this.item.command = COMMAND.start;
    this.item.accessibilityInformation = { label: 'Tiny Server is stopped. Start Tiny Server', role: 'button' };
    this.tooltipKey = '';
  }

  private showRunning(ports: readonly number[]): void {
    this.item.text = `$(radio-tower) ${ports.join(', ')}`;
    this.item.command = COMMAND.showMenu;
    const on = ports.length === 1 ? `port ${ports[0]}` : `ports ${ports.join(', ')}`;
    this.item.accessibilityInformation = { label: `Tiny Server is running on ${on}. Show the server menu`, role: 'button' };
    this.refreshTooltip();
  }

  /** Rebuilds the tooltip only when a count (or the set of servers) changed since the last tick. */
  private refreshTooltip(): void {
    const servers = this.manager.list().map(toInfo);
    const key = servers.map((s) => `${s.url} ${s.requestCount} ${s.app ?? ''}`).join('\n');
    if (key === this.tooltipKey) return;
    this.tooltipKey = key;
    const tooltip = new vscode.MarkdownString('**Tiny Server**\n');
    for (const s of servers) {
      const requests = s.requestCount === 1 ? '1 request' : `${s.requestCount} requests`;
      tooltip.appendMarkdown(`\n- [${s.url}](${s.url})  \n  `);
      tooltip.appendText(`${s.root.fsPath} — ${requests} served`);
      if (s.app !== undefined) tooltip.appendMarkdown('  \n  ').appendText(`App: ${s.app}`);
    }
    tooltip.appendMarkdown('\n\nClick for open, copy and stop');
    this.item.tooltip = tooltip;
  }

  private setRefreshing(on: boolean): void {
    if (on && this.timer === undefined) {
      this.timer = setInterval(() => this.refreshTooltip(), REFRESH_MS);
      this.timer.unref();
    } else if (!on && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
