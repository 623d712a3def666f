// The extension's entry point: wires the parts together and nothing else. Every object created
// here is a disposable registered on the context, so VS Code releases it on deactivation.
import * as vscode from 'vscode';
import type { TinyServerApi } from './extension/api';
import { registerCommands } from './extension/commands';
import { EditorFollower } from './extension/follow-editor';
import { LogChannel } from './extension/log-channel';
import { ServerManager, toInfo } from './extension/manager';
import { StatusBar } from './extension/status-bar';

let manager: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): TinyServerApi {
  const log = new LogChannel();
  const servers = new ServerManager(log);
  manager = servers;
  // VS Code disposes subscriptions in order: the UI goes first, the log last, so that closing
  // servers can still write to it.
  context.subscriptions.push(registerCommands(servers, log), new StatusBar(servers), new EditorFollower(servers), servers, log);
  return {
    servers: () => servers.list().map(toInfo),
    start: async (folder) => {
      const workspaceFolder = vscode.workspace.getWorkspaceFolder(folder);
      if (workspaceFolder === undefined) return { ok: false, message: `${folder.toString()} is not an open workspace folder` };
      return servers.start(workspaceFolder);
    },
    stop: async (folder) => {
      const workspaceFolder = vscode.workspace.getWorkspaceFolder(folder);
      if (workspaceFolder !== undefined) await servers.stop(workspaceFolder.uri);
    },
    stopAll: () => servers.stopAll(),
    onDidChangeServers: servers.onDidChangeServers,
    onDidLog: log.onDidLog,
  };
}

/**
 * Stops every server. VS Code waits for the promise (it disposes the subscriptions meanwhile, so
 * the servers are taken from the manager before that), and no socket outlives the extension.
 */
export function deactivate(): Promise<void> | undefined {
  const stopping = manager?.shutdown();
  manager = undefined;
  return stopping;
}
